/**
 * Run records: one JSON file per (customers file, operation), updated as each customer finishes,
 * so a run that was interrupted (Ctrl-C, a laptop lid, a crash) resumes where it stopped: the
 * next run of the same operation skips customers already done with the same config. A record
 * whose customers all succeeded is finished; the next run starts afresh.
 *
 * Records hold ids, outcomes, times, redacted errors and a hash of each customer's plain config;
 * never a secret, nor a hash of one.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { UpdateOp } from './workspace';

export interface CustomerRecord {
  readonly status: 'ok' | 'failed';
  readonly at: string;
  readonly ms: number;
  /** Hash of the customer's plain config when it ran: a changed customer runs again. */
  readonly configHash: string;
  readonly error?: string;
}

export interface RunRecord {
  readonly version: 1;
  readonly op: UpdateOp;
  readonly customersFile: string;
  readonly startedAt: string;
  finishedAt: string | null;
  readonly customers: Record<string, CustomerRecord>;
}

/** Where records live: $TANDEM_FLEET_RECORDS, else $XDG_STATE_HOME/tandem/fleet, else ~/.local/state/tandem/fleet. */
export function defaultRecordsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TANDEM_FLEET_RECORDS) return path.resolve(env.TANDEM_FLEET_RECORDS);
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'tandem', 'fleet');
}

export function configHash(values: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 16);
}

export class RunRecords {
  readonly file: string;
  private record: RunRecord;
  /** The unfinished record this run resumes, if any. */
  readonly resumed: RunRecord | null;
  private writing = Promise.resolve();

  /**
   * Opens the record of `op` over `customersFile`: resumes an unfinished one unless `fresh`,
   * else starts a new one.
   */
  constructor(dir: string, op: UpdateOp, customersFile: string, o: { fresh?: boolean; now?: () => Date } = {}) {
    const abs = path.resolve(customersFile);
    const key = createHash('sha256').update(abs).digest('hex').slice(0, 12);
    this.file = path.join(dir, `${path.basename(abs).replace(/\.[^.]*$/, '')}-${key}-${op}.json`);
    let prev: RunRecord | null;
    try {
      prev = JSON.parse(fs.readFileSync(this.file, 'utf8')) as RunRecord;
    } catch {
      prev = null;
    }
    const now = (o.now ?? (() => new Date()))().toISOString();
    this.resumed = !o.fresh && prev && prev.version === 1 && prev.finishedAt === null ? prev : null;
    this.record = this.resumed ? { ...this.resumed, customers: { ...this.resumed.customers } } : { version: 1, op, customersFile: abs, startedAt: now, finishedAt: null, customers: {} };
    fs.mkdirSync(dir, { recursive: true });
  }

  /** True when this run resumes a record that already has `customer` done with the same config. */
  done(customer: string, hash: string): boolean {
    const r = this.resumed?.customers[customer];
    return r?.status === 'ok' && r.configHash === hash;
  }

  previous(customer: string): CustomerRecord | undefined {
    return this.resumed?.customers[customer];
  }

  /** Records one customer's outcome and writes the file (atomically, one write at a time). */
  set(customer: string, r: CustomerRecord): Promise<void> {
    this.record.customers[customer] = r;
    return this.flush();
  }

  /** Marks the run finished when every customer of the fleet is done. */
  finish(allIds: readonly string[], now = new Date()): Promise<void> {
    if (allIds.every((id) => this.record.customers[id]?.status === 'ok')) this.record.finishedAt = now.toISOString();
    return this.flush();
  }

  get current(): RunRecord {
    return this.record;
  }

  private flush(): Promise<void> {
    const text = `${JSON.stringify(this.record, null, 2)}\n`;
    this.writing = this.writing.then(() => {
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text, { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    });
    return this.writing;
  }
}
