/**
 * Who may reach a site, decided from the topology alone: the "decide" half of the security
 * groups (AWS) and network security groups (Azure). Components turn these rules into resources;
 * the rules themselves are plain data so they can be table-tested and printed by `tandem plan`.
 */
import { hostCidr } from '../../model/topology/cidr';
import { healthCheckedSites } from '../../model/topology/dns';
import type { Topology } from '../../model/topology/types';

export type IngressSource =
  /** A fixed CIDR from the topology (an admin network, or the world when allowOpenSsh). */
  | { readonly kind: 'cidr'; readonly cidr: string; readonly family: 4 | 6 }
  /** Another site's public address, known only once that site's address exists. */
  | { readonly kind: 'peer'; readonly site: string }
  /** Route 53's health checkers (an AWS-managed prefix list on AWS). */
  | { readonly kind: 'route53-health-checkers' };

export interface IngressRule {
  /** Stable key for the rule's logical name: renaming it replaces the rule. */
  readonly key: string;
  readonly port: number;
  readonly protocol: 'tcp';
  readonly source: IngressSource;
  /** Why the rule exists; becomes the rule's description. */
  readonly description: string;
}

function family(cidr: string): 4 | 6 {
  return cidr.includes(':') ? 6 : 4;
}

/** A logical-name-safe slug of a CIDR: 203.0.113.0/24 -> 203-0-113-0-24. */
export function cidrKey(cidr: string): string {
  return cidr
    .replace(/[^0-9a-zA-Z]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
}

/**
 * Every rule admitting traffic into `siteName`. SSH (the site's sshPort, which is also the sync
 * transport) from each admin CIDR and from every other site; the world only with allowOpenSsh;
 * the health port only from Route 53's checkers and only on health-checked sites. Other sites
 * are all admitted, not just the feed parent, so a failover or a relay change needs no rule change.
 */
export function ingressRules(t: Topology, siteName: string): IngressRule[] {
  const site = t.sites.find((s) => s.name === siteName);
  if (!site) throw new Error(`ingressRules: no site "${siteName}" in stack "${t.customer}"`);
  const port = site.sshPort;
  const rules: IngressRule[] = [];
  const cidrs = [...t.adminCidrs];
  if (t.allowOpenSsh) for (const w of ['0.0.0.0/0', '::/0']) if (!cidrs.includes(w)) cidrs.push(w);
  for (const cidr of cidrs) {
    const open = cidr === '0.0.0.0/0' || cidr === '::/0';
    rules.push({
      key: `ssh-${cidrKey(cidr)}`,
      port,
      protocol: 'tcp',
      source: { kind: 'cidr', cidr, family: family(cidr) },
      description: open ? `ssh from anywhere (allowOpenSsh)` : `ssh from admin network ${cidr}`,
    });
  }
  for (const other of t.sites) {
    if (other.name === siteName) continue;
    if (other.provider === 'offcloud') {
      const hc = hostCidr(other.address!);
      // A host name cannot go into a firewall rule; the plan reports it (see offcloudPeersByName).
      if (!hc) continue;
      rules.push({
        key: `sync-${other.name}`,
        port,
        protocol: 'tcp',
        source: { kind: 'cidr', cidr: hc.cidr, family: hc.family },
        description: `ssh/sync from site ${other.name}`,
      });
    } else {
      rules.push({ key: `sync-${other.name}`, port, protocol: 'tcp', source: { kind: 'peer', site: other.name }, description: `ssh/sync from site ${other.name}` });
    }
  }
  if (healthCheckedSites(t).includes(siteName)) {
    rules.push({
      key: 'health-route53',
      port: t.service.healthPort,
      protocol: 'tcp',
      source: { kind: 'route53-health-checkers' },
      description: `health port ${t.service.healthPort} from Route 53 health checkers`,
    });
  }
  return rules;
}
