/**
 * Sync benchmark on the lab (needs root): tandem's agent next to lsyncd 2.2 (default.rsyncssh,
 * delay=1 and the default delay=15) on the same hosts and workload, then an initial seed of
 * ~1 GiB of mixed files over a 100 Mbit/s capped link next to plain rsync. Writes bench/sync.md.
 *
 *   node bin/run-ts bench/sync-bench.ts [--quick]
 *
 * Workload (on the master's data dir): 50 append-only tick files, 2,000 ticks/s in total, and a
 * heartbeat file rewritten (write + rename) every 100 ms holding its write time. Lag = when a
 * poller (every 2 ms) first sees a heartbeat version on a mirror, minus its write time.
 * Master CPU = CPU time of the sync stack's process tree on the master (tandem: the agent
 * daemon, its inotifywait, ssh clients and rsyncs; lsyncd: lsyncd and the rsync/ssh it runs),
 * counting exited children through cutime/cstime. Bytes on the wire = the master's eth0 tx
 * bytes (TCP/IP + SSH included) / bytes changed on the master / number of mirrors.
 */
import { benchFlags } from './flags';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AgentStatus } from '../agent/src/contract';
import type { Inventory } from '../model/inventory';
import { hostExec, labDown, labUp } from '../scripts/lab';
import { pidsInNetns } from '../scripts/lab/sys';
import { parseTopology } from '../model/topology/load';
import { installFleet } from '../scripts/hosts/install';
import { mirrorFleet } from '../scripts/hosts/mirror';
import { agentBundle } from '../scripts/hosts/bundle';
import { connectorFor } from '../scripts/hosts/ssh';
import { silentProgress } from '../scripts/hosts/parallel';
import { tickWorkload } from './workload';

const FLAGS = benchFlags('node bin/run-ts bench/sync-bench.ts [--quick] [--phases=tandem,lsyncd,seed]', {
  quick: { type: 'boolean', default: false, describe: 'short runs (12 s windows, 256 MiB seed)' },
  phases: { type: 'string', default: 'tandem,lsyncd,seed', describe: 'which phases to run, comma-separated' },
});
const QUICK = FLAGS.quick;
const PHASES = FLAGS.phases.split(',');
for (const p of PHASES) if (!['tandem', 'lsyncd', 'seed'].includes(p)) throw new Error(`--phases: unknown phase "${p}"; use tandem, lsyncd and/or seed`);
const C = 'bench-sync';
const RUN_S = QUICK ? 12 : 40;
const RUN_S_SLOW = QUICK ? 20 : 60; // lsyncd delay=15 needs several cycles
const WARMUP_S = 5;
const SEED_MIB = QUICK ? 256 : 1024;
const LINK_MBIT = 100;
const MIRRORS = ['chi', 'ams', 'ldn'];
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const YAML = `config:
  tandem:customer: ${C}
  tandem:topology:
    dataDir: /srv/trading
    exclude: ["*.tmp"]
    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }
    adminCidrs: [198.18.0.0/15]
    sites:
      - { name: ny, role: master, provider: aws, region: us-east-1, lab: { diskMb: ${SEED_MIB + 400} } }
      - { name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }
      - { name: ams, role: mirror, provider: azure, region: westeurope, failover: warm }
      - { name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: hot }
      - { name: sea, role: mirror, provider: aws, region: us-west-2, failover: cold, lab: { linkMbit: ${LINK_MBIT}, diskMb: ${SEED_MIB + 400} } }
`;

let inv: Inventory;
const host = (s: string) => inv.hosts.find((h) => h.site === s)!;
const data = (s: string) => host(s).labDataDir!;
const netns = (s: string) => host(s).labNetns!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fleetOpts = () => ({ inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress: silentProgress });

function log(m: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
}

// ---- measurement --------------------------------------------------------------------------

interface Proc {
  pid: number;
  ppid: number;
  ticks: number;
  comm: string;
}
function procs(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // utime stime cutime cstime: exited children are counted once, in their waiter's c*time.
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      out.set(Number(d), { pid: Number(d), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), comm });
    } catch {
      /* exited */
    }
  }
  return out;
}
function treeTicks(root: number, by?: Map<string, number>): number {
  const ps = procs();
  let sum = 0;
  for (const p of ps.values()) {
    for (let q: Proc | undefined = p; q; q = ps.get(q.ppid)) {
      if (q.pid === root) {
        sum += p.ticks;
        by?.set(p.comm, (by.get(p.comm) ?? 0) + p.ticks);
        break;
      }
      if (q.ppid <= 1) break;
    }
  }
  return sum;
}
function txBytes(site: string): number {
  const j = JSON.parse(execFileSync('ip', ['-n', netns(site), '-j', '-s', 'link', 'show', 'dev', 'eth0']).toString());
  return Number(j[0].stats64.tx.bytes);
}
function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

// ---- workload -----------------------------------------------------------------------------

interface RunResult {
  label: string;
  lags: Record<string, number[]>;
  ages: Record<string, number[]>;
  missed: Record<string, number>;
  cpuPct: number;
  cpuSplit: string;
  wireRatio: number;
  changedBytes: number;
  seconds: number;
}

async function runWorkload(label: string, seconds: number, stackRoot: () => number): Promise<RunResult> {
  const dir = data('ny');
  const ticks = Array.from({ length: 50 }, (_, i) => path.join(dir, 'ticks', `sym${String(i).padStart(2, '0')}.csv`));
  fs.mkdirSync(path.join(dir, 'ticks'), { recursive: true });
  let stop = false;
  let measuring = false;
  let changed = 0;
  const written = new Map<number, number>(); // hb value -> write time
  const lags: Record<string, number[]> = Object.fromEntries(MIRRORS.map((m) => [m, []]));
  const seen: Record<string, Set<number>> = Object.fromEntries(MIRRORS.map((m) => [m, new Set<number>()]));
  const ages: Record<string, number[]> = Object.fromEntries(MIRRORS.map((m) => [m, []]));
  let lastAge = 0;
  const writer = tickWorkload(dir, ticks, () => stop, {
    tick: (bytes) => {
      if (measuring) changed += bytes;
    },
    heartbeat: (t, bytes) => {
      if (!measuring) return;
      changed += bytes;
      written.set(t, t);
    },
  });
  const poller = (async () => {
    while (!stop) {
      for (const m of MIRRORS) {
        let v: number;
        try {
          v = Number(fs.readFileSync(path.join(data(m), 'hb'), 'utf8'));
        } catch {
          continue;
        }
        if (!seen[m].has(v) && written.has(v)) {
          seen[m].add(v);
          lags[m].push((Date.now() - v) / 1000);
        }
        // The issue's definition: the heartbeat's age on the mirror, sampled every 10 ms
        // (includes up to 100 ms of the heartbeat's own period).
        if (measuring && Date.now() - lastAge >= 10 && v > 0) ages[m].push((Date.now() - v) / 1000);
      }
      if (Date.now() - lastAge >= 10) lastAge = Date.now();
      await sleep(2);
    }
  })();
  await sleep(WARMUP_S * 1000);
  const root = stackRoot();
  const by0 = new Map<string, number>();
  const cpu0 = treeTicks(root, by0);
  const tx0 = txBytes('ny');
  const t0 = Date.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const by1 = new Map<string, number>();
  const cpu1 = treeTicks(root, by1);
  const split = [...by1].map(([k, v]) => `${k} ${(((v - (by0.get(k) ?? 0)) / CLK_TCK / seconds) * 100).toFixed(2)}%`).join(', ');
  const tx1 = txBytes('ny');
  const secs = (Date.now() - t0) / 1000;
  await sleep(QUICK ? 2000 : 16_000); // let late heartbeats land (lsyncd delay=15)
  stop = true;
  await Promise.all([writer, poller]);
  const missed: Record<string, number> = {};
  for (const m of MIRRORS) missed[m] = [...written.keys()].filter((v) => !seen[m].has(v)).length;
  return {
    label,
    lags,
    ages,
    missed,
    cpuPct: ((cpu1 - cpu0) / CLK_TCK / secs) * 100,
    cpuSplit: split,
    wireRatio: (tx1 - tx0) / changed / MIRRORS.length,
    changedBytes: changed,
    seconds: secs,
  };
}

// ---- the two stacks -----------------------------------------------------------------------

/** The agent daemon running in a host's network namespace, found when the measurement starts. */
function agentDaemonIn(site: string): number {
  const pids = pidsInNetns([netns(site)]);
  for (const pid of pids) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('agent.js')) && argv.includes('daemon')) return pid;
    } catch {
      /* gone */
    }
  }
  throw new Error(`no agent daemon running on ${site}`);
}

async function hostStatus(site: string): Promise<AgentStatus> {
  const r = await hostExec(C, site, ['node', '/var/lib/tandem/agent.js', 'status', '--json']);
  return JSON.parse(r.stdout) as AgentStatus;
}

async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

function knownHosts(file: string): void {
  fs.writeFileSync(file, inv.hosts.map((h) => `${h.address} ${h.hostKey}`).join('\n') + '\n');
}

function startLsyncd(delay: number, work: string): ChildProcess {
  const kh = path.join(work, 'known_hosts');
  knownHosts(kh);
  const cfg = path.join(work, `lsyncd-${delay}.lua`);
  const blocks = MIRRORS.map(
    (m) => `sync {
  default.rsyncssh,
  source = "${data('ny')}",
  host = "root@${host(m).address}",
  targetdir = "/srv/trading",
  delay = ${delay},
  exclude = { "*.tmp" },
  rsync = { archive = true },
  ssh = { identityFile = "${inv.identityFile}", options = { BatchMode = "yes", StrictHostKeyChecking = "yes", UserKnownHostsFile = "${kh}" } },
}`,
  );
  fs.writeFileSync(cfg, `settings { nodaemon = true, logfile = "${work}/lsyncd-${delay}.log", statusFile = "${work}/lsyncd-${delay}.status", insist = true }\n${blocks.join('\n')}\n`);
  const p = spawn('ip', ['netns', 'exec', netns('ny'), 'lsyncd', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr!.on('data', (d) => fs.appendFileSync(path.join(work, `lsyncd-${delay}.stderr`), d));
  return p;
}

function readOr(f: string): string {
  try {
    return fs.readFileSync(f, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

// ---- seed ---------------------------------------------------------------------------------

function makeSeed(dir: string, mib: number): number {
  fs.mkdirSync(dir, { recursive: true });
  const k = mib / 1024;
  const plan: [number, number][] = [
    [2, 200 * 1024 * 1024 * k],
    [100, 4 * 1024 * 1024 * k],
    [Math.round(1600 * k), 128 * 1024],
    [Math.round(6144 * k), 4 * 1024],
  ];
  let total = 0;
  let i = 0;
  for (const [count, size] of plan) {
    const sub = path.join(dir, `s${size}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let j = 0; j < count; j++) {
      const fd = fs.openSync(path.join(sub, `f${i++}`), 'w');
      for (let off = 0; off < size; off += 8 * 1024 * 1024) fs.writeSync(fd, crypto.randomBytes(Math.min(8 * 1024 * 1024, size - off)));
      fs.closeSync(fd);
      total += size;
    }
  }
  return total;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', '--exclude=.tandem-staging', dir]).toString().split('\t')[0]);
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (it brings up a lab)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-'));
  const r = parseTopology(YAML, C);
  if (!r.topology) throw new Error(JSON.stringify(r.issues));
  await labDown(C);
  log('lab up');
  inv = await labUp(r.topology);
  const results: RunResult[] = [];
  const seed: { label: string; seconds: number; bytes: number; mbit: number }[] = [];
  const lsyncds: ChildProcess[] = [];
  try {
    const o = fleetOpts();
    const ins = await installFleet(o, 'install', agentBundle());
    if (ins.some((x) => x.error)) throw new Error(`install: ${JSON.stringify(ins.map((x) => x.error))}`);
    // Phase A: tandem, continuous, the three mirrors (sea stays out: it is the seed target).
    if (PHASES.includes('tandem')) {
      await mirrorFleet(o, 'start', MIRRORS);
      await waitUntil('tandem mirrors in-sync', async () => (await hostStatus('ny')).children.filter((c) => MIRRORS.includes(c.site)).every((c) => c.state === 'in-sync'), 60_000);
      log(`tandem run (${RUN_S} s)`);
      results.push(await runWorkload('tandem (continuous)', RUN_S, () => agentDaemonIn('ny')));
      const st = await hostStatus('ny');
      log(`tandem status: ${st.children.map((c) => `${c.site}=${c.state}`).join(' ')}`);
      await mirrorFleet(o, 'stop', []);
      await sleep(1500);
    }

    // Phase B: lsyncd on the same hosts and workload.
    for (const [delay, secs] of PHASES.includes('lsyncd')
      ? ([
          [1, RUN_S],
          [15, RUN_S_SLOW],
        ] as const)
      : []) {
      log(`lsyncd delay=${delay} run (${secs} s)`);
      const p = startLsyncd(delay, work);
      lsyncds.push(p);
      await sleep(3000); // its startup rsync of each target
      if (p.exitCode !== null) throw new Error(`lsyncd exited ${p.exitCode}: ${readOr(path.join(work, `lsyncd-${delay}.stderr`))} ${readOr(path.join(work, `lsyncd-${delay}.log`))}`);
      results.push(await runWorkload(`lsyncd 2.2 rsyncssh delay=${delay}`, secs, () => p.pid!));
      p.kill('SIGTERM');
      await new Promise((res) => (p.exitCode !== null ? res(null) : p.once('exit', res)));
    }

    // Phase C: initial seed over a 100 Mbit/s capped link.
    if (PHASES.includes('seed')) {
      log(`seed: writing ${SEED_MIB} MiB of mixed files on the master`);
      const seedBytes = makeSeed(path.join(data('ny'), 'seed'), SEED_MIB);
      const masterBytes = duBytes(data('ny'));
      log(`seed: tandem (mirror start sea) over ${LINK_MBIT} Mbit/s`);
      const t0 = Date.now();
      await mirrorFleet(o, 'start', ['sea']);
      await waitUntil('sea seeded', async () => (await hostStatus('ny')).children.find((c) => c.site === 'sea')?.state === 'in-sync', 600_000);
      const tTandem = (Date.now() - t0) / 1000;
      const got = duBytes(data('sea'));
      seed.push({ label: 'tandem seed, `mirror start` to in-sync', seconds: tTandem, bytes: got, mbit: (got * 8) / tTandem / 1e6 });
      const agentLog = (await hostExec(C, 'ny', ['sh', '-c', 'grep "link sea: reconcile done" /var/lib/tandem/agent.log | tail -1'])).stdout;
      const ms = Number(/"ms":(\d+)/.exec(agentLog)?.[1]);
      if (ms) seed.push({ label: 'tandem seed, its rsync alone (agent log)', seconds: ms / 1000, bytes: got, mbit: (got * 8) / (ms / 1000) / 1e6 });
      await mirrorFleet(o, 'stop', []);
      await sleep(1000);
      execFileSync('sh', ['-c', `find ${data('sea')} -mindepth 1 -maxdepth 1 ! -name .tandem-staging -exec rm -rf {} +`]);
      log('seed: plain rsync -a over ssh');
      const kh = path.join(work, 'known_hosts');
      knownHosts(kh);
      const t1 = Date.now();
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          netns('ny'),
          'rsync',
          '-a',
          '--exclude=.tandem-staging/',
          '-e',
          `ssh -i ${inv.identityFile} -o BatchMode=yes -o UserKnownHostsFile=${kh}`,
          `${data('ny')}/`,
          `root@${host('sea').address}:/srv/trading/`,
        ],
        { stdio: 'inherit' },
      );
      const tPlain = (Date.now() - t1) / 1000;
      const got2 = duBytes(data('sea'));
      seed.push({ label: 'plain rsync -a over ssh', seconds: tPlain, bytes: got2, mbit: (got2 * 8) / tPlain / 1e6 });
      log(`seed data ${seedBytes} bytes; master dir ${masterBytes}`);
    }
  } finally {
    for (const p of lsyncds) if (p.exitCode === null) p.kill('SIGTERM');
    if (!process.env.KEEP_LAB) await labDown(C);
    fs.rmSync(work, { recursive: true, force: true });
  }
  writeReport(results, seed);
}

function writeReport(results: RunResult[], seed: { label: string; seconds: number; bytes: number; mbit: number }[]): void {
  const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
  const ageRows = results.flatMap((r) => MIRRORS.map((m) => `| ${r.label} | ${m} | ${f3(pct(r.ages[m], 50))} | ${f3(pct(r.ages[m], 99))} | ${f3(Math.max(...r.ages[m]))} | ${r.ages[m].length} |`));
  const rows = results.flatMap((r) =>
    MIRRORS.map((m) => `| ${r.label} | ${m} | ${f3(pct(r.lags[m], 50))} | ${f3(pct(r.lags[m], 99))} | ${f3(Math.max(...r.lags[m]))} | ${r.lags[m].length} | ${r.missed[m]} |`),
  );
  const cpu = results.map((r) => `| ${r.label} | ${r.cpuPct.toFixed(2)} % | ${r.cpuSplit} | ${r.wireRatio.toFixed(2)} | ${(r.changedBytes / r.seconds / 1024).toFixed(1)} KiB/s |`);
  const md = `# Sync benchmark (lab)

Generated by \`bench/sync-bench.ts\`${QUICK ? ' with `--quick` (shorter runs, smaller seed)' : ''} on ${new Date().toISOString()}.
Machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average at the end ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')}
(other work was running on this machine at the same time; CPU and lag figures include that noise).

Lab: master \`ny\`, mirrors \`chi\`, \`ams\`, \`ldn\` fed directly (continuous), \`sea\` for the seed
(link capped at ${LINK_MBIT} Mbit/s with tc tbf). Every host is a network namespace with its own sshd;
every transfer is real SSH. Workload on the master: 50 append-only tick files, 2,000 ticks/s
(one write() per tick), and a heartbeat file rewritten (write + rename) every 100 ms.
Each run: ${WARMUP_S} s warm-up, then ${RUN_S} s measured (lsyncd delay=15: ${RUN_S_SLOW} s).

## Lag as the heartbeat's age on each mirror (seconds, sampled every 10 ms)

Includes up to 100 ms from the heartbeat period itself (a mirror that is perfectly current still
shows an age of 0–100 ms, ~50 ms on average).

| stack | mirror | p50 | p99 | max | samples |
|---|---|---|---|---|---|
${ageRows.join('\n')}

## Delay of each heartbeat version (seconds from its write on the master to its first sighting on the mirror)

Poller resolution 2 ms. "missed" = heartbeat versions written during the measured window that
the mirror never showed (overwritten by a newer one before it was applied, as batching does).

| stack | mirror | p50 | p99 | max | samples | missed |
|---|---|---|---|---|---|---|
${rows.join('\n')}

## Master CPU and bytes on the wire

CPU = CPU time of the sync stack's whole process tree on the master / wall time (100 % = one core).
Wire = master eth0 tx bytes (TCP/IP + SSH + protocol) / bytes changed / ${MIRRORS.length} mirrors.

| stack | master CPU | by process (approx.) | wire bytes per byte changed, per mirror | change rate |
|---|---|---|---|---|
${cpu.join('\n')}

Targets: p99 lag <= 0.25 s on every mirror, master CPU <= 5 % of one core.

## Initial seed (${SEED_MIB} MiB of mixed files: 2 large, 100 x 4 MiB, many 128 KiB and 4 KiB; random bytes) over ${LINK_MBIT} Mbit/s

| method | seconds | bytes on the mirror | rate | of link |
|---|---|---|---|---|
${seed.map((s) => `| ${s.label} | ${s.seconds.toFixed(1)} | ${s.bytes} | ${s.mbit.toFixed(1)} Mbit/s | ${((s.mbit / LINK_MBIT) * 100).toFixed(0)} % |`).join('\n')}

The tandem figure is measured from \`mirror start\` to the master reporting the mirror in-sync
(so it includes the SSH handshakes, the HELLO and status polling every 100 ms); plain rsync is
the same rsync with nothing around it.
`;
  const full = ['tandem', 'lsyncd', 'seed'].every((x) => PHASES.includes(x)) && !QUICK;
  const out = full ? path.join(__dirname, 'sync.md') : path.join(__dirname, 'results', `sync-${PHASES.join('-')}${QUICK ? '-quick' : ''}.md`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, md);
  process.stdout.write(md);
}

main().catch(async (e) => {
  log(`bench failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
