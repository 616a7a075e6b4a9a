/**
 * Where reports go: the directory is proven writable before a drill starts (a drill that ran for
 * minutes must not then fail to say what happened), and each file is written whole or not at all
 * (temp file + rename), so a reader never sees half a report.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DrillResult, ReportFiles } from '../types';
import { renderMarkdown, renderSummary } from './markdown';
import { renderPng } from './png';
import { renderSvg } from './svg';

const ERRNO: Readonly<Record<string, string>> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'it exists and is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'a part of the path does not exist and cannot be created there',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'too many symbolic links in the path',
  EISDIR: 'a directory is in the way of the file',
};

function why(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = err.code ?? '';
  return `${ERRNO[code] ?? err.message}${code ? ` (${code})` : ''}`;
}

function fail(dir: string, e: unknown): never {
  throw new Error(`report directory ${JSON.stringify(dir)} cannot be written: ${why(e)}; pass --report a directory you can write to, or fix that path and its permissions`);
}

/**
 * Makes `dir` and its parents one level at a time. Not fs.mkdirSync(..., { recursive: true }):
 * on Node 20 that loops forever on a path under /proc (ENOENT from a parent that exists).
 */
function mkdirs(dir: string): void {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let cur: string = path.sep;
  for (const p of parts) {
    cur = path.join(cur, p);
    try {
      fs.mkdirSync(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!fs.statSync(cur).isDirectory()) throw Object.assign(new Error(`${cur} is not a directory`), { code: cur === path.resolve(dir) ? 'EEXIST' : 'ENOTDIR' });
    }
  }
}

/** Creates `dir` if needed and proves it can be written (a probe file written and removed); throws naming the path, what is wrong and the fix. */
export function checkReportDir(dir: string): void {
  if (typeof dir !== 'string' || dir.trim() === '') throw new Error('--report needs a directory, e.g. --report reports/drills');
  try {
    mkdirs(dir);
  } catch (e) {
    fail(dir, e);
  }
  const probe = path.join(dir, `.tandem-probe-${process.pid}-${Date.now()}`);
  try {
    fs.writeFileSync(probe, 'probe\n', { flag: 'wx' });
  } catch (e) {
    fail(dir, e);
  }
  fs.rmSync(probe, { force: true });
}

/** Writes a file whole: to a temp name beside it, then renamed over it. */
export function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot write the drill report ${file}: ${why(e)}; check the --report directory`, { cause: e });
  }
}

const SAFE = /^[a-z0-9][a-z0-9-]*$/;

/**
 * <dir>/<scenario>.md, .json, .svg, .png for each result, and summary.md when there is more than
 * one. The same scenario twice in one run gets -2, -3... so nothing is overwritten.
 */
export function writeReports(dir: string, results: readonly DrillResult[]): { files: ReportFiles[]; summary: string | null } {
  checkReportDir(dir);
  const abs = path.resolve(dir);
  const seen = new Map<string, number>();
  const files = results.map((r) => {
    if (!SAFE.test(r.scenario)) throw new Error(`drill result has scenario ${JSON.stringify(r.scenario)}, not a file name; scenario names are lowercase letters, digits and '-'`);
    const k = (seen.get(r.scenario) ?? 0) + 1;
    seen.set(r.scenario, k);
    const base = path.join(abs, k === 1 ? r.scenario : `${r.scenario}-${k}`);
    const f: ReportFiles = { markdown: `${base}.md`, json: `${base}.json`, svg: `${base}.svg`, png: `${base}.png` };
    const svg = renderSvg(r);
    // The PNG first: it is the one that can fail (font missing), before any other file is replaced.
    const png = renderPng(svg);
    let md = renderMarkdown(r);
    if (k > 1) md = md.split(`${r.scenario}.`).join(`${r.scenario}-${k}.`);
    writeAtomic(f.json, `${JSON.stringify(r, null, 2)}\n`);
    writeAtomic(f.svg, svg);
    writeAtomic(f.png, png);
    writeAtomic(f.markdown, md);
    return f;
  });
  let summary: string | null = null;
  if (results.length > 1) {
    summary = path.join(abs, 'summary.md');
    writeAtomic(summary, renderSummary(results));
  }
  return { files, summary };
}
