#!/usr/bin/env node
/**
 * Bundles the host agent (agent/src/main.ts) into ONE file, dist/agent.js, that runs on
 * node18+ with no node_modules: that file is what the ops side uploads to every host.
 * Standalone and fast (esbuild, ~50 ms); tests call buildAgent() to never run a stale bundle.
 *
 * Beside it goes koffi.node, koffi's prebuilt Node-API binary for this machine's platform (from
 * the koffi package's own per-platform npm package): the agent's change feed calls inotify
 * through it, reading the kernel's events in one batch per tick (agent/src/inotify.ts). A host
 * without it (another platform) falls back to inotifywait.
 */
'use strict';
const fs = require('fs');
const path = require('path');

function buildAgent(outfile = path.join(__dirname, '..', 'dist', 'agent.js')) {
  const esbuild = require('esbuild');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, '..', 'agent', 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
    legalComments: 'none',
  });
  const ffi = path.join(path.dirname(outfile), 'koffi.node');
  const built = ffiBinary();
  if (built) fs.copyFileSync(built, ffi);
  else fs.rmSync(ffi, { force: true });
  return outfile;
}

/** koffi's prebuilt binary for this machine (Linux, glibc), or null when npm did not install one. */
function ffiBinary() {
  if (process.platform !== 'linux') return null;
  const arch = process.arch;
  try {
    const pkg = path.dirname(require.resolve(`@koromix/koffi-linux-${arch}/package.json`));
    const file = path.join(pkg, `linux_${arch}`, 'koffi.node');
    return fs.existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

module.exports = { buildAgent, ffiBinary };

if (require.main === module) {
  const out = buildAgent(process.argv[2]);
  process.stdout.write(`built ${path.relative(process.cwd(), out)}\n`);
}
