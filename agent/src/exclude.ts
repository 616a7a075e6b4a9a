/**
 * Exclude patterns (rsync filter syntax, the subset users write: `*.tmp`, `/cache/`,
 * `logs/**`). The same strings go to rsync as --exclude, so the stream and the reconcile
 * agree on what is mirrored. The staging dir is always excluded.
 */
import { STAGING_DIR } from './env';

function globToRe(g: string): string {
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === '*') {
      if (g[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re +=
          '[' +
          g
            .slice(i + 1, end)
            .replace(/^!/, '^')
            .replace(/\\/g, '\\\\') +
          ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return re;
}

export class Excluder {
  private readonly res: { re: RegExp; dirOnly: boolean }[];

  constructor(patterns: readonly string[]) {
    this.res = [...patterns, `/${STAGING_DIR}/`]
      .filter((p) => p.trim() !== '')
      .map((p) => {
        const dirOnly = p.endsWith('/');
        const core = dirOnly ? p.replace(/\/+$/, '') : p;
        const anchored = core.startsWith('/');
        const body = globToRe(anchored ? core.slice(1) : core);
        // Anchored: from the root. Otherwise: at any directory boundary (rsync matches the
        // pattern against the tail of the path). Matching an ancestor excludes its contents.
        const re = new RegExp((anchored ? '^/' : '(^|/)') + body + '(/|$)');
        return { re, dirOnly };
      });
  }

  /** rel: path relative to dataDir, no leading slash. */
  excluded(rel: string, isDir = false): boolean {
    const p = '/' + rel;
    for (const { re, dirOnly } of this.res) {
      const m = re.exec(p);
      if (!m) continue;
      if (!dirOnly) return true;
      // A dir-only pattern matched the last component: only if that is a directory.
      if (m.index + m[0].length < p.length || m[0].endsWith('/') || isDir) return true;
    }
    return false;
  }
}
