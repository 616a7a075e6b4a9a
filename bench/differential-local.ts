/**
 * The differential test of mirroring without the lab: the real bundled agent (daemon + receiver,
 * test-only local transport, no ssh) on this machine, seeded random filesystem operations on the
 * master's data dir (test/support/fsops.ts), then: wait for status to say in sync, and compare
 * the mirror with the master under the same policy as the lab differential. Seconds per seed,
 * so many seeds can be run and failures shrunk fast; the lab run (bench/differential.ts) is the
 * one that also goes through ssh, rsync as user tandem and relays.
 *
 *   npx ts-node --transpile-only bench/differential-local.ts [--seeds=1-20] [--ops=900] [--rate=300]
 *       [--replay=FILE]   run one saved script (JSON array of ops) instead of seeds
 *       [--minimize]      with --replay: shrink it (one op removed at a time, chunks first)
 *       [--verified]      also wait for a verify pass started after the last op, and compare again
 *       [--agent-ref=REF] run the agent as committed at a git ref (before/after in one run)
 *
 * Prints one line per run and, for a failure, the differences and the path of the saved script.
 */
import { benchFlags } from './flags';
import * as fs from 'fs';
import * as path from 'path';
import { Op, OpGen, buildAgentAt, formatDiffs, formatOps, parseOps } from '../test/support/fsops';
import { agentBundle } from '../test/agent/helpers';
import { runLocal } from '../test/support/difflocal';

const FLAGS = benchFlags('node bin/run-ts bench/differential-local.ts [--seeds=1-10] [--ops=900] [--rate=300] [--verified] [--agent-ref=REF] [--replay=FILE [--minimize]]', {
  seeds: { type: 'string', default: '1-10', describe: 'seed range A-B' },
  ops: { type: 'number', default: 900, describe: 'operations per seed' },
  rate: { type: 'number', default: 300, describe: 'operations per second' },
  replay: { type: 'string', describe: 'run one saved script (JSON array of ops) instead of seeds' },
  minimize: { type: 'boolean', default: false, describe: 'with --replay: shrink it' },
  verified: { type: 'boolean', default: false, describe: 'also wait for a verify pass started after the last op, and compare again' },
  'agent-ref': { type: 'string', describe: 'run the agent as committed at a git ref (before/after in one run)' },
});
const OPS = FLAGS.ops;
const RATE = FLAGS.rate;
const REPLAY = FLAGS.replay;
const MINIMIZE = FLAGS.minimize;
const VERIFIED = FLAGS.verified;
const AGENT_REF = FLAGS['agent-ref'];
const [S0, S1] = FLAGS.seeds.split('-').map(Number);
if (!Number.isInteger(S0) || !Number.isInteger(S1) || S1 < S0) throw new Error(`--seeds: use a range like 1-10, got "${FLAGS.seeds}"`);

async function minimize(ops: Op[]): Promise<Op[]> {
  let cur = ops;
  for (let chunk = Math.max(1, Math.floor(cur.length / 4)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < cur.length;) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const r = await runLocal(cand, { rate: RATE, verified: VERIFIED });
      if (r.outcome !== 'pass') {
        cur = cand;
        process.stderr.write(`  ${cur.length} ops still fail (${r.outcome})\n`);
      } else i += chunk;
    }
  }
  return cur;
}

async function main(): Promise<void> {
  if (AGENT_REF) {
    const file = path.join(fs.mkdtempSync('/tmp/difflocal-agent-'), 'agent.js');
    fs.writeFileSync(file, buildAgentAt(AGENT_REF));
    process.env.TANDEM_TEST_AGENT_BUNDLE = file;
    console.log(`agent at ${AGENT_REF}`);
  }
  agentBundle();
  if (REPLAY) {
    const ops = parseOps(fs.readFileSync(REPLAY, 'utf8'));
    const r = await runLocal(ops, { rate: RATE, verified: VERIFIED });
    console.log(`replay ${REPLAY}: ${r.outcome}; ${ops.length} ops; ${r.ms} ms\n${formatDiffs(r.diffs)}`);
    if (MINIMIZE && r.outcome !== 'pass') {
      const min = await minimize(ops);
      const out = `${REPLAY}.min`;
      fs.writeFileSync(out, JSON.stringify(min));
      console.log(`minimal (${min.length} ops, saved to ${out}):\n${formatOps(min)}`);
    }
    return;
  }
  let failed = 0;
  for (let seed = S0; seed <= S1; seed++) {
    const ops = new OpGen(seed, { maxEntries: 1500, maxFileBytes: 128 * 1024, maxTreeDirs: 50 }).take(OPS);
    const r = await runLocal(ops, { rate: RATE, verified: VERIFIED });
    const v = r.verified ? `; after a verify pass: ${r.verified.outcome}, ${r.verified.diffs} differences (${r.verified.ms} ms)` : '';
    console.log(`seed ${seed}: ${r.outcome}; ${r.diffs.length} differences; settled ${r.ms} ms${v}`);
    if (r.outcome !== 'pass') {
      failed++;
      const file = `/tmp/difflocal-seed-${seed}.ops`;
      fs.writeFileSync(file, JSON.stringify(ops));
      console.log(`${formatDiffs(r.diffs, 10)}\n  script: ${file}`);
    }
  }
  console.log(`${S1 - S0 + 1 - failed}/${S1 - S0 + 1} seeds pass`);
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) void main();
