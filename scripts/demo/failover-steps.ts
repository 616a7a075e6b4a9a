/**
 * The quick start's failover steps, after mirroring is up: start the trading service on the
 * master, a planned switchover to the hot mirror (verified, zero loss), a failback, and their
 * timelines from the journal. The live layout is recorded in a copy of the stack file in the
 * lab's state directory, so the demo leaves stacks/ as it found it (after the failback the layout
 * is the stack file's again). Appended to the lab demo's STEPS (scripts/demo/run.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Inventory } from '../../model/inventory';
import type { LiveLayout } from '../../model/live';
import { parseTopologyFile, stackFile } from '../../model/topology/load';
import type { Topology } from '../../model/topology/types';
import { driverFor } from '../failover/drivers/index';
import { renderTimeline, type JournalRecord } from '../failover/journal';
import { runFailover } from '../failover/run';
import { applyLiveToInventory } from '../hosts/target';
import { connectorFor } from '../hosts/ssh';
import { stackDir } from '../lab/plan';
import { readLabInventory } from '../lab/state';
import { renderService, serviceAction } from '../service/index';

interface Ctx {
  readonly topology: Topology;
  readonly stackFile?: string;
  inventory?: Inventory;
  readonly out: (line: string) => void;
}

export interface FailoverDemoStep {
  readonly title: string;
  readonly run: (ctx: Ctx) => Promise<void>;
}

const records: JournalRecord[] = [];

/** The demo's copy of the stack file (where failover records tandem:live), made fresh each run. */
function demoStackFile(t: Topology, src?: string): string {
  const dst = path.join(stackDir(t.customer), `Pulumi.${t.customer}.yaml`);
  if (!fs.existsSync(dst) || !parseTopologyFile(dst).topology) fs.copyFileSync(src ?? stackFile(t.customer), dst);
  return dst;
}

/** The inventory as it stands now: the lab's, re-rooted on the live layout of the demo's copy. */
function current(t: Topology, src?: string): { inv: Inventory; file: string; live: LiveLayout | null } {
  const file = demoStackFile(t, src);
  const live = parseTopologyFile(file).live ?? null;
  return { inv: applyLiveToInventory(readLabInventory(t.customer), t, live), file, live };
}

async function switchTo(ctx: Ctx, kind: 'planned' | 'failback'): Promise<void> {
  const { inv, file, live } = current(ctx.topology, ctx.stackFile);
  const master = inv.hosts.find((h) => h.role === 'master')!;
  const original = ctx.topology.sites.find((s) => s.role === 'master')!.name;
  const to = kind === 'failback' ? original : inv.hosts.filter((h) => h.role === 'mirror').sort((a, b) => (a.failover === 'hot' ? -1 : 0) - (b.failover === 'hot' ? -1 : 0))[0].site;
  if (master.site === to) {
    ctx.out(`  ${to} is the master already; nothing to do`);
    return;
  }
  const r = await runFailover({
    inventory: inv,
    topology: ctx.topology,
    stackFile: file,
    live,
    to,
    planned: true,
    kind: kind === 'failback' ? 'failback' : undefined,
    connect: connectorFor(inv),
    ssh: { timeoutMs: 10_000 },
    driver: () => driverFor(inv),
    log: (l) => ctx.out(`  ${l}`),
  });
  records.push(r.record);
  if (!r.ok) throw new Error(`${kind} failed: ${r.record.error}`);
  ctx.out(
    `  ${kind === 'failback' ? 'failback' : 'switchover'} ${master.site} -> ${to}: service back on the VIP ${((r.record.rtoMs ?? 0) / 1000).toFixed(2)} s after the command; ${r.record.dataAtRisk?.basis ?? ''}`,
  );
  ctx.out(`  live layout: ${file} (tandem:live master ${r.live?.master}, epoch ${r.live?.epoch})`);
}

export const FAILOVER_DEMO_STEPS: readonly FailoverDemoStep[] = [
  {
    title: 'Start the trading service on the master (tandem service start --stack lab)',
    run: async (ctx) => {
      const { inv } = current(ctx.topology, ctx.stackFile);
      ctx.inventory = inv;
      const r = await serviceAction(inv, 'start', { connect: connectorFor(inv), ssh: { timeoutMs: 10_000 } });
      ctx.out(renderService(r).replace(/^/gm, '  '));
    },
  },
  {
    title: 'Planned switchover to the hot mirror (tandem failover --to chi --planned --stack lab)',
    run: (ctx) => switchTo(ctx, 'planned'),
  },
  {
    title: 'Failback to the original master (tandem failback --stack lab)',
    run: (ctx) => switchTo(ctx, 'failback'),
  },
  {
    title: 'Their timelines (tandem timeline --stack lab)',
    run: async (ctx) => {
      ctx.out(renderTimeline(records).replace(/^/gm, '  '));
    },
  },
];
