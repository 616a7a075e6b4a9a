/**
 * The quick start's operator steps, after the lab is up: install the agent (twice: the second
 * run changes nothing), start mirroring, write a file on the master and time its arrival on
 * every mirror, then `tandem status`. Appended to the lab demo's STEPS (scripts/demo/run.ts).
 */
import type { Inventory } from '../../model/inventory';
import { openSession, shellQuote, type SshSession } from '../ssh';
import { observe } from '../status/collect';
import { renderTable } from '../status/render';
import { assess } from '../status/verdict';
import { agentBundle } from '../hosts/bundle';
import { installFleet, summarizeResults, type FleetOptions } from '../hosts/install';
import { mirrorFleet } from '../hosts/mirror';
import { connectorFor } from '../hosts/ssh';
import { sleep, waitForOrNull } from '../util/wait';

/** The shape of the demo's steps (kept structural so this file does not depend on the lab's). */
export interface OperatorDemoStep {
  readonly title: string;
  readonly run: (ctx: { inventory?: Inventory; out: (line: string) => void }) => Promise<void>;
}

function fleetOf(inv: Inventory, out: (line: string) => void): FleetOptions {
  return { inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress: (site, m) => out(`  ${site.padEnd(10)} ${m}`) };
}

function need(inv: Inventory | undefined): Inventory {
  if (!inv) throw new Error('the lab is not up (the "lab up" step did not run)');
  return inv;
}

/** Polls every mirror for the file over SSH; resolves with ms after the write, per mirror. */
async function timeArrival(inv: Inventory, file: string, content: string, timeoutMs: number): Promise<Map<string, number | null>> {
  const master = inv.hosts.find((h) => h.role === 'master')!;
  const mirrors = inv.hosts.filter((h) => h.role === 'mirror');
  const sessions = new Map<string, SshSession>();
  try {
    for (const h of inv.hosts) sessions.set(h.site, await openSession(inv, h.site));
    const path = `${inv.dataDir}/${file}`;
    const t0 = Date.now();
    await sessions.get(master.site)!.execChecked(`printf %s ${shellQuote(content)} > ${shellQuote(path)}`);
    const out = new Map<string, number | null>();
    await Promise.all(
      mirrors.map(async (m) => {
        const s = sessions.get(m.site)!;
        while (Date.now() - t0 < timeoutMs) {
          const r = await s.exec(`cat ${shellQuote(path)} 2>/dev/null`);
          if (r.stdout === content) {
            out.set(m.site, Date.now() - t0);
            return;
          }
          await sleep(20);
        }
        out.set(m.site, null);
      }),
    );
    return out;
  } finally {
    for (const s of sessions.values()) s.close();
  }
}

export const OPERATOR_DEMO_STEPS: readonly OperatorDemoStep[] = [
  {
    title: 'Install the sync agent on every host (tandem agent install --stack lab)',
    run: async (ctx) => {
      const inv = need(ctx.inventory);
      const agentJs = agentBundle((m) => ctx.out(`  ${m}`));
      const first = await installFleet(fleetOf(inv, ctx.out), 'install', agentJs);
      ctx.out(summarizeResults('agent install', first).replace(/^/gm, '  '));
      if (first.some((r) => r.outcome === 'failed')) throw new Error('agent install failed on some hosts (see above)');
      ctx.out('  ...and once more: a second install changes nothing');
      const second = await installFleet(
        fleetOf(inv, () => undefined),
        'install',
        agentJs,
      );
      ctx.out(summarizeResults('agent install', second).replace(/^/gm, '  '));
    },
  },
  {
    title: 'Start mirroring (tandem mirror start --stack lab): feeders seed their mirrors, then stream',
    run: async (ctx) => {
      const inv = need(ctx.inventory);
      const t0 = Date.now();
      const res = await mirrorFleet(fleetOf(inv, ctx.out), 'start', []);
      if (res.some((r) => r.outcome === 'failed'))
        throw new Error(
          `mirror start failed: ${res
            .filter((r) => r.error)
            .map((r) => `${r.site}: ${r.error}`)
            .join('; ')}`,
        );
      // Let the master's links finish their seed, so the next step times streaming, not seeding.
      const master = inv.hosts.find((h) => h.role === 'master')!;
      const seeded = async () => {
        const obs = await observe(inv, connectorFor(inv), { timeoutMs: 5000 }, 8);
        const kids = obs.find((o) => o.site === master.site)?.status?.children ?? [];
        return kids.length && kids.every((c) => c.state === 'in-sync') ? kids : null;
      };
      const kids = await waitForOrNull(`${master.site} to finish seeding`, seeded, { timeoutMs: 40_000, everyMs: 200, retryErrors: false });
      if (kids) ctx.out(`  ${master.site} has seeded ${kids.map((c) => c.site).join(', ')} and streams to them (${Date.now() - t0} ms after start)`);
      else ctx.out('  the seed is still running; the next step waits for the change anyway');
    },
  },
  {
    title: 'Write a file on the master and time its arrival on every mirror',
    run: async (ctx) => {
      const inv = need(ctx.inventory);
      const master = inv.hosts.find((h) => h.role === 'master')!;
      const content = `order ${Date.now()} BUY 100 XYZ @ 42.00\n`;
      const times = await timeArrival(inv, 'demo-order.txt', content, 30_000);
      ctx.out(`  wrote ${inv.dataDir}/demo-order.txt on ${master.site}`);
      for (const h of inv.hosts.filter((x) => x.role === 'mirror')) {
        const ms = times.get(h.site);
        const via = h.feedFrom !== master.site ? ` (through relay ${h.feedFrom})` : '';
        ctx.out(`  ${h.site.padEnd(10)} ${ms === null || ms === undefined ? 'NOT arrived within 30 s' : `arrived after ${ms} ms`}${via}`);
      }
    },
  },
  {
    title: 'Redundancy status (tandem status --stack lab; exit 0 OK, 3 DEGRADED)',
    run: async (ctx) => {
      const inv = need(ctx.inventory);
      // A moment for every agent to write its status after the change.
      await sleep(1500);
      const v = assess(await observe(inv, connectorFor(inv), { timeoutMs: 5000 }, 8));
      ctx.out(renderTable(v).replace(/^/gm, '  '));
    },
  },
];
