/**
 * The differential test of mirroring in `npm test` (issue 8): seeded random filesystem operations
 * (test/support/fsops.ts: create, append, same-size rewrite, writes in the middle, truncate,
 * renames of files and trees, away and back, deep and wide trees made and removed, hard links,
 * symlinks in and out, modes with setgid, sparse files, odd names) on the master of the real
 * bundled agent (daemon + receiver, local transport), then compared with the mirror under the
 * mirroring policy, as the master's tree is the model:
 *   - when status first says in sync, no entry may be missing, extra, of another type or mode, or
 *     point elsewhere; a file may still differ in CONTENT only where the documented limits of the
 *     change feed explain it (README, "Mirroring"; fsops.ts pwritten): a pwrite (a write into the
 *     middle of a file that grew in the same tick goes out as an append), or a write through a
 *     hard link name that went before the agent read it (the other names get no event). Each is
 *     printed with its path. (Until 2026-12-03 any content difference was let through: seeds 1
 *     and 2 showed two that were agent bugs with hard links, now fixed; divergence.test.ts 5c.)
 *   - after the agent's online verify has made a pass that started after the last operation, the
 *     mirror must be exactly equal: 0 differences.
 * Fixed seeds plus one random seed (printed; DIFFLOCAL_SEED=<n> repeats it). A failing run saves
 * its script to /tmp; `node bin/run-ts bench/differential-local.ts --replay=FILE --minimize`
 * shrinks it, and the shrunk case joins the regressions of test/agent/differential.test.ts.
 * The lab run with ssh, rsync and a relay is `npm run test:differential` and bench/differential.ts.
 */
import * as fs from 'fs';
import { OpGen, formatDiffs, formatOps, pwritten } from '../support/fsops';
import { runLocal } from '../support/difflocal';
import { agentBundle } from './helpers';

jest.setTimeout(120_000);

const OPS = Number(process.env.DIFFLOCAL_OPS) || 900;
const RANDOM_SEED = Number(process.env.DIFFLOCAL_SEED) || 1 + Math.floor(Math.random() * 2 ** 31);
// 8: a symlink leaving dataDir replaced a file during a reconcile (rsync --safe-links kept the file);
// 897148012 (found by CI): directories made while inotifywait added the watches of a new tree
// were never watched, and files made in them seconds later never arrived.
// 17: watcher restarts in quick succession killed reconciles mid-way; a same-size rewrite of a
// file the killed rsync had copied (or a WRITE in flight) was skipped by the next quick check.
const SEEDS = [1, 2, 8, 17, 897148012, RANDOM_SEED];

beforeAll(() => {
  agentBundle();
});

describe.each(SEEDS.map((s) => [s]))('seed %i', (seed) => {
  test(`${OPS} random ops: when status says in sync nothing is missing, extra or of another type, mode or target, and content differs only within the documented limits; after a verify pass the mirror is exactly equal`, async () => {
    const ops = new OpGen(seed, { maxEntries: 1500, maxFileBytes: 128 * 1024, maxTreeDirs: 50 }).take(OPS);
    const r = await runLocal(ops, { rate: 300, verified: true, timeoutMs: 30_000 });
    const script = `/tmp/difflocal-test-seed-${seed}.ops`;
    const fail = (why: string) => {
      fs.writeFileSync(script, JSON.stringify(ops));
      return `seed ${seed}: ${why}\n${formatDiffs(r.diffs, 20)}\nscript: ${script} (node bin/run-ts bench/differential-local.ts --replay=${script} --minimize)\n${formatOps(ops).split('\n').slice(0, 5).join('\n')}`;
    };
    if (seed === RANDOM_SEED) process.stderr.write(`random seed ${seed} (DIFFLOCAL_SEED=${seed} repeats it)\n`);
    expect({ outcome: r.outcome, why: r.outcome === 'never-in-sync' ? fail('status never said in sync') : '' }).toEqual({ outcome: expect.stringMatching(/^(pass|differs)$/), why: '' });
    const limit = pwritten(ops);
    const content = r.diffs.filter((d) => d.what === 'content');
    if (content.length)
      process.stderr.write(
        `seed ${seed}: ${content.length} file(s) differed in content when status first said in sync (${content.filter((d) => limit.has(d.path)).length} within the documented limits): ${content.map((d) => d.path).join(', ')}\n`,
      );
    const unexplained = r.diffs.filter((d) => d.what !== 'content' || !limit.has(d.path));
    expect(unexplained.length ? fail(`${unexplained.length} entries missing, extra, of another type, mode or target, or of other content without a pwrite, while status said in sync`) : '').toBe('');
    expect(r.verified).toBeDefined();
    const v = r.verified!;
    expect(v.outcome === 'pass' ? '' : fail(`after a verify pass: ${v.outcome}, ${v.diffs} differences${v.detail ? '\n' + v.detail : ''}`)).toBe('');
  });
});
