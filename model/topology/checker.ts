/**
 * What every rule file shares: the issue list one validation run writes to, how a value is shown
 * in a message, and the small checks the field rules are built from (unknown keys, strings,
 * numbers, booleans, RTO/RPO targets). It imports none of the rule files.
 */
import { TARGET_KEYS } from './keys';
import { checkRpoTargetS, checkRtoTargetS, type RuleResult } from './rules';
import { closest } from './suggest';
import type { Issue } from './types';

export type Obj = Record<string, unknown>;

/**
 * Where a key sits in the stack file, as a note for a message: ` (line 12)`, or '' when the
 * position is unknown (values parsed elsewhere, as the Pulumi program gets them).
 */
export type LineNote = (yamlPath: (string | number)[]) => string;

export function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

export function err(p: string, message: string): Issue {
  return { severity: 'error', path: p, message };
}

export class Checker {
  private readonly issues: Issue[] = [];

  constructor(private readonly line: LineNote) {}

  /** Every issue so far, in the order the rules found them. */
  all(): Issue[] {
    return this.issues;
  }

  errorCount(): number {
    return this.issues.filter((x) => x.severity === 'error').length;
  }

  error(p: string, message: string): void {
    this.issues.push({ severity: 'error', path: p, message });
  }

  warn(p: string, message: string): void {
    this.issues.push({ severity: 'warning', path: p, message });
  }

  unknownKeys(obj: Obj, allowed: readonly string[], prefix: string, yamlPath: (string | number)[]): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const p = prefix ? `${prefix}.${k}` : k;
      const guess = closest(k, allowed);
      const fix = guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`;
      this.error(p, `${p}: unknown key${this.line([...yamlPath, k])}; ${fix}`);
    }
  }

  str(obj: Obj, key: string, p: string, opts: { required: boolean; hint: string }): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (opts.required) this.error(`${p}.${key}`.replace(/^\./, ''), `${`${p}.${key}`.replace(/^\./, '')} is missing; ${opts.hint}`);
      return undefined;
    }
    if (typeof v !== 'string' || v.trim() === '') {
      const fp = `${p}.${key}`.replace(/^\./, '');
      this.error(fp, `${fp} ${show(v)} is not a non-empty string; ${opts.hint}`);
      return undefined;
    }
    return v;
  }

  /** Integer (or number with `integer: false`) within bounds; undefined when absent or bad. */
  num(obj: Obj, key: string, p: string, o: { min: number; max?: number; integer: boolean; what: string }): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    const fp = `${p}.${key}`.replace(/^\./, '');
    const ok = typeof v === 'number' && Number.isFinite(v) && (!o.integer || Number.isInteger(v)) && v >= o.min && (o.max === undefined || v <= o.max);
    if (!ok) {
      const kind = o.integer ? 'a whole number' : 'a number';
      const range = o.max === undefined ? `${o.min} or more` : `from ${o.min} to ${o.max}`;
      this.error(fp, `${fp} ${show(v)} is not allowed; ${o.what} must be ${kind} ${range}`);
      return undefined;
    }
    return v;
  }

  /** rtoTargetS / rpoTargetS of a site or of the topology: absent, or valid, or an error (returned as null). */
  targets(obj: Obj, p: string): { rtoTargetS?: number; rpoTargetS?: number } | null {
    const out: { rtoTargetS?: number; rpoTargetS?: number } = {};
    let ok = true;
    for (const k of TARGET_KEYS) {
      const v = obj[k];
      if (v === undefined || v === null) continue;
      const r: RuleResult<number> = k === 'rtoTargetS' ? checkRtoTargetS(v) : checkRpoTargetS(v);
      const fp = `${p}.${k}`.replace(/^\./, '');
      if (!r.ok) {
        this.error(fp, `${fp} ${show(v)} ${r.why}`);
        ok = false;
      } else out[k] = r.value;
    }
    return ok ? out : null;
  }

  bool(obj: Obj, key: string, dflt: boolean): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') {
      this.error(key, `${key} ${show(v)} is not allowed; use true or false`);
      return dflt;
    }
    return v;
  }
}
