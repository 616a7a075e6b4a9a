/**
 * The quick start (`npm run lab` = `tandem lab demo --stack lab`): a clear sequence of steps on
 * the local lab. Later steps (agent install, mirroring, failover, a drill and its report) are added to STEPS.
 */
import type { Inventory } from '../../model/inventory';
import { summarize } from '../../model/topology/summary';
import type { Topology } from '../../model/topology/types';
import { openSession, shellQuote } from '../ssh';
import { formatStatus, labStatus } from '../lab/status';
import { labUp } from '../lab/up';
import { OPERATOR_DEMO_STEPS } from './operator-steps';
import { FAILOVER_DEMO_STEPS } from './failover-steps';
import { DRILL_DEMO_STEPS } from './drill-steps';

export interface DemoContext {
  readonly topology: Topology;
  readonly out: (line: string) => void;
  /** The stack file the demo was started from (the failover steps record the live layout in a copy of it). */
  readonly stackFile?: string;
  /** Set by the `lab up` step. */
  inventory?: Inventory;
}

export interface DemoStep {
  readonly title: string;
  readonly run: (ctx: DemoContext) => Promise<void>;
}

export const STEPS: DemoStep[] = [
  {
    title: 'The stack',
    run: async (ctx) => ctx.out(summarize(ctx.topology)),
  },
  {
    title: 'Bring every site up as a lab host (tandem lab up)',
    run: async (ctx) => {
      ctx.inventory = await labUp(ctx.topology, { log: (l) => ctx.out(`  ${l}`) });
    },
  },
  {
    title: 'The lab (tandem lab status)',
    run: async (ctx) => ctx.out(formatStatus(await labStatus(ctx.topology.customer))),
  },
  {
    title: 'SSH into every host with its pinned host key',
    run: async (ctx) => {
      const inv = ctx.inventory!;
      for (const h of inv.hosts) {
        const s = await openSession(inv, h.site);
        try {
          const r = await s.execChecked(`echo "$(ip -4 -o addr show dev eth0 | awk '{print $4}') $(df -h --output=size ${shellQuote(inv.dataDir)} | tail -1 | tr -d ' ') ${shellQuote(inv.dataDir)}"`);
          ctx.out(`  ${h.site.padEnd(10)} ${h.role.padEnd(6)} ssh ok: address ${r.stdout.trim()}`);
        } finally {
          s.close();
        }
      }
    },
  },
];

// Operator steps (agent install, mirror start, a change timed to every mirror, status): scripts/demo/operator-steps.ts
STEPS.push(...OPERATOR_DEMO_STEPS);
// Service, a planned switchover, a failback and their timelines: scripts/demo/failover-steps.ts
STEPS.push(...FAILOVER_DEMO_STEPS);
// A master-crash drill under load, and where its report and picture are: scripts/demo/drill-steps.ts
STEPS.push(...DRILL_DEMO_STEPS);

export async function runDemo(topology: Topology, out: (line: string) => void, stackFile?: string): Promise<DemoContext> {
  const ctx: DemoContext = { topology, out, stackFile };
  for (const [i, step] of STEPS.entries()) {
    out(`\n== ${i + 1}/${STEPS.length} ${step.title}`);
    await step.run(ctx);
  }
  const c = topology.customer;
  out(`\nThe lab "${c}" stays up. Try:`);
  out(`  tandem lab status --stack ${c}`);
  out(`  tandem lab fault crash|hang|isolate|poweroff|diskfull --site <site> --stack ${c}   (and resume|heal|poweron|diskfree)`);
  out(`  ssh -i ${ctx.inventory?.identityFile} root@${ctx.inventory?.hosts[0].address}`);
  out(`Tear it down with: tandem lab down --stack ${c}`);
  return ctx;
}
