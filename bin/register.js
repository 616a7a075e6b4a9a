'use strict';
// The one way tandem runs TypeScript from source: each file transpiled by esbuild as it is
// loaded (esbuild-register; `npm test` type-checks). Used by bin/tandem, bin/run-ts (benchmarks
// and other scripts) and the fleet's plan workers, so all of them see the same language.
// import() becomes require(), as tsc's CommonJS output does: the hook only sees require().
const path = require('path');

exports.REGISTER_OPTIONS = { target: 'node20', supported: { 'dynamic-import': false } };

/** Registers the hook; in a clone without node_modules, says what to run and exits 1. */
exports.registerTypeScript = function registerTypeScript(who) {
  let register;
  try {
    register = require('esbuild-register/dist/node').register;
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') {
      // A fresh clone before any install: say what to run, not a stack trace.
      process.stderr.write(
        `${who}: its npm packages are not installed in ${path.resolve(__dirname, '..')}\n` + '  run `bash scripts/setup.sh` there first (or `npm ci`; `npm test` and `npm run lab` do it for you)\n',
      );
      process.exit(1);
    }
    throw e;
  }
  register(exports.REGISTER_OPTIONS);
};
