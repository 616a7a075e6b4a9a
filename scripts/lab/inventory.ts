/** The inventory of a lab stack: the same shape as the Pulumi stack output, plus lab fields. */
import { INVENTORY_VERSION, type Inventory, type InventoryHost } from '../inventory';
import { feedFrom } from '../topology/graph';
import type { Topology } from '../topology/types';
import { hostPath } from './host';
import type { LabPlan } from './plan';
import type { LabState } from './state';

export function buildInventory(t: Topology, plan: LabPlan, st: LabState): Inventory {
  const hosts: InventoryHost[] = t.sites.map((s) => {
    const h = plan.hosts.find((x) => x.site === s.name)!;
    return {
      site: s.name,
      role: s.role,
      provider: s.provider,
      region: s.region,
      address: h.address,
      sshPort: h.sshPort,
      user: 'root',
      hostKey: st.hosts[s.name].hostKey,
      hostKeySource: 'lab',
      failover: s.role === 'mirror' ? s.failover : null,
      dataDir: t.dataDir,
      feedFrom: feedFrom(t, s),
      syncIntervalS: s.role === 'mirror' ? s.syncIntervalS : null,
      bandwidthMbit: s.role === 'mirror' ? s.bandwidthMbit : null,
      labNetns: h.netns,
      labDataDir: hostPath(h, 'data'),
    };
  });
  return {
    version: INVENTORY_VERSION,
    customer: t.customer,
    source: 'lab',
    dataDir: t.dataDir,
    exclude: t.exclude,
    service: t.service,
    vip: { kind: 'lab', address: plan.vip, holder: st.vipHolder },
    hosts,
    identityFile: st.adminKey,
  };
}
