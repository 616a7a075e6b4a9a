/**
 * Owns the decisions of a failover, pure (table-tested in test/failover/plan.test.ts): which
 * mirror takes over, whether the chosen one must first catch up from a fresher survivor, the next
 * epoch, and the live layout to record. No I/O here; ./run.ts carries the decisions out.
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import type { LiveLayout } from '../../model/live';
import type { FailoverMode } from '../../model/topology/types';

/** Bad input: nothing was changed; exit 2. */
export class FailoverInputError extends Error {}

/** What a failover knows of a host before it acts. */
export interface HostView {
  readonly site: string;
  readonly reachable: boolean;
  /** Master clock (ms) up to which the host holds every change; null: unknown / never synced. */
  readonly position: number | null;
  /** Highest epoch the host has seen (its config's, its receiver's). */
  readonly epoch: number;
  /** Its agent daemon runs (status fresh). */
  readonly agentRunning: boolean;
}

const MODE_RANK: Record<FailoverMode, number> = { hot: 0, warm: 1, cold: 2 };

export function masterHost(inv: Inventory): InventoryHost {
  const m = inv.hosts.find((h) => h.role === 'master');
  if (!m) throw new FailoverInputError(`inventory of "${inv.customer}" has no master`);
  return m;
}

/** Checks `--to`: a site of the stack that is not the current master. */
export function checkTo(inv: Inventory, to: string | undefined): void {
  if (to === undefined) return;
  const sites = inv.hosts.map((h) => h.site);
  const h = inv.hosts.find((x) => x.site === to);
  if (!h) throw new FailoverInputError(`--to ${to}: no such site in stack "${inv.customer}"; sites: ${sites.join(', ')}`);
  if (h.role === 'master') {
    const mirrors = inv.hosts.filter((x) => x.role === 'mirror').map((x) => x.site);
    throw new FailoverInputError(`--to ${to}: ${to} is the current master already; name a mirror to fail over to (${mirrors.join(', ')})`);
  }
}

/**
 * The target of a failover: `to` when given; else the reachable mirror holding the newest data
 * (hot, then warm, then cold on a tie); else, when no mirror answers, a cold mirror (it is powered
 * on). `catchUpFrom` names a reachable survivor holding newer data than the target, to copy from
 * first, so the choice never adds loss.
 */
export function chooseTarget(inv: Inventory, views: ReadonlyMap<string, HostView>, to?: string): { target: InventoryHost; why: string; catchUpFrom: string | null } {
  checkTo(inv, to);
  const mirrors = inv.hosts.filter((h) => h.role === 'mirror');
  const pos = (s: string) => views.get(s)?.position ?? -1;
  const reachable = mirrors.filter((h) => views.get(h.site)?.reachable);
  const rank = (a: InventoryHost, b: InventoryHost) => pos(b.site) - pos(a.site) || MODE_RANK[a.failover ?? 'warm'] - MODE_RANK[b.failover ?? 'warm'] || a.site.localeCompare(b.site);
  let target: InventoryHost;
  let why: string;
  if (to) {
    target = mirrors.find((h) => h.site === to)!;
    why = `named with --to`;
  } else if (reachable.length) {
    target = [...reachable].sort(rank)[0];
    why = `the reachable mirror with the newest data (${target.failover})`;
  } else {
    const cold = mirrors.filter((h) => h.failover === 'cold').sort(rank);
    if (!cold.length)
      throw new FailoverInputError(
        `no mirror of "${inv.customer}" is reachable (${mirrors.map((m) => m.site).join(', ')}) and none is cold to power on; check the network, or name one with --to once it answers`,
      );
    target = cold[0];
    why = 'no mirror answers; the cold mirror is powered on';
  }
  const best = reachable.filter((h) => h.site !== target.site).sort(rank)[0];
  const catchUpFrom = best && pos(best.site) > pos(target.site) ? best.site : null;
  return { target, why, catchUpFrom };
}

/** One more than any epoch seen anywhere, so every receiver refuses the old master's feed. */
export function nextEpoch(views: Iterable<HostView>, live: LiveLayout | null): number {
  let e = live?.epoch ?? 1;
  for (const v of views) e = Math.max(e, v.epoch);
  return e + 1;
}

export function nextLive(args: { epoch: number; master: string; reason: string; fenced: readonly string[]; now?: Date }): LiveLayout {
  return {
    epoch: args.epoch,
    master: args.master,
    at: (args.now ?? new Date()).toISOString(),
    reason: args.reason,
    fenced: [...new Set(args.fenced)].filter((f) => f !== args.master).sort(),
  };
}
