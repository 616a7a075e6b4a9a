/**
 * The master daemon's own CPU on the sync benchmark's workload, without the lab: the real
 * bundled agent feeding 3 mirrors over the test-only local transport (no ssh), so the figure
 * is the agent's node process and its inotifywait alone. A quick loop for working on the
 * agent's CPU; the lab benchmark (sync-bench.ts) is the one whose figures count.
 *
 *   node bin/run-ts bench/daemon-cpu.ts [--seconds=15] [--mirrors=3] [--rate=2000] [--profile] [--node-arg=--perf-basic-prof ...]
 *
 * The local receivers are the daemon's children here and are not counted: the figure is the
 * master's node and inotifywait. For what a master host pays in all (ssh clients included), run
 * the lab benchmark. With --node-arg=--perf-basic-prof, `perf record -g -p <daemon pid>` names
 * the agent's JS functions (V8's own profile counts a nice'd process's waits as work).
 *
 * --profile writes a V8 CPU profile of the daemon to bench/results/ (open it in Chrome DevTools).
 */
import { benchFlags } from './flags';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tickWorkload } from './workload';
import { agentBundle, child, childrenNamed, makeHost, startDaemon, status, stopAll, tempRoot, writeConfig } from '../test/agent/helpers';

const FLAGS = benchFlags('node bin/run-ts bench/daemon-cpu.ts [--seconds=15] [--mirrors=3] [--rate=2000] [--profile] [--node-arg=...]', {
  seconds: { type: 'number', default: 15, describe: 'measured window' },
  mirrors: { type: 'number', default: 3, describe: 'direct mirrors (1-8)' },
  rate: { type: 'number', default: 2000, describe: 'ticks per second written on the master' },
  profile: { type: 'boolean', default: false, describe: 'write a CPU profile of the daemon to bench/results' },
  'node-arg': { type: 'string', array: true, default: [] as string[], describe: 'extra node flags for the daemon' },
});
const SECONDS = FLAGS.seconds;
const PROFILE = FLAGS.profile;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ticks(pid: number): number {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, own only
  } catch {
    return 0;
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}

async function main(): Promise<void> {
  agentBundle();
  // tmpfs, like the lab's data dirs: the mirrors' fsyncs then cost what they cost there.
  const root = tempRoot('cpu');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tandem-bench', root]);
  const m = makeHost(root, 'master');
  const nMirrors = FLAGS.mirrors;
  if (!(nMirrors >= 1 && nMirrors <= 8)) throw new Error(`--mirrors ${nMirrors}: use 1 to 8`);
  const mirrors = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].slice(0, nMirrors).map((s) => makeHost(root, s));
  for (const h of mirrors) writeConfig(h, { role: 'mirror', feedFrom: 'master' });
  writeConfig(m, { role: 'master', children: mirrors.map((h) => child(h)) });
  const profDir = path.resolve(__dirname, 'results');
  const env: Record<string, string> = { TANDEM_QUIET: process.env.TANDEM_QUIET ?? '1' };
  if (PROFILE) fs.mkdirSync(profDir, { recursive: true });
  const nodeArgs = [...FLAGS['node-arg']];
  if (PROFILE) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-name=daemon.cpuprofile');
  const d = startDaemon(m, env, nodeArgs);
  try {
    const t0 = Date.now();
    while (!status(m).children.every((c) => c.state === 'in-sync')) {
      if (Date.now() - t0 > 20_000) throw new Error('not in sync after 20 s');
      await sleep(100);
    }
    const files = Array.from({ length: 50 }, (_, i) => path.join(m.dataDir, `sym${String(i).padStart(2, '0')}.csv`));
    let stop = false;
    const written = new Set<number>();
    const delays: Record<string, number[]> = Object.fromEntries(mirrors.map((h) => [h.site, []]));
    const seen: Record<string, Set<number>> = Object.fromEntries(mirrors.map((h) => [h.site, new Set<number>()]));
    const writer = tickWorkload(m.dataDir, files, () => stop, { heartbeat: (t) => written.add(t) }, FLAGS.rate);
    const poller = (async () => {
      while (!stop) {
        for (const h of mirrors) {
          let v: number;
          try {
            v = Number(fs.readFileSync(path.join(h.dataDir, 'hb'), 'utf8'));
          } catch {
            continue; // not there yet
          }
          if (written.has(v) && !seen[h.site].has(v)) {
            seen[h.site].add(v);
            delays[h.site].push(Date.now() - v);
          }
        }
        await sleep(2);
      }
    })();
    await sleep(3000); // warm-up
    const inw = childrenNamed(d.pid!, 'inotifywait');
    const c0 = ticks(d.pid!);
    const w0 = inw.reduce((a, p) => a + ticks(p), 0);
    const t1 = Date.now();
    for (const h of mirrors) delays[h.site].length = 0;
    await sleep(SECONDS * 1000);
    const wall = (Date.now() - t1) / 1000;
    const node = ((ticks(d.pid!) - c0) / CLK_TCK / wall) * 100;
    const watcher = ((inw.reduce((a, p) => a + ticks(p), 0) - w0) / CLK_TCK / wall) * 100;
    const rssMiB = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    stop = true;
    await writer;
    await poller;
    const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    process.stdout.write(
      `daemon node ${node.toFixed(1)} %, inotifywait ${watcher.toFixed(1)} % of one core over ${wall.toFixed(0)} s; ${nMirrors} mirrors, ${FLAGS.rate} ticks/s; daemon RSS ${rssMiB.toFixed(0)} MiB (load ${load})\n`,
    );
    for (const h of mirrors) {
      const x = delays[h.site];
      process.stdout.write(`  ${h.site}: heartbeat delay p50 ${pct(x, 50)} ms, p99 ${pct(x, 99)} ms, max ${Math.max(...x)} ms, ${x.length} versions seen\n`);
    }
  } finally {
    await stopAll();
    execFileSync('umount', ['-l', root]);
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
  if (PROFILE) process.stdout.write(`profiles in ${profDir}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
