/** Tags every tandem resource carries; policies and operators find resources by them. */
import type { Site } from '../../model/topology/types';

export const TAG = {
  customer: 'tandem:customer',
  site: 'tandem:site',
  role: 'tandem:role',
  failover: 'tandem:failover',
  /** On a data volume/disk: the key its snapshot policy targets. */
  snapshots: 'tandem:snapshots',
} as const;

export function siteTags(customer: string, site: Site): Record<string, string> {
  return {
    [TAG.customer]: customer,
    [TAG.site]: site.name,
    [TAG.role]: site.role,
    ...(site.role === 'mirror' ? { [TAG.failover]: site.failover } : {}),
  };
}

/** The value a data volume's snapshot tag carries, unique per customer and site. */
export function snapshotKey(customer: string, site: string): string {
  return `${customer}-${site}`;
}
