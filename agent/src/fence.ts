/**
 * Owns what a failover asks of a host's agent beyond mirroring:
 *   - `agent.js digest [--list]`: one content digest of dataDir as the agent mirrors it (the same
 *     exclude patterns, the staging dir left out, only symlinks mirrors hold). A planned switchover
 *     compares the master's digest with the target's before promoting: equal data is verified,
 *     not assumed. `--list` also prints each entry's own hash, so a catch-up copies only what
 *     differs. Modes, owners and times are left out on purpose: a mirror's directories are
 *     setgid and its files tandem's, and the question here is "same records", not "same inode".
 *   - the fence state (state/fence.json): written by the operator side when a host must not serve
 *     or push (an old master that came back after a failover), shown by `agent.js status`.
 */
import { spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { AgentConfig, AgentStatus } from './contract';
import { HomePaths, errMsg, log, readJson, writeFileAtomic } from './env';
import { Excluder } from './exclude';
import { linkIsMirrored } from './pathsafe';

export interface TreeDigest {
  readonly digest: string;
  readonly files: number;
  readonly bytes: number;
  /** rel path -> "f:<sha256>", "d", "l:<target>" (with --list). */
  readonly entries?: Record<string, string>;
}

function fileHash(p: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export function digestTree(root: string, exclude: readonly string[], list = false): TreeDigest {
  const ex = new Excluder(exclude);
  const entries: Record<string, string> = {};
  let files = 0;
  let bytes = 0;
  const walk = (rel: string): void => {
    const dir = rel ? path.join(root, rel) : root;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return; // removed while walking
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, r));
      } catch {
        continue;
      }
      if (ex.excluded(r, st.isDirectory())) continue;
      if (st.isDirectory()) {
        entries[r] = 'd';
        walk(r);
      } else if (st.isFile()) {
        try {
          entries[r] = `f:${fileHash(path.join(root, r))}`;
          files++;
          bytes += st.size;
        } catch {
          /* removed while walking */
        }
      } else if (st.isSymbolicLink()) {
        const t = fs.readlinkSync(path.join(root, r));
        if (linkIsMirrored(root, r, t)) entries[r] = `l:${t}`;
      }
    }
  };
  walk('');
  const h = createHash('sha256');
  for (const k of Object.keys(entries).sort()) h.update(`${k}\0${entries[k]}\n`);
  return { digest: h.digest('hex'), files, bytes, ...(list ? { entries } : {}) };
}

/** `agent.js digest [--list]`: the digest of this host's dataDir as JSON on stdout. */
export function runDigest(paths: HomePaths, args: readonly string[]): number {
  const config = readJson<AgentConfig>(paths.config);
  if (!config) {
    process.stderr.write(`digest: no readable config at ${paths.config}; run tandem agent install\n`);
    return 2;
  }
  let root: string;
  try {
    root = fs.realpathSync(config.dataDir);
  } catch (e) {
    process.stderr.write(`digest: dataDir ${config.dataDir} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`);
    return 1;
  }
  process.stdout.write(JSON.stringify(digestTree(root, config.exclude, args.includes('--list'))) + '\n');
  return 0;
}

export interface FenceState {
  /** True: this host must not serve or feed anyone (its daemon does not start links). */
  readonly fenced: boolean;
  readonly reason: string;
  readonly since: string;
  /** Where writes made here after the split were moved (kept, never deleted). */
  readonly splitBrainDir?: string | null;
  /** The epoch this host learned of (higher than its own) when it was fenced/demoted. */
  readonly learnedEpoch?: number | null;
}

export const fencePath = (paths: HomePaths) => path.join(paths.stateDir, 'fence.json');

export function readFence(paths: HomePaths): FenceState | null {
  return readJson<FenceState>(fencePath(paths));
}

export function writeFence(paths: HomePaths, f: FenceState): void {
  fs.mkdirSync(paths.stateDir, { recursive: true });
  writeFileAtomic(fencePath(paths), JSON.stringify(f, null, 2) + '\n');
}

// ---- fencing: at boot, and while this host is master ------------------------------------------
//
// A master can be replaced while it cannot hear about it: a reboot, a power-off, a VM paused, a
// network partition (the lab's `isolate`). Receivers already refuse its stale epoch, and a failover
// takes its sync key off every mirror it reaches (only the epoch query stays); in addition this
// host's fence process (`agent.js fence`, root, one per host) asks the other sites for their epoch:
//   - at boot (boot.d/40-tandem-fence), before the daemon feeds anyone: until one other site
//     answers, the master is fenced (RUN_FENCE) and says so: it feeds nobody, and nothing starts
//     its service (tandem starts the service only on the live master);
//   - then, for as long as this host is master, every WATCH_EVERY_MS, and at once when a child's
//     receiver refuses this host's stream for a stale epoch (the daemon fences its own links on
//     that refusal and says so in status.json, which this process reads).
// A peer that is master at a higher epoch: this host steps down (stepDown): fenced (the daemon
// stops every link within a tick), the service stopped (service.stop, written at promotion into
// SERVICE_JSON), its data copied into a dated folder under SPLIT_BRAIN_ROOT (kept, never deleted;
// status names it until acknowledged), config and authorized_keys rewritten as a mirror of that
// master, whose own link then resyncs it. A higher epoch seen only at mirrors (the new master not
// answering yet): fenced and the service stopped at once; it demotes as soon as the master answers.
// Every peer unreachable: at boot it stays fenced; a RUNNING master serves on. A master cut off
// from every other site cannot tell a partition that cost it its place from one that cost it its
// mirrors; stopping a desk's trading on every network blip would turn a mirror outage into a full
// outage. What it must never do is push stale data once it knows, and it knows as soon as any site
// answers: links reconnect to mirrors only after the same partition healed, and every mirror a
// failover reached no longer accepts this host's key.
// /run is emptied at boot, so every boot asks again.

export const FENCE_HOOK = '/var/lib/tandem/boot.d/40-tandem-fence';
export const RUN_FENCE = '/run/tandem-fence/state.json';
export const WATCH_PID = '/run/tandem-fence/watch.pid';
export const SPLIT_BRAIN_ROOT = '/var/lib/tandem/split-brain';
/** The service's stop command, written by tandem when this host becomes master (root's, 0644). */
export const SERVICE_JSON = '/var/lib/tandem/service.json';
/** Written by the supervisor (scripts/hosts/hostfiles.ts DAEMON_PID): the daemon to SIGHUP. */
const DAEMON_PID = '/run/tandem-agent/daemon.pid';
/** How often a running master asks the other sites for their epoch. */
export const WATCH_EVERY_MS = 3000;

export interface RunFence {
  readonly fenced: boolean;
  readonly reason: string;
  readonly at: string;
  readonly splitBrainDir?: string | null;
}

/** What the daemon and status make of the fence: null = not fenced. */
export function fenceReason(config: AgentConfig | null, hookPath = FENCE_HOOK, runPath = RUN_FENCE): string | null {
  if (!config || config.role !== 'master') return null;
  const st = readJson<RunFence>(runPath);
  if (st) return st.fenced ? `fenced: ${st.reason}` : null;
  return fs.existsSync(hookPath) ? 'fenced: waiting for the boot fence check (no other site has confirmed there is no higher epoch yet)' : null;
}

export function writeRunFence(f: RunFence, runPath = RUN_FENCE): void {
  fs.mkdirSync(path.dirname(runPath), { recursive: true, mode: 0o755 });
  writeFileAtomic(runPath, JSON.stringify(f, null, 2) + '\n');
  fs.chmodSync(runPath, 0o644);
}

export interface EpochAnswer {
  readonly site: string;
  readonly role: 'master' | 'mirror';
  readonly epoch: number;
  readonly address: string | null;
  /** This host's sync public key: a demoted master authorizes its new feeder with it. */
  readonly publicKey: string | null;
}

/** `agent.js epoch`: the forced command of a peer's query key. Public facts only. */
export function runEpochAnswer(paths: HomePaths): number {
  const config = readJson<AgentConfig>(paths.config);
  const rs = readJson<{ highestEpoch?: number }>(paths.receiverState);
  let pub: string | null = null;
  try {
    pub = fs.readFileSync(`${paths.key}.pub`, 'utf8').trim();
  } catch {
    /* none */
  }
  const ans: EpochAnswer = {
    site: config?.site ?? '',
    role: config?.role ?? 'mirror',
    epoch: Math.max(config?.epoch ?? 0, rs?.highestEpoch ?? 0),
    address: null,
    publicKey: pub,
  };
  process.stdout.write(JSON.stringify(ans) + '\n');
  return 0;
}

interface Peer {
  site: string;
  address: string;
  sshPort: number;
  hostKey: string;
}

/** Whom to ask: this host's children and every other site its config names (AgentConfig.peers). */
export function peersOf(c: AgentConfig): Peer[] {
  const out: Peer[] = c.children.map((ch) => ({ site: ch.site, address: ch.address, sshPort: ch.sshPort, hostKey: ch.hostKey }));
  for (const p of c.peers ?? []) if (!out.some((x) => x.site === p.site) && p.site !== c.site && p.hostKey) out.push({ ...p });
  return out;
}

/** One peer's epoch over SSH (this host's sync key, the peer's pinned host key); a string says why not. */
function ask(paths: HomePaths, p: Peer, knownHosts: string): Promise<EpochAnswer | string> {
  const argv = [
    '-i',
    paths.key,
    '-p',
    String(p.sshPort),
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=2',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    `tandem@${p.address}`,
    'tandem-epoch',
  ];
  return new Promise((resolve) => {
    const child = spawn('ssh', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return resolve((err.trim().split('\n').slice(-1)[0] || (signal ? `killed (${signal}) after 6 s` : `exit ${code}`)).trim());
      try {
        const a = JSON.parse(out.trim().split('\n').slice(-1)[0]) as EpochAnswer;
        resolve({ ...a, address: p.address });
      } catch {
        resolve(`unreadable answer: ${out.slice(0, 80)}`);
      }
    });
  });
}

/** Copies (never moves away for good) the data dir into a dated folder before a resync replaces it. */
function keepAside(dataDir: string, root = SPLIT_BRAIN_ROOT): string {
  const dir = path.join(root, new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync('cp', ['-a', '--reflink=auto', `${dataDir.replace(/\/+$/, '')}/.`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot keep the data aside in ${dir}: ${r.stderr.trim()}`);
  fs.rmSync(path.join(dir, '.tandem-staging'), { recursive: true, force: true });
  return dir;
}

/** Runs the service's stop command (SERVICE_JSON) as root; what happened, in words. */
function stopService(serviceJson = SERVICE_JSON): string {
  const svc = readJson<{ stop?: string }>(serviceJson);
  if (!svc?.stop) return `no service stop command recorded (${serviceJson})`;
  const r = spawnSync('sh', ['-c', svc.stop], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return `service stop (${svc.stop}) FAILED: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0]}`;
  return `service stopped (${svc.stop})`;
}

/** Has the daemon re-read its config and fence now instead of at its next 1 s poll. */
function signalDaemon(pidFile = DAEMON_PID): void {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (pid > 0 && sameHostProcess(pid, 'agent.js')) process.kill(pid, 'SIGHUP');
  } catch {
    /* no daemon running: it reads both when it starts */
  }
}

/** A live process of this host (lab hosts share one pid space: same mount namespace) whose command line has `word`. */
function sameHostProcess(pid: number, word: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(word) && fs.readlinkSync(`/proc/${pid}/ns/mnt`) === fs.readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
}

/** One fence process per host: false when another one runs (the boot hook and a promotion may both start one). */
function claim(pidFile: string): boolean {
  try {
    const other = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (other > 0 && other !== process.pid && sameHostProcess(other, 'fence')) return false;
  } catch {
    /* none */
  }
  fs.mkdirSync(path.dirname(pidFile), { recursive: true, mode: 0o755 });
  writeFileAtomic(pidFile, `${process.pid}\n`);
  return true;
}

/** A child link refused for a stale epoch, as the daemon reports it (its status.json). */
export function refusedForEpoch(s: AgentStatus | null): string | null {
  if (!s) return null;
  for (const ch of s.children ?? []) if (ch.lastError && /stale epoch/.test(ch.lastError)) return `${ch.site}: ${ch.lastError}`;
  return s.lastError && /stale epoch/.test(s.lastError) ? s.lastError : null;
}

export interface FenceOptions {
  /** @default 3000 at boot; WATCH_EVERY_MS while watching */
  everyMs?: number;
  /** Give up the boot check after this long (still fenced). @default 1 h */
  untilMs?: number;
  node?: string;
  /** Keep watching while this host is master. @default true */
  watch?: boolean;
}

/**
 * `agent.js fence` (root; from the boot hook, and started by tandem when a host becomes master):
 * the boot check, then the watch, as described above. Returns when this host is no longer master
 * (demoted by itself or by tandem), or 3 when the boot check gave up fenced.
 */
export async function runFence(paths: HomePaths, opts: FenceOptions = {}): Promise<number> {
  if (!claim(WATCH_PID)) {
    process.stderr.write(`fence: another fence process runs (${WATCH_PID}); nothing to do\n`);
    return 0;
  }
  try {
    return await fenceLoop(paths, opts);
  } finally {
    try {
      if (Number(fs.readFileSync(WATCH_PID, 'utf8').trim()) === process.pid) fs.rmSync(WATCH_PID, { force: true });
    } catch {
      /* gone */
    }
  }
}

async function fenceLoop(paths: HomePaths, opts: FenceOptions): Promise<number> {
  const until = Date.now() + (opts.untilMs ?? 3_600_000);
  const at = () => new Date().toISOString();
  // Confirmed this boot already (a promotion wrote it, or an earlier fence process): watch only.
  const first = readJson<RunFence>(RUN_FENCE);
  let phase: 'boot' | 'watch' = first && !first.fenced ? 'watch' : 'boot';
  /** A higher epoch this host learned of without reaching the master yet. */
  let learned: { epoch: number; site: string } | null = null;
  let serviceStopped = false;
  let isolatedSince: number | null = null;
  log('info', `fence: ${phase === 'boot' ? 'boot check' : 'watching the other sites'} (pid ${process.pid})`);
  for (;;) {
    const c = readJson<AgentConfig>(paths.config);
    if (!c || c.role !== 'master') {
      if (phase === 'boot') writeRunFence({ fenced: false, reason: 'not a master', at: at() });
      return 0;
    }
    const peers = peersOf(c);
    if (!peers.length) {
      if (phase === 'boot') writeRunFence({ fenced: false, reason: "no other site in this host's layout", at: at() });
      if (phase === 'boot' || opts.watch === false) return 0;
      await pause(paths, opts.everyMs ?? WATCH_EVERY_MS);
      continue;
    }
    const kh = path.join(paths.stateDir, 'fence_known_hosts');
    writeFileAtomic(kh, peers.map((p) => `${p.sshPort === 22 ? p.address : `[${p.address}]:${p.sshPort}`} ${p.hostKey.trim()}`).join('\n') + '\n');
    const answers = await Promise.all(peers.map(async (p) => ({ p, a: await ask(paths, p, kh) })));
    const ok = answers.filter((x): x is { p: Peer; a: EpochAnswer } => typeof x.a !== 'string');
    const higher = ok.filter((x) => x.a.epoch > c.epoch);
    const master = higher.find((x) => x.a.role === 'master' && x.a.publicKey);
    if (master) {
      stepDown(paths, c, master.p, master.a, opts.node ?? process.execPath, phase, serviceStopped);
      return 0;
    }
    if (higher.length) {
      // Replaced, but the new master does not answer yet: stop serving and feeding now.
      if (!learned) {
        learned = { epoch: higher[0].a.epoch, site: higher[0].p.site };
        writeRunFence({ fenced: true, reason: `epoch ${learned.epoch} > ${c.epoch} seen at ${learned.site}; waiting for the current master to answer to become its mirror`, at: at() });
        signalDaemon();
        if (phase === 'watch') {
          const svc = stopService();
          serviceStopped = true;
          log('error', `fence: a higher epoch exists (${learned.epoch} at ${learned.site}); fenced; ${svc}`);
        }
      }
    } else if (learned) {
      // Once replaced, always replaced: only tandem (a failover, service start) lifts this.
    } else if (ok.length) {
      if (phase === 'boot' || isolatedSince !== null) {
        writeRunFence({ fenced: false, reason: `confirmed by ${ok.map((x) => x.p.site).join(', ')}: no higher epoch than ${c.epoch}`, at: at() });
        if (phase === 'boot') signalDaemon();
      }
      phase = 'watch';
      isolatedSince = null;
    } else if (phase === 'boot') {
      writeRunFence({ fenced: true, reason: `reached no other site (${answers.map((x) => `${x.p.site}: ${x.a as string}`).join('; ')}); not serving or feeding until one confirms`, at: at() });
    } else if (isolatedSince === null) {
      isolatedSince = Date.now();
      writeRunFence({
        fenced: false,
        reason: `serving on: reached no other site since ${at()} (${answers.map((x) => `${x.p.site}: ${x.a as string}`).join('; ')}); a master cut off from every site cannot know whether it was replaced; it steps down as soon as one answers with a higher epoch`,
        at: at(),
      });
      log('warn', 'fence: no other site answers; serving on and asking again', { every: opts.everyMs ?? WATCH_EVERY_MS });
    }
    if (phase === 'boot' && Date.now() > until) return 3;
    if (phase === 'watch' && opts.watch === false) return 0;
    await pause(paths, opts.everyMs ?? (phase === 'boot' ? 3000 : WATCH_EVERY_MS));
  }
}

/** Sleeps `ms`, or less when the daemon reports a stale-epoch refusal (ask at once). */
async function pause(paths: HomePaths, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(250, end - Date.now())));
    if (refusedForEpoch(readJson<AgentStatus>(paths.status))) return;
  }
}

/**
 * This master learned that `p` is master at a higher epoch: fence (the daemon stops feeding), stop
 * the service, keep the data aside, become `p`'s mirror. Each step is logged; a step that fails
 * does not stop the next (a service that will not stop must not keep the stale feed going).
 */
function stepDown(paths: HomePaths, c: AgentConfig, p: Peer, a: EpochAnswer, node: string, phase: 'boot' | 'watch', serviceStopped: boolean): void {
  const why = `${p.site} is master at epoch ${a.epoch} (this host: epoch ${c.epoch})`;
  writeRunFence({ fenced: true, reason: `${why}; stepping down`, at: new Date().toISOString() });
  signalDaemon();
  const svc = serviceStopped ? 'service already stopped' : stopService();
  let kept: string | null = null;
  let keptError: string | null = null;
  try {
    kept = keepAside(c.dataDir);
  } catch (e) {
    keptError = errMsg(e);
  }
  if (!kept) {
    // Without a copy the resync would overwrite this host's writes: stay fenced instead.
    writeRunFence({ fenced: true, reason: `${why}; NOT demoted: ${keptError}; free space, then restart the fence (${FENCE_HOOK})`, at: new Date().toISOString() });
    log('error', `fence: ${why}; cannot keep the data aside (${keptError}); fenced, not demoted`);
    return;
  }
  demote(paths, c, p, a, node);
  signalDaemon();
  const when = phase === 'boot' ? 'at boot' : 'while running';
  writeRunFence({ fenced: false, reason: `demoted ${when}: ${why}; this host is its mirror now; ${svc}`, at: new Date().toISOString(), splitBrainDir: kept });
  writeFence(paths, { fenced: false, reason: `demoted ${when}: ${why}; ${svc}`, since: new Date().toISOString(), splitBrainDir: kept, learnedEpoch: a.epoch });
  log('error', `fence: demoted ${when}: ${why}; ${svc}; data kept in ${kept}`);
}

function demote(paths: HomePaths, c: AgentConfig, p: Peer, a: EpochAnswer, node: string): void {
  const next: AgentConfig = { ...c, role: 'mirror', epoch: a.epoch, feedFrom: p.site, feedFromAddress: p.address, children: [], paused: false, pausedChildren: [] };
  writeFileAtomic(paths.config, JSON.stringify(next, null, 2) + '\n');
  fs.chmodSync(paths.config, 0o644);
  const parts = a.publicKey!.trim().split(/\s+/);
  const line = `restrict,command="${node} ${paths.agentJs} receive",from="${p.address}" ${parts[0]} ${parts[1]} tandem@${p.site}`;
  const ak = path.join(paths.home, '.ssh', 'authorized_keys');
  writeFileAtomic(ak, `# Managed by tandem (written by the fence: demoted to a mirror of ${p.site})\n${line}\n`);
  fs.chmodSync(ak, 0o644);
  spawnSync('chown', ['-R', 'tandem:tandem', c.dataDir]);
}
