/**
 * The quick start's drill: `tandem drill --scenario master-crash` on the lab, under load, with its
 * report (Markdown, JSON, SVG and PNG) written to the lab's state directory, and where they are
 * printed. Runs on the demo's copy of the stack file (scripts/demo/failover-steps.ts), where the
 * failovers record the live layout. Appended to the lab demo's STEPS (scripts/demo/run.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Inventory } from '../../model/inventory';
import { parseTopologyFile, stackFile } from '../../model/topology/load';
import type { Topology } from '../../model/topology/types';
import { reportModule, renderText } from '../drill/command-glue';
import { DrillInputError, preflight, runScenario, type DrillRunOptions } from '../drill/run';
import { applyLiveToInventory } from '../hosts/target';
import { connectorFor } from '../hosts/ssh';
import { stackDir } from '../lab/plan';
import { readLabInventory } from '../lab/state';

interface Ctx {
  readonly topology: Topology;
  readonly stackFile?: string;
  inventory?: Inventory;
  readonly out: (line: string) => void;
}

export interface DrillDemoStep {
  readonly title: string;
  readonly run: (ctx: Ctx) => Promise<void>;
}

function demoStackFile(t: Topology, src?: string): string {
  const dst = path.join(stackDir(t.customer), `Pulumi.${t.customer}.yaml`);
  if (!fs.existsSync(dst) || !parseTopologyFile(dst).topology) fs.copyFileSync(src ?? stackFile(t.customer), dst);
  return dst;
}

export const DRILL_DEMO_STEPS: readonly DrillDemoStep[] = [
  {
    title: 'A drill: the master crashes under load (tandem drill --scenario master-crash --stack lab --report <dir>)',
    run: async (ctx) => {
      const file = demoStackFile(ctx.topology, ctx.stackFile);
      const o: DrillRunOptions = {
        current: async () => {
          const live = parseTopologyFile(file).live ?? null;
          return { inventory: applyLiveToInventory(readLabInventory(ctx.topology.customer), ctx.topology, live), topology: ctx.topology, stackFile: file, live };
        },
        connect: (inv) => connectorFor(inv),
        ssh: { timeoutMs: 5000 },
        rate: 2000,
        log: (l) => ctx.out(`  ${l}`),
        force: false,
      };
      // Right after the failback the mirrors are still reconnecting to the master (DEGRADED for
      // a few seconds); a drill refuses a degraded stack, so wait for it to be whole first.
      const until = Date.now() + 120_000;
      for (let said = false; ;) {
        try {
          await preflight(o);
          break;
        } catch (e) {
          if (!(e instanceof DrillInputError) || !/DEGRADED already/.test((e as Error).message) || Date.now() > until) throw e;
          if (!said) ctx.out('  waiting for every mirror to be in sync again after the failback ...');
          said = true;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
      const r = await runScenario('master-crash', o);
      ctx.out(renderText([r]).replace(/^/gm, '  '));
      const dir = path.join(stackDir(ctx.topology.customer), 'drills');
      const rep = await reportModule();
      rep.checkReportDir(dir);
      const w = rep.writeReports(dir, [r]);
      for (const f of w.files) {
        ctx.out(`  report:  ${f.markdown}`);
        ctx.out(`  json:    ${f.json}`);
        ctx.out(`  picture: ${f.svg}`);
        ctx.out(`           ${f.png}`);
      }
      // A check the lab missed is the drill's finding, shown above; a layout not put back stops the demo.
      if (!r.restored) throw new Error(`the drill did not put the layout back: ${r.leftState}`);
      if (r.error) throw new Error(`the drill could not run: ${r.error}`);
    },
  },
];
