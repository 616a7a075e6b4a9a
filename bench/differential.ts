/**
 * The differential test of mirroring at length (needs root): seeded random filesystem operations
 * on the master of a lab (1 master, a hot mirror relaying to a warm one, another direct mirror),
 * then: how long until status says in sync and every mirror equals the master, and every
 * difference found (test/support/fsops.ts defines the operations, the model and the policy).
 *
 *   node bin/run-ts bench/differential.ts [--ops=100000] [--seed=N] [--rate=250]
 *       [--check-every=10000]  settle and compare after every N ops (0: only at the end)
 *       [--agent-ref=HEAD]     install the agent at a git ref instead of the working tree's
 *       [--replay=FILE]        apply a script (JSON array of ops, as the test writes to /tmp) instead
 *       [--minimize=FILE]      shrink a failing script: candidates run side by side, each in its
 *                              own directory, one settle per round (delta debugging); prints the
 *                              smallest sequence that still leaves a mirror different
 *       [--what=KIND] [--path=P]   with --minimize: only differences of that kind / start from that path
 *       [--keep]               leave the lab up (and reuse one left up) for the next invocation
 *
 * Customer `difftest-bench`; the lab is taken down at the end and on SIGINT/SIGTERM unless --keep.
 */
import { benchFlags } from './flags';
import * as fs from 'fs';
import * as path from 'path';
import type { Inventory } from '../model/inventory';
import { labDown, labUp, readLabInventory } from '../scripts/lab';
import { parseTopology } from '../model/topology/load';
import { Diff, Op, OpGen, applyOps, buildAgentAt, describeRun, diffStackYaml, formatDiffs, formatOps, observeLab, repairLab, settle, sliceFor, startMirroring } from '../test/support/fsops';

const C = 'difftest-bench';
const FLAGS = benchFlags(
  'node bin/run-ts bench/differential.ts [--ops=100000] [--seed=N] [--rate=250] [--check-every=10000] [--agent-ref=REF] [--replay=FILE | --minimize=FILE [--what=KIND] [--path=P]] [--keep]',
  {
    ops: { type: 'number', default: 100_000, describe: 'operations in all' },
    seed: { type: 'number', describe: 'seed (default: random, printed)' },
    rate: { type: 'number', default: 250, describe: 'operations per second' },
    'check-every': { type: 'number', default: 10000, describe: 'settle and compare after every N ops (0: only at the end)' },
    'agent-ref': { type: 'string', describe: 'install the agent at a git ref instead of the working tree' },
    replay: { type: 'string', describe: 'apply a saved script instead' },
    minimize: { type: 'string', describe: 'shrink a failing script' },
    what: { type: 'string', choices: ['missing', 'extra', 'type', 'mode', 'content', 'target'], describe: 'with --minimize: only differences of this kind count' },
    path: { type: 'string', describe: 'with --minimize: start from the ops of this differing path' },
    keep: { type: 'boolean', default: false, describe: 'leave the lab up (and reuse one left up)' },
  },
);
const arg = (name: 'agent-ref' | 'replay' | 'minimize'): string | undefined => FLAGS[name];
const OPS = FLAGS.ops;
const SEED = FLAGS.seed ?? 1 + Math.floor(Math.random() * 2 ** 31);
const RATE = FLAGS.rate;
const CHECK_EVERY = FLAGS['check-every'];
const KEEP = FLAGS.keep;
/** --minimize: only differences of this kind (missing, extra, type, mode, content, target) count */
const WHAT = FLAGS.what;
/** --minimize: start from the ops of this differing path */
const PATH = FLAGS.path;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function log(m: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
}

let inv: Inventory;
const data = (s: string) => inv.hosts.find((h) => h.site === s)!.labDataDir!;

async function up(): Promise<void> {
  if (KEEP) {
    try {
      inv = readLabInventory(C);
      const v = await observeLab(C, inv, 0);
      if (v.inSync) {
        log('reusing the lab left up by --keep');
        return;
      }
    } catch {
      /* not up: bring it up */
    }
  }
  const t0 = Date.now();
  const r = parseTopology(diffStackYaml(C), C);
  if (!r.topology) throw new Error(JSON.stringify(r.issues));
  await labDown(C);
  inv = await labUp(r.topology);
  await startMirroring(inv, buildAgentAt(arg('agent-ref')));
  const until = Date.now() + 60_000;
  for (;;) {
    const v = await observeLab(C, inv, 0);
    if (v.inSync) break;
    if (Date.now() > until) throw new Error(`not in sync 60 s after mirror start: ${v.why}`);
    await sleep(300);
  }
  log(`lab up, agent installed, mirrors in sync: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * A long seeded run in chunks of CHECK_EVERY ops: after each chunk, settle and compare. Each chunk
 * works in its own directory with its own generator (seed + chunk index), so a difference left by
 * one chunk is counted once and a repair (after a failed chunk) does not blur the next one.
 */
async function run(): Promise<void> {
  const top = `bench-${SEED}`;
  fs.rmSync(path.join(data('ny'), top), { recursive: true, force: true });
  fs.mkdirSync(path.join(data('ny'), top));
  const chunk = CHECK_EVERY || OPS;
  log(`seed ${SEED}: ${OPS} ops at ${RATE}/s, settled and compared every ${chunk}`);
  let done = 0;
  let applyMs = 0;
  let refusals = 0;
  const rows: string[] = [];
  let failures = 0;
  let differences = 0;
  const toEqual: number[] = [];
  for (let k = 0; done < OPS; k++) {
    const n = Math.min(chunk, OPS - done);
    const prefix = `${top}/c${k}`;
    const dir = path.join(data('ny'), prefix);
    fs.mkdirSync(dir);
    const gen = new OpGen(SEED + k, { maxEntries: 5000, maxFileBytes: 256 * 1024 });
    const ops = gen.take(n);
    const a = await applyOps(dir, ops, RATE, 3_600_000);
    refusals += a.errors.size;
    done += n;
    applyMs += a.lastOpAt - a.startedAt;
    const r = await settle({ customer: C, inv, prefix, lastOpAt: a.lastOpAt, timeoutMs: 30_000 });
    const nd = Object.values(r.diffs).reduce((s, d) => s + d.length, 0);
    if (r.equalAfterMs !== null) toEqual.push(r.equalAfterMs);
    const row = `ops ${done} (chunk ${k}, seed ${SEED + k}): ${r.outcome}, in sync after ${r.inSyncAfterMs ?? '-'} ms, all mirrors equal after ${r.equalAfterMs ?? '-'} ms, differences ${nd} (${
      Object.entries(r.diffs)
        .map(([s, d]) => `${s} ${d.length}`)
        .join(', ') || 'none'
    }), entries ${gen.entries}`;
    rows.push(row);
    log(row);
    if (r.outcome !== 'pass') {
      failures++;
      differences += nd;
      const file = `/tmp/difftest-bench-${SEED}-c${k}.ops`;
      fs.writeFileSync(file, JSON.stringify(ops));
      process.stdout.write(`${describeRun(`bench chunk ${k}`, SEED + k, ops, a.errors, r, file)}\n`);
      const why = await repairLab(C, inv, 30_000);
      if (why) log(`lab not back in sync after repair: ${why}`);
    }
  }
  toEqual.sort((x, y) => x - y);
  process.stdout.write(
    [
      '',
      `seed ${SEED}: ${done} operations applied in ${(applyMs / 1000).toFixed(1)} s (${Math.round(done / (applyMs / 1000))} ops/s incl. pauses; kernel refusals ${refusals})`,
      ...rows.map((r) => `  ${r}`),
      `chunks that failed: ${failures} of ${rows.length}; differences found: ${differences}; last op -> all mirrors equal: ${toEqual.length ? `median ${toEqual[Math.floor(toEqual.length / 2)]} ms, max ${toEqual[toEqual.length - 1]} ms (${toEqual.length} chunks)` : 'never'}`,
      '',
    ].join('\n'),
  );
}

/** Applies a script, or several named scripts side by side (a JSON object name -> ops), each in its own directory; one settle. */
async function replay(file: string): Promise<void> {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Op[] | Record<string, Op[]>;
  const cases = Array.isArray(parsed) ? { [path.basename(file)]: parsed } : parsed;
  const prefix = `replay-${Date.now()}`;
  const names = Object.keys(cases);
  const dirName = (i: number) => `c${i}`;
  const applied = await Promise.all(
    names.map(async (n, i) => {
      const dir = path.join(data('ny'), prefix, dirName(i));
      fs.mkdirSync(dir, { recursive: true });
      return applyOps(dir, cases[n], RATE);
    }),
  );
  const r = await settle({ customer: C, inv, prefix, lastOpAt: Math.max(...applied.map((a) => a.lastOpAt)), timeoutMs: 20_000 });
  log(`${r.outcome}: ${r.why || 'status in sync'}`);
  names.forEach((n, i) => {
    const diffs = Object.fromEntries(
      Object.entries(r.diffs)
        .map(([s, d]) => [s, d.filter((x) => x.path.split('/')[0] === dirName(i)).map((x) => ({ ...x, path: x.path.split('/').slice(1).join('/') || '.' }))] as const)
        .filter(([, d]) => d.length),
    );
    const own = { ...r, diffs, outcome: r.outcome === 'never-in-sync' ? r.outcome : Object.keys(diffs).length ? ('status-lied' as const) : ('pass' as const) };
    process.stdout.write(`${describeRun(n, null, cases[n], applied[i].errors, own)}\n`);
  });
}

/**
 * Delta debugging over the ops that touched the differing paths. Each round runs every candidate
 * at once, each in its own directory, and settles once: a candidate fails when its directory
 * differs on any mirror, or status stays out of sync naming it.
 */
async function minimize(file: string): Promise<void> {
  const ops = JSON.parse(fs.readFileSync(file, 'utf8')) as Op[];
  let round = 0;
  /** The differences of each candidate of the last trial, per site, paths relative to its directory. */
  let lastDiffs: Record<string, Diff[]>[] = [];
  const trial = async (cands: number[][]): Promise<boolean[]> => {
    round++;
    const names = cands.map((_, i) => `min-${Date.now()}-${round}-${i}`);
    const applied = await Promise.all(
      cands.map(async (c, i) => {
        const dir = path.join(data('ny'), 'min', names[i]);
        fs.mkdirSync(dir, { recursive: true });
        return applyOps(
          dir,
          c.map((k) => ops[k]),
          RATE,
        );
      }),
    );
    const lastOpAt = Math.max(...applied.map((a) => a.lastOpAt));
    const r = await settle({ customer: C, inv, prefix: 'min', lastOpAt, timeoutMs: 15_000, lieGraceMs: 2000 });
    const want = (x: Diff) => !WHAT || x.what === WHAT;
    const bad = names.map((n) => Object.values(r.diffs).some((d) => d.some((x) => x.path.split('/')[0] === n && want(x))) || (!WHAT && r.outcome === 'never-in-sync' && r.why.includes(n)));
    lastDiffs = names.map((n) =>
      Object.fromEntries(
        Object.entries(r.diffs)
          .map(([s, d]) => [s, d.filter((x) => x.path.split('/')[0] === n).map((x) => ({ ...x, path: x.path.split('/').slice(1).join('/') || '.' }))] as const)
          .filter(([, d]) => d.length),
      ),
    );
    log(`round ${round}: ${cands.length} candidates (sizes ${cands.map((c) => c.length).join(',')}), failing ${bad.filter(Boolean).length}; ${r.outcome}`);
    if (r.outcome === 'never-in-sync') await repairLab(C, inv, 30_000);
    return bad;
  };
  // first: the whole script and the slice of it, side by side
  const first = await trial([ops.map((_, i) => i)]);
  if (!first[0]) {
    log('the script did not fail this time (timing?); nothing to minimize');
    return;
  }
  const paths = [
    ...new Set(
      Object.values(lastDiffs[0])
        .flat()
        .filter((d) => !WHAT || d.what === WHAT)
        .map((d) => d.path),
    ),
  ].filter((p) => p !== '.' && (!PATH || p === PATH));
  log(`differing paths: ${paths.slice(0, 10).join(' | ')}`);
  // one candidate per differing path's slice: the smallest that still fails wins
  const slices = [
    ...new Map(
      paths.slice(0, 12).map((p) => {
        const s = sliceFor(ops, [p]);
        return [s.join(','), s] as const;
      }),
    ).values(),
  ];
  const sr = slices.length ? await trial(slices) : [];
  let cur = slices.filter((_, i) => sr[i]).sort((a, b) => a.length - b.length)[0] ?? ops.map((_, i) => i);
  log(`starting from ${cur.length} ops`);
  let n = 2;
  while (cur.length >= 2 && round < 40) {
    const size = Math.ceil(cur.length / n);
    const chunks: number[][] = [];
    for (let i = 0; i < cur.length; i += size) chunks.push(cur.slice(i, i + size));
    const comps = chunks.length > 2 ? chunks.map((_, j) => chunks.filter((_, k) => k !== j).flat()) : [];
    const res = await trial([...chunks, ...comps]);
    const ci = chunks.findIndex((_, i) => res[i]);
    if (ci >= 0) {
      cur = chunks[ci];
      n = 2;
      continue;
    }
    const ki = comps.findIndex((_, i) => res[chunks.length + i]);
    if (ki >= 0) {
      cur = comps[ki];
      n = Math.max(n - 1, 2);
      continue;
    }
    if (n >= cur.length) break;
    n = Math.min(cur.length, n * 2);
  }
  const last = await trial([cur]);
  process.stdout.write(`\nminimal sequence (${cur.length} ops, ${last[0] ? 'fails' : 'DID NOT fail on the last check: timing-dependent'}):\n${formatOps(ops, undefined, cur)}\n`);
  for (const [s, d] of Object.entries(lastDiffs[0])) process.stdout.write(`${s}:\n${formatDiffs(d)}\n`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/differential.ts needs root (network namespaces, mounts)');
  const down = () => (KEEP ? Promise.resolve() : labDown(C));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void down().finally(() => process.exit(130)));
  try {
    await up();
    const rep = arg('replay');
    const min = arg('minimize');
    if (min) await minimize(min);
    else if (rep) await replay(rep);
    else await run();
  } finally {
    await down();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/differential: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
