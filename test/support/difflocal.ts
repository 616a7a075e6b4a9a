/**
 * One run of the local differential (shared by bench/differential-local.ts and
 * test/agent/differential-local.test.ts): the real bundled agent (daemon + receiver, test-only
 * local transport, no ssh) with one master and one mirror in a fresh pair of data dirs; seeded
 * ops applied under the run dir `r` at a bounded rate; then: wait until status says in sync and
 * compare the mirror with the master (./fsops.ts policy), and optionally wait for a verify pass
 * that started after the last op (the agent's verify pause is 1 s here) and compare again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Op, applyOps, diffTrees, excluder } from './fsops';
import { Host, child, makeHost, startDaemon, status, stopAll, tempRoot, writeConfig } from '../agent/helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LocalRun {
  outcome: 'pass' | 'differs' | 'never-in-sync';
  diffs: ReturnType<typeof diffTrees>;
  ms: number;
  /** With --verified: after a verify pass that started after the last op and found it equal. */
  verified?: { outcome: 'pass' | 'differs' | 'never-verified'; diffs: number; ms: number; detail?: string };
}

/** One master, one mirror, a fresh pair of data dirs; ops applied under the run dir `r`. */
export async function runLocal(ops: readonly Op[], o: { rate: number; verified: boolean; timeoutMs?: number }): Promise<LocalRun> {
  const rate = o.rate;
  const timeoutMs = o.timeoutMs ?? 20_000;
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
        if (o.verified) {
          const vEnd = Date.now() + 60_000;
          for (;;) {
            const v = status(m).children[0]?.verifiedAt;
            if (v && Date.parse(v) > applied.lastOpAt + 500) {
              const d = compare();
              run.verified = { outcome: d.length ? 'differs' : 'pass', diffs: d.length, ms: Date.now() - applied.lastOpAt };
              break;
            }
            if (Date.now() > vEnd) {
              // What the link said and did about verifying, so a failure in CI can be read.
              const said = JSON.stringify(status(m).children[0]);
              const lines = daemon
                .log()
                .split('\n')
                .filter((l) => /verif|warn|error|reconcile|down/.test(l));
              const detail = `status: ${said}\ndaemon log (${lines.length} lines on verify, reconciles, warnings, errors; the last 30):\n${lines.slice(-30).join('\n')}`;
              run.verified = { outcome: 'never-verified', diffs: compare().length, ms: Date.now() - applied.lastOpAt, detail };
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
      // DIFFLOCAL_KEEP=1 leaves the two data dirs and the daemon's log for a look
      if (process.env.DIFFLOCAL_KEEP) process.stderr.write(`left ${root} (DIFFLOCAL_KEEP)\n`);
      else fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      process.stderr.write(`left ${root}: ${(e as Error).message}\n`);
    }
  }
}
