/**
 * Owns what a link knows the child holds of each regular file (Offset), the permission bits
 * mirrored, and the helpers of the rsync reconcile: the snapshot walk taken before rsync starts
 * (appends continue from those sizes) and the cause line of a failed rsync.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Excluder } from './exclude';

/**
 * What the child is known to hold of a regular file: the sender's lstat when it last sent it.
 * ctime changes with every write, chmod, link or truncate; on kernels with multigrain
 * timestamps (6.13+) it also differs for two writes in the same clock tick once the first was
 * stat'ed, so an unchanged ctime with an unchanged size means the content is the one sent.
 */
export interface Offset {
  ino: number;
  size: number;
  mode: number;
  ctime: number;
  /** this.gen when recorded: an ancestor directory removed after that voids it. */
  gen: number;
}

/** Permission bits mirrored: rwx for all, plus setuid, setgid and sticky. */
export const MODE_BITS = 0o7777;

export function walkFiles(root: string, rel: string, ex: Excluder, out: Map<string, Offset>, cap: number, nlinks?: Map<number, Set<string>>, symlinks?: string[]): void {
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
    if (e.isDirectory()) walkFiles(root, r, ex, out, cap, nlinks, symlinks);
    else if (e.isSymbolicLink()) {
      if (symlinks && symlinks.length < cap) symlinks.push(r);
    } else if (e.isFile()) {
      try {
        const st = fs.lstatSync(path.join(root, r));
        out.set(r, { ino: st.ino, size: st.size, mode: st.mode & MODE_BITS, ctime: st.ctimeMs, gen: 0 });
        if (nlinks && st.nlink > 1) {
          const s = nlinks.get(st.ino) ?? new Set<string>();
          s.add(r);
          nlinks.set(st.ino, s);
        }
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
  const lines = stderr
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const cause = lines.find((l) => /No space left|Disk quota|Permission denied|Read-only file system|No such file/i.test(l));
  const last = lines.slice(-2).join(' ');
  return (cause && !last.includes(cause) ? `${cause}; ${last}` : last).slice(0, 400);
}
