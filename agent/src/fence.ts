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
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { AgentConfig } from './contract';
import { HomePaths, readJson, writeFileAtomic } from './env';
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

// ---- fencing at boot -------------------------------------------------------------------------
//
// A master that comes back (reboot, power-on, a healed VM) may have been replaced while it was
// away. Receivers already refuse its stale epoch; in addition its daemon does not feed anyone and
// `tandem service start` is refused by nothing but this gate, so the boot path asks other sites
// first:
//   boot.d/40-tandem-fence (root) -> `agent.js fence`: while this host's config says master, ask
//   each peer (its children, and its feeder) over SSH with this host's sync key for its epoch
//   (`agent.js epoch`, the forced command of the query line `tandem failover` authorizes on every
//   reachable host). A peer that is master with a higher epoch: this host demotes itself to a
//   mirror of it (config, authorized_keys), moves its data aside to a dated folder (kept, never
//   deleted) and the new master's feed resyncs it. Every peer that answers has no higher epoch:
//   confirmed, the daemon may feed. Nobody answers: it stays fenced, says so, and keeps asking.
// The daemon reads RUN_FENCE: without it, on a host with the fence hook installed, a master is
// fenced ("waiting for the boot fence check"). /run is emptied at boot, so every boot asks again.

export const FENCE_HOOK = '/var/lib/tandem/boot.d/40-tandem-fence';
export const RUN_FENCE = '/run/tandem-fence/state.json';
export const SPLIT_BRAIN_ROOT = '/var/lib/tandem/split-brain';

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

function peersOf(c: AgentConfig): Peer[] {
  const out: Peer[] = c.children.map((ch) => ({ site: ch.site, address: ch.address, sshPort: ch.sshPort, hostKey: ch.hostKey }));
  const extra = (c as AgentConfig & { peers?: Peer[] }).peers ?? [];
  for (const p of extra) if (!out.some((x) => x.site === p.site) && p.site !== c.site) out.push(p);
  return out;
}

function ask(paths: HomePaths, p: Peer, knownHosts: string): EpochAnswer | string {
  const r = spawnSync(
    'ssh',
    [
      '-i',
      paths.key,
      '-p',
      String(p.sshPort),
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=3',
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
    ],
    { encoding: 'utf8', timeout: 8000 },
  );
  if (r.status !== 0) return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0];
  try {
    const a = JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]) as EpochAnswer;
    return { ...a, address: p.address };
  } catch {
    return `unreadable answer: ${r.stdout.slice(0, 80)}`;
  }
}

/** Copies (never moves away for good) the data dir into a dated folder before a resync replaces it. */
function keepAside(dataDir: string): string {
  const dir = path.join(SPLIT_BRAIN_ROOT, new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync('cp', ['-a', `${dataDir.replace(/\/+$/, '')}/.`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot keep the data aside in ${dir}: ${r.stderr.trim()}`);
  fs.rmSync(path.join(dir, '.tandem-staging'), { recursive: true, force: true });
  return dir;
}

/**
 * `agent.js fence` (root, from the boot hook): the check above, retried every `everyMs` until it
 * is confirmed or demoted (or `untilMs` passes, fenced). Returns the final state.
 */
export async function runFence(paths: HomePaths, opts: { everyMs?: number; untilMs?: number; node?: string } = {}): Promise<number> {
  const until = Date.now() + (opts.untilMs ?? 3_600_000);
  for (;;) {
    const c = readJson<AgentConfig>(paths.config);
    if (!c || c.role !== 'master') {
      writeRunFence({ fenced: false, reason: 'not a master', at: new Date().toISOString() });
      return 0;
    }
    const peers = peersOf(c);
    if (!peers.length) {
      writeRunFence({ fenced: false, reason: "no other site in this host's layout", at: new Date().toISOString() });
      return 0;
    }
    const kh = path.join(paths.stateDir, 'fence_known_hosts');
    fs.writeFileSync(kh, peers.map((p) => `${p.sshPort === 22 ? p.address : `[${p.address}]:${p.sshPort}`} ${p.hostKey.trim()}`).join('\n') + '\n');
    const answers = peers.map((p) => ({ p, a: ask(paths, p, kh) }));
    const ok = answers.filter((x): x is { p: Peer; a: EpochAnswer } => typeof x.a !== 'string');
    const higher = ok.filter((x) => x.a.epoch > c.epoch);
    const master = higher.find((x) => x.a.role === 'master');
    if (master && master.a.publicKey) {
      const kept = demote(paths, c, master.p, master.a, opts.node ?? process.execPath);
      writeRunFence({ fenced: false, reason: `demoted: ${master.p.site} is master at epoch ${master.a.epoch}; this host is its mirror now`, at: new Date().toISOString(), splitBrainDir: kept });
      writeFence(paths, {
        fenced: false,
        reason: `demoted at boot: ${master.p.site} is master at epoch ${master.a.epoch}`,
        since: new Date().toISOString(),
        splitBrainDir: kept,
        learnedEpoch: master.a.epoch,
      });
      return 0;
    }
    if (higher.length) {
      writeRunFence({ fenced: true, reason: `epoch ${higher[0].a.epoch} > ${c.epoch} seen at ${higher[0].p.site}; waiting for the current master to answer`, at: new Date().toISOString() });
    } else if (ok.length) {
      writeRunFence({ fenced: false, reason: `confirmed by ${ok.map((x) => x.p.site).join(', ')}: no higher epoch than ${c.epoch}`, at: new Date().toISOString() });
      return 0;
    } else {
      writeRunFence({
        fenced: true,
        reason: `reached no other site (${answers.map((x) => `${x.p.site}: ${x.a as string}`).join('; ')}); not serving or feeding until one confirms`,
        at: new Date().toISOString(),
      });
    }
    if (Date.now() > until) return 3;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 3000));
  }
}

function demote(paths: HomePaths, c: AgentConfig, p: Peer, a: EpochAnswer, node: string): string {
  const kept = keepAside(c.dataDir);
  const next: AgentConfig = { ...c, role: 'mirror', epoch: a.epoch, feedFrom: p.site, feedFromAddress: p.address, children: [], paused: false, pausedChildren: [] };
  writeFileAtomic(paths.config, JSON.stringify(next, null, 2) + '\n');
  fs.chmodSync(paths.config, 0o644);
  const parts = a.publicKey!.trim().split(/\s+/);
  const line = `restrict,command="${node} ${paths.agentJs} receive",from="${p.address}" ${parts[0]} ${parts[1]} tandem@${p.site}`;
  const ak = path.join(paths.home, '.ssh', 'authorized_keys');
  writeFileAtomic(ak, `# Managed by tandem (written by the boot fence: demoted to a mirror of ${p.site})\n${line}\n`);
  fs.chmodSync(ak, 0o644);
  spawnSync('chown', ['-R', 'tandem:tandem', c.dataDir]);
  return kept;
}
