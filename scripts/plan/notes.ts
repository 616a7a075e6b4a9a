/** Findings that come from the topology rather than the resource graph. */
import { dnsTargets, healthCheckedSites } from '../../model/topology/dns';
import { offcloudPeersByName } from '../../model/topology/cidr';
import type { Finding } from '../../policy/rules';
import type { Topology } from '../../model/topology/types';

export function topologyFindings(t: Topology): Finding[] {
  const out: Finding[] = [];
  for (const s of t.sites) {
    if (s.role === 'mirror' && s.failover === 'cold' && s.provider === 'azure') {
      out.push({
        severity: 'info',
        rule: 'cold-mirror',
        resource: `${t.customer}-${s.name}-vm`,
        message: `"${s.name}" is a cold mirror on Azure: azure-native cannot create a VM deallocated, so it boots once (cloud-init, first sync) and tandem's failover driver deallocates it; until then it runs and is billed`,
      });
    }
  }
  for (const name of offcloudPeersByName(t)) {
    out.push({
      severity: 'warning',
      rule: 'peer-address',
      resource: `${t.customer}-${name}`,
      message: `off-cloud site "${name}" is addressed by host name, which no firewall rule can hold: cloud sites do not admit its sync traffic; give its address as an IP`,
    });
  }
  for (const name of healthCheckedSites(t)) {
    const s = t.sites.find((x) => x.name === name)!;
    if (s.provider === 'azure') {
      out.push({
        severity: 'warning',
        rule: 'health-port',
        resource: `${t.customer}-${name}-ingress-health-route53`,
        message: `Route 53 publishes no Azure service tag, so "${name}" admits health port ${t.service.healthPort} from Internet for the DNS health check`,
      });
    }
  }
  const dns = dnsTargets(t);
  if (dns && dns.secondary === null) {
    out.push({
      severity: 'warning',
      rule: 'dns-failover',
      resource: `${t.customer}-dns`,
      message: `no mirror can hold the SECONDARY record (an A record needs an IPv4 address); ${t.dns!.name} has no failover target`,
    });
  }
  return out;
}
