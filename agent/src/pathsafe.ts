/**
 * Path safety on the receiver. Every path in a frame is relative to dataDir and is checked
 * here before anything touches the disk: no absolute paths, no `..`/`.`/empty components, no
 * NUL, nothing under the staging dir, and no symlink anywhere in the parent chain (so a
 * symlink, even one planted by an earlier frame, can never redirect a write outside dataDir).
 */
import * as fs from 'fs';
import * as path from 'path';
import { STAGING_DIR } from './env';

export class PathError extends Error {}

export const MAX_PATH = 4096;

/** Validates a relative path from a frame; returns its components. */
export function checkRelPath(p: unknown): string[] {
  if (typeof p !== 'string' || p.length === 0) throw new PathError('path must be a non-empty string');
  if (p.length > MAX_PATH) throw new PathError(`path longer than ${MAX_PATH}`);
  if (p.includes('\0')) throw new PathError('path contains NUL');
  if (p.startsWith('/')) throw new PathError(`absolute path ${JSON.stringify(p.slice(0, 100))} refused`);
  const comps = p.split('/');
  for (const c of comps) {
    if (c === '' || c === '.' || c === '..') throw new PathError(`path ${JSON.stringify(p.slice(0, 100))} has an empty, "." or ".." component`);
    if (Buffer.byteLength(c) > 255) throw new PathError('path component longer than 255 bytes');
  }
  if (comps[0] === STAGING_DIR) throw new PathError('path inside the staging dir refused');
  return comps;
}

/**
 * Walks the parent chain of `comps` under root. Refuses a symlink in the chain; with create,
 * makes missing directories and replaces a non-directory that stands where a directory must
 * be (the sender's tree says it is a directory). Returns the absolute target path.
 */
export function safeTarget(root: string, comps: string[], create: boolean): string {
  let cur = root;
  for (let i = 0; i < comps.length - 1; i++) {
    cur = path.join(cur, comps[i]);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st?.isSymbolicLink()) {
      // Never followed and never "fixed": a sender does not send paths through a symlink.
      throw new PathError(`parent ${JSON.stringify(comps.slice(0, i + 1).join('/'))} is a symlink; refused`);
    }
    if (st && !st.isDirectory()) {
      if (!create) continue; // checked again at apply time, when we may replace it
      fs.unlinkSync(cur);
      st = null;
    }
    if (!st) {
      if (!create) return path.join(root, ...comps);
      fs.mkdirSync(cur, 0o755);
    }
  }
  return path.join(root, ...comps);
}

/** True if a symlink at `rel` pointing to `target` stays inside root (and out of staging). */
export function symlinkStaysInside(root: string, rel: string, target: string): boolean {
  if (typeof target !== 'string' || target.length === 0 || target.length > MAX_PATH || target.includes('\0')) return false;
  const from = path.dirname(path.join(root, rel));
  const resolved = path.resolve(from, target);
  if (resolved !== root && !resolved.startsWith(root + '/')) return false;
  const relTo = path.relative(root, resolved);
  return relTo.split('/')[0] !== STAGING_DIR;
}

/**
 * A symlink that mirrors hold: the rule of rsync's --safe-links as rsync 3.4+ applies it (the
 * reconcile runs rsync with it, so the stream and online verify must agree with it exactly, or
 * every reconcile would delete what the stream sent): the target is relative, never climbs
 * above the data dir, and has no `..` after any other component (`x/../y`, `./../y` are
 * unsafe to rsync: x could be a symlink). Empty components (`a//b`) are skipped, `.` changes
 * nothing, and a final `..` with anything before it (`../..`, `./..`) is unsafe to rsync too.
 * test/agent/safelinks.test.ts holds this against the real rsync. Found by the differential test: rsync 3.5 dropped `./../../x` that the older,
 * purely lexical rule here mirrored. And it stays out of the staging dir.
 */
export function linkIsMirrored(root: string, rel: string, target: string): boolean {
  if (!target || target.startsWith('/')) return false;
  let depth = rel.split('/').length - 1;
  let other = false;
  const parts = target.split('/');
  const last = parts.pop()!;
  for (const c of parts) {
    if (c === '') continue;
    if (c === '..') {
      if (other || --depth < 0) return false;
    } else {
      other = true;
      if (c !== '.') depth++;
    }
  }
  // A final `..` (no slash after it) is safe to rsync only as the whole target.
  if (last === '..') return target === '..' && depth >= 1;
  return symlinkStaysInside(root, rel, target);
}
