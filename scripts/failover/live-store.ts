/**
 * Owns writing the live layout (`tandem:live`) into a stack file. The file is edited as a YAML
 * Document (the `yaml` package's CST-preserving API), so comments, key order and every other
 * setting stay exactly as the user wrote them; only `config."tandem:live"` changes. Written
 * atomically (temp file + rename): a failover interrupted here leaves the old file or the new one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import { LIVE_KEY, type LiveLayout } from '../../model/live';

export class LiveStoreError extends Error {}

/** The `tandem:live` block as YAML text, indented like the config's other keys. */
function renderBlock(indent: string, live: LiveLayout): string {
  const i2 = `${indent}  `;
  const lines = [`${indent}${LIVE_KEY}:`, `${i2}epoch: ${live.epoch}`, `${i2}master: ${live.master}`, `${i2}at: ${JSON.stringify(live.at)}`, `${i2}reason: ${JSON.stringify(live.reason)}`];
  if (live.fenced.length) lines.push(`${i2}fenced: [${live.fenced.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

const lineStart = (text: string, at: number) => text.lastIndexOf('\n', at - 1) + 1;
function lineEnd(text: string, at: number): number {
  const i = text.indexOf('\n', at);
  return i < 0 ? text.length : i + 1;
}

/**
 * The text of the stack file with `tandem:live` set to `live` (or removed when null). Pure. The
 * Document only locates the key; the edit is a splice of those lines, so every other byte of the
 * file (comments, flow-style spacing, quoting) stays as it was.
 */
export function withLive(text: string, live: LiveLayout | null): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new LiveStoreError(`not valid YAML (${doc.errors[0].message})`);
  const config = doc.get('config', true);
  if (!isMap(config) || !config.range) throw new LiveStoreError('has no "config:" mapping; it is not a Pulumi stack file');
  const pair = config.items.find((p) => isScalar(p.key) && p.key.value === LIVE_KEY);
  const first = config.items[0]?.key;
  const firstAt = isScalar(first) && first.range ? first.range[0] : null;
  const indent = firstAt === null ? '  ' : text.slice(lineStart(text, firstAt), firstAt);
  const block = live ? renderBlock(indent, live) : '';
  if (pair && isScalar(pair.key) && pair.key.range) {
    const from = lineStart(text, pair.key.range[0]);
    const v = pair.value as { range?: [number, number, number] } | null;
    const valueEnd = v?.range ? v.range[1] : pair.key.range[1];
    const to = lineEnd(text, Math.max(valueEnd - 1, pair.key.range[1]));
    return text.slice(0, from) + block + text.slice(to);
  }
  if (!live) return text;
  const body = text.endsWith('\n') ? text : `${text}\n`;
  const at = lineEnd(body, Math.max(0, config.range[1] - 1));
  return body.slice(0, at) + block + body.slice(at);
}

/** Writes `live` into the stack file; returns the hint to print (what to commit). */
export function writeLive(file: string, live: LiveLayout | null): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new LiveStoreError(`${file}: cannot read the stack file to record the live layout (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let next: string;
  try {
    next = withLive(text, live);
  } catch (e) {
    throw new LiveStoreError(`${file}: ${(e as Error).message}`);
  }
  if (next !== text) {
    const tmp = `${file}.tmp-${process.pid}`;
    const mode = fs.statSync(file).mode & 0o777;
    fs.writeFileSync(tmp, next, { mode });
    fs.renameSync(tmp, file);
  }
  const rel = path.relative(process.cwd(), file) || file;
  return `live layout recorded in ${rel} (${LIVE_KEY}: master ${live?.master ?? '-'}, epoch ${live?.epoch ?? '-'}); review with "git diff ${rel}" and commit ${rel}, so pulumi up and every tandem command keep this layout`;
}

/**
 * The live layout without the fenced sites that have rejoined: each is now an in-sync mirror at the
 * live epoch or later (as a status run sees it). Null when nothing changes. Pure; a caller that
 * gets a layout records it with writeLive.
 */
export function clearRejoined(live: LiveLayout | null, mirrors: readonly { site: string; role: string; epoch: number | null; inSync: boolean }[]): LiveLayout | null {
  if (!live?.fenced.length) return null;
  const back = new Set(mirrors.filter((m) => m.role === 'mirror' && m.inSync && (m.epoch ?? 0) >= live.epoch).map((m) => m.site));
  const fenced = live.fenced.filter((f) => !back.has(f));
  return fenced.length === live.fenced.length ? null : { ...live, fenced };
}
