/**
 * Online verification of a mirror against its source, after DRBD's online verify: the sender
 * walks its dataDir one directory at a time, hashes what is there (sha256, at a capped rate),
 * and sends the listing in a VERIFY frame inside the stream. The receiver compares it with its
 * own copy after applying the batch before it, so both sides look at the same point of the
 * stream, and answers which names differ. What differs is repaired from the source and its
 * directory verified again; status shows when the mirror was last found equal.
 *
 * This file owns the listing and the comparison; link.ts decides when units go out and what a
 * difference means (repair, DEGRADED); receiver.ts answers.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Excluder } from './exclude';
import { STAGING_DIR } from './env';
import { linkIsMirrored } from './pathsafe';

/** Content hashed per unit (one VERIFY frame); a bigger file is verified in ranges of this. */
export const UNIT_BYTES = 8 * 1024 * 1024;
export const UNIT_ENTRIES = 1000;
/** Names per list in a verify answer. */
export const VERIFY_MAX_NAMES = 1000;
export const FEATURE_VERIFY = 'verify';
/** In a listing: a big file's content is verified by its own range units. */
export const CONTENT_ELSEWHERE = '*';

/** [name, type, mode, size, sha256 hex | link target | '', rangeOffset?, rangeLength?] */
export type VEntry = [string, 'f' | 'd' | 'l', number, number, string, number?, number?];

export interface VerifyAnswer {
  id: number;
  /** On the source, not here (or not the same type). */
  missing: string[];
  /** Here, not on the source. */
  extra: string[];
  /** On both, not equal (mode, size, content, link target). */
  differ: string[];
}

/** A unit as it goes on the wire: the entries of dir whose names lie in [from, to). */
export interface VerifyUnit {
  id: number;
  dir: string;
  from: string;
  /** '' = to the end. A range unit of one big file has from = name, to = name + '\0'. */
  to: string;
  /** False for a range of one big file: names absent from it are not "extra". */
  whole: boolean;
  entries: VEntry[];
}

/** sha256 of len bytes of fd from pos, in 1 MiB reads. */
export function hashRange(fd: number, pos: number, len: number, buf = Buffer.allocUnsafe(1024 * 1024)): string {
  const h = createHash('sha256');
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, len - done), pos + done);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    done += n;
  }
  return h.digest('hex');
}

export function hashFile(full: string, pos: number, len: number): string | null {
  let fd: number;
  try {
    fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    return hashRange(fd, pos, len);
  } finally {
    fs.closeSync(fd);
  }
}

/** Entry names of a directory as both sides order them (JS string order). */
export function listNames(dirAbs: string, atRoot: boolean): string[] {
  const names = fs.readdirSync(dirAbs);
  return (atRoot ? names.filter((n) => n !== STAGING_DIR) : names).sort();
}

export const rel = (dir: string, name: string): string => (dir ? `${dir}/${name}` : name);

/**
 * The receiving side: compares a unit with this host's copy of the directory. Never follows
 * a symlink (lstat, O_NOFOLLOW); a directory that is missing makes every entry missing.
 */
export function compareUnit(root: string, u: VerifyUnit, ex: Excluder | null): VerifyAnswer {
  const ans: VerifyAnswer = { id: u.id, missing: [], extra: [], differ: [] };
  const push = (list: string[], n: string): void => {
    if (list.length < VERIFY_MAX_NAMES) list.push(n);
  };
  const dirAbs = u.dir ? path.join(root, u.dir) : root;
  let here: string[];
  try {
    if (u.dir && !fs.lstatSync(dirAbs).isDirectory()) throw new Error('not a directory');
    here = listNames(dirAbs, !u.dir);
  } catch {
    for (const e of u.entries) push(ans.missing, e[0]);
    return ans;
  }
  const inRange = (n: string): boolean => n >= u.from && (u.to === '' || n < u.to);
  const want = new Set(u.entries.map((e) => e[0]));
  if (u.whole) for (const n of here) if (inRange(n) && !want.has(n) && !ex?.excluded(rel(u.dir, n), isDir(path.join(dirAbs, n)))) push(ans.extra, n);
  for (const [name, type, mode, size, data, off, len] of u.entries) {
    const full = path.join(dirAbs, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      push(ans.missing, name);
      continue;
    }
    const t = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : '?';
    if (t !== type) {
      push(ans.missing, name);
      continue;
    }
    if (t === 'l') {
      if (fs.readlinkSync(full) !== data) push(ans.differ, name);
      continue;
    }
    if ((st.mode & 0o7777) !== mode) {
      push(ans.differ, name);
      continue;
    }
    if (t === 'd') continue;
    if (st.size !== size) {
      push(ans.differ, name);
      continue;
    }
    if (data === CONTENT_ELSEWHERE) continue;
    const h = hashFile(full, off ?? 0, len ?? size);
    if (h !== data) push(ans.differ, name);
  }
  return ans;
}

function isDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** What the sender saw of an entry when it hashed it: a later change voids a difference. */
export interface Seen {
  ino: number;
  size: number;
  mtime: number;
  ctime: number;
}

export const seenOf = (st: fs.Stats): Seen => ({ ino: st.ino, size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs });
export const sameSeen = (a: Seen, b: Seen): boolean => a.ino === b.ino && a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime;

/** Hashes shared by every link of a daemon: links in step verify the same files. */
const hashCache = new Map<string, string>();
function cachedHash(full: string, st: fs.Stats, off: number, len: number): string | null {
  const key = `${full}\0${st.ino}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${off}\0${len}`;
  const hit = hashCache.get(key);
  if (hit) return hit;
  const h = hashFile(full, off, len);
  if (h === null) return null;
  if (hashCache.size >= 4096) hashCache.delete(hashCache.keys().next().value as string);
  hashCache.set(key, h);
  return h;
}

/** Bytes hashed in this process (for the benchmark and tests). */
export const verifyCounters = { hashedBytes: 0, units: 0 };

interface Pending {
  unit: VerifyUnit;
  seen: Map<string, Seen>;
  sentAt: number;
}

/**
 * The sending side of one link: a pass walks dataDir breadth-first, one unit at a time, at a
 * capped rate. Nothing here reads more than one directory listing and one unit's hashing at a
 * time, so memory stays bounded on any tree.
 */
export class Verifier {
  private queue: string[] = [];
  private units: { unit: VerifyUnit; seen: Map<string, Seen> }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private passStart = 0;
  private passSettled = 0;
  private idleUntil = 0;
  /** Start of the last pass that found every entry equal (every difference repaired). */
  lastEqualAt: number | null = null;
  /** Directories with settled differences, repaired and waiting to be verified again. */
  readonly bad = new Map<string, number>();
  passes = 0;

  constructor(
    private readonly root: string,
    private readonly ex: Excluder,
    private readonly pauseMs: number,
  ) {}

  /** Forget what is in flight (the link went down: its answers will never come). */
  reset(): void {
    this.pending.clear();
    this.units = [];
    this.queue = [];
    this.cursor = null;
    this.passStart = 0;
  }

  /** Next unit ready to send, hashing at most about budget.bytes on the way; null: none yet. */
  next(now: number, budget: { bytes: number }): { unit: VerifyUnit; seen: Map<string, Seen> } | null {
    while (!this.units.length && budget.bytes > 0) {
      if (!this.cursor) {
        if (!this.queue.length) {
          if (this.passStart && this.pending.size === 0) this.endPass(now);
          if (this.passStart || this.pending.size || now < this.idleUntil) return null;
          this.queue = [''];
          this.passStart = now;
          this.passSettled = 0;
        }
        this.open(this.queue.shift()!);
        continue;
      }
      this.step(budget);
    }
    if (!this.units.length) return null;
    verifyCounters.units++;
    return this.units.shift()!;
  }

  /** A unit whose answer will not come (the batch failed, an older receiver): its directory goes again. */
  lost(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.again(p.unit.dir);
  }

  sent(u: VerifyUnit, seen: Map<string, Seen>, now: number): void {
    this.pending.set(u.id, { unit: u, seen, sentAt: now });
  }

  /** Verify this directory again, before the rest of the pass. */
  again(dir: string): void {
    this.queue = [dir, ...this.queue.filter((d) => d !== dir)];
    this.idleUntil = 0;
  }

  private endPass(now: number): void {
    if (this.passSettled === 0 && this.bad.size === 0) this.lastEqualAt = this.passStart;
    this.passes++;
    this.passStart = 0;
    this.idleUntil = now + this.pauseMs;
  }

  /**
   * An answer from the child. Returns the paths to send again, and which of them are settled
   * differences (the source did not change them recently and the link was in sync when the
   * unit went): those are the mirror really being different, not a change still in flight.
   */
  answer(a: VerifyAnswer, settledBefore: number, linkWasInSync: boolean): { repair: string[]; settled: string[]; dir: string } | null {
    const p = this.pending.get(a.id);
    if (!p) return null;
    this.pending.delete(a.id);
    const repair: string[] = [];
    const settled: string[] = [];
    for (const name of [...a.missing, ...a.differ, ...a.extra]) {
      if (name.includes('/') || name === '.' || name === '..' || name === '' || name === STAGING_DIR) continue; // names come from the child
      const r = rel(p.unit.dir, name);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(path.join(this.root, r));
      } catch {
        /* gone here */
      }
      const before = p.seen.get(name);
      const unchanged = before ? !!st && sameSeen(before, seenOf(st)) : !st;
      // Changed here since it was hashed: the stream carries that change, and the next pass
      // verifies it (an actively appended log is never resent whole because of verify).
      if (!unchanged) continue;
      repair.push(r);
      const old = st ? Math.max(st.mtimeMs, st.ctimeMs) < settledBefore : true;
      if (old && linkWasInSync) settled.push(r);
    }
    const dir = p.unit.dir;
    if (settled.length) {
      this.passSettled += settled.length;
      this.bad.set(dir, (this.bad.get(dir) ?? 0) + settled.length);
      this.lastEqualAt = null;
    } else if (this.bad.has(dir) && repair.length === 0) this.bad.delete(dir);
    if (repair.length) this.again(dir);
    return { repair, settled, dir };
  }

  private cursor: { dir: string; abs: string; names: string[]; i: number; cur: { unit: VerifyUnit; seen: Map<string, Seen> }; bytes: number } | null = null;

  private newUnit(dir: string, from: string): { unit: VerifyUnit; seen: Map<string, Seen> } {
    return { unit: { id: this.nextId++, dir, from, to: '', whole: true, entries: [] }, seen: new Map() };
  }

  private open(dir: string): void {
    const abs = dir ? path.join(this.root, dir) : this.root;
    try {
      if (!dir || fs.lstatSync(abs).isDirectory()) {
        this.cursor = { dir, abs, names: listNames(abs, !dir), i: 0, cur: this.newUnit(dir, ''), bytes: 0 };
        return;
      }
    } catch {
      /* gone since it was queued */
    }
    // No directory here any more: its parent's listing verifies what the name holds now. A
    // difference once found under it must not wait for an answer that cannot come, or no pass
    // could say "verified equal" again (found by CI's local differential).
    this.bad.delete(dir);
  }

  /** Lists and hashes entries of the open directory until a unit is full or the budget is spent. */
  private step(budget: { bytes: number }): void {
    const c = this.cursor!;
    while (c.i < c.names.length && budget.bytes > 0) {
      const name = c.names[c.i++];
      const r = rel(c.dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(c.abs, name));
      } catch {
        continue;
      }
      if (this.ex.excluded(r, st.isDirectory())) continue;
      let e: VEntry | null = null;
      if (st.isDirectory()) {
        e = [name, 'd', st.mode & 0o7777, 0, ''];
        this.queue.push(r);
      } else if (st.isSymbolicLink()) {
        const t = fs.readlinkSync(path.join(c.abs, name));
        // Links that leave dataDir are not mirrored (link.ts), so not listed either; but what the
        // mirror holds at that name is extra, and repairable: remembered as seen, so an answer
        // naming it counts (the link then sends its DELETE). Found by the local differential run.
        if (!linkIsMirrored(this.root, r, t)) {
          c.cur.seen.set(name, seenOf(st));
          continue;
        }
        e = [name, 'l', 0, 0, t];
      } else if (st.isFile()) {
        if (st.size > UNIT_BYTES) {
          // A big file: one unit per range, each hashed on its own (the budget may run over by
          // one file here; it is paid back on the next ticks).
          for (let off = 0; off < st.size; off += UNIT_BYTES) {
            const len = Math.min(UNIT_BYTES, st.size - off);
            const h = cachedHash(path.join(c.abs, name), st, off, len);
            budget.bytes -= len;
            verifyCounters.hashedBytes += len;
            if (h === null) break;
            const u: VerifyUnit = { id: this.nextId++, dir: c.dir, from: name, to: `${name}\0`, whole: false, entries: [[name, 'f', st.mode & 0o7777, st.size, h, off, len]] };
            this.units.push({ unit: u, seen: new Map([[name, seenOf(st)]]) });
          }
          // Listed here too (type, mode, size; content '*': checked by its range units), so
          // the receiver does not take it for an extra entry of this directory.
          e = [name, 'f', st.mode & 0o7777, st.size, CONTENT_ELSEWHERE];
        } else {
          const h = cachedHash(path.join(c.abs, name), st, 0, st.size);
          if (h === null) continue;
          budget.bytes -= st.size + 256;
          verifyCounters.hashedBytes += st.size;
          c.bytes += st.size;
          e = [name, 'f', st.mode & 0o7777, st.size, h];
        }
      }
      if (!e) continue;
      budget.bytes -= 64; // a stat and a listing entry cost something even when empty
      if (c.cur.unit.entries.length >= UNIT_ENTRIES || c.bytes > UNIT_BYTES) {
        c.cur.unit.to = name;
        this.units.push(c.cur);
        c.cur = this.newUnit(c.dir, name);
        c.bytes = 0;
      }
      c.cur.unit.entries.push(e);
      c.cur.seen.set(name, seenOf(st));
      if (this.units.length) return;
    }
    if (c.i >= c.names.length) {
      this.units.push(c.cur);
      this.cursor = null;
    }
  }
}
