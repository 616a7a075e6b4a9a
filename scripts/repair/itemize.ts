/**
 * Owns reading rsync's `--itemize-changes` dry run (sent from a mirror's source to the mirror) as
 * the differences `tandem mirror verify` reports. Pure: the lines in, the differences out.
 *
 * rsync prints one line per entry it would change (`YXcstpoguax path`): `*deleting` for what only
 * the mirror has, `+++++++++` for what it would create, `c` (checksum) / `s` (size) for content,
 * `p` for permission bits, and for a symlink `c` for its target. Times, owners and groups are not
 * mirrored (the stream applies as the tandem account), so `t`, `o`, `g` alone are not differences.
 * A path created where the mirror holds another type (a directory where the source has a file)
 * looks like a plain creation here; the caller tells the two apart by looking on the mirror.
 */
import type { MirrorDifference } from './api';

export interface ItemizeLine {
  readonly path: string;
  /** What the line says; 'new' is missing or type, decided by the caller. */
  readonly kind: 'new' | 'extra' | 'content' | 'mode' | 'link';
  readonly isDir: boolean;
}

/** rsync writes unprintable bytes as \#ooo (octal). */
export function unescapeRsync(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length;) {
    const m = /^\\#([0-7]{3})/.exec(s.slice(i, i + 5));
    if (m) {
      bytes.push(parseInt(m[1], 8));
      i += 5;
      continue;
    }
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    bytes.push(...Buffer.from(ch, 'utf8'));
    i += ch.length;
  }
  return Buffer.from(bytes).toString('utf8');
}

/** One itemize line -> what differs, or null for lines that are not differences (times, owners, stats). */
export function parseItemizeLine(line: string): ItemizeLine | null {
  const del = /^\*deleting\s+(.*)$/.exec(line);
  if (del) {
    const raw = del[1];
    const isDir = raw.endsWith('/');
    return { path: unescapeRsync(isDir ? raw.slice(0, -1) : raw), kind: 'extra', isDir };
  }
  const m = /^([<>ch.])([fdLDS])([^ ]{9}) (.*)$/.exec(line);
  if (!m) return null;
  const [, , type, flags, rest] = m;
  let p = rest;
  if (type === 'L') {
    const i = p.indexOf(' -> ');
    if (i >= 0) p = p.slice(0, i);
  }
  const isDir = type === 'd';
  if (isDir && p.endsWith('/')) p = p.slice(0, -1);
  if (p === '.' || p === '') return null; // the root directory itself: its time or mode
  const path = unescapeRsync(p);
  if (flags.startsWith('+++')) return { path, kind: 'new', isDir };
  if (type === 'L') return flags[0] === 'c' ? { path, kind: 'link', isDir } : null;
  if (flags[0] === 'c' || flags[1] === 's') return { path, kind: 'content', isDir };
  if (flags[3] === 'p') return { path, kind: 'mode', isDir };
  return null;
}

/** Is `a` an ancestor of `b` (path components)? */
export const isUnder = (b: string, a: string): boolean => b.startsWith(`${a}/`);

/**
 * The differences, one per corrupted path: what lies under a path that is missing, extra or of
 * another type is its consequence (a deleted directory's files are missing too) and is not listed
 * again. `existsOnMirror` says, for each path rsync would create, whether the mirror holds
 * something else there (type) or nothing (missing).
 */
export function differencesOf(lines: readonly ItemizeLine[], existsOnMirror: ReadonlySet<string>): MirrorDifference[] {
  const raw: MirrorDifference[] = lines.map((l) => ({ path: l.path, kind: l.kind === 'new' ? (existsOnMirror.has(l.path) ? 'type' : 'missing') : l.kind }));
  // A type change shows as the creation plus `*deleting` of what the mirror holds under it.
  const tops = raw.filter((d) => d.kind === 'missing' || d.kind === 'extra' || d.kind === 'type').map((d) => d.path);
  const topSet = new Set(tops);
  const byPath = new Map<string, MirrorDifference>();
  for (const d of raw) {
    if (tops.some((t) => isUnder(d.path, t))) continue;
    const prev = byPath.get(d.path);
    // The same path both deleted and created: a type change (rsync removes the old one first).
    if (prev && prev.kind !== d.kind && topSet.has(d.path)) {
      byPath.set(d.path, { path: d.path, kind: 'type' });
      continue;
    }
    if (!prev) byPath.set(d.path, d);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Figures from rsync's --stats: entries on the source and their bytes. */
export function statsOf(text: string): { files: number; bytes: number; sent: number } {
  const n = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1].replace(/,/g, '')) : 0;
  };
  return { files: n(/^Number of files: ([\d,]+)/m), bytes: n(/^Total file size: ([\d,]+) bytes/m), sent: n(/^Total bytes sent: ([\d,]+)/m) };
}
