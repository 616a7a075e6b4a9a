/**
 * Sync benchmark on the lab (needs root): tandem's agent next to lsyncd 2.2 (default.rsyncssh,
 * delay=1 and the default delay=15) on the same hosts and workload, in one run; the agent alone at
 * 1, 3 and 8 direct mirrors and at 10x the tick rate; then an initial seed of ~1 GiB of mixed
 * files over a 100 Mbit/s capped link next to plain rsync. Writes bench/sync.md.
 *
 *   node bin/run-ts bench/sync-bench.ts [--quick] [--phases=tandem,tick50,lsyncd,scale,seed] [--seconds=40]
 *
 * tick50: the same agent with the master's `tickMs: 50` (the default is 100 ms), the lag-for-CPU
 * trade measured in the same run.
 *
 * Workload (on the master's data dir): 50 append-only tick files, 2,000 ticks/s in total (one
 * open-append-close per tick), and a heartbeat file rewritten (write + rename) every 100 ms
 * holding its write time. Lag = the heartbeat's age on each mirror (sampled every 10 ms), and
 * the delay of each heartbeat version (first sighting by a poller every 2 ms, minus its write
 * time).
 *
 * Master CPU = what the master HOST pays: every process in its namespace (the agent's node, its
 * inotifywait, ssh clients, rsyncs, lsyncd, and the host's own sshd and init), not a chosen
 * list. Each process's utime+stime+cutime+cstime is read from /proc/<pid>/stat at the window's
 * start and end: a process that exits inside the window is counted whole in its waiter's
 * cutime/cstime (the agent waits for its ssh/rsync, lsyncd for its rsyncs, the host's init for
 * orphans), so the total is exact. The split per process name comes from sampling every 200 ms
 * (a process that exited is counted up to its last sample; the rest is shown as such). Bytes on
 * the wire = the master's eth0 tx bytes (TCP/IP + SSH included) / bytes changed / mirrors.
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

const FLAGS = benchFlags('node bin/run-ts bench/sync-bench.ts [--quick] [--phases=tandem,tick50,lsyncd,scale,seed] [--seconds=40] [--scale-seconds=20]', {
  quick: { type: 'boolean', default: false, describe: 'short runs (12 s windows, 256 MiB seed)' },
  phases: { type: 'string', default: 'tandem,tick50,lsyncd,scale,seed', describe: 'which phases to run, comma-separated' },
  seconds: { type: 'number', default: 40, describe: 'measured window of the tandem and lsyncd delay=1 runs (lsyncd delay=15: 1.5x)' },
  'scale-seconds': { type: 'number', default: 20, describe: 'measured window of each scale run' },
  scale: { type: 'string', default: '1,3,8', describe: 'mirror counts of the scale runs (each at 2,000 and 20,000 ticks/s)' },
  'max-load': { type: 'number', default: 0.7, describe: 'wait (up to 5 min) for the 1-minute load average to fall below this before each run' },
});
const QUICK = FLAGS.quick;
const PHASES = FLAGS.phases.split(',');
for (const p of PHASES) if (!['tandem', 'tick50', 'lsyncd', 'scale', 'seed'].includes(p)) throw new Error(`--phases: unknown phase "${p}"; use tandem, tick50, lsyncd, scale and/or seed`);
// Lab customers of this benchmark start with cpub (other engineers' labs use dr*, rp*, sw*, fo*).
const C = 'cpub-sync';
const RUN_S = QUICK ? 12 : FLAGS.seconds;
const RUN_S_SLOW = QUICK ? 20 : Math.round(FLAGS.seconds * 1.5); // lsyncd delay=15 needs several cycles
const SCALE_S = QUICK ? 10 : FLAGS['scale-seconds'];
const SCALE = FLAGS.scale.split(',').map(Number);
const WARMUP_S = 5;
const SEED_MIB = QUICK ? 256 : 1024;
const LINK_MBIT = 100;
const RATE = 2000;
const SITES: [string, string, string, string][] = [
  ['chi', 'aws', 'us-east-2', 'hot'],
  ['ams', 'azure', 'westeurope', 'warm'],
  ['ldn', 'aws', 'eu-west-2', 'hot'],
  ['fra', 'aws', 'eu-central-1', 'warm'],
  ['sgp', 'aws', 'ap-southeast-1', 'warm'],
  ['tyo', 'aws', 'ap-northeast-1', 'warm'],
  ['syd', 'aws', 'ap-southeast-2', 'warm'],
  ['sao', 'aws', 'sa-east-1', 'warm'],
];
const N_MIRRORS = Math.max(3, ...(PHASES.includes('scale') ? SCALE : []));
if (N_MIRRORS > SITES.length || SCALE.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--scale: mirror counts from 1 to ${SITES.length}, e.g. 1,3,8`);
const ALL_MIRRORS = SITES.slice(0, N_MIRRORS).map((s) => s[0]);
const MIRRORS = ALL_MIRRORS.slice(0, 3);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const PAGE = 4096;

const YAML = `config:
  tandem:customer: ${C}
  tandem:topology:
    dataDir: /srv/trading
    exclude: ["*.tmp"]
    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }
    adminCidrs: [198.18.0.0/15]
    sites:
      - { name: ny, role: master, provider: aws, region: us-east-1, lab: { diskMb: ${SEED_MIB + 400} } }
${SITES.slice(0, N_MIRRORS)
  .map(([n, p, r, f]) => `      - { name: ${n}, role: mirror, provider: ${p}, region: ${r}, failover: ${f} }`)
  .join('\n')}
      - { name: sea, role: mirror, provider: aws, region: us-west-2, failover: cold, lab: { linkMbit: ${LINK_MBIT}, diskMb: ${SEED_MIB + 400} } }
`;

let inv: Inventory;
const host = (s: string) => inv.hosts.find((h) => h.site === s)!;
const data = (s: string) => host(s).labDataDir!;
const netns = (s: string) => host(s).labNetns!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fleetOpts = () => ({ inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress: silentProgress });
const loadavg = () => os.loadavg().map((x) => x.toFixed(2));

function log(m: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
}

// ---- measurement: every process of the master host ----------------------------------------

interface PStat {
  comm: string;
  /** utime + stime of the process itself (all its threads). */
  own: number;
  /** cutime + cstime: its children that exited and were waited for. */
  kids: number;
  rssPages: number;
}
function pstat(pid: number): PStat | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), own: Number(f[11]) + Number(f[12]), kids: Number(f[13]) + Number(f[14]), rssPages: Number(f[21]) };
  } catch {
    return null; // exited
  }
}
function hostStats(site: string): Map<number, PStat> {
  const out = new Map<number, PStat>();
  for (const pid of pidsInNetns([netns(site)])) {
    const p = pstat(pid);
    if (p) out.set(pid, p);
  }
  return out;
}

interface HostCpu {
  /** % of one core, the whole host. */
  total: number;
  /** % of one core by process name (own time; exited processes up to their last sample). */
  byComm: Map<string, number>;
  /** How many processes of each name were seen (to tell 3 ssh clients from 1). */
  countByComm: Map<string, number>;
  /** Exited inside the window: time after their last sample (in their waiter's cutime). */
  unsampled: number;
  /** Peak RSS of the agent daemon (MiB), if one ran. */
  agentRssMiB: number | null;
}

/** Samples every process of a host from now until stop(). */
function meterHost(site: string, agentPid: number | null): { stop: () => HostCpu } {
  const t0 = Date.now();
  const first = hostStats(site);
  const firstSeen = new Map<number, PStat>(first);
  const last = new Map<number, PStat>(first);
  let rss = 0;
  const sample = (): void => {
    for (const [pid, p] of hostStats(site)) {
      const was = last.get(pid);
      if (was && was.comm !== p.comm && !firstSeen.has(pid)) firstSeen.set(pid, p);
      if (!firstSeen.has(pid)) firstSeen.set(pid, { ...p, own: 0, kids: 0 }); // born inside the window
      last.set(pid, p);
    }
    if (agentPid) rss = Math.max(rss, pstat(agentPid)?.rssPages ?? 0);
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    stop: () => {
      clearInterval(timer);
      const end = hostStats(site);
      for (const [pid, p] of end) {
        if (!firstSeen.has(pid)) firstSeen.set(pid, { ...p, own: 0, kids: 0 });
        last.set(pid, p);
      }
      if (agentPid) rss = Math.max(rss, pstat(agentPid)?.rssPages ?? 0);
      const secs = (Date.now() - t0) / 1000;
      const pct = (ticks: number) => (ticks / CLK_TCK / secs) * 100;
      // Exact total: alive at the end, everything (own + waited-for children) since the start;
      // minus what processes that died had at the start (their whole time is now in a waiter).
      let ticks = 0;
      for (const [pid, p] of end) {
        const a = first.get(pid);
        ticks += p.own + p.kids - (a ? a.own + a.kids : 0);
      }
      for (const [pid, a] of first) if (!end.has(pid)) ticks -= a.own + a.kids;
      const byComm = new Map<string, number>();
      const countByComm = new Map<string, number>();
      let split = 0;
      for (const [pid, p] of last) {
        const d = p.own - (firstSeen.get(pid)?.own ?? 0);
        split += d;
        byComm.set(p.comm, (byComm.get(p.comm) ?? 0) + d);
        countByComm.set(p.comm, (countByComm.get(p.comm) ?? 0) + 1);
      }
      return {
        total: pct(ticks),
        byComm: new Map([...byComm].map(([k, v]) => [k, pct(v)])),
        countByComm,
        unsampled: pct(Math.max(0, ticks - split)),
        agentRssMiB: agentPid ? (rss * PAGE) / 1048576 : null,
      };
    },
  };
}

function splitText(c: HostCpu): string {
  const parts = [...c.byComm]
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}${(c.countByComm.get(k) ?? 1) > 1 ? ` x${c.countByComm.get(k)}` : ''} ${v.toFixed(2)}`);
  if (c.unsampled >= 0.005) parts.push(`exited, after last sample ${c.unsampled.toFixed(2)}`);
  return parts.join(', ') || '-';
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

/** Waits (bounded) for the machine to quieten before a measured run. */
async function waitForQuiet(): Promise<void> {
  for (let i = 0; i < 30 && os.loadavg()[0] >= FLAGS['max-load']; i++) {
    if (i === 0) log(`load ${loadavg().join(' ')}: waiting (up to 5 min) for the 1-minute load to fall below ${FLAGS['max-load']}`);
    await sleep(10_000);
  }
}

// ---- workload -----------------------------------------------------------------------------

interface RunResult {
  label: string;
  mirrors: string[];
  rate: number;
  /** Ticks actually written per second (the writer is this process, outside the master host). */
  ticksPerS: number;
  lags: Record<string, number[]>;
  ages: Record<string, number[]>;
  missed: Record<string, number>;
  cpu: HostCpu;
  wireRatio: number;
  changedBytes: number;
  changes: number;
  seconds: number;
  load: { start: string[]; end: string[] };
}

async function runWorkload(label: string, seconds: number, mirrors: string[], rate: number, agentPid: number | null): Promise<RunResult> {
  await waitForQuiet();
  const dir = data('ny');
  const ticks = Array.from({ length: 50 }, (_, i) => path.join(dir, 'ticks', `sym${String(i).padStart(2, '0')}.csv`));
  fs.mkdirSync(path.join(dir, 'ticks'), { recursive: true });
  let stop = false;
  let measuring = false;
  let changed = 0;
  let changes = 0;
  const written = new Map<number, number>(); // hb value -> write time
  const lags: Record<string, number[]> = Object.fromEntries(mirrors.map((m) => [m, []]));
  const seen: Record<string, Set<number>> = Object.fromEntries(mirrors.map((m) => [m, new Set<number>()]));
  const ages: Record<string, number[]> = Object.fromEntries(mirrors.map((m) => [m, []]));
  let lastAge = 0;
  const writer = tickWorkload(
    dir,
    ticks,
    () => stop,
    {
      tick: (bytes) => {
        if (!measuring) return;
        changed += bytes;
        changes++;
      },
      heartbeat: (t, bytes) => {
        if (!measuring) return;
        changed += bytes;
        changes++;
        written.set(t, t);
      },
    },
    rate,
  );
  const poller = (async () => {
    while (!stop) {
      const sampleAge = measuring && Date.now() - lastAge >= 10;
      for (const m of mirrors) {
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
        if (sampleAge && v > 0) ages[m].push((Date.now() - v) / 1000);
      }
      if (sampleAge) lastAge = Date.now();
      await sleep(2);
    }
  })();
  await sleep(WARMUP_S * 1000);
  const loadStart = loadavg();
  const meter = meterHost('ny', agentPid);
  const tx0 = txBytes('ny');
  const t0 = Date.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const cpu = meter.stop();
  const tx1 = txBytes('ny');
  const secs = (Date.now() - t0) / 1000;
  const loadEnd = loadavg();
  await sleep(QUICK || !label.includes('delay=15') ? 2000 : 16_000); // let late heartbeats land (lsyncd delay=15)
  stop = true;
  await Promise.all([writer, poller]);
  const missed: Record<string, number> = {};
  for (const m of mirrors) missed[m] = [...written.keys()].filter((v) => !seen[m].has(v)).length;
  const r: RunResult = {
    label,
    mirrors,
    rate,
    ticksPerS: (changes - written.size) / secs,
    lags,
    ages,
    missed,
    cpu,
    wireRatio: (tx1 - tx0) / changed / mirrors.length,
    changedBytes: changed,
    changes,
    seconds: secs,
    load: { start: loadStart, end: loadEnd },
  };
  log(
    `${label}: master host ${cpu.total.toFixed(2)} % (${splitText(cpu)}); age p99 ${mirrors.map((m) => pct(ages[m], 99).toFixed(3)).join('/')} s; load ${loadStart.join(' ')} -> ${loadEnd.join(' ')}`,
  );
  return r;
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

/**
 * lsyncd as its manual has users run it: one `default.rsyncssh` sync per target, each with
 * maxProcesses = 1 (the only value rsyncssh accepts: moves and deletes go over ssh in order),
 * maxDelays = 1000 (default.rsync's: a sync starts after `delay` s or 1,000 uncollapsible
 * events, whichever comes first), inotifyMode CloseWrite (the default), archive mode, and the
 * delay given: 15 s is lsyncd's default, 1 s the lowest a user wanting low lag would pick.
 */
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
  maxProcesses = 1,
  maxDelays = 1000,
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

/**
 * The cipher the agent's own link negotiates: the live ssh client's argv on the master, run once
 * more with -v first (so its LogLevel=ERROR does not hide the kex lines) and stdin closed, so the
 * receiver on the mirror sees EOF and exits.
 */
async function agentCipher(): Promise<string> {
  for (const pid of pidsInNetns([netns('ny')])) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (argv[0] !== 'ssh' || !argv.includes('tandem-receive')) continue;
    const r = await hostExec(C, 'ny', ['ssh', '-v', ...argv.slice(1)], { timeoutMs: 20_000, stdin: '' });
    const m = /kex: client->server cipher: (\S+)/.exec(r.stderr);
    return m ? m[1] : `unknown (${r.stderr.split('\n').slice(-2).join(' ').slice(0, 200)})`;
  }
  return 'no agent ssh client found';
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
  const scale: RunResult[] = [];
  let cipher = '';
  try {
    const o = fleetOpts();
    const ins = await installFleet(o, 'install', agentBundle());
    if (ins.some((x) => x.error)) throw new Error(`install: ${JSON.stringify(ins.map((x) => x.error))}`);
    // Phase A: tandem, continuous, the three mirrors (sea stays out: it is the seed target).
    // opts: the fleet options whose inventory the configs are built from (tick50 sets tickMs).
    const runTandem = async (label: string, mirrors: string[], rate: number, secs: number, opts = o): Promise<RunResult> => {
      await mirrorFleet(opts, 'stop', []);
      await mirrorFleet(opts, 'start', mirrors);
      await waitUntil('tandem mirrors in-sync', async () => (await hostStatus('ny')).children.filter((c) => mirrors.includes(c.site)).every((c) => c.state === 'in-sync'), 120_000);
      if (!cipher) {
        cipher = await agentCipher();
        log(`the agent's ssh negotiates cipher ${cipher}`);
      }
      log(`${label} run (${secs} s)`);
      const res = await runWorkload(label, secs, mirrors, rate, agentDaemonIn('ny'));
      const st = await hostStatus('ny');
      log(`tandem status: ${st.children.map((c) => `${c.site}=${c.state}`).join(' ')}`);
      await mirrorFleet(opts, 'stop', []);
      await sleep(1500);
      return res;
    };
    if (PHASES.includes('tandem')) results.push(await runTandem('tandem (continuous, 100 ms tick)', MIRRORS, RATE, RUN_S));
    if (PHASES.includes('tick50')) {
      // The master's config with tickMs 50: its daemon re-reads config.json and restarts its tick.
      const fast = { ...o, inventory: { ...inv, hosts: inv.hosts.map((h) => (h.site === 'ny' ? { ...h, tickMs: 50 } : h)) } };
      const set = await installFleet(fast, 'install', agentBundle());
      if (set.some((x) => x.error)) throw new Error(`install tickMs 50: ${JSON.stringify(set.map((x) => x.error))}`);
      results.push(await runTandem('tandem (continuous, tickMs 50)', MIRRORS, RATE, RUN_S, fast));
      const cfg = await hostExec(C, 'ny', ['cat', '/var/lib/tandem/config.json']);
      if (!/"tickMs":\s*50/.test(cfg.stdout)) throw new Error('tick50: the master config did not keep tickMs 50 through the run');
      const back = await installFleet(o, 'install', agentBundle());
      if (back.some((x) => x.error)) throw new Error(`install: ${JSON.stringify(back.map((x) => x.error))}`);
    }

    // Phase S: the agent at 1, 3 and 8 direct mirrors, at the base rate and at 10x. Before lsyncd:
    // lsyncd's rsync writes the mirrors' files as root, which the agent's own user (tandem) then
    // cannot replace, and its reconcile never gets a mirror in sync again.
    if (PHASES.includes('scale'))
      for (const rate of [RATE, RATE * 10]) for (const n of SCALE) scale.push(await runTandem(`tandem, ${n} mirror${n > 1 ? 's' : ''}, ${rate} ticks/s`, ALL_MIRRORS.slice(0, n), rate, SCALE_S));

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
      results.push(await runWorkload(`lsyncd 2.2 rsyncssh delay=${delay}`, secs, MIRRORS, RATE, null));
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
  writeReport(results, scale, seed, cipher);
}

function writeReport(results: RunResult[], scale: RunResult[], seed: { label: string; seconds: number; bytes: number; mbit: number }[], cipher: string): void {
  const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
  const loadText = (r: RunResult) => `${r.load.start.join(' ')} → ${r.load.end.join(' ')}`;
  const ageRows = results.flatMap((r) => r.mirrors.map((m) => `| ${r.label} | ${m} | ${f3(pct(r.ages[m], 50))} | ${f3(pct(r.ages[m], 99))} | ${f3(max(r.ages[m]))} | ${r.ages[m].length} |`));
  const rows = results.flatMap((r) =>
    r.mirrors.map((m) => `| ${r.label} | ${m} | ${f3(pct(r.lags[m], 50))} | ${f3(pct(r.lags[m], 99))} | ${f3(max(r.lags[m]))} | ${r.lags[m].length} | ${r.missed[m]} |`),
  );
  const cpu = results.map(
    (r) =>
      `| ${r.label} | **${r.cpu.total.toFixed(2)} %** | ${splitText(r.cpu)} | ${r.cpu.agentRssMiB === null ? '-' : `${r.cpu.agentRssMiB.toFixed(0)} MiB`} | ${r.wireRatio.toFixed(2)} | ${(r.changedBytes / r.seconds / 1024).toFixed(1)} KiB/s | ${loadText(r)} |`,
  );
  const one = (rate: number) => scale.find((x) => x.rate === rate && x.mirrors.length === 1);
  const byName = (r: RunResult, name: string) => r.cpu.byComm.get(name) ?? 0;
  const scaleRows = scale.map((r) => {
    const base = one(r.rate);
    const perMirror = base && r.mirrors.length > 1 ? ((r.cpu.total - base.cpu.total) / (r.mirrors.length - 1)).toFixed(2) : '-';
    const usPerChange = ((r.cpu.total / 100) * 1e6) / (r.changes / r.seconds);
    const worst = Math.max(...r.mirrors.map((m) => pct(r.ages[m], 99)));
    return `| ${r.mirrors.length} | ${r.rate} (${r.ticksPerS.toFixed(0)} written) | **${r.cpu.total.toFixed(2)} %** | ${byName(r, 'node').toFixed(2)} | ${byName(r, 'inotifywait').toFixed(2)} | ${byName(r, 'ssh').toFixed(2)} | ${perMirror} | ${usPerChange.toFixed(1)} µs | ${r.cpu.agentRssMiB?.toFixed(0) ?? '-'} MiB | ${f3(worst)} | ${loadText(r)} |`;
  });
  const md = `# Sync benchmark (lab)

Generated by \`bench/sync-bench.ts\`${QUICK ? ' with `--quick` (shorter runs, smaller seed)' : ''} (phases ${PHASES.join(', ')}) on ${new Date().toISOString()}.
Machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); the load average (1, 5, 15 min) at the start and end of
each measured window is in the tables: other engineers' suites share this machine, and lag
figures (not CPU time) follow that load.

Lab: master \`ny\`, direct mirrors ${ALL_MIRRORS.map((m) => `\`${m}\``).join(', ')} (continuous; the tandem and lsyncd runs use
the first three), \`sea\` for the seed (link capped at ${LINK_MBIT} Mbit/s with tc tbf). Every host is a network
namespace (and PID namespace) with its own sshd; every transfer is real SSH. Workload on the master: 50 append-only
tick files, ${RATE.toLocaleString('en')} ticks/s (one open-append-close per tick), and a heartbeat file rewritten
(write + rename) every 100 ms. Each run: ${WARMUP_S} s warm-up, then ${RUN_S} s measured (lsyncd delay=15: ${RUN_S_SLOW} s; scale runs ${SCALE_S} s).

## Master CPU: every process of the master host, and bytes on the wire

CPU = CPU time of every process in the master host's namespace during the window / wall time
(100 % = one core): utime+stime+cutime+cstime from /proc at the window's start and end, so
processes that started or exited inside the window count too. The split is per process name
(own CPU, sampled every 200 ms). Wire = master eth0 tx bytes (TCP/IP + SSH + protocol) / bytes
changed / mirrors. The agent's ssh links negotiate cipher **${cipher || 'not measured'}**.

| stack | master host CPU | by process (% of one core) | agent RSS (peak) | wire bytes per byte changed, per mirror | change rate | load avg start → end |
|---|---|---|---|---|---|---|
${cpu.join('\n')}

Targets: heartbeat age p99 <= 0.25 s on every mirror, master host CPU <= 5 % of one core.

lsyncd settings (one \`default.rsyncssh\` sync per mirror): maxProcesses = 1 (the only value
rsyncssh takes), maxDelays = 1000 (default.rsync's), inotifyMode CloseWrite (default),
rsync archive mode; delay 15 s is lsyncd's default, 1 s what a user after low lag would pick.

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
${
  scale.length
    ? `
## Scale: the agent with 1, 3 and 8 direct mirrors, at ${RATE.toLocaleString('en')} and ${(RATE * 10).toLocaleString('en')} ticks/s

Same workload and measurement (${SCALE_S} s windows). Per mirror = (CPU at n mirrors − CPU at 1) / (n − 1) at
the same rate; per change = master host CPU time / changes written (ticks + heartbeats).
"written" is the rate the benchmark's writer (outside the master host) achieved.

| mirrors | ticks/s | master host CPU | node | inotifywait | ssh (all) | per extra mirror | per change | agent RSS (peak) | age p99, worst mirror (s) | load avg start → end |
|---|---|---|---|---|---|---|---|---|---|---|
${scaleRows.join('\n')}
`
    : ''
}${
    seed.length
      ? `
## Initial seed (${SEED_MIB} MiB of mixed files: 2 large, 100 x 4 MiB, many 128 KiB and 4 KiB; random bytes) over ${LINK_MBIT} Mbit/s

| method | seconds | bytes on the mirror | rate | of link |
|---|---|---|---|---|
${seed.map((s) => `| ${s.label} | ${s.seconds.toFixed(1)} | ${s.bytes} | ${s.mbit.toFixed(1)} Mbit/s | ${((s.mbit / LINK_MBIT) * 100).toFixed(0)} % |`).join('\n')}

The tandem figure is measured from \`mirror start\` to the master reporting the mirror in-sync
(so it includes the SSH handshakes, the HELLO and status polling every 100 ms); plain rsync is
the same rsync with nothing around it.
`
      : ''
  }`;
  const full = ['tandem', 'tick50', 'lsyncd', 'scale', 'seed'].every((x) => PHASES.includes(x)) && !QUICK;
  const out = full ? path.join(__dirname, 'sync.md') : path.join(__dirname, 'results', `sync-${PHASES.join('-')}${QUICK ? '-quick' : ''}.md`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, md);
  process.stdout.write(md);
}

main().catch(async (e) => {
  log(`bench failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
