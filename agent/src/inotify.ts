/**
 * The change feed in-process: the kernel's inotify queue read in one batch per tick.
 *
 * inotifywait (watcher.ts) prints one line per event, so a busy master paid for every write()
 * twice (inotifywait formatting it, node parsing it), and its recursive watch keeps its own
 * path per directory that goes stale under renames. Here node owns the inotify descriptor: the
 * daemon's tick reads whatever the kernel queued since the last one with one read(2) into a
 * reused buffer (no wake-up per event), coalesces the events per path, and keeps the watch ->
 * path table itself, renaming a subtree's paths when its directory is renamed (the kernel's
 * MOVED_FROM/MOVED_TO cookie pairs the two names), so no name can go stale.
 *
 * Node has no inotify binding: inotify_init1/inotify_add_watch/inotify_rm_watch are called
 * through koffi (a maintained FFI for Node-API, whose npm package ships prebuilt binaries), from
 * the koffi.node that the ops side puts beside agent.js. The reads are plain fs.readSync. A host
 * without a loadable koffi.node (another platform) runs inotifywait instead (createWatcher).
 *
 * A watch is added before its directory is walked, so nothing made there is missed: what came
 * before the watch the walk finds, what came after raises events.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { STAGING_DIR, log } from './env';
import { Excluder } from './exclude';
import { EV, Watcher, type ChangeFeed } from './watcher';

export type { ChangeFeed };

/** The kernel's inotify flags (linux/inotify.h). */
const IN = {
  MODIFY: 0x2,
  ATTRIB: 0x4,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  MOVE_SELF: 0x800,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ONLYDIR: 0x1000000,
  DONT_FOLLOW: 0x2000000,
  EXCL_UNLINK: 0x4000000,
  ISDIR: 0x40000000,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
} as const;
/** What every directory is watched for (the same events inotifywait was asked for, plus MOVE_SELF of the root). */
const MASK = IN.MODIFY | IN.ATTRIB | IN.MOVED_FROM | IN.MOVED_TO | IN.CREATE | IN.DELETE | IN.MOVE_SELF | IN.ONLYDIR | IN.DONT_FOLLOW | IN.EXCL_UNLINK;
const ENOENT = 2;
const ENOTDIR = 20;
const ENOSPC = 28;
/** One event is 16 bytes and its name, NUL-padded (at most NAME_MAX + 1). */
const EVENT_MAX = 16 + 256;
const READ_BUF = 256 * 1024;
/** A drain that read this much (4,000+ events) drains again after BUSY_DRAIN_MS: the kernel's queue holds 16,384 by default. */
const BUSY_BYTES = 128 * 1024;
const BUSY_DRAIN_MS = 10;

/** The libc calls, through koffi. */
export interface InotifyCalls {
  init1(flags: number): number;
  addWatch(fd: number, path: string, mask: number): number;
  rmWatch(fd: number, wd: number): number;
  errno(): number;
}

let loaded: { calls: InotifyCalls | null; why: string } | null = null;

/**
 * koffi.node beside agent.js (dist/ when built, the agent's home on a host), loaded once.
 * null (and why) when it is absent or does not load here: another CPU, musl, too old a node.
 */
export function inotifyCalls(file = path.join(__dirname, 'koffi.node')): { calls: InotifyCalls | null; why: string } {
  if (loaded) return loaded;
  try {
    if (!fs.existsSync(file)) throw new Error(`${file} is not there`);
    const mod = { exports: {} as Record<string, unknown> };
    process.dlopen(mod, file);
    const k = mod.exports as { load(name: string): { func(sig: string): (...a: unknown[]) => number }; errno(): number };
    const libc = k.load('libc.so.6');
    const init1 = libc.func('int inotify_init1(int flags)');
    const addWatch = libc.func('int inotify_add_watch(int fd, const char *path, uint32_t mask)');
    const rmWatch = libc.func('int inotify_rm_watch(int fd, int wd)');
    loaded = { calls: { init1: (f) => init1(f), addWatch: (fd, p, m) => addWatch(fd, p, m), rmWatch: (fd, wd) => rmWatch(fd, wd), errno: () => k.errno() }, why: '' };
  } catch (e) {
    loaded = { calls: null, why: (e as Error).message.split('\n')[0].slice(0, 300) };
  }
  return loaded;
}

/** The daemon's change feed: InotifyWatcher when koffi loads here, else inotifywait's Watcher. */
export function createWatcher(dataDir: string, excluder: Excluder, stateDir: string, opts: { forceInotifywait?: boolean } = {}): ChangeFeed {
  const { calls, why } = opts.forceInotifywait ? { calls: null, why: 'asked for' } : inotifyCalls();
  if (calls) {
    log('info', 'watcher: inotify in-process (batched per tick)');
    return new InotifyWatcher(dataDir, excluder, calls);
  }
  log('info', 'watcher: inotifywait (no in-process inotify here)', { why });
  return new Watcher(dataDir, excluder, stateDir);
}

export class InotifyWatcher extends EventEmitter implements ChangeFeed {
  private fd: number | null = null;
  private buf = Buffer.allocUnsafe(READ_BUF);
  /** Watch descriptor -> the directory's full path now (a path is never looked up: see drain). */
  private readonly byWd = new Map<number, string>();
  private rootWd = -1;
  /** Directories moved away in this drain, by cookie, awaiting their MOVED_TO. */
  private readonly movedFrom = new Map<number, string>();
  private busy: NodeJS.Timeout | null = null;
  private stopped = false;
  /** A watch could not be added for the limit (reported once per start). */
  private limited = false;
  private readonly staging: string;

  constructor(
    private readonly dataDir: string,
    private readonly excluder: Excluder,
    private readonly calls: InotifyCalls,
  ) {
    super();
    this.staging = dataDir + '/' + STAGING_DIR;
  }

  /** Every directory is watched when this returns (resolves at once; async to match Watcher). */
  start(): Promise<void> {
    try {
      this.open();
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  private open(): void {
    const fd = this.calls.init1(IN.NONBLOCK | IN.CLOEXEC);
    if (fd < 0) throw new Error(`inotify_init1: errno ${this.calls.errno()} (the limit of inotify instances per user is fs.inotify.max_user_instances)`);
    this.fd = fd;
    this.byWd.clear();
    this.movedFrom.clear();
    this.rootWd = this.watch(this.dataDir);
    if (this.rootWd < 0) {
      this.closeFd();
      throw new Error(`cannot watch ${this.dataDir}`);
    }
    this.walk(this.dataDir, 0, null);
  }

  stop(): void {
    this.stopped = true;
    if (this.busy) clearTimeout(this.busy);
    this.busy = null;
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd !== null) fs.closeSync(this.fd); // the kernel drops every watch with it
    this.fd = null;
  }

  /** Adds dir's watch; its wd, or -1 (gone, not a directory, or the limit: reported). */
  private watch(dir: string): number {
    const wd = this.calls.addWatch(this.fd!, dir, MASK);
    if (wd < 0) {
      const errno = this.calls.errno();
      if (errno === ENOENT || errno === ENOTDIR) return -1; // gone or replaced since: its removal raised its own events
      const why = errno === ENOSPC ? 'No space left on device (the inotify watch limit, fs.inotify.max_user_watches)' : `errno ${errno}`;
      if (!this.limited) {
        this.limited = true;
        this.emit('watchfail', `Couldn't watch ${dir}: ${why}`.slice(0, 300));
      }
      return -1;
    }
    this.byWd.set(wd, dir);
    return wd;
  }

  /**
   * Watches every directory under dir that has no watch yet, and (time !== 0) emits every entry
   * as a change: `fresh` entries (the directory just appeared) as new objects, or as plain changes.
   */
  private walk(dir: string, time: number, fresh: boolean | null): void {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = dir + '/' + e.name;
      const rel = full.slice(this.dataDir.length + 1);
      const isDir = e.isDirectory();
      if (this.excluder.excluded(rel, isDir)) continue;
      if (fresh !== null) this.emit('change', { rel, flags: (fresh ? EV.CREATE : EV.MODIFY) | (isDir ? EV.ISDIR : 0), isDir, time });
      if (!isDir) continue;
      // Always asked of the kernel, never taken from the table by name: a name reused while the
      // old directory is still referenced keeps the old watch until its IN_IGNORED (see drain).
      if (this.watch(full) < 0) continue;
      this.walk(full, time, fresh);
    }
  }

  /**
   * Reads every event queued since the last drain and emits one 'change' per path (the flags of
   * all its events merged). Returns how many paths changed.
   */
  drain(): number {
    if (this.fd === null) return 0;
    const time = Date.now();
    const changed = new Map<string, { flags: number; isDir: boolean }>();
    /** Directories that appeared in this drain (created, or moved in): watched and walked after. */
    const appeared: { full: string; fresh: boolean }[] = [];
    let read = 0;
    let overflow = false;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw e;
      }
      read += n;
      overflow = this.parse(n, changed, appeared) || overflow;
      if (this.fd === null) return 0; // the root went away (parse emitted 'exit')
      if (n < this.buf.length - EVENT_MAX) break;
    }
    // A directory moved away with no MOVED_TO here left the tree: its watches would go on
    // naming the old place. (Were its MOVED_TO still in the queue, it comes as a directory moved in.)
    for (const from of this.movedFrom.values()) this.unwatchTree(from);
    this.movedFrom.clear();
    if (overflow) {
      // Events were lost, directories made or renamed among them: every watch is set afresh,
      // then every link reconciles (what changed meanwhile is found).
      log('warn', 'watcher: inotify queue overflowed; watching afresh, every child will reconcile');
      this.closeFd();
      try {
        this.open();
      } catch (e) {
        log('error', 'watcher: cannot watch afresh after an overflow', { error: (e as Error).message });
        this.emit('stale', this.dataDir);
        return 0;
      }
      this.emit('overflow');
    }
    if (read >= BUSY_BYTES && !this.busy && !this.stopped) {
      this.busy = setTimeout(() => {
        this.busy = null;
        try {
          this.drain();
        } catch (e) {
          log('error', 'watcher: cannot read inotify', { error: (e as Error).message });
        }
      }, BUSY_DRAIN_MS);
    }
    for (const [full, c] of changed) {
      const rel = full.slice(this.dataDir.length + 1);
      if (this.excluder.excluded(rel, c.isDir)) continue;
      this.emit('change', { rel, flags: c.flags, isDir: c.isDir, time });
    }
    // A directory that appears may already hold entries made before its watch existed: walk it
    // (after its watch is added, so nothing falls between).
    for (const a of appeared) {
      const rel = a.full.slice(this.dataDir.length + 1);
      if (this.excluder.excluded(rel, true)) continue;
      // inotify_add_watch even when the table knows the name: a directory removed (or renamed
      // over) while something still held it open keeps its watch, and sends IN_IGNORED, only
      // when the last reference goes, possibly after a new directory took the name. The kernel
      // answers by inode: the same wd for a directory already watched (a rename), a new one for
      // a new directory (found by the lab differential: a reused name left unwatched).
      if (this.watch(a.full) < 0) continue;
      this.walk(a.full, time, a.fresh);
    }
    return changed.size;
  }

  /** Parses n bytes of events into changed; true on a queue overflow. */
  private parse(n: number, changed: Map<string, { flags: number; isDir: boolean }>, appeared: { full: string; fresh: boolean }[]): boolean {
    const buf = this.buf;
    let overflow = false;
    for (let off = 0; off + 16 <= n;) {
      const wd = buf.readInt32LE(off);
      const mask = buf.readUInt32LE(off + 4);
      const cookie = buf.readUInt32LE(off + 8);
      const len = buf.readUInt32LE(off + 12);
      const nameAt = off + 16;
      off = nameAt + len;
      if (mask & IN.Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      const dir = this.byWd.get(wd);
      if (dir === undefined) continue; // a watch already dropped (a directory moved out, or removed)
      if (mask & IN.IGNORED) {
        this.byWd.delete(wd);
        if (wd === this.rootWd) this.rootGone('removed');
        continue;
      }
      if (len === 0) {
        // An event on a watched directory itself: its parent's watch reports the same by name.
        if (wd === this.rootWd && mask & IN.MOVE_SELF) this.rootGone('moved');
        continue;
      }
      let end = buf.indexOf(0, nameAt);
      if (end < 0 || end > nameAt + len) end = nameAt + len;
      const full = dir + '/' + buf.toString('utf8', nameAt, end);
      if (wd === this.rootWd && full === this.staging) continue;
      const isDir = (mask & IN.ISDIR) !== 0;
      let flags = isDir ? EV.ISDIR : 0;
      if (mask & IN.MODIFY) flags |= EV.MODIFY;
      if (mask & IN.ATTRIB) flags |= EV.ATTRIB;
      if (mask & IN.CREATE) flags |= EV.CREATE;
      if (mask & IN.DELETE) flags |= EV.DELETE;
      if (mask & IN.MOVED_FROM) flags |= EV.MOVED_FROM;
      if (mask & IN.MOVED_TO) flags |= EV.MOVED_TO;
      if (isDir) {
        if (mask & IN.MOVED_FROM) this.movedFrom.set(cookie, full);
        else if (mask & IN.MOVED_TO) {
          const from = this.movedFrom.get(cookie);
          if (from !== undefined) {
            this.movedFrom.delete(cookie);
            this.renameTree(from, full);
          }
          appeared.push({ full, fresh: true });
        } else if (mask & IN.CREATE) appeared.push({ full, fresh: true });
      }
      const c = changed.get(full);
      if (c) {
        c.flags |= flags;
        c.isDir = c.isDir || isDir;
      } else changed.set(full, { flags, isDir });
    }
    return overflow;
  }

  /** The watches of a renamed directory and everything under it now answer to the new name. */
  private renameTree(from: string, to: string): void {
    const prefix = from + '/';
    for (const [wd, p] of this.byWd) if (p === from || p.startsWith(prefix)) this.byWd.set(wd, to + p.slice(from.length));
  }

  /** A directory left the tree: its watches and those under it go. */
  private unwatchTree(from: string): void {
    const prefix = from + '/';
    for (const [wd, p] of [...this.byWd]) {
      if (p !== from && !p.startsWith(prefix)) continue;
      this.byWd.delete(wd);
      this.calls.rmWatch(this.fd!, wd);
    }
  }

  private rootGone(how: 'removed' | 'moved'): void {
    log('error', `watcher: the data directory was ${how}`, { dir: this.dataDir });
    if (how === 'moved') {
      this.emit('stale', this.dataDir);
      return;
    }
    this.closeFd();
    if (!this.stopped) this.emit('exit', null);
  }
}
