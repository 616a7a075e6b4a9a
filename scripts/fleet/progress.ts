/**
 * Live progress per customer. On a terminal: listr2's task list (one line per customer with a
 * spinner, its last output line, then a tick or a cross). Elsewhere (CI logs, pipes, --json):
 * one plain line per start and finish on stderr, so logs stay greppable.
 */
import { describeChanges } from './summary';
import type { CustomerOutcome, Reporter } from './orchestrate';

export class LineReporter implements Reporter {
  constructor(
    private readonly write: (line: string) => void,
    private readonly verb: string,
  ) {}

  queued(customers: readonly string[]): void {
    this.write(`fleet ${this.verb}: ${customers.length} customer(s) to run`);
  }
  start(customer: string): void {
    this.write(`${customer}: ${this.verb} started`);
  }
  output(): void {}
  done(o: CustomerOutcome): void {
    const what =
      o.status === 'ok'
        ? `ok in ${(o.ms / 1000).toFixed(1)} s${o.changes ? ` (${describeChanges(o.changes)})` : ''}`
        : o.status === 'failed'
          ? `FAILED after ${(o.ms / 1000).toFixed(1)} s: ${o.error!.split('\n')[0]}`
          : o.status === 'skipped'
            ? 'skipped (done in the run this one resumes)'
            : 'not run (interrupted)';
    this.write(`${o.customer}: ${what}`);
  }
  end(): void {}
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((a, b) => {
    resolve = a;
    reject = b;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * listr2 draws; the orchestration keeps the concurrency (so --parallel means the same with or
 * without a terminal). Each customer is a task that waits for the orchestration's events.
 */
export class ListrReporter implements Reporter {
  private readonly started = new Map<string, Deferred>();
  private readonly finished = new Map<string, Deferred>();
  private readonly titles = new Map<string, (t: string) => void>();
  private readonly outputs = new Map<string, (t: string) => void>();
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly verb: string) {}

  queued(customers: readonly string[]): void {
    // Loaded here: only a terminal run needs it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
    const { Listr } = require('listr2') as typeof import('listr2');
    for (const c of customers) {
      this.started.set(c, deferred());
      this.finished.set(c, deferred());
    }
    const list = new Listr(
      customers.map((c) => ({
        title: `${c}: queued`,
        task: async (_: unknown, task: { title: string; output: string }) => {
          this.titles.set(c, (t) => (task.title = t));
          this.outputs.set(c, (t) => (task.output = t));
          await this.started.get(c)!.promise;
          task.title = `${c}: ${this.verb}`;
          await this.finished.get(c)!.promise;
        },
      })),
      { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: false } },
    );
    this.running = list.run().catch(() => undefined);
  }

  start(customer: string): void {
    this.started.get(customer)?.resolve();
  }

  output(customer: string, text: string): void {
    const last = text.trim().split('\n').pop();
    if (last) this.outputs.get(customer)?.(last.slice(0, 120));
  }

  done(o: CustomerOutcome): void {
    const setTitle = this.titles.get(o.customer);
    this.started.get(o.customer)?.resolve();
    if (o.status === 'ok') {
      setTitle?.(`${o.customer}: ok in ${(o.ms / 1000).toFixed(1)} s${o.changes ? ` (${describeChanges(o.changes)})` : ''}`);
      this.finished.get(o.customer)?.resolve();
    } else if (o.status === 'failed') {
      this.finished.get(o.customer)?.reject(new Error(`${o.customer}: ${o.error!.split('\n')[0]}`));
    } else {
      setTitle?.(`${o.customer}: ${o.status === 'skipped' ? 'skipped (already done)' : 'not run (interrupted)'}`);
      this.finished.get(o.customer)?.resolve();
    }
  }

  async end(): Promise<void> {
    await this.running;
  }
}
