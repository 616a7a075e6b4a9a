/**
 * Change detection: inotifywait -m -r on dataDir (inotify-tools does the recursive watch
 * bookkeeping). One record per event, NUL-terminated so any file name survives.
 *
 * inotifywait writes into a FIFO that the daemon drains on its tick (drain()), instead of a
 * stream that wakes node for every event: a busy master raises thousands of events a second
 * (one per write() of a tick file), and reading them one callback at a time was most of the
 * agent's CPU. The FIFO is unlinked as soon as both ends are open, so nothing stays on disk.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { STAGING_DIR, log } from './env';
import { Excluder } from './exclude';

export const EV = { MODIFY: 1, CLOSE_WRITE: 2, MOVED_TO: 4, MOVED_FROM: 8, CREATE: 16, DELETE: 32, ATTRIB: 64, ISDIR: 128 } as const;
/**
 * The path was (or may have been) replaced by a new object since the child last had it: created,
 * moved in or out, deleted. Whatever the sender remembers of it (append offsets) is void.
 */
export const EV_NEW = EV.CREATE | EV.MOVED_TO | EV.MOVED_FROM | EV.DELETE;
const NAMES: Record<string, number> = EV;
/** Watcher-internal: the event list held Q_OVERFLOW. */
const OVERFLOW = 1 << 30;
const READ_CHUNK = 256 * 1024;

export interface Change {
  rel: string;
  flags: number;
  isDir: boolean;
  /** Local clock (ms) when the change was seen. */
  time: number;
}

/** A change feed: this inotifywait one, or inotify.ts's in-process one (the daemon takes either). */
export interface ChangeFeed {
  start(): Promise<void>;
  stop(): void;
  /** Reads what is waiting and emits one 'change' per path; returns how many paths changed. */
  drain(): number;
  on(e: 'change', l: (c: Change) => void): this;
  on(e: 'overflow', l: () => void): this;
  /** The feed stopped: inotifywait exited, or the data directory itself was removed. */
  on(e: 'exit', l: (code: number | null) => void): this;
  /** A directory could not be watched (the inotify watch limit): changes under it are missed. */
  on(e: 'watchfail', l: (message: string) => void): this;
  /**
   * Every path the feed knows may be wrong; it must be restarted. Here: inotifywait named an
   * event with a path that no longer exists and was not removed after the event (its record of
   * a renamed directory went stale). In-process: the data directory itself was moved.
   */
  on(e: 'stale', l: (path: string) => void): this;
}

/** A suspect event waits this long for the removal of an ancestor that would explain it. */
const STALE_WAIT_MS = 500;
/** A drain that read this much (a quarter of a default 64 KiB pipe) drains again after BUSY_DRAIN_MS. */
const BUSY_BYTES = 16 * 1024;
const BUSY_DRAIN_MS = 10;
/** How long a directory found to exist is taken to exist, if no directory removal is seen. */
const DIR_RECHECK_MS = 1000;
/** A new directory is walked again once inotifywait has added its watch (see drain), at the latest after this. */
const REWALK_MS = 200;
const REWALK_CAP = 10_000;
/**
 * A directory that appeared is looked up in inotifywait's own watch list this long after (see
 * checkWatches), when inotifywait has long processed its event.
 */
const WATCHCHECK_MS = 1000;
const WATCHCHECK_CONFIRM_MS = 300;
/** At most this many directories are looked up per check (a huge tree moved in costs one lstat each). */
const WATCHCHECK_DIRS = 50_000;

export class Watcher extends EventEmitter implements ChangeFeed {
  private proc: ChildProcess | null = null;
  private fd: number | null = null;
  /** Bytes read from the FIFO and not yet parsed: [0, len) of buf. */
  private buf = Buffer.allocUnsafe(READ_CHUNK);
  private len = 0;
  private readonly evCache = new Map<string, number>();
  private busy: NodeJS.Timeout | null = null;
  /** Directories found to exist (see checkStale) -> when. */
  private readonly dirsSeen = new Map<string, number>();
  /** New directories walked once, to walk again (see drain). */
  private readonly rewalk = new Set<string>();
  private rewalkSince = 0;
  /** Directories that appeared (and the data dir at start), to look up in inotifywait's watch list. */
  private unchecked: { full: string; at: number; again?: boolean }[] = [];
  /** /proc/<inotifywait>/fdinfo/<its inotify fd>, once found; '' when it cannot be read here. */
  private fdinfo: string | null = null;
  /** inotifywait reported a directory it could not watch (the limit): not every one is watched, knowingly. */
  private limited = false;
  private stopped = false;
  /** Events whose parent was missing at their drain, not (yet) explained by a later removal. */
  private suspects: { full: string; time: number }[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly excluder: Excluder,
    /** Where the FIFO is made (the agent's state dir); it is unlinked once open. */
    private readonly fifoDir: string,
  ) {
    super();
  }

  /** Resolves once every watch is in place (so nothing after that is missed). */
  start(): Promise<void> {
    const esc = this.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const args = [
      '-m',
      '-r',
      '--no-newline',
      '--format',
      '%e %w%f%0',
      // No close_write: every write() already raises modify after it is done, so the last
      // event of any write comes after its data; close_write only doubled the event rate.
      '-e',
      'modify',
      '-e',
      'moved_to',
      '-e',
      'moved_from',
      '-e',
      'create',
      '-e',
      'delete',
      '-e',
      'attrib',
      // inotifywait prints only the events it was asked for, and a queue overflow is one: without
      // this it drops Q_OVERFLOW silently and the events lost with it are never noticed.
      '-e',
      'q_overflow',
      '--exclude',
      `^${esc}/${STAGING_DIR}(/|$)`,
      this.dataDir,
    ];
    // One name, removed first: a FIFO left by a daemon killed between mkfifo and unlink goes too.
    const fifo = path.join(this.fifoDir, 'watch.fifo');
    fs.mkdirSync(this.fifoDir, { recursive: true });
    fs.rmSync(fifo, { force: true });
    const mk = spawnSync('mkfifo', ['-m', '600', fifo], { encoding: 'utf8' });
    if (mk.status !== 0) return Promise.reject(new Error(`mkfifo ${fifo}: ${(mk.stderr || mk.error?.message || '').trim()}`));
    let writer: number;
    try {
      // Reader first and non-blocking (drain() must never wait); the writer end, opened
      // blocking, is inotifywait's stdout: when node falls behind it waits, and the kernel's
      // inotify queue (and its overflow event) takes over, as with any pipe.
      this.fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      writer = fs.openSync(fifo, fs.constants.O_WRONLY);
    } finally {
      fs.rmSync(fifo, { force: true });
    }
    const proc = spawn('inotifywait', args, { stdio: ['ignore', writer, 'pipe'] });
    fs.closeSync(writer);
    this.proc = proc;
    return new Promise((resolve, reject) => {
      let err = '';
      proc.stderr!.setEncoding('utf8');
      let established = false;
      let pending = '';
      proc.stderr!.on('data', (d: string) => {
        if (!established) {
          err += d;
          if (err.includes('Watches established')) {
            established = true;
            // Directories made while inotifywait walked the tree may have no watch (see checkWatches).
            this.unchecked.push({ full: this.dataDir, at: Date.now() });
            pending = err.slice(err.indexOf('Watches established'));
            resolve();
          }
          if (err.length > 8192) err = err.slice(-4096);
          if (!established) return;
        } else pending += d;
        // After start, inotifywait reports every directory it could not watch ("Couldn't watch
        // new directory X: No space left on device" when the watch limit is reached) and goes
        // on: changes under X would be missed without a word.
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        if (pending.length > 8192) pending = '';
        // A directory that vanished before its watch was added ("No such file or directory") is
        // normal churn: its removal raises its own events. Only the limit is a failure.
        for (const l of lines) {
          if (!/couldn't watch|failed to watch|upper limit/i.test(l) || /no such file|not a directory/i.test(l)) continue;
          // Directories without a watch for a known cause: the daemon's unwatched mode covers them.
          this.limited = true;
          this.emit('watchfail', l.trim().slice(0, 300));
        }
        err = (err + d).slice(-4096);
      });
      proc.on('error', (e) => {
        this.closeFd();
        reject(e);
      });
      proc.on('exit', (code) => {
        this.proc = null;
        reject(new Error(`inotifywait exited ${code}: ${err.trim().slice(-300)}`));
        if (!this.stopped) this.drain(); // what it wrote before it died still counts
        this.closeFd();
        if (!this.stopped) this.emit('exit', code);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.busy) clearTimeout(this.busy);
    this.busy = null;
    this.proc?.kill('SIGTERM');
    this.proc = null;
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /**
   * Reads every event waiting in the FIFO and emits one 'change' per path (the flags of all
   * its events merged). Returns how many paths changed.
   *
   * The hot path of a busy master (thousands of events a second): the FIFO is read straight
   * into one reused buffer (an unfinished record moves to its front), each record's event list
   * is looked up whole in a table instead of split, and only its path becomes a string.
   */
  drain(): number {
    if (this.fd === null) return 0;
    const had = this.len;
    for (;;) {
      if (this.len === this.buf.length) {
        // More waiting than the buffer holds (a burst): grow it, bounded by the FIFO's own size
        // per read; it shrinks back once drained.
        const bigger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, this.len);
        this.buf = bigger;
      }
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buf, this.len, this.buf.length - this.len, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw e;
      }
      if (n === 0) break; // inotifywait gone; its exit event follows
      this.len += n;
      if (this.len < this.buf.length) break;
    }
    // A burst (a tree unpacked, 10x the usual rate) fills the FIFO between ticks: inotifywait then
    // blocks in its write before it adds the watch of a directory it just reported, and the
    // walk of that directory can run before the watch exists (files made in between are never
    // seen). So a drain that found the FIFO filling drains again soon, by itself: what it reads
    // goes into the links' dirty sets, sent on the next tick as before; a quiet FIFO costs nothing.
    if (this.len - had >= BUSY_BYTES && !this.busy && !this.stopped) {
      this.busy = setTimeout(() => {
        this.busy = null;
        try {
          this.drain();
        } catch (e) {
          log('error', 'watcher: cannot read the FIFO', { error: (e as Error).message });
        }
      }, BUSY_DRAIN_MS);
    }
    // Directories walked by an earlier drain are walked once more when inotifywait has surely
    // added their watches: it prints a directory's event and only then adds its watch, so a walk
    // that ran in between missed what was put there meanwhile (a relay's receiver renames files
    // into a directory it has just made, in the same instant). Any record read after them proves
    // the watch exists; so does time (REWALK_MS) when nothing more came.
    if (this.rewalk.size && (this.len > had || Date.now() - this.rewalkSince >= REWALK_MS)) {
      const dirs = [...this.rewalk];
      this.rewalk.clear();
      for (const d of dirs) this.walk(d, Date.now(), false);
    }
    if (this.unchecked.length && !this.busy) this.checkWatches(Date.now());
    // A view of what was read: a search must never run into the stale bytes after it.
    const len = this.len;
    const buf = this.buf.subarray(0, len);
    if (buf.indexOf(0) < 0) {
      if (this.suspects.length) this.checkStale(new Map(), new Map(), Date.now());
      return 0;
    }
    const time = Date.now();
    const changed = new Map<string, { flags: number; isDir: boolean; full: string; idx: number }>();
    /** Directories removed (deleted or moved away) in this drain -> index of the last such event. */
    const removed = new Map<string, number>();
    let idx = 0;
    let from = 0;
    let i: number;
    while ((i = buf.indexOf(0, from)) >= 0) {
      idx++;
      const sp = buf.indexOf(0x20, from);
      const recFrom = from;
      from = i + 1;
      if (sp < 0 || sp > i) continue; // not a record inotifywait writes
      const flags = this.eventFlags(buf, recFrom, sp);
      if (flags & OVERFLOW) {
        this.dirsSeen.clear();
        log('warn', 'watcher: inotify queue overflowed; every child will reconcile');
        this.emit('overflow');
        continue;
      }
      // inotifywait's %w%f ends in '/' for an event on a watched directory itself.
      let end = i;
      while (end > sp + 1 && buf[end - 1] === 0x2f) end--;
      const full = buf.toString('utf8', sp + 1, end);
      const isDir = (flags & EV.ISDIR) !== 0;
      if (isDir && flags & (EV.MOVED_FROM | EV.DELETE)) removed.set(full, idx);
      const c = changed.get(full);
      if (c) {
        c.flags |= flags;
        c.isDir = c.isDir || isDir;
        c.idx = idx;
      } else changed.set(full, { flags, isDir, full, idx });
    }
    // What is left is the start of a record still being written: keep it at the front.
    this.len = len - from;
    if (this.len) this.buf.copy(this.buf, 0, from, len);
    if (this.buf.length > READ_CHUNK && this.len <= READ_CHUNK) this.buf = Buffer.from(this.buf.subarray(0, READ_CHUNK));
    this.checkStale(changed, removed, time);
    for (const [full, c] of changed) {
      if (!full.startsWith(this.dataDir + '/')) continue;
      const rel = full.slice(this.dataDir.length + 1);
      if (!rel || this.excluder.excluded(rel, c.isDir)) continue;
      this.emit('change', { rel, flags: c.flags, isDir: c.isDir, time });
      // A directory that appears (created or moved in) may already hold entries that were
      // made before its watch existed: walk it.
      if (c.isDir && c.flags & (EV.CREATE | EV.MOVED_TO)) {
        this.walk(full, time, true);
        if (this.rewalk.size === 0) this.rewalkSince = Date.now();
        if (this.rewalk.size < REWALK_CAP) this.rewalk.add(full);
        if (this.unchecked.length < REWALK_CAP) this.unchecked.push({ full, at: time });
        else this.unchecked[this.unchecked.length - 1] = { full: this.dataDir, at: time };
      }
    }
    return changed.size;
  }

  /** The flags of an event list ("MODIFY", "CREATE,ISDIR"): a handful of distinct lists, each parsed once. */
  private eventFlags(buf: Buffer, from: number, to: number): number {
    const key = buf.toString('latin1', from, to);
    let f = this.evCache.get(key);
    if (f === undefined) {
      f = 0;
      for (const e of key.split(',')) f |= e === 'Q_OVERFLOW' ? OVERFLOW : (NAMES[e] ?? 0);
      if (this.evCache.size < 256) this.evCache.set(key, f);
    }
    return f;
  }

  /**
   * inotifywait keeps its own path for each watched directory and renames it on MOVED_FROM/TO.
   * Under churn (a fresh tree renamed while it adds the watches, a renamed directory renamed
   * again) that record goes stale: inotify-tools 3.22 then names every later event under the
   * directory by its OLD path, and the agent would look there, find nothing, and lose the
   * change (found by the differential test). Every event's parent must exist at the drain,
   * unless an ancestor was removed after the event (in this drain, or within STALE_WAIT_MS):
   * anything else is a stale name, reported once so the daemon restarts the watcher.
   */
  private checkStale(changed: ReadonlyMap<string, { full: string; idx: number }>, removed: ReadonlyMap<string, number>, time: number): void {
    // A directory found to exist stays known to for DIR_RECHECK_MS, unless a directory was
    // removed (deleted or moved away: the only way a name goes stale, and it raises its own
    // event) or events were lost: a busy master's few hot directories then cost one lstat a
    // second, not one per drain (measured: ~0.3 ms a drain with 50 hot directories).
    if (removed.size || this.dirsSeen.size > 10_000) this.dirsSeen.clear();
    const exists = new Map<string, boolean>();
    const parentExists = (dir: string): boolean => {
      const seen = this.dirsSeen.get(dir);
      if (seen !== undefined && time - seen < DIR_RECHECK_MS) return true;
      let v = exists.get(dir);
      if (v === undefined) {
        try {
          v = fs.lstatSync(dir).isDirectory();
        } catch {
          v = false;
        }
        exists.set(dir, v);
        if (v) this.dirsSeen.set(dir, time);
      }
      return v;
    };
    const removedAfter = (full: string, idx: number): boolean => {
      for (let p = path.dirname(full); p.length > this.dataDir.length; p = path.dirname(p)) {
        const r = removed.get(p);
        if (r !== undefined && r >= idx) return true;
      }
      return false;
    };
    // Suspects of earlier drains: a removal of an ancestor now explains them (it came after).
    if (this.suspects.length) {
      this.suspects = this.suspects.filter((s) => !removedAfter(s.full, 0));
      const old = this.suspects.find((s) => time - s.time >= STALE_WAIT_MS && !parentExists(path.dirname(s.full)));
      if (old) {
        this.suspects = [];
        log('warn', 'watcher: inotifywait names a directory that is gone (its record of a rename went stale); restarting it', { path: old.full.slice(0, 300) });
        this.emit('stale', old.full);
        return;
      }
      this.suspects = this.suspects.filter((s) => time - s.time < STALE_WAIT_MS);
    }
    for (const c of changed.values()) {
      const dir = path.dirname(c.full);
      if (dir.length <= this.dataDir.length || parentExists(dir) || removedAfter(c.full, c.idx)) continue;
      if (this.suspects.length < 1000) this.suspects.push({ full: c.full, time });
    }
  }

  /**
   * inotifywait -r (inotify-tools 3.22 and still today) reads a new directory's entries first
   * and adds the directory's own watch after: a subdirectory made in between (a tree being
   * unpacked or created by a program while its top appears) gets no watch at all, and every
   * later change under it is lost without a word (found by the differential test: files
   * created seconds later never reached the mirror while status said in sync). inotifywait
   * cannot be told to add a watch, so a directory that appeared is looked up, by inode, in
   * the kernel's list of its watches (/proc/<pid>/fdinfo) once it has surely processed the
   * event; one missing means the watcher must start again ('stale': the daemon restarts it
   * and every link reconciles, so what was missed meanwhile is found too).
   */
  private checkWatches(now: number): void {
    if (now - this.unchecked[0].at < WATCHCHECK_MS) return;
    const due = this.unchecked.filter((u) => now - u.at >= WATCHCHECK_MS);
    this.unchecked = this.unchecked.filter((u) => now - u.at < WATCHCHECK_MS);
    if (this.limited) return; // known: the daemon reconciles periodically until the limit is raised
    const watched = this.watchedInodes();
    if (!watched) return;
    const seen = new Set<string>();
    let budget = WATCHCHECK_DIRS;
    const visit = (dir: string): string | null => {
      if (budget-- <= 0 || seen.has(dir)) return null;
      seen.add(dir);
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(dir, { bigint: true });
      } catch {
        return null; // gone since: its removal raised its own events
      }
      if (!st.isDirectory()) return null;
      if (!watched.has(st.ino.toString(16))) return dir;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return null;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const full = path.join(dir, e.name);
        if (this.excluder.excluded(full.slice(this.dataDir.length + 1), true)) continue;
        const bad = visit(full);
        if (bad) return bad;
      }
      return null;
    };
    for (const u of due) {
      const bad = visit(u.full);
      if (!bad) continue;
      // Looked up once more a little later: inotifywait's "Couldn't watch" (the watch limit, a
      // known cause the daemon handles) may still be on its way through its stderr.
      if (!u.again) {
        this.unchecked.push({ full: bad, at: now - WATCHCHECK_MS + WATCHCHECK_CONFIRM_MS, again: true });
        continue;
      }
      this.unchecked = [];
      log('warn', 'watcher: inotifywait has no watch on a directory (made while it was adding the watches of a new tree); restarting it', { path: bad.slice(0, 300) });
      this.emit('stale', bad);
      return;
    }
  }

  /** The inodes (hex) of every directory inotifywait watches, from the kernel; null if unknown here. */
  private watchedInodes(): Set<string> | null {
    const pid = this.proc?.pid;
    if (!pid || this.fdinfo === '') return null;
    try {
      if (this.fdinfo === null) {
        for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
          if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:inotify') this.fdinfo = `/proc/${pid}/fdinfo/${fd}`;
        }
        if (this.fdinfo === null) throw new Error('no inotify descriptor');
      }
      const text = fs.readFileSync(this.fdinfo, 'latin1');
      const out = new Set<string>();
      for (const m of text.matchAll(/^inotify wd:[0-9a-f]+ ino:([0-9a-f]+)/gm)) out.add(m[1]);
      return out;
    } catch (e) {
      this.fdinfo = '';
      log('warn', "watcher: cannot read inotifywait's watch list; directories made while it adds watches are not checked", { error: (e as Error).message });
      return null;
    }
  }

  /**
   * Emits every entry under dir. `fresh`: the directory just appeared, so its entries are new
   * objects (whatever a sender remembers at those names is older). The second walk (fresh false)
   * only brings what the first missed: a plain change, which a sender that already sent the
   * entry finds unchanged and skips.
   */
  private walk(dir: string, time: number, fresh: boolean): void {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = full.slice(this.dataDir.length + 1);
      if (this.excluder.excluded(rel, e.isDirectory())) continue;
      // Marked new: whatever the sender remembers of an entry here belongs to an older object.
      this.emit('change', { rel, flags: (fresh ? EV.CREATE : EV.MODIFY) | (e.isDirectory() ? EV.ISDIR : 0), isDir: e.isDirectory(), time });
      if (e.isDirectory()) this.walk(full, time, fresh);
    }
  }
}
