/**
 * The AgentConfig each host gets, decided from the inventory alone (pure: table-tested in
 * test/ops/config.test.ts). Install, upgrade and the mirror commands all write configs built
 * here, so a host's config never depends on which command wrote it last.
 */
import { createHash } from 'node:crypto';
import type { AgentChild, AgentConfig, AgentNotify, AgentPeer } from '../../agent/src/contract';
import { hasColdRefresh, type Inventory } from '../../model/inventory';
import { childrenIn, hostOf } from './inventory-check';

/** What the operator controls per host beyond the inventory: the epoch and pauses. */
export interface MirrorControl {
  readonly epoch: number;
  /** Mirroring stopped on this host (it feeds nobody). */
  readonly paused: boolean;
  readonly pausedChildren: readonly string[];
}

/**
 * A fresh install is paused: the daemon runs and reports status, but moves no data until
 * `tandem mirror start`, so an install never starts a seed the operator did not ask for.
 */
export const INSTALL_DEFAULT: MirrorControl = { epoch: 1, paused: true, pausedChildren: [] };

/**
 * `notify`: the stack's channels with secrets resolved (scripts/notify/channels.ts
 * `agentNotify`). Every host carries them, so a mirror promoted by a failover keeps them (the
 * failover rewrites config.json from what the host has); only an agent that feeds others sends
 * the degraded-redundancy alerts (agent/src/alerts.ts).
 */
export function buildAgentConfig(inv: Inventory, site: string, control: MirrorControl, notify: AgentNotify | null = null): AgentConfig {
  const h = hostOf(inv, site);
  const parent = h.feedFrom === null ? null : hostOf(inv, h.feedFrom);
  const children: AgentChild[] = childrenIn(inv, site)
    .map((c) => ({
      site: c.site,
      address: c.address,
      sshPort: c.sshPort,
      // checkInventory refuses a null host key, so this never ships an empty pin.
      hostKey: c.hostKey ?? '',
      syncIntervalS: c.syncIntervalS ?? 0,
      bandwidthMbit: c.bandwidthMbit,
      failover: c.failover ?? 'warm',
    }))
    .sort((a, b) => a.site.localeCompare(b.site));
  const childNames = new Set(children.map((c) => c.site));
  return {
    version: 1,
    customer: inv.customer,
    site: h.site,
    role: h.role,
    epoch: control.epoch,
    dataDir: h.dataDir,
    exclude: [...inv.exclude],
    feedFrom: h.feedFrom,
    feedFromAddress: parent ? parent.address : null,
    children,
    paused: control.paused,
    // Pauses of sites that are no longer this host's children are dropped: they would pause nothing.
    pausedChildren: [...new Set(control.pausedChildren)].filter((c) => childNames.has(c)).sort(),
    ...(notify ? { notify } : {}),
    // Every other site, so this host's fence can ask a master that was never its feeder or child
    // (agent/src/fence.ts): installs carry them as failovers do.
    peers: peersFor(inv, site),
    // The host side of a cold refresh: powered off again once caught up (agent/src/refresh-off.ts).
    ...(hasColdRefresh(h) ? { coldRefresh: { everyH: h.coldRefreshH! } } : {}),
    // The master's feeding tick, only when the topology sets one: without it the config is
    // byte-identical to one written before tickMs existed, so installs see no change.
    ...(h.role === 'master' && h.tickMs !== undefined ? { tickMs: h.tickMs } : {}),
  };
}

/** Every site but `site`, as its fence reaches them (AgentConfig.peers). */
export function peersFor(inv: Inventory, site: string): AgentPeer[] {
  return inv.hosts.filter((h) => h.site !== site && h.hostKey).map((h) => ({ site: h.site, address: h.address, sshPort: h.sshPort, hostKey: h.hostKey! }));
}

/** The exact bytes written to config.json; stable, so a hash comparison means "unchanged". */
export function renderConfig(c: AgentConfig): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Reads the operator-controlled part back from a config found on a host, so install/upgrade keep
 * the epoch (raised by failovers) and the pauses. Anything unreadable counts as absent.
 */
export function controlFrom(text: string | null): MirrorControl | null {
  if (!text) return null;
  try {
    const c = JSON.parse(text) as Partial<AgentConfig>;
    if (typeof c.epoch !== 'number' || !Number.isInteger(c.epoch) || c.epoch < 1) return null;
    return {
      epoch: c.epoch,
      paused: c.paused === true,
      pausedChildren: Array.isArray(c.pausedChildren) ? c.pausedChildren.filter((x): x is string => typeof x === 'string') : [],
    };
  } catch {
    return null;
  }
}

/** The alert channels a host's config.json already holds (kept when the operator gives none). */
export function controlNotify(text: string | null): AgentNotify | null {
  if (!text) return null;
  try {
    const c = JSON.parse(text) as Partial<AgentConfig>;
    return c.notify && typeof c.notify === 'object' && Array.isArray(c.notify.webhooks) ? c.notify : null;
  } catch {
    return null;
  }
}

/**
 * One epoch for the whole fleet: the highest any host has (a failover raised it on the hosts it
 * reached). A host left on a lower epoch would refuse its new master's feed.
 */
export function fleetEpoch(found: readonly (MirrorControl | null)[]): number {
  return Math.max(1, ...found.map((c) => c?.epoch ?? 1));
}

/**
 * How config.json is written: readable by all (it holds no secret) unless its notify channels
 * carry an SMTP password or a webhook token; then root:tandem 0640 (the agent runs as tandem).
 */
export function configFileMode(c: AgentConfig): { mode: string; owner: string } {
  const secret = !!c.notify && (!!c.notify.email?.password || c.notify.webhooks.some((w) => !!w.token));
  return secret ? { mode: '0640', owner: 'root:tandem' } : { mode: '0644', owner: 'root:root' };
}
