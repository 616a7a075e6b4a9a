/** Where a site's data-volume snapshots are copied: the "decide" half of the snapshot policies. */
import { feedFrom, feedOrder } from '../../model/topology/graph';
import type { Topology } from '../../model/topology/types';

export interface CopyTarget {
  /** The site whose region (and KMS key) receives the copies. */
  readonly site: string;
  readonly region: string;
}

/**
 * AWS sites copy their snapshots to another AWS site's region, so a lost region still leaves a
 * restorable copy next to a live mirror: the site's feed parent first, then the sites it feeds,
 * then the rest in feed order. Only sites in a different region qualify. Null when there is none
 * (the plan reports it).
 */
export function snapshotCopyTarget(t: Topology, siteName: string): CopyTarget | null {
  const site = t.sites.find((s) => s.name === siteName);
  if (!site) throw new Error(`snapshotCopyTarget: no site "${siteName}" in stack "${t.customer}"`);
  if (site.provider !== 'aws') return null;
  const parent = feedFrom(t, site);
  const order = feedOrder(t);
  const children = order.filter((s) => feedFrom(t, s) === siteName);
  const candidates = [...order.filter((s) => s.name === parent), ...children, ...order];
  const hit = candidates.find((s) => s.provider === 'aws' && s.name !== siteName && s.region !== site.region);
  return hit ? { site: hit.name, region: hit.region! } : null;
}
