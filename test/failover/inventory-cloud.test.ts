/**
 * The inventory check on the fields the failover drivers read: `hosts[].cloud`, `vipCloud` and
 * `hosts[].coldRefreshH`. All optional (a lab or older inventory has none); when present, a wrong
 * one is refused with its path, the value and the form expected, before any driver runs.
 */
import { checkInventory } from '../../scripts/hosts/inventory-check';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH';
const SUB = '00000000-0000-4000-8000-000000000000';
const arm = (type: string, name: string) => `/subscriptions/${SUB}/resourceGroups/rg-${name}/providers/${type}/${name}`;

function base(): any {
  const h = (site: string, role: string, provider: string, region: string | null, extra: object = {}) => ({
    site,
    role,
    provider,
    region,
    address: '198.51.100.7',
    sshPort: 22,
    user: 'ubuntu',
    hostKey: KEY,
    hostKeySource: 'generated',
    failover: role === 'master' ? null : 'cold',
    dataDir: '/srv/trading',
    feedFrom: role === 'master' ? null : 'ny',
    syncIntervalS: role === 'master' ? null : 0,
    bandwidthMbit: null,
    ...extra,
  });
  return {
    version: 1,
    customer: 'acme',
    source: 'pulumi',
    dataDir: '/srv/trading',
    exclude: [],
    service: { start: 'a', stop: 'b', healthPort: 8443 },
    vip: { kind: 'eip', address: '198.51.100.7', holder: 'ny' },
    vipCloud: { kind: 'eip', allocationId: 'eipalloc-0123456789abcdef0', region: 'us-east-1' },
    hosts: [
      h('ny', 'master', 'aws', 'us-east-1', { cloud: { kind: 'aws', instanceId: 'i-0123456789abcdef0', allocationId: 'eipalloc-0123456789abcdef0' } }),
      h('ams', 'mirror', 'azure', 'westeurope', {
        coldRefreshH: 24,
        cloud: {
          kind: 'azure',
          vmId: arm('Microsoft.Compute/virtualMachines', 'vm'),
          nicId: arm('Microsoft.Network/networkInterfaces', 'nic'),
          ipConfigurationName: 'primary',
          publicIpId: arm('Microsoft.Network/publicIPAddresses', 'ip'),
        },
      }),
      h('home', 'mirror', 'offcloud', null),
    ],
  };
}

const messages = (inv: unknown) => {
  const r = checkInventory(inv);
  return r.ok ? [] : r.issues.map((i) => i.message);
};

describe("inventory check: the drivers' ids", () => {
  it('accepts a full inventory, one without any ids, and a Route 53 one', () => {
    expect(messages(base())).toEqual([]);
    const bare = base();
    delete bare.vipCloud;
    for (const h of bare.hosts) delete h.cloud;
    expect(messages(bare)).toEqual([]);
    const dns = base();
    dns.vip = { kind: 'dns', address: 'trade.acme.example.com', holder: 'ny' };
    dns.vipCloud = {
      kind: 'route53',
      hostedZoneId: 'Z0123456789AB',
      recordName: 'trade.acme.example.com',
      ttl: 30,
      primarySetIdentifier: 'ny',
      healthCheckId: 'a1b2c3d4-0000-4000-8000-000000000000',
      secondary: { setIdentifier: 'ams', address: '20.1.2.3' },
    };
    expect(messages(dns)).toEqual([]);
  });

  const FIX = 'regenerate it with `pulumi stack output inventory --json > inventory.json`';
  it.each<[string, (inv: any) => void, string]>([
    ['a bad instance id', (i) => (i.hosts[0].cloud.instanceId = 'web-1'), `hosts[0].cloud.instanceId: expected an EC2 instance id "i-0...", got "web-1"; ${FIX}`],
    ['ids of another cloud', (i) => (i.hosts[0].cloud = i.hosts[1].cloud), `hosts[0].cloud.kind: is "azure", but the host is on "aws"; ${FIX}`],
    [
      'a NIC id where the VM goes',
      (i) => (i.hosts[1].cloud.vmId = i.hosts[1].cloud.nicId),
      `hosts[1].cloud.vmId: expected a virtual machine resource id, got "/subscriptions/00000000-0000-4000-8000-000000000000/reso...; ${FIX}`,
    ],
    ['ids on an off-cloud host', (i) => (i.hosts[2].cloud = { kind: 'offcloud' }), `hosts[2].cloud.kind: is "offcloud"; only aws and azure hosts carry provider ids; ${FIX}`],
    [
      'a vipCloud that does not go with the vip',
      (i) => (i.vipCloud = { kind: 'public-ip', publicIpId: arm('Microsoft.Network/publicIPAddresses', 'ip'), location: 'westeurope' }),
      `vipCloud.kind: is "public-ip", which does not go with vip.kind "eip"; ${FIX}`,
    ],
    ['an Elastic IP in no AWS region', (i) => (i.vipCloud.region = 'westeurope'), `vipCloud.region: expected an AWS region, got "westeurope"; ${FIX}`],
    [
      'coldRefreshH on a warm mirror',
      (i) => (i.hosts[1].failover = 'warm'),
      'hosts[1].coldRefreshH: is set, but "ams" is a warm mirror; only a cold mirror is refreshed on a schedule; correct it in the stack file (tandem validate checks it) and ' + FIX,
    ],
    ['coldRefreshH out of range', (i) => (i.hosts[1].coldRefreshH = 0), 'hosts[1].coldRefreshH: expected an integer 1..720, got 0'],
  ])('refuses %s', (_what, spoil, message) => {
    const inv = base();
    spoil(inv);
    expect(messages(inv)).toEqual([message]);
  });
});
