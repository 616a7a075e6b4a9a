/**
 * Which sites the DNS failover records point at and which one Route 53 health-checks: decided
 * from the topology alone, for the DnsFailover component (modules/dns) and `tandem plan`.
 */
import { feedOrder, masterOf } from './graph';
import type { Site, Topology } from './types';
import { hostCidr } from './cidr';

export interface DnsTargets {
  readonly primary: string;
  /** Null when no mirror can hold an A record (every mirror off-cloud by host name). */
  readonly secondary: string | null;
}

const RANK = { hot: 0, warm: 1, cold: 2 } as const;

function canHoldA(s: Site): boolean {
  return s.provider !== 'offcloud' || hostCidr(s.address!)?.family === 4;
}

/**
 * PRIMARY is the master. SECONDARY is the mirror that can serve soonest: hot before warm before
 * cold, cloud before off-cloud, then feed order (closer to the master lags less). Null when the
 * topology has no `dns`.
 */
export function dnsTargets(t: Topology): DnsTargets | null {
  if (!t.dns) return null;
  const master = masterOf(t);
  const order = feedOrder(t);
  const mirrors = order.filter((s) => s.role === 'mirror' && canHoldA(s));
  mirrors.sort((a, b) => {
    const ra = a.role === 'mirror' ? RANK[a.failover] : 0;
    const rb = b.role === 'mirror' ? RANK[b.failover] : 0;
    if (ra !== rb) return ra - rb;
    const ca = a.provider === 'offcloud' ? 1 : 0;
    const cb = b.provider === 'offcloud' ? 1 : 0;
    if (ca !== cb) return ca - cb;
    return order.indexOf(a) - order.indexOf(b);
  });
  return { primary: master.name, secondary: mirrors[0]?.name ?? null };
}

/** Sites whose health port Route 53 probes: the master, when the topology has a DNS record. */
export function healthCheckedSites(t: Topology): string[] {
  if (!t.dns) return [];
  const master = t.sites.find((s) => s.role === 'master');
  return master ? [master.name] : [];
}
