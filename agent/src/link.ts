/**
 * One sender->child link. Holds a bounded DIRTY SET of paths (not a queue of data), so a slow
 * or dead child costs the sender a map of names at most, and never slows other links. Data is
 * read from disk when a batch is built, so a path changed ten times is sent once.
 *
 * Life of a link: connect (ssh) -> HELLO/ACK -> reconcile with rsync (always, after any gap:
 * the stream never has to remember what a dead child missed) -> stream batches -> in-sync once
 * a batch that left nothing pending is acknowledged.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { AgentChild, ChildStatus } from './contract';
import { AGENT_VERSION, HomePaths, PROTO_VERSION, errMsg, log } from './env';
import { FEATURE_DEFLATE, Frame, FrameParser, MAX_BODY, encodeParts } from './frame';
import { TokenBucket, mbitToBytesPerS } from './bucket';
import { EV, EV_NEW } from './watcher';
import { rsyncPlan, spawnLink } from './transport';
import { cache, files } from './frame-cache';
import { MODE_BITS, Offset, rsyncCause, walkFiles } from './reconcile';
import { linkIsMirrored } from './pathsafe';
import { FEATURE_VERIFY, VerifyAnswer, VerifyUnit, Verifier, Seen } from './verify';
import type { Excluder } from './exclude';

/** Bytes re-sent before an APPEND's offset so the receiver can tell the file really only grew. */
export const APPEND_CONTEXT = 16;
/**
 * The daemon's shared tick (the default; a master's config may set tickMs). Continuous links
 * (syncIntervalS 0) have no timer of their own: the tick flushes every link at once, so all links
 * build their batches in the same turn and a file is read and its frame encoded once for all
 * children that are at the same point (FrameCache).
 * Most of the master's cost is per tick, per changed file and per link (a stat and a read, a
 * batch, a pipe write, an ssh packet and an ACK), so it falls almost in proportion with the tick
 * rate. Measured on the sync benchmark (3 mirrors, 2,000 appends/s over 50 files, near idle,
 * bench/sync-cpu.md): 50 ms cost 7.1-8.4 % of a core for the master host with heartbeat-age
 * p99 0.16 s; 100 ms costs 4.3-5.0 % with p99 0.20 s. The CPU is the trading platform's, so 100 ms is the
 * default; a change still reaches the mirrors in about 0.06 s on average (0.11 s p99).
 */
export const COALESCE_MS = 100;
export const BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Frames per batch: a receiver fsyncs every file it publishes, so a batch of many small files
 * (an unpacked tree) is bounded by count too, well inside the ACK timeout on a slow disk.
 */
export const BATCH_FRAMES = 1000;
export const DIRTY_CAP = 100_000;
export const OFFSETS_CAP = 200_000;
const ACK_TIMEOUT_MS = 30_000;
const BACKOFF_MAX_MS = 10_000;

export interface Upstream {
  /** Master time of the newest change applied on this relay, and how far it is complete. */
  changeTime: number | null;
  through: number | null;
}

export interface LinkOptions {
  child: AgentChild;
  paths: HomePaths;
  dataDir: string;
  customer: string;
  site: string;
  epoch: number;
  exclude: readonly string[];
  excluder: Excluder;
  agentJs: string;
  /** Set on relays: where the master's clock for forwarded changes comes from. */
  upstream: (() => Upstream) | null;
}

/**
 * Online verification (verify.ts): content hashed per second, shared by all links of the
 * daemon (they mostly hash the same files: the hashes are cached), the pause between full
 * passes, and how old a change must be before a difference it explains counts as the mirror
 * being wrong rather than a change still in flight. Test-only overrides need a non-default home.
 */
const testEnv = (k: string): number => (process.env.TANDEM_AGENT_HOME && Number(process.env[k])) || 0;
export const VERIFY_BYTES_PER_S = testEnv('TANDEM_TEST_VERIFY_RATE') || 8 * 1024 * 1024;
export const VERIFY_PAUSE_MS = testEnv('TANDEM_TEST_VERIFY_PAUSE_MS') || 60_000;
export const VERIFY_SETTLE_MS = 2_000;
/** Test-only: the online verify starts this long after a link starts (so a test sees the stream and rsync alone). */
const VERIFY_FIRST_MS = testEnv('TANDEM_TEST_VERIFY_FIRST_MS');
const VERIFY_UNITS_PER_BATCH = 4;
const VERIFY_EVERY_MS = 200;
const verifyBudget = { bytes: 0, at: 0 };
const VERIFY_REFILL_MS = 50;
function takeVerifyBudget(now: number): { bytes: number } {
  // Refilled on each tick to the rate's share of the time since the last refill (at most a
  // second's), never saved up beyond that: an idle hour does not buy a burst.
  const ms = now - verifyBudget.at;
  if (ms >= VERIFY_REFILL_MS) {
    // A big file's range hashed at once leaves a debt that later ticks pay back.
    const share = (VERIFY_BYTES_PER_S * Math.min(ms, 1000)) / 1000;
    verifyBudget.bytes = Math.min(share, verifyBudget.bytes + share);
    verifyBudget.at = now;
  }
  return verifyBudget;
}

/** Link-internal flag: a directory whose whole content must be sent again (see framesFor). */
const REQUEUE = 1 << 16;

interface Entry {
  flags: number;
  /** Newest change of the path (local clock). */
  time: number;
  /** Oldest change of the path not yet sent. */
  since: number;
}

interface Inflight {
  seq: number;
  entries: Map<string, Entry>;
  bytes: number;
  sentAt: number;
  changeTime: number;
  /** Oldest change this batch carries. */
  since: number;
  inSync: boolean;
  /** Cut at BATCH_BYTES or with a file left half sent: the rest follows without waiting. */
  full: boolean;
  /** VERIFY units in this batch, and whether the link was in sync when they went. */
  verifyIds: number[];
  verifyInSync: boolean;
}

export class ChildLink {
  state: ChildStatus['state'] = 'connecting';
  lastError: string | null = null;
  lastAckAt: number | null = null;
  /**
   * When the child was last known to hold everything (an in-sync batch acknowledged). Carried
   * over from the previous daemon's status.json, so a cold mirror seeded and then powered off
   * is not "never synced" after a restart or a config change re-creates its link.
   */
  lastInSyncAt: number | null = null;
  readonly dirty = new Map<string, Entry>();
  private readonly offsets = new Map<string, Offset>();
  /**
   * Directories removed (deleted or moved away) since the offsets were taken, with the gen of
   * the removal. An offset under one of them is void: the file it described is gone from the
   * child, whatever now stands at that path (dropping every entry under a removed directory at
   * once would cost a scan of the offsets per directory of an rm -rf).
   */
  private readonly removedDirs = new Map<string, number>();
  private gen = 0;
  /** Files with more than one name: inode -> its names (a write through one changes all). */
  private readonly links = new Map<number, { names: Set<string>; scanned: number }>();
  /** The oldest change that may not have reached the child by stream (link down, reconcile). */
  private gapSince: number | null = null;
  /** Bytes of files too big for a frame, waiting for the rsync reconcile. */
  private bigBytes = 0;
  /** Symlinks leaving dataDir already reported (they are not mirrored). */
  private readonly outsideLinks = new Set<string>();
  private needsReconcile = true;
  private everSynced = false;
  private phase: 'idle' | 'hello' | 'rsync' | 'stream' = 'idle';
  private proc: ChildProcess | null = null;
  private rsync: ChildProcess | null = null;
  private inflight: Inflight | null = null;
  private seq = 0;
  private backoff = 250;
  private timers = new Set<NodeJS.Timeout>();
  private hbTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private bucket: TokenBucket | null;
  private bigPending = false;
  private forceEmpty = false;
  private newestChange = 0;
  private ackedChange = 0;
  /** Bytes written on the link (frames, compressed ones as sent), for the benchmark. */
  bytesSent = 0;
  /** The child of this connection said, in its ACK of the HELLO, that it takes Z frames. */
  private deflate = false;
  /** ... and that it answers VERIFY frames (agents >= 0.2.0). */
  private verifyOk = false;
  private readonly verifier: Verifier;
  /** The snapshot of the reconcile running now (see reconcileInterrupted). */
  private reconSnapshot: Map<string, Offset> | null = null;
  /** What a predecessor link sent (sentBefore), held until this link's first reconcile completes. */
  private carried: Map<string, Offset> | null = null;
  private nextVerifyAt = VERIFY_FIRST_MS ? Date.now() + VERIFY_FIRST_MS : 0;
  /** Entries found different from the source while settled, since the last clean verify. */
  private differences: string[] = [];
  private differencesFound = 0;

  constructor(readonly o: LinkOptions) {
    this.bucket = o.child.bandwidthMbit ? new TokenBucket(mbitToBytesPerS(o.child.bandwidthMbit)) : null;
    this.verifier = new Verifier(o.dataDir, o.excluder, VERIFY_PAUSE_MS);
  }

  /** The same child, fed the same data dir, by a later Link of this daemon. */
  private get carryKey(): string {
    return `${this.o.child.site}\0${this.o.child.address}\0${this.o.dataDir}`;
  }

  get site(): string {
    return this.o.child.site;
  }

  get continuous(): boolean {
    return this.o.child.syncIntervalS === 0;
  }

  start(): void {
    this.stopped = false;
    this.hbTimer = setInterval(() => this.tick(), 1000);
    if (this.o.child.syncIntervalS > 0) {
      const t = setInterval(() => this.flush(), this.o.child.syncIntervalS * 1000);
      this.timers.add(t);
    }
    this.connect();
  }

  stop(state: ChildStatus['state'] = 'paused'): void {
    // Handed on even when this link never completed a reconcile of its own (a watcher restarted
    // twice within a reconcile lost it, and a same-size rewrite with it: local differential).
    this.unsureOfInflight();
    this.reconcileInterrupted();
    const keep = this.sent();
    if (keep?.size) sentBefore.set(this.carryKey, keep);
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.rsync?.kill('SIGTERM');
    this.proc?.kill('SIGTERM');
    this.proc = null;
    this.state = state;
  }

  /** A change under dataDir (from the watcher). */
  note(rel: string, flags: number, time: number): void {
    if (this.stopped) return;
    if (time > this.newestChange) this.newestChange = time;
    // While there is no link, the reconcile on reconnect covers everything: keep nothing but
    // the time of the oldest change it will have to bring.
    if (this.phase === 'idle' || this.phase === 'hello') {
      this.gapSince ??= time;
      return;
    }
    const e = this.dirty.get(rel);
    if (e) {
      e.flags |= flags;
      e.time = Math.max(e.time, time);
    } else this.dirty.set(rel, { flags, time, since: time });
    if (this.dirty.size > DIRTY_CAP) {
      log('warn', `link ${this.site}: dirty set over ${DIRTY_CAP} paths; dropping it, rsync will reconcile`);
      this.gapSince = Math.min(this.gapSince ?? time, this.oldestDirty() ?? time);
      this.dirty.clear();
      this.needsReconcile = true;
      if (this.phase === 'stream' && !this.inflight) this.reconcile();
      return;
    }
  }

  /** Every child must reconcile (watch overflow, watcher restart, a directory not watched). */
  markReconcile(): void {
    // Changes were lost from here back to some unknown time after the last one seen: the gap
    // is open from the oldest change still pending, or from now.
    const now = Date.now();
    this.gapSince = Math.min(this.gapSince ?? now, this.oldestDirty() ?? now, this.inflight?.since ?? now);
    this.needsReconcile = true;
    this.dirty.clear();
    if (this.phase === 'stream' && !this.inflight) this.reconcile();
  }

  private differenceText(): string {
    const n = [...this.verifier.bad.values()].reduce((a, b) => a + b, 0);
    return `differs from the source in ${n} entr${n === 1 ? 'y' : 'ies'} (${this.differences.slice(0, 3).join(', ')}${this.differences.length > 3 ? ', ...' : ''}); repairing and verifying again`;
  }

  /** The oldest change in the dirty set (null: none). */
  private oldestDirty(): number | null {
    let o: number | null = null;
    for (const e of this.dirty.values()) if (o === null || e.since < o) o = e.since;
    return o;
  }

  /**
   * What an operator may rely on. The lag is the age of the oldest change the child may not
   * have (dirty, in flight, or lost in a gap the next reconcile closes): a big file still
   * crossing a slow link ages, where "newest change - newest acknowledged change" read 0 once
   * the writer was done. A link between acknowledged in-sync batches is shown catching up once
   * that age passes a second (or its sync interval): it is not current any more.
   */
  status(now = Date.now()): ChildStatus {
    let behind = (this.inflight?.bytes ?? 0) + this.bigBytes;
    let n = 0;
    for (const [rel] of this.dirty) {
      if (++n > 1000) break;
      try {
        const st = fs.lstatSync(path.join(this.o.dataDir, rel));
        const k = this.offsets.get(rel);
        behind += k && k.ino === st.ino && st.size >= k.size ? st.size - k.size : st.size;
      } catch {
        /* deleted: a few bytes of frame */
      }
    }
    const oldest = Math.min(this.gapSince ?? Infinity, this.inflight?.since ?? Infinity, this.oldestDirty() ?? Infinity);
    let lagS: number | null = null;
    if (Number.isFinite(oldest)) lagS = this.everSynced || this.phase === 'stream' ? Math.max(0, (now - oldest) / 1000) : null;
    else if (this.everSynced) lagS = 0;
    let state = this.state;
    if (state === 'in-sync' && lagS !== null && lagS > Math.max(1, this.o.child.syncIntervalS + 1)) state = 'catching-up';
    // Bytes are known while streaming, and during a reconcile that only brings big files.
    const known = this.phase === 'stream' || (this.phase === 'rsync' && this.gapSince === null && this.everSynced);
    return {
      site: this.site,
      state,
      bytesBehind: known ? behind : null,
      lagS: lagS === null ? null : Math.round(lagS * 1000) / 1000,
      lastAckAt: this.lastAckAt ? new Date(this.lastAckAt).toISOString() : null,
      lastError: this.lastError ?? (this.verifier.bad.size ? this.differenceText() : null),
      lastInSyncAt: state === 'in-sync' ? new Date(now).toISOString() : this.lastInSyncAt ? new Date(this.lastInSyncAt).toISOString() : null,
      verifiedAt: this.verifier.lastEqualAt ? new Date(this.verifier.lastEqualAt).toISOString() : null,
      differences: [...this.verifier.bad.values()].reduce((a, b) => a + b, 0),
      differencesFound: this.differencesFound,
      bytesSent: this.bytesSent,
    };
  }

  // ---- connection ---------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    this.state = this.state === 'error' ? 'error' : 'connecting';
    this.phase = 'hello';
    this.deflate = false;
    this.verifyOk = false;
    let proc: ChildProcess;
    try {
      proc = spawnLink(this.o.paths, this.o.child, this.o.agentJs);
    } catch (e) {
      return this.down(`cannot start transport: ${errMsg(e)}`);
    }
    this.proc = proc;
    const parser = new FrameParser(64 * 1024);
    let stderr = '';
    proc.stdout!.on('data', (c: Buffer) => {
      if (proc !== this.proc) return;
      let frames: Frame[];
      try {
        frames = parser.push(c);
      } catch (e) {
        return this.down(`bad reply from receiver: ${errMsg(e)}`, proc);
      }
      for (const f of frames) this.onReply(f, proc);
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    proc.stdin!.on('error', () => {
      /* reported through exit */
    });
    proc.on('error', (e) => this.down(`transport: ${errMsg(e)}`, proc));
    proc.on('exit', (code, sig) => {
      const tail =
        stderr
          .trim()
          .split('\n')
          .filter((l) => !/ info /.test(l))
          .slice(-1)[0] ?? '';
      this.down(`link exited (${sig ?? code})${tail ? ': ' + tail.slice(0, 300) : ''}`, proc);
    });
    this.writeFrames([{ t: 'HELLO', customer: this.o.customer, site: this.o.site, epoch: this.o.epoch, version: AGENT_VERSION, proto: PROTO_VERSION }]);
  }

  private down(reason: string, proc?: ChildProcess): void {
    if (proc && proc !== this.proc) return;
    const was = this.proc;
    this.proc = null;
    was?.kill('SIGTERM');
    this.rsync?.kill('SIGTERM');
    this.rsync = null;
    const now = Date.now();
    this.gapSince = Math.min(this.gapSince ?? Infinity, this.inflight?.since ?? Infinity, this.oldestDirty() ?? Infinity);
    if (!Number.isFinite(this.gapSince)) this.gapSince = this.bigBytes ? now : null;
    this.unsureOfInflight();
    this.reconcileInterrupted();
    this.inflight = null;
    this.dirty.clear();
    this.verifier.reset();
    this.needsReconcile = true;
    this.phase = 'idle';
    if (this.stopped) return;
    if (this.state !== 'error' || !this.lastError) this.lastError = reason;
    if (this.state !== 'error') this.state = 'down';
    log('warn', `link ${this.site}: down`, { reason, retryInMs: this.backoff });
    this.later(() => this.connect(), this.backoff);
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
  }

  /**
   * The batch in flight may or may not have been applied: what it carried is not known to be on
   * the child. Its files' offsets match no file (ino -1), so the next reconcile sends them again
   * if rsync's quick check could skip them (a same-size rewrite within the second: local
   * differential, a watcher restarted while the WRITE of such a rewrite was in flight).
   */
  private unsureOfInflight(): void {
    for (const rel of this.inflight?.entries.keys() ?? []) this.markUnsure(rel);
  }

  /** rel's offset matches no file (ino -1): it is sent whole, and a reconcile sends it again. */
  private markUnsure(rel: string): void {
    const o = this.offsets.get(rel);
    if (o) this.offsets.set(rel, { ...o, ino: -1 });
  }

  /** What the child is known to have been sent: this link's offsets, or its predecessor's until its first reconcile completes. */
  private sent(): Map<string, Offset> | null {
    return this.offsets.size ? this.offsets : this.carried;
  }

  /**
   * A reconcile that did not complete: its rsync may have sent any file of its snapshot, or not.
   * What was sent is merged so the next reconcile can still tell: a file rsync may have brought
   * in a version other than the one known sent is uncertain (ino -1, sent again if its size is
   * unchanged); one never sent by the stream counts as sent at its snapshot (found by the local
   * differential: watcher restarts in quick succession killed rsync mid-way, and a same-size
   * rewrite of a file it had copied was then skipped by the next rsync's quick check).
   */
  private reconcileInterrupted(): void {
    const snap = this.reconSnapshot;
    this.reconSnapshot = null;
    if (!snap) return;
    const sent = this.sent() ?? (this.carried = new Map());
    for (const [k, v] of snap) {
      const c = sent.get(k);
      if (!c) sent.set(k, v);
      else if (c.ino !== v.ino || c.ctime !== v.ctime || c.size !== v.size) sent.set(k, { ...v, ino: -1 });
    }
    // Changed while rsync ran (made after its snapshot, or changed again): rsync may have
    // copied any version of them, of any size.
    for (const k of this.dirty.keys()) sent.set(k, { ino: -1, size: -1, mode: 0, ctime: 0, gen: 0 });
  }

  private onReply(f: Frame, proc: ChildProcess): void {
    if (f.t === 'NAK') {
      this.lastError = f.error;
      this.state = 'error';
      log('error', `link ${this.site}: receiver refused`, { seq: f.seq, error: f.error });
      if (f.fatal || f.seq === -1) return this.down(f.error, proc);
      if (this.inflight && f.seq === this.inflight.seq) {
        // Re-sending the same frames would be refused the same way, forever (a path the
        // receiver will not take never changes its mind). Drop the link instead: it comes
        // back after a growing backoff and reconciles with rsync before streaming again,
        // which repairs whatever the batch was about, or fails again (a disk still full)
        // without hammering the mirror.
        return this.down(f.error, proc);
      }
      return;
    }
    if (f.t !== 'ACK') return this.down(`unexpected ${f.t} from receiver`, proc);
    if (this.phase === 'hello' && f.seq === 0) {
      // An older receiver does not list features (and would close the link on a Z frame): its
      // link runs uncompressed, since ssh no longer compresses either.
      this.deflate = f.features?.includes(FEATURE_DEFLATE) ?? false;
      this.verifyOk = f.features?.includes(FEATURE_VERIFY) ?? false;
      if (!this.verifyOk) log('info', `link ${this.site}: receiver does not verify (an older agent); this mirror is not verified until it is upgraded`);
      if (!this.deflate) log('info', `link ${this.site}: receiver does not take deflate (an older agent); frames go uncompressed`);
      // The backoff resets only once the link is in sync again (below): a mirror that accepts
      // the hello but then fails every reconcile (disk full) is retried ever more slowly.
      this.reconcile();
      return;
    }
    const inf = this.inflight;
    if (!inf || f.seq !== inf.seq) return;
    log('debug', `link ${this.site}: ack ${f.seq}`, { ms: Date.now() - inf.sentAt });
    this.inflight = null;
    this.lastAckAt = Date.now();
    this.ackedChange = Math.max(this.ackedChange, inf.changeTime);
    // A receiver may only ask again for paths of the batch it acknowledges: the names come from
    // the child, and the daemon reads with CAP_DAC_READ_SEARCH, so a name it made up ('../..',
    // /etc/shadow) must never be read and sent to it.
    for (const rel of f.resend ?? []) {
      const e = inf.entries.get(rel);
      if (!e) {
        log('warn', `link ${this.site}: receiver asked to resend a path not in batch ${inf.seq}; ignored`, { path: rel.slice(0, 200) });
        continue;
      }
      this.offsets.delete(rel);
      this.dirty.set(rel, { flags: EV.CLOSE_WRITE, time: e.time, since: e.since });
    }
    this.onVerify(inf, f.verify ?? []);
    if (inf.inSync && !f.resend?.length && this.dirty.size === 0) {
      this.state = 'in-sync';
      this.lastInSyncAt = Date.now();
      this.everSynced = true;
      this.lastError = null;
      this.backoff = 250;
    } else if (this.state === 'error') {
      this.state = this.everSynced ? 'catching-up' : 'seeding';
      this.lastError = null;
    }
    if (this.bigPending || this.needsReconcile) {
      this.bigPending = false;
      this.reconcile();
      return;
    }
    // More changes came in while the batch was out. A continuous link sends them with the next
    // tick, not at once: flushing on every ACK made the batch rate follow the round trip
    // (hundreds of tiny batches a second on a fast link, each re-reading the same files for
    // each child), which was most of the master's CPU. A full batch (a big write still being
    // sent) goes on at once, so throughput is not capped at one batch per tick.
    if (this.dirty.size && (inf.full || !this.continuous)) this.flush();
  }

  /** Answers to the VERIFY units of an acknowledged batch: repair what differs, count what is wrong. */
  private onVerify(inf: Inflight, answers: VerifyAnswer[]): void {
    const answered = new Set<number>();
    for (const a of answers) {
      answered.add(a.id);
      const r = this.verifier.answer(a, inf.sentAt - VERIFY_SETTLE_MS, inf.verifyInSync);
      if (!r) continue;
      if (r.repair.length) log('info', `link ${this.site}: verify found ${r.repair.length} to send again`, { dir: r.dir, settled: r.settled.length, paths: r.repair.slice(0, 5) });
      for (const p of r.repair) {
        const old = this.dirty.get(p);
        this.dirty.set(p, { flags: EV.CREATE | REQUEUE | (old?.flags ?? 0), time: old?.time ?? Date.now(), since: old?.since ?? Date.now() });
      }
      if (r.settled.length) {
        this.differences = [...r.settled, ...this.differences].slice(0, 20);
        this.differencesFound += r.settled.length;
        log('error', `link ${this.site}: mirror differs from the source`, { entries: r.settled.length, paths: r.settled.slice(0, 5) });
      }
    }
    for (const id of inf.verifyIds ?? []) if (!answered.has(id)) this.verifier.lost(id);
    if (this.verifier.bad.size === 0) this.differences = [];
  }

  // ---- reconcile ----------------------------------------------------------------------

  private reconcile(): void {
    if (this.stopped || !this.proc) return;
    this.phase = 'rsync';
    // A link that failed stays 'error' (with its lastError) until a batch is acked again: the
    // retry after a disk-full refusal must not look like ordinary catching up, or status would
    // flicker back to OK between attempts while the mirror still cannot take the data.
    if (this.state !== 'error') this.state = this.everSynced ? 'catching-up' : 'seeding';
    const od = this.oldestDirty();
    if (od !== null) this.gapSince = Math.min(this.gapSince ?? od, od);
    this.dirty.clear();
    // Sizes before rsync starts: rsync copies at least this much of each file, so appends
    // after it continue from here (the receiver checks the overlap).
    const snapshot = new Map<string, Offset>();
    const nlinks = new Map<number, Set<string>>();
    const symlinks: string[] = [];
    walkFiles(this.o.dataDir, '', this.o.excluder, snapshot, OFFSETS_CAP, nlinks, symlinks);
    if (!this.offsets.size && !this.carried) {
      this.carried = sentBefore.get(this.carryKey) ?? null;
      sentBefore.delete(this.carryKey);
    }
    const resend = this.sameSizeChanged(snapshot, this.sent() ?? this.offsets);
    this.reconSnapshot = snapshot;
    const started = Date.now();
    const up = this.o.upstream?.();
    const changeTime = up ? (up.changeTime ?? 0) : this.newestChange || started;
    const plan = rsyncPlan(this.o.paths, this.o.child, this.o.dataDir, this.o.exclude, this.o.agentJs);
    log('info', `link ${this.site}: rsync reconcile`, { state: this.state });
    const r = spawn(plan.cmd, plan.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.rsync = r;
    let err = '';
    r.stderr!.setEncoding('utf8');
    r.stderr!.on('data', (d: string) => {
      err = (err + d).slice(-2000);
    });
    r.on('error', (e) => (err += errMsg(e)));
    const done = (code: number | null): void => {
      this.rsync = null;
      // 24 = some files vanished while rsync ran: the stream sends their deletion.
      if (code !== 0 && code !== 24) {
        this.state = 'error';
        this.lastError = `rsync reconcile exited ${code}: ${rsyncCause(err)}`;
        log('error', `link ${this.site}: ${this.lastError}`);
        return this.down(this.lastError, this.proc ?? undefined);
      }
      if (resend.big.length && !resend.forced) {
        // Too big to resend by stream: rsync again, those files only, without the quick check.
        resend.forced = true;
        const again = spawn(plan.cmd, forcedRsyncArgs(plan.args), { stdio: ['pipe', 'ignore', 'pipe'] });
        this.rsync = again;
        err = '';
        again.stderr!.setEncoding('utf8');
        again.stderr!.on('data', (d: string) => (err = (err + d).slice(-2000)));
        again.on('error', (e) => (err += errMsg(e)));
        again.on('close', (c) => {
          if (this.rsync === again) done(c);
        });
        again.stdin!.on('error', () => undefined);
        again.stdin!.end(resend.big.map((p) => `${p}\0`).join(''));
        return;
      }
      log('info', `link ${this.site}: reconcile done`, { ms: Date.now() - started, resent: resend.small.length + resend.big.length });
      this.carried = null;
      this.reconSnapshot = null;
      this.offsets.clear();
      this.removedDirs.clear();
      this.gen = 0;
      for (const [k, v] of snapshot) this.offsets.set(k, v);
      // What rsync's quick check may have skipped goes again by stream, as whole files.
      for (const k of resend.small) {
        // Not forgotten: an offset no file matches (ino -1) is sent whole, and if this link goes
        // down before it is sent, the next reconcile still finds it changed and sends it again.
        this.markUnsure(k);
        if (!this.dirty.has(k)) this.dirty.set(k, { flags: EV.MODIFY, time: started, since: started });
      }
      // rsync --safe-links skips a symlink that leaves dataDir but keeps whatever the mirror
      // held at that name (a file the link replaced, found by the local differential): the
      // stream deletes it (frameForStat sends DELETE for such a link).
      for (const k of symlinks) {
        try {
          if (linkIsMirrored(this.o.dataDir, k, fs.readlinkSync(path.join(this.o.dataDir, k)))) continue;
        } catch {
          continue; // gone or replaced since: its own event brings it
        }
        if (!this.dirty.has(k)) this.dirty.set(k, { flags: EV.CREATE, time: started, since: started });
      }
      this.links.clear();
      for (const [ino, names] of nlinks) this.links.set(ino, { names, scanned: names.size });
      // rsync brought every change made before it started; later ones are in the dirty set.
      this.gapSince = null;
      this.bigBytes = 0;
      this.needsReconcile = false;
      this.phase = 'stream';
      this.forceEmpty = true;
      this.reconTime = changeTime;
      this.flush();
    };
    r.on('close', (code) => {
      if (this.rsync === r) done(code);
    });
  }

  /**
   * Files the stream sent that changed since with the size unchanged (a new ctime or inode):
   * rsync's quick check compares size and mtime to the whole second, so when both versions were
   * written within one second it calls them equal and the mirror keeps the old bytes while
   * status says in sync (found by the local differential: a same-size rewrite in the gap of a
   * watcher restart). Those the stream can carry are sent again as whole files after the
   * reconcile; bigger ones get a second rsync of just them without the quick check.
   * `sent` is this link's record, or, for a new link (a watcher restart or config reload makes
   * new ones), the one its predecessor left (sentBefore). A daemon restart starts with none: the
   * online verify finds what the quick check skipped then (README, limits).
   */
  private sameSizeChanged(snapshot: ReadonlyMap<string, Offset>, sent: ReadonlyMap<string, Offset>): { small: string[]; big: string[]; forced: boolean } {
    const small: string[] = [];
    const big: string[] = [];
    for (const [k, v] of snapshot) {
      const o = sent.get(k);
      // size -1: a version of unknown size may be on the child (see reconcileInterrupted).
      if (!o || (o.size !== v.size && o.size !== -1) || (o.ino === v.ino && o.ctime === v.ctime)) continue;
      (v.size > MAX_BODY ? big : small).push(k);
    }
    return { small, big, forced: false };
  }

  private reconTime = 0;

  // ---- streaming ----------------------------------------------------------------------

  flush(): void {
    if (this.stopped || this.phase !== 'stream' || this.inflight || !this.proc) return;
    const units = this.verifyUnits();
    if (this.dirty.size === 0 && !this.forceEmpty && units.length === 0) return;
    this.forceEmpty = false;
    const frames: Frame[] = [];
    const entries = new Map<string, Entry>();
    let bytes = 0;
    let newest = this.reconTime;
    let since = Infinity;
    this.reconTime = 0;
    let full = false;
    const failed: [string, Entry][] = [];
    // Entries added while iterating (a replaced directory's contents, the other names of a hard
    // link) are visited in this same pass: a Map iterates over keys inserted during iteration.
    for (const [rel, e] of this.dirty) {
      if (bytes >= BATCH_BYTES || frames.length >= BATCH_FRAMES) {
        full = true;
        break;
      }
      this.dirty.delete(rel);
      let out: Frame[];
      let more: boolean;
      try {
        [out, more] = this.framesFor(rel, e);
      } catch (err) {
        // Tried again next tick, never dropped: a path the child does not get keeps the link
        // out of sync (and says why) instead of leaving the mirror silently different.
        if (!failed.length) log('warn', `link ${this.site}: cannot read ${rel}`, { error: errMsg(err) });
        failed.push([rel, e]);
        continue;
      }
      const prev = entries.get(rel);
      entries.set(rel, prev ? { flags: prev.flags | e.flags, time: Math.max(prev.time, e.time), since: Math.min(prev.since, e.since) } : e);
      if (e.time > newest) newest = e.time;
      if (e.since < since) since = e.since;
      if (more) {
        this.dirty.set(rel, { flags: EV.MODIFY, time: e.time, since: e.since });
        full = true;
      }
      for (const f of out) {
        frames.push(f);
        bytes += 'body' in f ? f.body.length : 0;
      }
      if (more) break;
    }
    for (const [rel, e] of failed) if (!this.dirty.has(rel)) this.dirty.set(rel, e);
    const up = this.o.upstream?.();
    if (up) newest = up.changeTime ?? newest;
    const inSync = this.dirty.size === 0 && !this.bigPending && !this.needsReconcile && (!up || up.through !== null);
    const seq = ++this.seq;
    const now = Date.now();
    for (const u of units) {
      const { entries: list, ...h } = u.unit;
      frames.push({ t: 'VERIFY', ...h, body: Buffer.from(JSON.stringify(list)) });
      this.verifier.sent(u.unit, u.seen, now);
    }
    frames.push({ t: 'BATCH_END', seq, changeTime: newest, inSync });
    this.inflight = {
      seq,
      entries,
      bytes,
      sentAt: now,
      changeTime: newest,
      since: Number.isFinite(since) ? since : now,
      inSync,
      full,
      verifyIds: units.map((u) => u.unit.id),
      // In sync, and nothing older than the settle time still on its way: a difference found
      // now cannot be a change in flight.
      verifyInSync: this.state === 'in-sync' && this.gapSince === null && (!Number.isFinite(since) || now - since < VERIFY_SETTLE_MS),
    };
    log('debug', `link ${this.site}: batch ${seq}`, { frames: frames.length - 1, bytes });
    this.writeFrames(frames);
  }

  /** Verify units to send with the next batch: only on an established, streaming link. */
  private verifyUnits(): { unit: VerifyUnit; seen: Map<string, Seen> }[] {
    const now = Date.now();
    if (!this.verifyOk || now < this.nextVerifyAt || !this.everSynced) return [];
    if (this.state !== 'in-sync' && this.state !== 'catching-up') return [];
    const out: { unit: VerifyUnit; seen: Map<string, Seen> }[] = [];
    const budget = takeVerifyBudget(now);
    while (out.length < VERIFY_UNITS_PER_BATCH) {
      const u = this.verifier.next(now, budget);
      if (!u) break;
      out.push(u);
    }
    if (out.length) this.nextVerifyAt = now + VERIFY_EVERY_MS;
    return out;
  }

  /** What the child is known to hold of rel, unless a removed ancestor directory voided it. */
  private offset(rel: string): Offset | undefined {
    const k = this.offsets.get(rel);
    if (!k || this.removedDirs.size === 0) return k;
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
      const g = this.removedDirs.get(rel.slice(0, i));
      if (g !== undefined && g > k.gen) {
        this.offsets.delete(rel);
        return undefined;
      }
    }
    return k;
  }

  private setOffset(rel: string, st: fs.Stats, size: number): void {
    if (this.offsets.size < OFFSETS_CAP || this.offsets.has(rel)) this.offsets.set(rel, { ino: st.ino, size, mode: st.mode & MODE_BITS, ctime: st.ctimeMs, gen: this.gen });
  }

  /** rel is gone from the child (deleted, or about to be replaced): forget what it held. */
  private forget(rel: string, dir: boolean): void {
    this.offsets.delete(rel);
    if (!dir) return;
    if (this.removedDirs.size >= DIRTY_CAP) {
      // Bounded: past this, forget every offset (later changes go as whole files; correct).
      this.offsets.clear();
      this.removedDirs.clear();
    }
    this.removedDirs.set(rel, ++this.gen);
  }

  /** Every entry of dir, marked new, so it is sent (again) after the directory itself. */
  private requeueChildren(rel: string, e: Entry): void {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(`${this.o.dataDir}/${rel}`, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const r = `${rel}/${d.name}`;
      if (this.o.excluder.excluded(r, d.isDirectory())) continue;
      const old = this.dirty.get(r);
      this.dirty.delete(r);
      const flags = d.isDirectory() ? EV.ISDIR | REQUEUE : EV.CREATE;
      this.dirty.set(r, { flags: flags | ((old?.flags ?? 0) & ~(EV.MOVED_FROM | EV.DELETE)), time: Math.max(e.time, old?.time ?? 0), since: Math.min(e.since, old?.since ?? Infinity) });
    }
  }

  /** The frames that bring the child's copy of rel up to date, and whether more follows. */
  private framesFor(rel: string, e: Entry): [Frame[], boolean] {
    const full = `${this.o.dataDir}/${rel}`; // rel: a relative path from the watcher or a walk
    const st = files.lstat(full);
    if (this.links.size) this.linkReplaced(rel, st, e);
    if (!st) {
      this.forget(rel, (e.flags & EV.ISDIR) !== 0 || !this.offsets.has(rel));
      return [[{ t: 'DELETE', path: rel }], false];
    }
    if (st.isDirectory()) {
      const mkdir: Frame = { t: 'MKDIR', path: rel, mode: st.mode & MODE_BITS };
      if (e.flags & (EV.MOVED_FROM | EV.DELETE)) {
        // The directory once at this name went away (deleted, or moved: to here and back, or
        // elsewhere while another took its place). What the child holds at this name, with
        // its older entries, is not this directory: replace it, and send all it holds now.
        this.forget(rel, true);
        this.requeueChildren(rel, e);
        return [[{ t: 'DELETE', path: rel }, mkdir], false];
      }
      // Inside a directory replaced in this batch: everything below goes again, after it.
      if (e.flags & REQUEUE) this.requeueChildren(rel, e);
      return [[mkdir], false];
    }
    if (st.isSymbolicLink()) {
      this.offsets.delete(rel);
      const target = fs.readlinkSync(full);
      if (linkIsMirrored(this.o.dataDir, rel, target)) return [[{ t: 'SYMLINK', path: rel, target }], false];
      // One policy with rsync (--safe-links): a symlink that leaves dataDir is not mirrored, and
      // whatever the child held at that name goes.
      if (!this.outsideLinks.has(rel) && this.outsideLinks.size < 1000) {
        this.outsideLinks.add(rel);
        log('warn', `link ${this.site}: symlink ${rel} -> ${target.slice(0, 200)} leaves the data dir; not mirrored`);
      }
      return [[{ t: 'DELETE', path: rel }], false];
    }
    if (!st.isFile()) return [[], false]; // fifos, sockets, devices are not mirrored
    const [f, more] = this.fileFrame(rel, e, full, st);
    // A write through one name of a hard-linked file changes every name: send the others too.
    if (f && st.nlink > 1) this.touchLinks(rel, st, e);
    return [f ? [f] : [], more];
  }

  /**
   * A name of a hard-linked file that now holds another file, or none (renamed over, unlinked):
   * a write through it just before, read in the same turn, can no longer be seen through it.
   * The inode's other names go again (each is sent only if it changed).
   */
  private linkReplaced(rel: string, st: fs.Stats | null, e: Entry): void {
    const k = this.offsets.get(rel);
    if (!k || k.ino < 0 || (st && st.ino === k.ino)) return;
    const l = this.links.get(k.ino);
    if (!l) return;
    l.names.delete(rel);
    // The names known are fewer now: the next write through a name looks for the others among
    // the files sent again, even at a link count scanned before (a name read while it had one
    // link only was never added; found by CI's local differential, seed 1).
    l.scanned = 0;
    for (const r of l.names) this.touchName(r, e);
  }

  /**
   * Another name of a hard-linked file goes again, looked at afresh: the write that changed it
   * came through a name in another directory and raised no event on this one. Without the
   * fresh lstat, a name looked at earlier in this turn, just before that write, was judged
   * unchanged from the turn's cached lstat and kept the old content on the mirror while status
   * said in sync (found by CI's local differential, seed 1).
   */
  private touchName(r: string, e: Entry): void {
    files.forget(`${this.o.dataDir}/${r}`);
    if (!this.dirty.has(r)) this.dirty.set(r, { flags: EV.MODIFY, time: e.time, since: e.since });
  }

  private touchLinks(rel: string, st: fs.Stats, e: Entry): void {
    let l = this.links.get(st.ino);
    if (!l) {
      l = { names: new Set([rel]), scanned: 0 };
      this.links.set(st.ino, l);
    }
    l.names.add(rel);
    if (l.names.size < st.nlink && l.scanned !== st.nlink) {
      // A name made before this inode had a second one: find it among the files sent (once
      // per link count, so a name outside dataDir does not cost a scan every time).
      l.scanned = st.nlink;
      for (const [r, k] of this.offsets) if (k.ino === st.ino) l.names.add(r);
    }
    for (const r of l.names) if (r !== rel) this.touchName(r, e);
  }

  /** The frame for a regular file (null: the child has it), through the shared frame cache. */
  private fileFrame(rel: string, e: Entry, full: string, st: fs.Stats): [Frame | null, boolean] {
    const k = e.flags & EV_NEW ? undefined : this.offset(rel);
    const key = `${rel}\0${st.ino}\0${st.size}\0${st.mode}\0${st.mtimeMs}\0${st.ctimeMs}\0${k ? `${k.ino}/${k.size}/${k.mode}/${k.ctime}` : '-'}`;
    const hit = cache.get(key);
    if (hit) {
      if (hit.off) this.offsets.set(rel, { ...hit.off, gen: this.gen });
      else this.offsets.delete(rel);
      if (hit.big) this.bigPending = true;
      if (hit.big) this.bigBytes += st.size;
      return [hit.f, hit.more];
    }
    const r = this.fileFrameStat(rel, k, full, st);
    if (r.big) {
      this.bigPending = true;
      this.bigBytes += st.size;
    }
    cache.set(key, { f: r.f, more: r.more, big: r.big, off: this.offsets.get(rel) ?? null });
    return [r.f, r.more];
  }

  /**
   * The frame for a regular file read now: f (null: the child has it), whether more of it follows
   * in a later batch, and big: too big for a frame and not an append, so the rsync reconcile sends it.
   */
  private fileFrameStat(rel: string, k: Offset | undefined, full: string, st: fs.Stats): { f: Frame | null; more: boolean; big: boolean } {
    // Reads go through the shared open file, checked against this turn's lstat. A path that
    // no longer holds that file throws: the change that replaced it raises its own event.
    const read = (from: number, len: number): Buffer => {
      const b = files.read(full, st, from, len);
      if (!b) throw new Error('replaced while being read');
      return b;
    };
    if (k && k.ino === st.ino && (st.mode & MODE_BITS) === k.mode) {
      // Same size and ctime: the content the child has (an event for a write already read).
      if (st.size === k.size && st.ctimeMs === k.ctime) return { f: null, more: false, big: false };
      if (st.size > k.size) {
        const from = k.size - Math.min(APPEND_CONTEXT, k.size);
        const body = read(from, Math.min(st.size - from, MAX_BODY));
        this.setOffset(rel, st, from + body.length);
        return { f: { t: 'APPEND', path: rel, offset: from, body }, more: from + body.length < st.size, big: false };
      }
      // Same size or smaller with a new ctime: rewritten in place (or truncated): whole file.
    }
    if (st.size > MAX_BODY) {
      // Too big for one frame and not a plain append: rsync's delta transfer is the tool.
      this.offsets.delete(rel);
      return { f: null, more: false, big: true };
    }
    const body = read(0, st.size);
    this.setOffset(rel, st, body.length);
    return { f: { t: 'WRITE', path: rel, mode: st.mode & MODE_BITS, mtime: Math.floor(st.mtimeMs), size: body.length, body }, more: false, big: false };
  }

  private writeFrames(frames: Frame[]): void {
    const proc = this.proc;
    if (!proc?.stdin) return;
    // One write per batch: one pipe write, and ssh packs it into full packets (a write per
    // frame cost ~3x the CPU and wire bytes with many small appends). The frames before a
    // BATCH_END are shared by links in step, compressed if the child takes it; the BATCH_END
    // (its seq) is each link's own and stays plain, as do empty batches and heartbeats.
    const last = frames[frames.length - 1];
    // VERIFY frames (each link's own, and control frames) go plain after the data, with the BATCH_END.
    let cut = frames.length - 1;
    while (cut > 0 && frames[cut - 1].t === 'VERIFY') cut--;
    const tail = frames.slice(cut).flatMap((f) => encodeParts(f));
    const buf =
      last?.t === 'BATCH_END' && cut > 0 ? Buffer.concat([cache.encodeAll(frames.slice(0, cut), this.deflate), ...tail]) : last?.t === 'BATCH_END' ? Buffer.concat(tail) : cache.encodeAll(frames);
    this.bytesSent += buf.length;
    const wait = this.bucket ? this.bucket.take(buf.length) : 0;
    const go = (): void => {
      if (proc !== this.proc) return;
      proc.stdin!.write(buf);
    };
    // The bucket delays whole batches: with one batch in flight this caps the average rate.
    if (wait > 0) this.later(go, wait);
    else go();
  }

  private tick(): void {
    if (this.stopped || !this.proc) return;
    if (this.inflight && Date.now() - this.inflight.sentAt > ACK_TIMEOUT_MS) {
      return this.down(`no ACK for batch ${this.inflight.seq} in ${ACK_TIMEOUT_MS / 1000}s`, this.proc);
    }
    if (this.phase === 'stream' && !this.inflight && this.dirty.size === 0) {
      if (this.state === 'in-sync') {
        const up = this.o.upstream?.();
        this.writeFrames([{ t: 'HEARTBEAT', through: up ? up.through : Date.now() }]);
      } else {
        // Idle but not yet confirmed in sync (a relay whose own upstream was still catching
        // up when its last batch went out): an empty batch asks again.
        this.forceEmpty = true;
        this.flush();
      }
    }
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

// Re-exported for the daemon and tests, which knew them here.
/**
 * What each child was last sent (its Offsets), handed from a stopped Link to the next one for the
 * same child and data dir; used only to decide what to send again after a reconcile (never to
 * skip sending). Bounded: one map of at most OFFSETS_CAP entries per child.
 */
const sentBefore = new Map<string, Map<string, Offset>>();

/** The reconcile's rsync for a NUL-separated list of files on stdin, each copied whatever its size and mtime say. */
export function forcedRsyncArgs(args: readonly string[]): string[] {
  const out = args.filter((a) => a !== '--delete');
  out.splice(out.length - 2, 0, '--ignore-times', '--from0', '--files-from=-');
  return out;
}

export { files, MODE_BITS, rsyncCause, walkFiles };
export type { Offset };
