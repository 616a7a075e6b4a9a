/**
 * Where the addresses sit after a failover, decided from the stack file's topology and the live
 * one (model/live.ts `applyLive`): the "decide" half of keeping `pulumi up` from undoing what the
 * failover drivers (scripts/failover/drivers) did to the provider.
 */
import { dnsTargets } from '../../model/topology/dns';
import { masterOf } from '../../model/topology/graph';
import type { Site, Topology } from '../../model/topology/types';

/**
 * Whose address object (Elastic IP / public IP) each site carries now, by site name; a site not
 * listed carries its own. Only a same-region, same-cloud failover without DNS moves addresses: the
 * service address (the stack file master's) moved to the live master, and the live master's own
 * address went to the old master in exchange, so both stay reachable. Across regions an address
 * cannot move (the service address then is the live master's own, and clients need DNS).
 */
export function addressSwap(planned: Topology, now: Topology): ReadonlyMap<string, string> {
  const was = masterOf(planned);
  const is = masterOf(now);
  if (planned.dns || was.name === is.name || !sameAddressPool(was, is)) return new Map();
  return new Map([
    [is.name, was.name],
    [was.name, is.name],
  ]);
}

/** Whether an address can move between the two sites' hosts: the same cloud and region. */
export function sameAddressPool(a: Site, b: Site): boolean {
  return a.provider !== 'offcloud' && a.provider === b.provider && a.region === b.region;
}

/** Which site holds the service address now and whose address object it is. */
export function serviceAddress(planned: Topology, now: Topology): { holder: string; owner: string } {
  const holder = masterOf(now).name;
  return { holder, owner: addressSwap(planned, now).get(holder) ?? holder };
}

export interface DnsPlan {
  readonly primary: { readonly site: string; readonly setIdentifier: string };
  readonly secondary: { readonly site: string; readonly setIdentifier: string } | null;
}

/**
 * The failover records now. Targets follow the live roles (`dnsTargets` of the live topology);
 * set identifiers are the records' identities and stay those the stack file gave them (the site
 * names of its PRIMARY and SECONDARY), so a failover, and the `pulumi up` after it, update the
 * two records in place instead of replacing them. Null without `dns`.
 */
export function dnsPlan(planned: Topology, now: Topology): DnsPlan | null {
  const before = dnsTargets(planned);
  const after = dnsTargets(now);
  if (!before || !after) return null;
  const primary = { site: after.primary, setIdentifier: before.primary };
  if (!after.secondary) return { primary, secondary: null };
  // A stack file without a SECONDARY has no slot to keep: the new record takes a name of its own,
  // never the PRIMARY's.
  const id = before.secondary ?? (after.secondary !== before.primary ? after.secondary : after.primary);
  return { primary, secondary: { site: after.secondary, setIdentifier: id } };
}
