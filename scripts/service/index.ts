/**
 * Owns `tandem service start|stop|status`: the topology's service.start / service.stop run on the
 * host that is master now (the live layout applied), never on a mirror; and whether the service
 * answers on its health port at the master's address and at the service address (VIP).
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import { answers, authorizeEpochQueries, fenceHookScript, probeHost, runService, Sessions, waitAnswers } from '../failover/hosts';
import { asRoot } from '../hosts/hostfiles';
import { rolesDisagree } from '../hosts/target';
import { step } from '../hosts/remote';
import type { Connector, SshSettings } from '../hosts/remote';

export class ServiceInputError extends Error {}

export interface ServiceReport {
  readonly customer: string;
  readonly master: string;
  readonly action: 'start' | 'stop' | 'status';
  readonly output: string | null;
  /** What the boot fence set-up could not do (a host unreachable), when anything. */
  readonly fenceNote: string | null;
  readonly healthPort: number;
  readonly answersOnMaster: boolean;
  readonly masterAddress: string;
  readonly vip: string | null;
  /** null: the stack has no service address. */
  readonly answersOnVip: boolean | null;
  readonly vipHolder: string | null;
  readonly ms: number;
}

export function currentMaster(inv: Inventory, site?: string): InventoryHost {
  const m = inv.hosts.find((h) => h.role === 'master');
  if (!m) throw new ServiceInputError(`the inventory of "${inv.customer}" has no master`);
  if (site !== undefined) {
    const h = inv.hosts.find((x) => x.site === site);
    if (!h) throw new ServiceInputError(`--site ${site}: no such site; sites: ${inv.hosts.map((x) => x.site).join(', ')}`);
    if (h.role !== 'master') throw new ServiceInputError(`--site ${site}: ${site} is a mirror; the service runs only on the master, which is ${m.site} now (leave --site out)`);
  }
  return m;
}

/**
 * The hosts are the truth about who is master (rolesDisagree, scripts/hosts/target.ts): starting
 * the service on an old master named by a stale inventory would be split brain by hand. Refused,
 * naming who the hosts say is master.
 */
async function checkWithHosts(inv: Inventory, sessions: Sessions): Promise<void> {
  const seen = await Promise.all(
    inv.hosts.map(async (h) => {
      try {
        const p = await probeHost(await sessions.get(h.site), h, 10_000);
        return p.config ? { site: h.site, role: p.config.role, epoch: Math.max(p.config.epoch, p.receiver?.highestEpoch ?? 0) } : null;
      } catch {
        sessions.drop(h.site);
        return null;
      }
    }),
  );
  const why = rolesDisagree(inv, seen);
  if (why) throw new ServiceInputError(why);
}

export async function serviceAction(inv: Inventory, action: 'start' | 'stop' | 'status', o: { connect: Connector; ssh: SshSettings; site?: string; waitMs?: number }): Promise<ServiceReport> {
  const t0 = Date.now();
  const m = currentMaster(inv, o.site);
  let output: string | null = null;
  let fenceNote: string | null = null;
  if (action !== 'status') {
    const sessions = new Sessions(inv, o.connect, { ...o.ssh, retries: 0 });
    try {
      await checkWithHosts(inv, sessions);
      const r = await sessions.get(m.site);
      if (action === 'start') {
        // A master that reboots asks the other sites before it feeds again (agent/src/fence.ts):
        // every host lets every site ask its epoch, and the master gets the boot hook.
        const missed = await authorizeEpochQueries(inv, sessions, 30_000);
        await step(r, 'installing the boot fence hook', asRoot(m.user, fenceHookScript('service started on the master by the operator', inv.service)), { timeoutMs: 30_000 });
        if (missed.length) fenceNote = `epoch queries not authorized on ${missed.join(', ')} (unreachable)`;
      }
      output = await runService(r, m, inv, action, 60_000);
    } finally {
      await sessions.closeAll();
    }
  }
  const port = inv.service.healthPort;
  const vip = inv.vip?.address ?? null;
  let onMaster: boolean;
  if (action === 'start') onMaster = (await waitAnswers(m.address, port, Date.now() + (o.waitMs ?? 10_000))) !== null;
  else onMaster = await answers(m.address, port);
  const onVip = vip ? await answers(vip, port) : null;
  return {
    customer: inv.customer,
    master: m.site,
    action,
    output,
    fenceNote,
    healthPort: port,
    answersOnMaster: onMaster,
    masterAddress: m.address,
    vip,
    answersOnVip: onVip,
    vipHolder: inv.vip?.holder ?? null,
    ms: Date.now() - t0,
  };
}

export function renderService(r: ServiceReport): string {
  const yes = (b: boolean | null) => (b === null ? 'n/a (no service address)' : b ? 'answers' : 'NOT answering');
  return [
    `service of "${r.customer}" on ${r.master} (master)${r.output ? `: ${r.output}` : ''}`,
    `  ${r.masterAddress}:${r.healthPort}  ${yes(r.answersOnMaster)}`,
    r.vip ? `  ${r.vip}:${r.healthPort}  ${yes(r.answersOnVip)} (service address, held by ${r.vipHolder})` : '  no service address (vip) in the inventory',
    ...(r.fenceNote ? [`  note: ${r.fenceNote}`] : []),
  ].join('\n');
}
