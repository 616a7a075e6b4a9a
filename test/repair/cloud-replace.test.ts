/**
 * `tandem site replace` in the cloud, as far as it can run here (no Pulumi CLI, no cloud account):
 * the newest snapshot from EC2's answer (paginated, completed only), and the orchestration against
 * the Automation layer's interface (a fake ReplaceStack): the restore set before `up`, `up` given
 * the site's instance and host key URNs, the new inventory checked for a new host key.
 */
import type { Inventory } from '../../model/inventory';
import type { RepairContext } from '../../scripts/repair/api';
import { newestAwsSnapshot } from '../../scripts/repair/cloud';
import { replaceSite, type CloudReplace } from '../../scripts/repair/replace';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH';
const host = (site: string, role: 'master' | 'mirror', feedFrom: string | null) => ({
  site,
  role,
  provider: 'aws' as const,
  region: site === 'ny' ? 'us-east-1' : 'us-east-2',
  failover: role === 'mirror' ? ('hot' as const) : null,
  dataDir: '/srv/trading',
  feedFrom,
  syncIntervalS: role === 'mirror' ? 0 : null,
  bandwidthMbit: null,
  address: site === 'ny' ? '127.0.0.1' : '127.0.0.2',
  sshPort: 22,
  user: 'ubuntu',
  hostKey: KEY,
  hostKeySource: 'generated',
});
const INV = {
  version: 1,
  customer: 'acme',
  source: 'pulumi',
  dataDir: '/srv/trading',
  exclude: [],
  service: { start: 'a', stop: 'b', healthPort: 8443 },
  vip: null,
  hosts: [host('ny', 'master', null), host('chi', 'mirror', 'ny')],
} as unknown as Inventory;

const ctx = (log: string[] = []): RepairContext => ({
  inventory: INV,
  topology: null,
  stackFile: null,
  live: null,
  connect: () => Promise.reject(new Error('no host is reached in this test')),
  ssh: { timeoutMs: 1000 },
  log: (l) => void log.push(l),
});

describe('newest snapshot (EC2 answer)', () => {
  it('pages through DescribeSnapshots and picks the newest completed one of the site', async () => {
    const sent: Record<string, unknown>[] = [];
    const pages = [
      { Snapshots: [{ SnapshotId: 'snap-01', StartTime: new Date('2026-01-01T00:00:00Z') }], NextToken: 't2' },
      {
        Snapshots: [
          { SnapshotId: 'snap-03', StartTime: new Date('2026-01-03T00:00:00Z') },
          { SnapshotId: 'snap-02', StartTime: new Date('2026-01-02T00:00:00Z') },
        ],
      },
    ];
    const ec2 = { send: async (c: { input: Record<string, unknown> }) => (sent.push(c.input), pages.shift()) } as never;
    expect(await newestAwsSnapshot(ec2, 'acme', 'chi')).toEqual({ id: 'snap-03', at: '2026-01-03T00:00:00.000Z' });
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({
      OwnerIds: ['self'],
      Filters: [
        { Name: 'tag:tandem:snapshots', Values: [expect.stringContaining('chi')] },
        { Name: 'status', Values: ['completed'] },
      ],
    });
    expect(sent[1]).toMatchObject({ NextToken: 't2' });
  });

  it('says what to do when there is none', async () => {
    const ec2 = { send: async () => ({ Snapshots: [] }) } as never;
    await expect(newestAwsSnapshot(ec2, 'acme', 'chi')).rejects.toThrow(/--site chi: no completed snapshot tagged tandem:snapshots=.*give one with --snapshot <snap-id>/);
  });
});

describe('cloud replace orchestration (fake Automation stack)', () => {
  function fake(newKey: string | null) {
    const calls: string[] = [];
    const cloud: CloudReplace = {
      newestSnapshot: async (_inv, h) => (calls.push(`newest ${h.site}`), { id: 'snap-0abc', at: '2026-01-03T00:00:00Z' }),
      openStack: async (customer) => ({
        project: 'tandem',
        stack: customer,
        setRestore: async (site, id) => void calls.push(`restore ${site} ${id}`),
        up: async (urns) => void calls.push(`up --replace ${urns.join(' --replace ')}`),
        inventory: async () => ({ ...INV, hosts: INV.hosts.map((h) => (h.site === 'chi' && newKey ? { ...h, hostKey: newKey } : h)) }),
      }),
    };
    return { calls, cloud };
  }

  it('sets the restore, then replaces the instance and host key; a key that did not change is an error', async () => {
    const f = fake(null);
    await expect(replaceSite(ctx(), 'chi', { cloud: f.cloud })).rejects.toThrow(/the inventory's host key of chi did not change/);
    expect(f.calls).toEqual([
      'newest chi',
      'restore chi snap-0abc',
      'up --replace urn:pulumi:acme::tandem::tandem:index:Customer$tandem:aws:Host$aws:ec2/instance:Instance::acme-chi-host --replace urn:pulumi:acme::tandem::tandem:index:Customer$tandem:aws:Host$tls:index/privateKey:PrivateKey::acme-chi-host-key',
    ]);
  });

  it('uses --snapshot when given, and refuses the master before touching anything', async () => {
    const f = fake(null);
    await expect(replaceSite(ctx(), 'chi', { cloud: f.cloud, snapshot: 'snap-0given' })).rejects.toThrow(/did not change/);
    expect(f.calls[0]).toBe('restore chi snap-0given');
    const g = fake(null);
    await expect(replaceSite(ctx(), 'ny', { cloud: g.cloud })).rejects.toThrow(
      /ny is the master now; a master is not replaced in place\. Fail over first: tandem failover --inventory inventory\.json --to chi/,
    );
    expect(g.calls).toEqual([]);
  });
});
