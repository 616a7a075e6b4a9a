/**
 * The sender's reads of dataDir, shared by every link of a daemon.
 *
 * On a busy master the same few dozen files change every tick (tick data appended one line at
 * a time), and every link needs the same stat and usually the same bytes. So:
 * - one lstat per path per turn of the event loop, whichever link asks first (the daemon's
 *   shared tick flushes all links in one turn);
 * - one read per (file, range) per turn;
 * - files stay open between turns (up to OPEN_CAP, closed after IDLE_MS unused), so a hot
 *   file costs an lstat and a pread per tick instead of open, fstat, read and close per link.
 *
 * Safety is as with a fresh open each time: a file is opened with O_NOFOLLOW | O_NONBLOCK,
 * and an open file is only read while the path's lstat still names the same inode; if the
 * path now holds another file (replaced by rename) the old one is closed and the new one
 * opened. A deleted file is closed the next time its path is looked at, and any file after
 * IDLE_MS, so the agent never pins a deleted file's space for long.
 */
import * as fs from 'fs';

export const OPEN_CAP = 256;
export const IDLE_MS = 10_000;

interface OpenFile {
  fd: number;
  ino: number;
  used: number;
}

export class SharedFiles {
  /** Insertion order is least recently opened first (the eviction order). */
  private readonly open = new Map<string, OpenFile>();
  private readonly stats = new Map<string, fs.Stats | null>();
  private readonly reads = new Map<string, Buffer>();
  private armed = false;
  /** Syscall-level counters, for tests and the benchmark. */
  readonly counts = { lstat: 0, open: 0, read: 0 };

  /** lstat, once per path per turn; null when the path does not exist. */
  lstat(full: string): fs.Stats | null {
    this.arm();
    let st = this.stats.get(full);
    if (st === undefined) {
      this.counts.lstat++;
      st = fs.lstatSync(full, { throwIfNoEntry: false }) ?? null;
      this.stats.set(full, st);
      if (!st || !st.isFile()) this.close(full);
    }
    return st;
  }

  /**
   * Up to len bytes of the regular file at full from pos, where st is this turn's lstat of
   * it. Returns null when the path no longer holds that file (the caller sends it again).
   */
  read(full: string, st: fs.Stats, pos: number, len: number): Buffer | null {
    this.arm();
    const key = `${full}\0${st.ino}\0${pos}\0${len}`;
    const hit = this.reads.get(key);
    if (hit) return hit;
    const f = this.fileFor(full, st);
    if (!f) return null;
    f.used = Date.now();
    const buf = Buffer.allocUnsafe(len);
    let off = 0;
    while (off < len) {
      this.counts.read++;
      const n = fs.readSync(f.fd, buf, off, len - off, pos + off);
      if (n === 0) break;
      off += n;
    }
    const out = off === len ? buf : buf.subarray(0, off);
    this.reads.set(key, out);
    return out;
  }

  /**
   * Forgets this turn's lstat and reads of a path, so the next look sees the file as it is now.
   * For the other names of a hard-linked file: a write through one name raises no event on the
   * others, so a name already looked at earlier in this turn, before the write, would otherwise
   * be judged unchanged from that stale lstat, and never looked at again.
   */
  forget(full: string): void {
    this.stats.delete(full);
    const prefix = `${full}\0`;
    for (const k of this.reads.keys()) if (k.startsWith(prefix)) this.reads.delete(k);
  }

  /** Closes files unused for IDLE_MS (the daemon calls this every second). */
  closeIdle(now = Date.now()): void {
    for (const [full, f] of this.open) if (now - f.used > IDLE_MS) this.close(full);
  }

  closeAll(): void {
    for (const full of [...this.open.keys()]) this.close(full);
  }

  get openCount(): number {
    return this.open.size;
  }

  private fileFor(full: string, st: fs.Stats): OpenFile | null {
    const have = this.open.get(full);
    if (have && have.ino === st.ino) return have;
    if (have) this.close(full);
    let fd: number;
    try {
      this.counts.open++;
      fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      return null; // gone, or now a symlink: its own event follows
    }
    const fst = fs.fstatSync(fd);
    if (fst.ino !== st.ino || !fst.isFile()) {
      fs.closeSync(fd);
      return null; // replaced between the lstat and the open
    }
    if (this.open.size >= OPEN_CAP) this.close(this.open.keys().next().value as string);
    const f = { fd, ino: fst.ino, used: Date.now() };
    this.open.set(full, f);
    return f;
  }

  private close(full: string): void {
    const f = this.open.get(full);
    if (!f) return;
    this.open.delete(full);
    try {
      fs.closeSync(f.fd);
    } catch {
      /* already closed */
    }
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => {
      this.stats.clear();
      this.reads.clear();
      this.armed = false;
    });
  }
}
