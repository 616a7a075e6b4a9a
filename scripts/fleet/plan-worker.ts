/**
 * A `fleet plan` worker: plans one customer after another on Pulumi's mock runtime. The runtime is
 * process-global, so one process plans one customer at a time; it is reused across customers
 * (runOnMocks sets fresh mocks per run), which saves loading the Pulumi SDKs for every customer.
 */
import type { Plan } from '../plan';
import type { Topology } from '../../model/topology/types';

export interface PlanJob {
  readonly job: number;
  readonly topology: Topology;
}

export type PlanReply =
  { readonly job: number; readonly ok: true; readonly plan: Plan; readonly ms: number } | { readonly job: number; readonly ok: false; readonly error: string; readonly ms: number };

async function serve(): Promise<void> {
  const { plan } = await import('../plan');
  let queue = Promise.resolve();
  process.on('message', (m: PlanJob) => {
    queue = queue.then(async () => {
      const t0 = Date.now();
      let reply: PlanReply;
      try {
        const { plan: p } = await plan(m.topology);
        reply = { job: m.job, ok: true, plan: p, ms: Date.now() - t0 };
      } catch (e) {
        reply = { job: m.job, ok: false, error: (e as Error)?.message ?? String(e), ms: Date.now() - t0 };
      }
      await new Promise<void>((resolve) => process.send!(reply, undefined, {}, () => resolve()));
    });
  });
  process.send!({ ready: true });
}

if (process.send) {
  // A parent that goes away takes its workers with it.
  process.on('disconnect', () => process.exit(0));
  void serve();
}
