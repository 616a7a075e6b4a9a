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
import { FEATURE_DEFLATE, Frame, FrameParser, MAX_BODY, encodeParts, encodeZ } from './frame';
import { TokenBucket, mbitToBytesPerS } from './bucket';
import { EV } from './watcher';
import { rsyncPlan, spawnLink } from './transport';
import { SharedFiles } from './files';
import type { Excluder } from './exclude';

/** Bytes re-sent before an APPEND's offset so the receiver can tell the file really only grew. */
export const APPEND_CONTEXT = 16;
/**
 * The daemon's shared tick. Continuous links (syncIntervalS 0) have no timer of their own: the
 * tick flushes every link at once, so all links build their batches in the same turn and a file
 * is read and its frame encoded once for all children that are at the same point (FrameCache).
 */
export const COALESCE_MS = 50;
export const BATCH_BYTES = 8 * 1024 * 1024;
export const DIRTY_CAP = 100_000;
export const OFFSETS_CAP = 200_000;
const ACK_TIMEOUT_MS = 30_000;
const BACKOFF_MAX_MS = 10_000;
/**
 * A batch whose data frames encode to at most this goes as one Z frame when the child takes
 * deflate. Bigger ones are bulk file bodies, often already compressed, and deflating them would
 * hold the tick (and every other link) for tens of milliseconds.
 */
const DEFLATE_MAX = 1024 * 1024;
/**
 * zlib's fastest level: the point of compressing here instead of in ssh is CPU, and a tick's
 * appends and JSON headers shrink nearly as much as at the default level (a 7 KiB batch of the
 * benchmark's ticks: 1,257 bytes at level 1, 1,184 at 6).
 */
const DEFLATE_LEVEL = 1;

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
 * Frames built in the current tick, shared by links: children that are in step (the normal
 * case) need the same frame for a path, so it is read and encoded once, not once per child.
 */
interface CachedFrame {
  f: Frame | null;
  more: boolean;
  big: boolean;
  off: { ino: number; size: number; mode: number } | null;
}

class FrameCache {
  private frames = new Map<string, CachedFrame>();
  private encoded = new WeakMap<Frame, Buffer[]>();
  private armed = false;

  get(key: string) {
    return this.frames.get(key);
  }

  set(key: string, v: CachedFrame): void {
    this.frames.set(key, v);
    this.arm();
  }

  encode(f: Frame): Buffer[] {
    let e = this.encoded.get(f);
    if (!e) {
      e = encodeParts(f);
      this.encoded.set(f, e);
    }
    return e;
  }

  private lastFrames: Frame[] | null = null;
  private lastBuf: Buffer | null = null;
  private lastZ: Buffer | null = null;

  /**
   * The frames of a batch as one buffer; with deflate, as one Z frame if that is worth it.
   * Links in step build the very same frames in the same turn, so the buffer of the previous
   * link is reused when every frame is the same object. Its Z is reused when the bytes are the
   * same: frames that are not cached (DELETE of a path gone, MKDIR, SYMLINK) are new objects in
   * each link, and a batch with one of them would otherwise be compressed once per child.
   */
  encodeAll(frames: Frame[], deflate = false): Buffer {
    const lf = this.lastFrames;
    if (!(lf && lf.length === frames.length && frames.every((f, i) => f === lf[i]))) {
      const parts: Buffer[] = [];
      for (const f of frames) for (const p of this.encode(f)) parts.push(p);
      const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (!this.lastBuf?.equals(buf)) {
        this.lastBuf = buf;
        this.lastZ = null;
      }
      this.lastFrames = frames;
      this.arm();
    }
    const buf = this.lastBuf!;
    if (!deflate || buf.length > DEFLATE_MAX) return buf;
    if (!this.lastZ) {
      // Content that does not shrink (already compressed bodies) goes as it is.
      const z = encodeZ(buf, DEFLATE_LEVEL);
      this.lastZ = z.length < buf.length ? z : buf;
    }
    return this.lastZ;
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => {
      this.frames.clear();
      this.lastFrames = null;
      this.lastBuf = null;
      this.lastZ = null;
      this.armed = false;
    });
  }
}
const cache = new FrameCache();
/** Stats and reads of dataDir, shared by every link in this process (see files.ts). */
export const files = new SharedFiles();

interface Entry {
  flags: number;
  time: number;
}

interface Inflight {
  seq: number;
  entries: Map<string, Entry>;
  bytes: number;
  sentAt: number;
  changeTime: number;
  inSync: boolean;
  /** Cut at BATCH_BYTES or with a file left half sent: the rest follows without waiting. */
  full: boolean;
}

export class ChildLink {
  state: ChildStatus['state'] = 'connecting';
  lastError: string | null = null;
  lastAckAt: number | null = null;
  readonly dirty = new Map<string, Entry>();
  private readonly offsets = new Map<string, { ino: number; size: number; mode: number }>();
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

  constructor(readonly o: LinkOptions) {
    this.bucket = o.child.bandwidthMbit ? new TokenBucket(mbitToBytesPerS(o.child.bandwidthMbit)) : null;
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
    // While there is no link, the reconcile on reconnect covers everything: keep nothing.
    if (this.phase === 'idle' || this.phase === 'hello') return;
    const e = this.dirty.get(rel);
    if (e) {
      e.flags |= flags;
      e.time = Math.max(e.time, time);
    } else this.dirty.set(rel, { flags, time });
    if (this.dirty.size > DIRTY_CAP) {
      log('warn', `link ${this.site}: dirty set over ${DIRTY_CAP} paths; dropping it, rsync will reconcile`);
      this.dirty.clear();
      this.needsReconcile = true;
      if (this.phase === 'stream' && !this.inflight) this.reconcile();
      return;
    }
  }

  /** Every child must reconcile (watch overflow, watcher restart). */
  markReconcile(): void {
    this.needsReconcile = true;
    this.dirty.clear();
    if (this.phase === 'stream' && !this.inflight) this.reconcile();
  }

  status(): ChildStatus {
    let behind = this.inflight?.bytes ?? 0;
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
    const pending = this.dirty.size > 0 || this.inflight !== null || this.phase !== 'stream';
    let lagS: number | null = null;
    if (!pending && this.everSynced) lagS = 0;
    else if (this.ackedChange) lagS = Math.max(0, (Math.max(this.newestChange, Date.now() * Number(this.phase !== 'stream')) - this.ackedChange) / 1000);
    return {
      site: this.site,
      state: this.state,
      bytesBehind: this.phase === 'stream' ? behind : null,
      lagS,
      lastAckAt: this.lastAckAt ? new Date(this.lastAckAt).toISOString() : null,
      lastError: this.lastError,
      bytesSent: this.bytesSent,
    };
  }

  // ---- connection ---------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    this.state = this.state === 'error' ? 'error' : 'connecting';
    this.phase = 'hello';
    this.deflate = false;
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
      const tail = stderr.trim().split('\n').filter((l) => !/ info /.test(l)).slice(-1)[0] ?? '';
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
    this.inflight = null;
    this.dirty.clear();
    this.needsReconcile = true;
    this.phase = 'idle';
    if (this.stopped) return;
    if (this.state !== 'error' || !this.lastError) this.lastError = reason;
    if (this.state !== 'error') this.state = 'down';
    log('warn', `link ${this.site}: down`, { reason, retryInMs: this.backoff });
    this.later(() => this.connect(), this.backoff);
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
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
      this.dirty.set(rel, { flags: EV.CLOSE_WRITE, time: e.time });
    }
    if (inf.inSync && !(f.resend?.length) && this.dirty.size === 0) {
      this.state = 'in-sync';
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

  // ---- reconcile ----------------------------------------------------------------------

  private reconcile(): void {
    if (this.stopped || !this.proc) return;
    this.phase = 'rsync';
    // A link that failed stays 'error' (with its lastError) until a batch is acked again: the
    // retry after a disk-full refusal must not look like ordinary catching up, or status would
    // flicker back to OK between attempts while the mirror still cannot take the data.
    if (this.state !== 'error') this.state = this.everSynced ? 'catching-up' : 'seeding';
    this.dirty.clear();
    // Sizes before rsync starts: rsync copies at least this much of each file, so appends
    // after it continue from here (the receiver checks the overlap).
    const snapshot = new Map<string, { ino: number; size: number; mode: number }>();
    walkFiles(this.o.dataDir, '', this.o.excluder, snapshot, OFFSETS_CAP);
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
    r.on('close', (code) => {
      if (this.rsync !== r) return;
      this.rsync = null;
      // 24 = some files vanished while rsync ran: the stream sends their deletion.
      if (code !== 0 && code !== 24) {
        this.state = 'error';
        this.lastError = `rsync reconcile exited ${code}: ${rsyncCause(err)}`;
        log('error', `link ${this.site}: ${this.lastError}`);
        return this.down(this.lastError, this.proc ?? undefined);
      }
      log('info', `link ${this.site}: reconcile done`, { ms: Date.now() - started });
      this.offsets.clear();
      for (const [k, v] of snapshot) this.offsets.set(k, v);
      this.needsReconcile = false;
      this.phase = 'stream';
      this.forceEmpty = true;
      this.reconTime = changeTime;
      this.flush();
    });
  }

  private reconTime = 0;

  // ---- streaming ----------------------------------------------------------------------

  flush(): void {
    if (this.stopped || this.phase !== 'stream' || this.inflight || !this.proc) return;
    if (this.dirty.size === 0 && !this.forceEmpty) return;
    this.forceEmpty = false;
    const frames: Frame[] = [];
    const entries = new Map<string, Entry>();
    let bytes = 0;
    let newest = this.reconTime;
    this.reconTime = 0;
    let full = false;
    for (const [rel, e] of this.dirty) {
      if (bytes >= BATCH_BYTES) {
        full = true;
        break;
      }
      this.dirty.delete(rel);
      let f: Frame | null;
      let more = false;
      try {
        [f, more] = this.frameFor(rel, e);
      } catch (err) {
        log('warn', `link ${this.site}: cannot read ${rel}`, { error: errMsg(err) });
        continue;
      }
      entries.set(rel, e);
      if (e.time > newest) newest = e.time;
      if (more) {
        this.dirty.set(rel, { flags: EV.MODIFY, time: e.time });
        full = true;
      }
      if (!f) continue;
      frames.push(f);
      bytes += 'body' in f ? f.body.length : 0;
    }
    const up = this.o.upstream?.();
    if (up) newest = up.changeTime ?? newest;
    const inSync = this.dirty.size === 0 && !this.bigPending && !this.needsReconcile && (!up || up.through !== null);
    const seq = ++this.seq;
    frames.push({ t: 'BATCH_END', seq, changeTime: newest, inSync });
    this.inflight = { seq, entries, bytes, sentAt: Date.now(), changeTime: newest, inSync, full };
    log('debug', `link ${this.site}: batch ${seq}`, { frames: frames.length - 1, bytes });
    this.writeFrames(frames);
  }

  /** The frame that brings the child's copy of rel up to date (null: nothing to send). */
  private frameFor(rel: string, e: Entry): [Frame | null, boolean] {
    const full = `${this.o.dataDir}/${rel}`; // rel: a relative path from the watcher or a walk
    const st = files.lstat(full);
    if (!st) {
      this.offsets.delete(rel);
      return [{ t: 'DELETE', path: rel }, false];
    }
    if (!st.isFile()) return this.frameForStat(rel, e, full, st);
    const k = this.offsets.get(rel);
    const key = `${rel}\0${st.ino}\0${st.size}\0${st.mode}\0${st.mtimeMs}\0${k ? `${k.ino}/${k.size}/${k.mode}` : '-'}\0${e.flags & EV.ATTRIB}`;
    const hit = cache.get(key);
    if (hit) {
      if (hit.off) this.offsets.set(rel, hit.off);
      else this.offsets.delete(rel);
      if (hit.big) this.bigPending = true;
      return [hit.f, hit.more];
    }
    const before = this.bigPending;
    this.bigPending = false;
    const r = this.frameForStat(rel, e, full, st);
    const big = this.bigPending;
    this.bigPending = before || big;
    cache.set(key, { f: r[0], more: r[1], big, off: this.offsets.get(rel) ?? null });
    return r;
  }

  private frameForStat(rel: string, e: Entry, full: string, st: fs.Stats): [Frame | null, boolean] {
    if (st.isDirectory()) return [{ t: 'MKDIR', path: rel, mode: st.mode & 0o777 }, false];
    if (st.isSymbolicLink()) {
      this.offsets.delete(rel);
      return [{ t: 'SYMLINK', path: rel, target: fs.readlinkSync(full) }, false];
    }
    if (!st.isFile()) return [null, false]; // fifos, sockets, devices are not mirrored
    // Reads go through the shared open file, checked against this turn's lstat. A path that
    // no longer holds that file throws: the change that replaced it raises its own event.
    const read = (from: number, len: number): Buffer => {
      const b = files.read(full, st, from, len);
      if (!b) throw new Error('replaced while being read');
      return b;
    };
    const k = this.offsets.get(rel);
    if (k && k.ino === st.ino && st.size >= k.size && (st.mode & 0o777) === k.mode) {
      if (st.size === k.size) return [null, false];
      const from = k.size - Math.min(APPEND_CONTEXT, k.size);
      const body = read(from, Math.min(st.size - from, MAX_BODY));
      this.offsets.set(rel, { ino: st.ino, size: from + body.length, mode: k.mode });
      return [{ t: 'APPEND', path: rel, offset: from, body }, from + body.length < st.size];
    }
    if (st.size > MAX_BODY) {
      // Too big for one frame and not a plain append: rsync's delta transfer is the tool.
      this.bigPending = true;
      this.offsets.delete(rel);
      return [null, false];
    }
    const body = read(0, st.size);
    if (this.offsets.size < OFFSETS_CAP) this.offsets.set(rel, { ino: st.ino, size: body.length, mode: st.mode & 0o777 });
    return [{ t: 'WRITE', path: rel, mode: st.mode & 0o777, mtime: Math.floor(st.mtimeMs), size: body.length, body }, false];
  }

  private writeFrames(frames: Frame[]): void {
    const proc = this.proc;
    if (!proc?.stdin) return;
    // One write per batch: one pipe write, and ssh packs it into full packets (a write per
    // frame cost ~3x the CPU and wire bytes with many small appends). The frames before a
    // BATCH_END are shared by links in step, compressed if the child takes it; the BATCH_END
    // (its seq) is each link's own and stays plain, as do empty batches and heartbeats.
    const last = frames[frames.length - 1];
    const buf =
      last?.t === 'BATCH_END' && frames.length > 1
        ? Buffer.concat([cache.encodeAll(frames.slice(0, -1), this.deflate), ...encodeParts(last)])
        : cache.encodeAll(frames);
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

export function walkFiles(root: string, rel: string, ex: Excluder, out: Map<string, { ino: number; size: number; mode: number }>, cap: number): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (out.size >= cap) return;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (ex.excluded(r, e.isDirectory())) continue;
    if (e.isDirectory()) walkFiles(root, r, ex, out, cap);
    else if (e.isFile()) {
      try {
        const st = fs.lstatSync(path.join(root, r));
        out.set(r, { ino: st.ino, size: st.size, mode: st.mode & 0o777 });
      } catch {
        /* vanished */
      }
    }
  }
}

/**
 * The line of rsync's stderr that says why it failed. Its last lines are often only the
 * consequence ("error in file IO (code 11)", "Broken pipe"); the cause (ENOSPC, a permission)
 * comes earlier, and is what an operator needs to see in `tandem status`.
 */
export function rsyncCause(stderr: string): string {
  const lines = stderr.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const cause = lines.find((l) => /No space left|Disk quota|Permission denied|Read-only file system|No such file/i.test(l));
  const last = lines.slice(-2).join(' ');
  return (cause && !last.includes(cause) ? `${cause}; ${last}` : last).slice(0, 400);
}
