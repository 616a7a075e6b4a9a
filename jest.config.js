const fs = require('fs');
const path = require('path');

/**
 * TANDEM_TEST_GROUP=lab|local (scripts/test.sh, which runs the two at once): only the suites on
 * real lab hosts (a file that calls describeLab), or only the others. Unset: every suite.
 */
function groupIgnores(group) {
  if (!group) return [];
  if (group !== 'lab' && group !== 'local') throw new Error(`TANDEM_TEST_GROUP=${group}: use lab or local`);
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) files.push(p);
    }
  };
  walk(path.join(__dirname, 'test'));
  const isLab = (f) => /\bdescribeLab\(/.test(fs.readFileSync(f, 'utf8'));
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return files.filter((f) => isLab(f) !== (group === 'lab')).map((f) => `/${escape(path.relative(__dirname, f))}$`);
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The slower suite, `npm run test:slow`, which .ci/run runs after `npm test`: the drills
  // (test/drill/: every failover scenario on one lab, back to back) and the differential test
  // on a lab with ssh, rsync and a relay (the local one is in `npm test`).
  testPathIgnorePatterns: ['/node_modules/', '/test/agent/differential\\.test\\.ts$', '/test/drill/', ...groupIgnores(process.env.TANDEM_TEST_GROUP)],
  transform: {
    // Type-checking is done once by `tsc --noEmit` in `npm test`; jest only transpiles, file by
    // file (tsconfig isolatedModules, which also keeps every file transpilable on its own, as
    // esbuild-register needs for bin/tandem).
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
  // Integration tests create real network namespaces; they clean up in afterAll and on signals.
  maxWorkers: 2,
  // Every suite has run and reported by then: the esbuild service processes that agent bundle
  // builds (scripts/build-agent.js) leave behind can keep jest's own process from exiting, which
  // in CI would hang until its time limit. Found at the end of a session; the leak itself is
  // left to find (`jest --detectOpenHandles`).
  forceExit: true,
};
