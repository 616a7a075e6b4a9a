/**
 * The repair tests' generators, seeded: a random tree for the master, and random corruptions of
 * a mirror's copy of it, each with the difference `tandem mirror verify` must report for it (the
 * model: the master's tree is what the mirror should hold, so every corrupted path, and nothing
 * else, is a difference). Targets never overlap (none is inside another), so each corruption is
 * one difference.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MirrorDifference } from '../../scripts/repair/api';
import { Rng } from '../support/fsops';

export const STAGING = '.tandem-staging';

/** A tree of dirs (depth <= 3), files (0..16 KiB, random bytes, a few modes) and symlinks that stay inside. */
export function randomTree(root: string, rng: Rng, files: number): string[] {
  const dirs = [''];
  const made: string[] = [];
  for (let i = 0; i < files; i++) {
    if (rng.int(0, 4) === 0 && dirs.length < files / 3) {
      const parent = rng.pick(dirs.filter((d) => d.split('/').length < 3));
      const d = path.posix.join(parent, `d${i}`);
      fs.mkdirSync(path.join(root, d), { recursive: true, mode: rng.pick([0o755, 0o750, 0o775]) });
      dirs.push(d);
      made.push(d);
      continue;
    }
    const dir = rng.pick(dirs);
    const f = path.posix.join(dir, `f${i}${rng.int(0, 10) === 0 ? '.tmp' : ''}`);
    const size = rng.pick([0, 1, 100, 4096, rng.int(1, 16385)]);
    const buf = Buffer.alloc(size);
    for (let k = 0; k < size; k++) buf[k] = rng.int(0, 256);
    fs.writeFileSync(path.join(root, f), buf);
    fs.chmodSync(path.join(root, f), rng.pick([0o644, 0o600, 0o755, 0o640]));
    made.push(f);
    if (rng.int(0, 8) === 0) {
      const l = path.posix.join(dir, `l${i}`);
      fs.symlinkSync(path.posix.basename(f), path.join(root, l));
      made.push(l);
    }
  }
  return made;
}

export interface Corruption {
  readonly op: 'delete' | 'truncate' | 'flip' | 'chmod' | 'todir' | 'tolink' | 'retarget' | 'extra' | 'extradir' | 'extratmp';
  readonly path: string;
  /** What verify must report; null: nothing (an excluded name). */
  readonly kind: MirrorDifference['kind'] | null;
}

function entries(root: string, rel = ''): { path: string; st: fs.Stats }[] {
  const out: { path: string; st: fs.Stats }[] = [];
  for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    if (r === STAGING || n.endsWith('.tmp')) continue;
    const st = fs.lstatSync(path.join(root, r));
    out.push({ path: r, st });
    if (st.isDirectory()) out.push(...entries(root, r));
  }
  return out;
}

const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/** Corrupts `count` distinct paths of the mirror's copy at `root`; returns what was done. */
export function corrupt(root: string, rng: Rng, count: number): Corruption[] {
  const all = entries(root);
  const done: Corruption[] = [];
  const taken: string[] = [];
  const free = (p: string) => !taken.some((t) => overlaps(p, t));
  let n = 0;
  for (let guard = 0; done.length < count && guard < count * 50; guard++) {
    const op = rng.pick<Corruption['op']>(['delete', 'truncate', 'flip', 'chmod', 'todir', 'tolink', 'retarget', 'extra', 'extradir', 'extratmp']);
    if (op === 'extra' || op === 'extradir' || op === 'extratmp') {
      const dirs = ['', ...all.filter((e) => e.st.isDirectory()).map((e) => e.path)].filter((d) => d === '' || free(d));
      const dir = rng.pick(dirs);
      const p = path.posix.join(dir, `zz-extra${n++}${op === 'extratmp' ? '.tmp' : ''}`);
      if (!free(p)) continue;
      if (op === 'extradir') {
        fs.mkdirSync(path.join(root, p));
        fs.writeFileSync(path.join(root, p, 'inner'), 'extra\n');
      } else fs.writeFileSync(path.join(root, p), 'extra\n');
      taken.push(p);
      done.push({ op, path: p, kind: op === 'extratmp' ? null : 'extra' });
      continue;
    }
    const cands = all.filter(
      (e) =>
        free(e.path) &&
        (op === 'delete' ||
          (op === 'chmod' && !e.st.isSymbolicLink()) ||
          (op === 'retarget' && e.st.isSymbolicLink()) ||
          ((op === 'truncate' || op === 'flip') && e.st.isFile() && e.st.size > 0) ||
          ((op === 'todir' || op === 'tolink') && e.st.isFile())),
    );
    if (!cands.length) continue;
    const e = rng.pick(cands);
    const full = path.join(root, e.path);
    switch (op) {
      case 'delete':
        fs.rmSync(full, { recursive: true });
        done.push({ op, path: e.path, kind: 'missing' });
        break;
      case 'truncate':
        fs.truncateSync(full, Math.floor(e.st.size / 2));
        done.push({ op, path: e.path, kind: 'content' });
        break;
      case 'flip': {
        // Same size, and the old modification time put back: only content tells.
        const fd = fs.openSync(full, 'r+');
        const at = rng.int(0, e.st.size);
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, at);
        b[0] ^= 0xff;
        fs.writeSync(fd, b, 0, 1, at);
        fs.closeSync(fd);
        fs.utimesSync(full, e.st.atime, e.st.mtime);
        done.push({ op, path: e.path, kind: 'content' });
        break;
      }
      case 'chmod':
        fs.chmodSync(full, (e.st.mode & 0o7777) ^ 0o020);
        done.push({ op, path: e.path, kind: 'mode' });
        break;
      case 'todir':
        fs.rmSync(full);
        fs.mkdirSync(full);
        fs.writeFileSync(path.join(full, 'inside'), 'x\n');
        done.push({ op, path: e.path, kind: 'type' });
        break;
      case 'tolink':
        fs.rmSync(full);
        fs.symlinkSync('.', full);
        done.push({ op, path: e.path, kind: 'type' });
        break;
      case 'retarget':
        fs.rmSync(full);
        fs.symlinkSync(`elsewhere-${n++}`, full);
        done.push({ op, path: e.path, kind: 'link' });
        break;
    }
    taken.push(e.path);
  }
  return done;
}

/** The differences verify must list for these corruptions, sorted by path. */
export function expected(cs: readonly Corruption[]): MirrorDifference[] {
  return cs
    .filter((c) => c.kind !== null)
    .map((c) => ({ path: c.path, kind: c.kind! }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
