/**
 * The four-site inventory the failover decision tests share (no lab): ny master; chi hot, ams
 * warm and ldn cold mirrors, each fed by ny.
 */
import type { Inventory, InventoryHost } from '../../model/inventory';

const host = (site: string, role: 'master' | 'mirror', failover: InventoryHost['failover'] = null): InventoryHost => ({
  site,
  role,
  provider: 'aws',
  region: 'us-east-1',
  address: `10.0.0.${site.length}`,
  sshPort: 22,
  user: 'root',
  hostKey: 'ssh-ed25519 AAAA',
  hostKeySource: 'lab',
  failover,
  dataDir: '/srv/trading',
  feedFrom: role === 'master' ? null : 'ny',
  syncIntervalS: role === 'master' ? null : 0,
  bandwidthMbit: null,
});
export const inv: Inventory = {
  version: 1,
  customer: 'x',
  source: 'lab',
  dataDir: '/srv/trading',
  exclude: [],
  service: { start: 's', stop: 't', healthPort: 1 },
  vip: { kind: 'lab', address: '198.18.0.10', holder: 'ny' },
  hosts: [host('ny', 'master'), host('chi', 'mirror', 'hot'), host('ams', 'mirror', 'warm'), host('ldn', 'mirror', 'cold')],
};
