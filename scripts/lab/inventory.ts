/** The inventory of a lab stack: the same shape as the Pulumi stack output, plus lab fields. */
import { INVENTORY_VERSION, topologyHostFields, type Inventory, type InventoryHost } from '../../model/inventory';
import type { Topology } from '../../model/topology/types';
import { hostPath } from './host-paths';
import type { LabPlan } from './plan';
import type { LabState } from './state';

export function buildInventory(t: Topology, plan: LabPlan, st: LabState): Inventory {
  const hosts: InventoryHost[] = t.sites.map((s) => {
    const h = plan.hosts.find((x) => x.site === s.name)!;
    return {
      ...topologyHostFields(t, s),
      address: h.address,
      sshPort: h.sshPort,
      user: 'root',
      hostKey: st.hosts[s.name].hostKey,
      hostKeySource: 'lab',
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
