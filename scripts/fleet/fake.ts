/**
 * A FleetWorkspace that deploys nothing: it records every call and fails where it is told, so the
 * orchestration (parallelism, isolation, resume, summary, exit codes, secrets) is tested here.
 */
import type { FleetOp, FleetStack, FleetWorkspace, StackConfig, StackStatus, UpdateOp, UpdateOutcome } from './workspace';

/** Where a customer's run fails: opening the stack, or the update itself. */
export type FailPoint = 'open' | FleetOp;

export interface FakeCall {
  readonly customer: string;
  readonly call: 'open' | FleetOp;
  readonly config?: StackConfig | null;
  readonly at: number;
}

export interface FakeOptions {
  /** Customer -> where it fails and with what message. */
  readonly fail?: Readonly<Record<string, { readonly at: FailPoint; readonly message: string }>>;
  /** How long each update takes, ms. @default 20 */
  readonly delayMs?: number;
  /** Text each update prints through onOutput (a test puts a secret here to see it redacted). */
  readonly output?: (customer: string, op: UpdateOp) => string;
  readonly kind?: string;
  /** preflight() throws this (a machine without the Pulumi CLI). */
  readonly preflightError?: string;
}

export class FakeWorkspace implements FleetWorkspace {
  readonly kind: string;
  readonly calls: FakeCall[] = [];
  /** Updates running right now, and the most ever seen at once. */
  running = 0;
  maxRunning = 0;

  constructor(private readonly o: FakeOptions = {}) {
    this.kind = o.kind ?? 'fake';
  }

  customersCalled(call?: FakeCall['call']): string[] {
    return [...new Set(this.calls.filter((c) => !call || c.call === call).map((c) => c.customer))];
  }

  private failIf(customer: string, at: FailPoint): void {
    const f = this.o.fail?.[customer];
    if (f && f.at === at) throw new Error(f.message);
  }

  async preflight(): Promise<void> {
    if (this.o.preflightError) throw new Error(this.o.preflightError);
  }

  async open(customer: string, config: StackConfig | null): Promise<FleetStack> {
    this.calls.push({ customer, call: 'open', config, at: Date.now() });
    await new Promise((r) => setImmediate(r));
    this.failIf(customer, 'open');
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the returned object's methods report to this fake
    const self = this;
    return {
      name: customer,
      async run(op: UpdateOp, onOutput: (t: string) => void): Promise<UpdateOutcome> {
        self.calls.push({ customer, call: op, at: Date.now() });
        self.running++;
        self.maxRunning = Math.max(self.maxRunning, self.running);
        try {
          const text = self.o.output?.(customer, op);
          if (text) onOutput(text);
          await new Promise((r) => setTimeout(r, self.o.delayMs ?? 20));
          self.failIf(customer, op);
          return { changes: op === 'destroy' ? { delete: 64 } : op === 'up' ? { create: 64 } : { same: 64 } };
        } finally {
          self.running--;
        }
      },
      async status(): Promise<StackStatus> {
        self.calls.push({ customer, call: 'status', at: Date.now() });
        self.failIf(customer, 'status');
        return { lastUpdate: { kind: 'update', result: 'succeeded', endTime: '2026-01-01T00:00:00.000Z', changes: { create: 64 } }, outputs: 1 };
      },
    };
  }
}
