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
import { Op, OpGen, applyOps, buildAgentAt, diffTrees, excluder, formatDiffs, formatOps, parseOps } from '../test/support/fsops';
import { Host, agentBundle, child, makeHost, startDaemon, status, stopAll, tempRoot, writeConfig } from '../test/agent/helpers';

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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LocalRun {
  outcome: 'pass' | 'differs' | 'never-in-sync';
  diffs: ReturnType<typeof diffTrees>;
  ms: number;
  /** With --verified: after a verify pass that started after the last op and found it equal. */
  verified?: { outcome: 'pass' | 'differs' | 'never-verified'; diffs: number; ms: number };
}

/** One master, one mirror, a fresh pair of data dirs; ops applied under the run dir `r`. */
export async function runLocal(ops: readonly Op[], rate = RATE, timeoutMs = 20_000): Promise<LocalRun> {
  const root = tempRoot('difflocal');
  const [m, a]: Host[] = ['master', 'a'].map((s) => makeHost(root, s));
  try {
    writeConfig(a, { role: 'mirror', feedFrom: 'master', exclude: ['*.tmp'] });
    writeConfig(m, { role: 'master', exclude: ['*.tmp'], children: [child(a)] });
    fs.mkdirSync(path.join(m.dataDir, 'r'));
    const daemon = startDaemon(m, { TANDEM_TEST_VERIFY_PAUSE_MS: '1000' }) as ReturnType<typeof startDaemon> & { log: () => string };
    const t0 = Date.now();
    for (;;) {
      const c = status(m).children[0];
      if (c?.state === 'in-sync' && fs.existsSync(path.join(a.dataDir, 'r'))) break;
      if (Date.now() - t0 > 15_000) throw new Error('seed never in sync');
      await sleep(50);
    }
    const applied = await applyOps(path.join(m.dataDir, 'r'), ops, rate);
    const compare = () => diffTrees(path.join(m.dataDir, 'r'), path.join(a.dataDir, 'r'), { depth: 1, exclude: excluder(['*.tmp']) });
    const end = Date.now() + timeoutMs;
    let diffs = compare();
    for (;;) {
      await sleep(100);
      const c = status(m).children[0];
      const fresh = c && c.lastAckAt !== null && Date.parse(c.lastAckAt) > applied.lastOpAt + 200;
      if (c?.state === 'in-sync' && fresh) {
        // status says in sync: the mirror must be equal now (allow one apply to land)
        await sleep(150);
        diffs = compare();
        if (diffs.length && process.env.DIFFLOCAL_LOG) {
          const names = diffs.map((d) => path.basename(d.path));
          const lines = daemon
            .log()
            .split('\n')
            .filter((l) => names.some((n) => l.includes(n)) || /warn|error/.test(l));
          process.stderr.write(`daemon log (${lines.length} lines about the differing paths, warnings, errors):\n${lines.slice(-40).join('\n')}\n`);
        }
        const run: LocalRun = { outcome: diffs.length ? 'differs' : 'pass', diffs, ms: Date.now() - applied.lastOpAt };
        if (VERIFIED) {
          const vEnd = Date.now() + 60_000;
          for (;;) {
            const v = status(m).children[0]?.verifiedAt;
            if (v && Date.parse(v) > applied.lastOpAt + 500) {
              const d = compare();
              run.verified = { outcome: d.length ? 'differs' : 'pass', diffs: d.length, ms: Date.now() - applied.lastOpAt };
              break;
            }
            if (Date.now() > vEnd) {
              run.verified = { outcome: 'never-verified', diffs: compare().length, ms: Date.now() - applied.lastOpAt };
              break;
            }
            await sleep(200);
          }
        }
        return run;
      }
      if (Date.now() > end) return { outcome: 'never-in-sync', diffs: compare(), ms: Date.now() - applied.lastOpAt };
    }
  } finally {
    await stopAll();
    await sleep(200); // the receiver the daemon spawned exits once its stdin closes
    try {
      fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      process.stderr.write(`left ${root}: ${(e as Error).message}\n`);
    }
  }
}

async function minimize(ops: Op[]): Promise<Op[]> {
  let cur = ops;
  for (let chunk = Math.max(1, Math.floor(cur.length / 4)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < cur.length;) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const r = await runLocal(cand);
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
    const r = await runLocal(ops);
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
    const r = await runLocal(ops);
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
