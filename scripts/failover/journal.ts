/**
 * Owns the failover journal: every step of a failover, failback or cold refresh with its start and
 * duration, the time of the command (and of the fault, when known), the RTO (command or fault to
 * the service answering on the service address) and the data at risk. One JSON file per run on
 * the operator's machine (the lab's stack dir, else ~/.tandem/<customer>/journal), copied to
 * every host it reached (/var/lib/tandem/journal/). `tandem timeline` reads them back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stackDir } from '../lab/plan';

export interface JournalStep {
  readonly name: string;
  /** ISO time the step started. */
  readonly at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DataAtRisk {
  /** Seconds of master changes the new master may lack (from the last applied position seen). */
  readonly seconds: number | null;
  /** Bytes the old master had not had acknowledged, at the last status seen; null: unknown. */
  readonly bytes: number | null;
  /** Where the figures come from, in words. */
  readonly basis: string;
}

export interface JournalRecord {
  readonly version: 1;
  readonly id: string;
  readonly customer: string;
  readonly kind: 'planned' | 'unplanned' | 'failback' | 'refresh';
  readonly from: string;
  readonly to: string;
  readonly epoch: number | null;
  readonly commandAt: string;
  /** When the fault happened, when the caller knows (drills, tests): RTO is then counted from it. */
  readonly faultAt: string | null;
  readonly finishedAt: string | null;
  readonly ok: boolean;
  readonly error: string | null;
  /** Command (or fault) to the service answering on the service address, ms; null: it did not. */
  readonly rtoMs: number | null;
  readonly serviceAnsweredAt: string | null;
  readonly dataAtRisk: DataAtRisk | null;
  /** Mirrors that could not be reached or reconfigured; the failover went on without them. */
  readonly missed: readonly { site: string; why: string }[];
  readonly steps: readonly JournalStep[];
}

/** Operator-side journal directory of a customer. */
export function journalDir(customer: string, source: 'lab' | 'pulumi'): string {
  if (process.env.TANDEM_JOURNAL_DIR) return path.join(process.env.TANDEM_JOURNAL_DIR, customer);
  if (source === 'lab') return path.join(stackDir(customer), 'journal');
  return path.join(os.homedir(), '.tandem', customer, 'journal');
}

export class Journal {
  private readonly steps: JournalStep[] = [];
  private readonly t0: number;
  missed: { site: string; why: string }[] = [];
  dataAtRisk: DataAtRisk | null = null;
  epoch: number | null = null;
  serviceAnsweredAt: number | null = null;
  to: string;

  constructor(
    readonly customer: string,
    readonly kind: JournalRecord['kind'],
    readonly from: string,
    to: string,
    readonly faultAt: number | null = null,
    private readonly log: (line: string) => void = () => undefined,
    commandAt?: number,
  ) {
    this.t0 = commandAt ?? Date.now();
    this.to = to;
  }

  /** File name of the record: when, what, from and to (the target is known once chosen). */
  get id(): string {
    return `${new Date(this.t0).toISOString().replace(/[:.]/g, '-')}-${this.kind}-${this.from}-to-${this.to.replace(/[^a-z0-9-]/g, '_')}`;
  }

  get commandAt(): number {
    return this.t0;
  }

  /** Runs one step, timed; a failing step is journaled and rethrown. */
  async step<T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
    const at = Date.now();
    this.log(`${((at - this.t0) / 1000).toFixed(2).padStart(6)}s  ${name} ...`);
    try {
      const v = await fn();
      const d = detail ? detail(v) : '';
      this.steps.push({ name, at: new Date(at).toISOString(), ms: Date.now() - at, ok: true, detail: d });
      this.log(`${((Date.now() - this.t0) / 1000).toFixed(2).padStart(6)}s  ${name}: done in ${Date.now() - at} ms${d ? ` (${d})` : ''}`);
      return v;
    } catch (e) {
      const msg = (e as Error).message;
      this.steps.push({ name, at: new Date(at).toISOString(), ms: Date.now() - at, ok: false, detail: msg });
      this.log(`${((Date.now() - this.t0) / 1000).toFixed(2).padStart(6)}s  ${name}: FAILED: ${msg.split('\n')[0]}`);
      throw e;
    }
  }

  /** A step that happened elsewhere or was skipped, recorded without running anything. */
  note(name: string, detail: string, ok = true): void {
    this.steps.push({ name, at: new Date().toISOString(), ms: 0, ok, detail });
    this.log(`${((Date.now() - this.t0) / 1000).toFixed(2).padStart(6)}s  ${name}: ${detail}`);
  }

  record(ok: boolean, error: string | null): JournalRecord {
    const from = this.faultAt ?? this.t0;
    return {
      version: 1,
      id: this.id,
      customer: this.customer,
      kind: this.kind,
      from: this.from,
      to: this.to,
      epoch: this.epoch,
      commandAt: new Date(this.t0).toISOString(),
      faultAt: this.faultAt ? new Date(this.faultAt).toISOString() : null,
      finishedAt: new Date().toISOString(),
      ok,
      error,
      rtoMs: this.serviceAnsweredAt ? this.serviceAnsweredAt - from : null,
      serviceAnsweredAt: this.serviceAnsweredAt ? new Date(this.serviceAnsweredAt).toISOString() : null,
      dataAtRisk: this.dataAtRisk,
      missed: this.missed,
      steps: this.steps,
    };
  }
}

export function saveRecord(dir: string, rec: JournalRecord): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${rec.id}.json`);
  fs.writeFileSync(file, `${JSON.stringify(rec, null, 2)}\n`);
  return file;
}

/** The last `n` records of a customer, oldest first. */
export function readRecords(dir: string, n = 10): JournalRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const recs: JournalRecord[] = [];
  for (const f of names) {
    try {
      recs.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as JournalRecord);
    } catch {
      /* a half-written record: skipped */
    }
  }
  recs.sort((a, b) => a.commandAt.localeCompare(b.commandAt));
  return recs.slice(-n);
}

const sec = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);

/** The readable timeline of `tandem timeline`: one block per run, a row per step. */
export function renderTimeline(recs: readonly JournalRecord[]): string {
  if (!recs.length) return 'no failovers recorded yet';
  const out: string[] = [];
  for (const r of recs) {
    const risk = r.dataAtRisk
      ? `; data at risk: ${r.dataAtRisk.seconds === null ? '?' : `${r.dataAtRisk.seconds.toFixed(3)} s`}${r.dataAtRisk.bytes === null ? '' : `, ${r.dataAtRisk.bytes} bytes`} (${r.dataAtRisk.basis})`
      : '';
    out.push(
      `${r.commandAt}  ${r.kind.toUpperCase()} ${r.from} -> ${r.to}  epoch ${r.epoch ?? '-'}  ${r.ok ? 'OK' : `FAILED: ${r.error}`}  RTO ${sec(r.rtoMs)}${r.faultAt ? ` (from the fault at ${r.faultAt})` : ' (from the command)'}${risk}`,
    );
    const t0 = Date.parse(r.faultAt ?? r.commandAt);
    out.push(`  ${'+time'.padStart(8)}  ${'took'.padStart(8)}  step`);
    for (const s of r.steps) {
      out.push(`  ${sec(Date.parse(s.at) - t0).padStart(8)}  ${sec(s.ms).padStart(8)}  ${s.ok ? '' : 'FAILED '}${s.name}${s.detail ? `: ${s.detail}` : ''}`);
    }
    if (r.serviceAnsweredAt) out.push(`  ${sec(Date.parse(r.serviceAnsweredAt) - t0).padStart(8)}  ${''.padStart(8)}  service answering on the service address`);
    for (const m of r.missed) out.push(`  missed: ${m.site}: ${m.why}`);
  }
  return out.join('\n');
}
