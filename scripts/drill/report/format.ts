/** Text helpers shared by the report writers: escaping for XML and Markdown, times and durations. */
import type { DrillResult } from '../types';

// eslint-disable-next-line no-control-regex -- control characters are what it removes
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** Text for an XML attribute or element: the five special characters escaped, characters XML 1.0 forbids dropped. */
export function escapeXml(s: string): string {
  return s.replace(XML_INVALID, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Text for a Markdown table cell or line: one line, no raw HTML (a site name or an error detail
 * with `<script>` stays text), pipes that do not end the cell.
 */
export function escapeMd(s: string): string {
  return s
    .replace(XML_INVALID, '')
    .replace(/\\/g, '\\\\')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/[`*_[\]]/g, (c) => `\\${c}`)
    .replace(/\r?\n|\r/g, ' ');
}

/** Seconds with up to 3 decimals, trailing zeros trimmed: 3.9 s, 0.042 s, 12 s. */
export function fmtS(s: number): string {
  return `${Number(s.toFixed(3))} s`;
}

/** A duration in ms, as seconds with 3 decimals (always parseable back): "1.234 s". */
export function fmtMs(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** An offset from a reference time, signed: "+1.234 s", "-0.500 s". */
export function fmtOffset(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}

export function ms(iso: string): number {
  return Date.parse(iso);
}

/** Where offsets count from: the fault (RTO counts from there), else the drill's start. */
export function origin(r: DrillResult): { t: number; what: 'fault' | 'start' } {
  const f = r.events.find((e) => e.kind === 'fault');
  return f && Number.isFinite(ms(f.at)) ? { t: ms(f.at), what: 'fault' } : { t: ms(r.startedAt), what: 'start' };
}

/** The failed checks, plus "layout not restored" and a drill that did not run: what the verdict line names. */
export function failures(r: DrillResult): string[] {
  const out = r.checks.filter((c) => !c.ok).map((c) => (c.detail ? `${c.name} (${c.detail})` : c.name));
  if (!r.restored) out.push('original layout not restored');
  if (r.error) out.push(`did not run: ${r.error}`);
  if (r.notApplicable) out.push(`not applicable to this layout: ${r.notApplicable}`);
  if (!r.passed && out.length === 0) out.push('marked failed without a failed check');
  return out;
}

export function verdictWord(r: DrillResult): 'PASSED' | 'FAILED' {
  return r.passed ? 'PASSED' : 'FAILED';
}
