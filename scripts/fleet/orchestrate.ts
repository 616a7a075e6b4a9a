/**
 * Runs one operation over every customer's stack: up to `parallel` at a time, each customer
 * isolated (its failure is recorded and reported, never thrown into the others), every outcome
 * recorded as it happens so an interrupted run resumes, and no secret value ever in an error,
 * an output line or a record.
 */
import type { FleetCustomer } from './customers';
import { configHash, type RunRecords } from './records';
import type { FleetOp, FleetWorkspace, StackConfig, StackStatus } from './workspace';

export interface CustomerOutcome {
  readonly customer: string;
  /** `skipped`: done by the run this one resumes; `not-run`: interrupted before it started. */
  readonly status: 'ok' | 'failed' | 'skipped' | 'not-run';
  readonly ms: number;
  readonly changes: Readonly<Record<string, number>> | null;
  /** `fleet status` only. */
  readonly stackStatus: StackStatus | null;
  /** Redacted; null unless failed. */
  readonly error: string | null;
}

/** Live progress per customer; the orchestration calls it, the command chooses how it looks. */
export interface Reporter {
  queued(customers: readonly string[]): void;
  start(customer: string): void;
  /** Engine output, already redacted. */
  output(customer: string, text: string): void;
  done(o: CustomerOutcome): void;
  /** The run is over (every outcome reported). */
  end(): Promise<void> | void;
}

export const silentReporter: Reporter = { queued() {}, start() {}, output() {}, done() {}, end() {} };

export interface FleetRunOptions {
  readonly op: FleetOp;
  readonly customers: readonly FleetCustomer[];
  readonly workspace: FleetWorkspace;
  /** Customers run at once. */
  readonly parallel: number;
  /** Each customer's config; values are plain, secrets resolved from the environment. */
  readonly configOf: (c: FleetCustomer) => StackConfig;
  /** Resume records; none for `status` (it changes nothing). */
  readonly records?: RunRecords | null;
  readonly reporter?: Reporter;
  /** Aborted: start no more customers, ask running updates to stop. */
  readonly signal?: AbortSignal;
  /** Every id in the customers file (a run with --only finishes the record only when all are done). */
  readonly allIds?: readonly string[];
}

export interface FleetRun {
  readonly op: FleetOp;
  readonly workspace: string;
  readonly outcomes: CustomerOutcome[];
  readonly resumedFrom: string | null;
}

/** Replaces every secret value in `text` by `[secret]`; longer values first so none leaks in part. */
export function redactor(secrets: Iterable<string>): (text: string) => string {
  const values = [...new Set([...secrets].filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  if (!values.length) return (t) => t;
  const re = new RegExp(values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (t) => t.replace(re, '[secret]');
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

export async function runFleet(o: FleetRunOptions): Promise<FleetRun> {
  const rep = o.reporter ?? silentReporter;
  const configs = new Map(o.customers.map((c) => [c.id, o.configOf(c)]));
  const redact = redactor([...configs.values()].flatMap((c) => Object.values(c.secrets)));
  const outcomes = new Map<string, CustomerOutcome>();
  const records = o.op === 'status' ? null : (o.records ?? null);

  const todo: FleetCustomer[] = [];
  for (const c of o.customers) {
    const hash = configHash(configs.get(c.id)!.values);
    if (records?.done(c.id, hash)) {
      outcomes.set(c.id, { customer: c.id, status: 'skipped', ms: 0, changes: null, stackStatus: null, error: null });
    } else todo.push(c);
  }
  rep.queued(todo.map((c) => c.id));
  for (const out of outcomes.values()) rep.done(out);

  const one = async (c: FleetCustomer): Promise<CustomerOutcome> => {
    const t0 = Date.now();
    const config = configs.get(c.id)!;
    rep.start(c.id);
    try {
      const stack = await o.workspace.open(c.id, o.op === 'status' ? null : config);
      if (o.op === 'status') {
        const s = await stack.status();
        return { customer: c.id, status: 'ok', ms: Date.now() - t0, changes: null, stackStatus: s, error: null };
      }
      const r = await stack.run(o.op, (text) => rep.output(c.id, redact(text)), o.signal);
      return { customer: c.id, status: 'ok', ms: Date.now() - t0, changes: r.changes, stackStatus: null, error: null };
    } catch (e) {
      return { customer: c.id, status: 'failed', ms: Date.now() - t0, changes: null, stackStatus: null, error: redact(message(e)) };
    }
  };

  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < todo.length && !o.signal?.aborted) {
      const c = todo[next++];
      const out = await one(c);
      outcomes.set(c.id, out);
      if (records && (out.status === 'ok' || out.status === 'failed')) {
        await records.set(c.id, { status: out.status, at: new Date().toISOString(), ms: out.ms, configHash: configHash(configs.get(c.id)!.values), ...(out.error ? { error: out.error } : {}) });
      }
      rep.done(out);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel, todo.length)) }, lane));
  for (const c of todo) {
    if (!outcomes.has(c.id)) {
      const out: CustomerOutcome = { customer: c.id, status: 'not-run', ms: 0, changes: null, stackStatus: null, error: null };
      outcomes.set(c.id, out);
      rep.done(out);
    }
  }
  if (records) await records.finish(o.allIds ?? o.customers.map((c) => c.id));
  await rep.end();
  return {
    op: o.op,
    workspace: o.workspace.kind,
    outcomes: o.customers.map((c) => outcomes.get(c.id)!),
    resumedFrom: records?.resumed?.startedAt ?? null,
  };
}

/** The config a customer's stack gets from the customers file. */
export function stackConfigOf(c: FleetCustomer, secrets: Readonly<Record<string, string>>): StackConfig {
  return {
    values: {
      'tandem:customer': c.id,
      'tandem:topology': c.topologyConfig,
      ...(c.notify.length ? { 'fleet:notify': c.notify } : {}),
    },
    secrets,
  };
}
