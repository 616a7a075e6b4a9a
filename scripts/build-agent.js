#!/usr/bin/env node
/**
 * Bundles the host agent (agent/src/main.ts) into ONE file, dist/agent.js, that runs on
 * node18+ with no node_modules: that file is what the ops side uploads to every host.
 * Standalone and fast (esbuild, ~50 ms); tests call buildAgent() to never run a stale bundle.
 */
'use strict';
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
  return outfile;
}

module.exports = { buildAgent };

if (require.main === module) {
  const out = buildAgent(process.argv[2]);
  process.stdout.write(`built ${path.relative(process.cwd(), out)}\n`);
}
