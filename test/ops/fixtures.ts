/** Shared fixtures of the operations tests: a lab-shaped inventory and valid-looking keys. */
import type { AgentStatus, ChildStatus } from '../../agent/src/contract';
import type { Inventory, InventoryHost } from '../../model/inventory';

/** A well-formed ssh-ed25519 public key line whose 32 key bytes are all `seed`. */
export function fakeKey(seed: number, comment = ''): string {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.alloc(4 + type.length + 4 + 32);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(32, 4 + type.length);
  blob.fill(seed, 8 + type.length);
  return `ssh-ed25519 ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

function host(p: Partial<InventoryHost> & { site: string }, i: number): InventoryHost {
  return {
    role: 'mirror',
    provider: 'aws',
    region: 'us-east-2',
    address: `198.18.0.${10 + i}`,
    sshPort: 22,
    user: 'root',
    hostKey: fakeKey(i + 1),
    hostKeySource: 'lab',
    failover: 'warm',
    dataDir: '/srv/trading',
    feedFrom: 'ny',
    syncIntervalS: 0,
    bandwidthMbit: null,
    ...p,
  };
}

/** ny (master) -> chi (hot, relay) -> ams (warm, 50 Mbit); ny -> ldn (cold, every 300 s). */
export function labInventory(over: Partial<Inventory> = {}): Inventory {
  return {
    version: 1,
    customer: 'optest',
    source: 'lab',
    dataDir: '/srv/trading',
    exclude: ['*.tmp', 'logs/**'],
    service: { start: 'tandem-lab-platform start', stop: 'tandem-lab-platform stop', healthPort: 8443 },
    vip: { kind: 'lab', address: '198.18.0.2', holder: 'ny' },
    hosts: [
      host({ site: 'ny', role: 'master', failover: null, feedFrom: null, syncIntervalS: null, region: 'us-east-1' }, 0),
      host({ site: 'chi', failover: 'hot' }, 1),
      host({ site: 'ams', feedFrom: 'chi', bandwidthMbit: 50, provider: 'azure', region: 'westeurope' }, 2),
      host({ site: 'ldn', failover: 'cold', syncIntervalS: 300, region: 'eu-west-2' }, 3),
    ],
    ...over,
  };
}

export function child(site: string, p: Partial<ChildStatus> = {}): ChildStatus {
  return { site, state: 'in-sync', bytesBehind: 0, bytesSent: 0, lagS: 0.4, lastAckAt: '2026-11-22T03:00:00Z', lastError: null, ...p };
}

export function agentStatus(site: string, p: Partial<AgentStatus> = {}): AgentStatus {
  return {
    site,
    role: site === 'ny' ? 'master' : 'mirror',
    epoch: 1,
    agentVersion: '0.1.0',
    updatedAt: '2026-11-22T03:00:00Z',
    running: true,
    lastAppliedChangeAt: site === 'ny' ? null : '2026-11-22T02:59:59Z',
    lagS: site === 'ny' ? null : 0.5,
    inSync: site !== 'ny',
    lastError: null,
    health: 'ok',
    children: [],
    ...p,
  };
}
