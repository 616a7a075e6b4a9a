/**
 * The trivially correct model of a mirror: the master's tree as it is on disk. Compares two
 * trees entry by entry — type, mode (with setuid/setgid/sticky), content, symlink target — under
 * tandem's mirroring policy: a symlink whose target leaves the data dir is not mirrored, the
 * receiver's staging dir is not data, and owners, times and allocation are not compared.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

const STAGING = '.tandem-staging';

export interface Entry {
  type: 'file' | 'dir' | 'link' | 'other';
  mode: number;
  /** sha256 of a file's content, a link's target. */
  data: string;
}

/** True when a symlink at rel (relative to root) with this target resolves inside root. */
export function linkStaysInside(root: string, rel: string, target: string): boolean {
  const resolved = path.resolve(path.dirname(path.join(root, rel)), target);
  if (resolved !== root && !resolved.startsWith(root + '/')) return false;
  return path.relative(root, resolved).split('/')[0] !== STAGING;
}

export function snapshot(root: string, exclude: (rel: string, isDir: boolean) => boolean = () => false): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(rel ? path.join(root, rel) : root);
    } catch {
      return;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === STAGING) continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, r));
      } catch {
        continue;
      }
      if (exclude(r, st.isDirectory())) continue;
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode: st.mode & 0o7777, data: '' });
        walk(r);
      } else if (st.isSymbolicLink()) {
        const t = fs.readlinkSync(path.join(root, r));
        if (!linkStaysInside(root, r, t)) continue;
        out.set(r, { type: 'link', mode: 0, data: t });
      } else if (st.isFile()) {
        let data: string;
        try {
          data = createHash('sha256')
            .update(fs.readFileSync(path.join(root, r)))
            .digest('hex');
        } catch {
          continue;
        }
        out.set(r, { type: 'file', mode: st.mode & 0o7777, data });
      }
      // fifos, sockets, devices are not mirrored.
    }
  };
  walk('');
  return out;
}

/** Every difference of mirror from master, one line each (empty: equal). */
export function treeDiff(master: string, mirror: string, exclude?: (rel: string, isDir: boolean) => boolean): string[] {
  const x = snapshot(master, exclude);
  const y = snapshot(mirror, exclude);
  const out: string[] = [];
  for (const [k, v] of x) {
    const w = y.get(k);
    if (!w) out.push(`${JSON.stringify(k)}: missing (${v.type})`);
    else if (w.type !== v.type) out.push(`${JSON.stringify(k)}: ${w.type} instead of ${v.type}`);
    else if (w.mode !== v.mode) out.push(`${JSON.stringify(k)}: mode ${w.mode.toString(8)} instead of ${v.mode.toString(8)}`);
    else if (w.data !== v.data) out.push(`${JSON.stringify(k)}: ${v.type === 'link' ? `-> ${w.data} instead of ${v.data}` : 'content differs'}`);
  }
  for (const [k, w] of y) if (!x.has(k)) out.push(`${JSON.stringify(k)}: extra (${w.type})`);
  return out;
}

export function describeTree(root: string): string {
  return [...snapshot(root)].map(([k, v]) => `${k}(${v.type})`).join(' ');
}
