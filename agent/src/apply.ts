/**
 * Publishing a staged batch into dataDir so that a crash leaves the mirror at the whole batch or
 * at none of it. The session (receiver.ts) stages a batch's files and lists what to do with them
 * as ops; here the ops are checked before anything is published (preflight), written to the
 * journal (the commit point), applied in order, and the journal removed. A journal left by a
 * crash is replayed when the next receiver starts: every op is idempotent, so applying one that
 * was half applied, or twice, is harmless. The journal's file (`state/journal.json`) and its
 * format are read back by newer agents (a mirror upgraded mid-crash replays its old journal):
 * change neither.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HomePaths, errMsg, log, readJson, writeFileAtomic } from './env';
import { checkRelPath, safeTarget } from './pathsafe';
import { fsyncDir, isSymlink, lstatOrNull } from './diskio';

/** `from` names a file in the staging dir; `to` is relative to dataDir. */
export type Op =
  { k: 'rename'; from: string; to: string } | { k: 'append'; from: string; to: string; at: number; len: number } | { k: 'delete'; to: string } | { k: 'mkdir'; to: string; mode: number };

/** The journal file's content. */
export interface Journal {
  seq: number;
  changeTime: number;
  ops: Op[];
}

/** Where ops are applied, and how. */
export interface ApplyOptions {
  /** The real path of dataDir. */
  readonly dataDir: string;
  /** The staging dir inside dataDir. */
  readonly staging: string;
  readonly fsync: boolean;
  /** Test-only: SIGKILL this process after N ops of one list (a batch or a replay); -1 never. */
  readonly crashAfterOps: number;
}

/**
 * Checks every op's parent chain before anything is published, so a refused path fails the
 * whole batch instead of leaving it half applied. A symlink in a chain is allowed only if an
 * earlier op of the same batch replaces that name.
 */
export function preflight(a: ApplyOptions, ops: readonly Op[]): string | null {
  const replaced = new Set<string>();
  const willBeLink = new Set<string>();
  for (const op of ops) {
    const comps = op.to.split('/');
    for (let i = 1; i < comps.length; i++) {
      const prefix = comps.slice(0, i).join('/');
      const link = replaced.has(prefix) ? willBeLink.has(prefix) : isSymlink(path.join(a.dataDir, prefix));
      if (link) return `${op.k} ${JSON.stringify(op.to).slice(0, 200)}: parent ${JSON.stringify(prefix)} is a symlink; refused`;
    }
    replaced.add(op.to);
    if (op.k === 'rename' && isSymlink(path.join(a.staging, op.from))) willBeLink.add(op.to);
    else willBeLink.delete(op.to);
  }
  return null;
}

/** The commit point of a batch: once this returns, the batch is applied, now or by a replay. Throws. */
export function writeJournal(paths: HomePaths, j: Journal, fsync: boolean): void {
  writeFileAtomic(paths.journal, JSON.stringify(j), fsync);
  if (fsync) fsyncDir(paths.stateDir);
}

export function removeJournal(paths: HomePaths): void {
  try {
    fs.unlinkSync(paths.journal);
  } catch {
    /* none */
  }
}

/**
 * Applies a journal left by an interrupted batch, if there is one, and returns it; the caller
 * records it in the receiver state before it removes the journal.
 */
export function replayJournal(a: ApplyOptions, paths: HomePaths): Journal | null {
  const j = readJson<Journal>(paths.journal);
  if (!j || !Array.isArray(j.ops)) return null;
  log('warn', 'receiver: replaying journal of an interrupted batch', { seq: j.seq, ops: j.ops.length });
  const errs = applyOps(a, j.ops);
  if (errs.length) log('error', 'receiver: journal replay had errors', { errors: errs.slice(0, 5) });
  return j;
}

/** Publishes ops in order. Idempotent, so a journal replay after a crash is safe. */
export function applyOps(a: ApplyOptions, ops: readonly Op[]): string[] {
  const errs: string[] = [];
  const dirs = new Set<string>();
  let applied = 0;
  for (const op of ops) {
    if (applied++ === a.crashAfterOps) process.kill(process.pid, 'SIGKILL');
    try {
      const comps = checkRelPath(op.to);
      // A delete never makes parents: a late event under a directory already gone (inotifywait
      // names it by its old path) must not bring that directory back empty on the mirror.
      const target = safeTarget(a.dataDir, comps, op.k !== 'delete');
      if (op.k === 'delete' && !lstatOrNull(path.dirname(target))) continue;
      dirs.add(path.dirname(target));
      switch (op.k) {
        case 'rename': {
          const from = path.join(a.staging, path.basename(op.from));
          if (!fs.existsSync(from) && !isSymlink(from)) break; // already published before the crash
          const st = lstatOrNull(target);
          if (st?.isDirectory()) fs.rmSync(target, { recursive: true, force: true });
          fs.renameSync(from, target);
          break;
        }
        case 'append': {
          const from = path.join(a.staging, path.basename(op.from));
          if (!fs.existsSync(from)) break;
          const data = fs.readFileSync(from);
          const fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
          try {
            const mode = fs.fstatSync(fd).mode & 0o7777;
            // pwrite at the recorded position, not O_APPEND: replaying twice is harmless.
            let off = 0;
            while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, op.at + off);
            // A write by a process without CAP_FSETID (the sync account) makes the kernel drop
            // setuid and setgid: put them back, or the mirror keeps a different mode.
            if (mode & 0o6000 && (fs.fstatSync(fd).mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
            if (a.fsync) fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
          fs.unlinkSync(from);
          break;
        }
        case 'delete': {
          const st = lstatOrNull(target);
          if (st?.isDirectory()) fs.rmSync(target, { recursive: true, force: true });
          else if (st) fs.unlinkSync(target);
          break;
        }
        case 'mkdir': {
          const st = lstatOrNull(target);
          if (st && !st.isDirectory()) fs.unlinkSync(target);
          // mkdir(2) ignores setgid in its mode on Linux (and the umask applies): chmod always.
          if (!st || !st.isDirectory()) fs.mkdirSync(target, op.mode & 0o777);
          fs.chmodSync(target, op.mode);
          break;
        }
      }
    } catch (e) {
      errs.push(`${op.k} ${JSON.stringify(op.to).slice(0, 200)}: ${errMsg(e)}`);
    }
  }
  if (a.fsync) for (const d of dirs) fsyncDir(d);
  return errs;
}
