/** Table tests for the pure "decide" functions behind the Pulumi components. */
import { parse } from 'yaml';
import { chooseZones, subnetCidrs, ubuntuArch, ubuntuImageFilter } from '../../modules/aws/decide';
import { azureArch, nsgPriorities, ubuntuImage } from '../../modules/azure/decide';
import { dnsTargets } from '../../model/topology/dns';
import { cloudInit, dataVolumeScript, devicePaths } from '../../modules/shared/cloud-init';
import { ingressRules } from '../../modules/shared/ingress';
import { hostCidr, offcloudPeersByName } from '../../model/topology/cidr';
import { snapshotCopyTarget } from '../../modules/shared/snapshots';
import { dnsRegion } from '../../modules/customer';
import { checkAdminKeys, topologyFromStackConfig } from '../../stacks/program';
import { ed25519FromSeed, exampleTopology } from '../mocks';
import type { Topology } from '../../model/topology/types';

/** A topology from a compact site list, through the real validator. */
function topo(sites: Record<string, unknown>[], extra: Record<string, unknown> = {}): Topology {
  return topologyFromStackConfig(
    't',
    {
      dataDir: '/srv/trading',
      service: { start: 'a', stop: 'b', healthPort: 8443 },
      adminCidrs: ['203.0.113.0/24'],
      sites,
      ...extra,
    },
    't',
  ).topology;
}
const HOME_KEY = ed25519FromSeed('home').publicOpenssh.trim();
const aws = (name: string, region: string, more: Record<string, unknown> = {}) => ({ name, role: 'mirror', provider: 'aws', region, ...more });
const azure = (name: string, region: string, more: Record<string, unknown> = {}) => ({ name, role: 'mirror', provider: 'azure', region, ...more });
const off = (name: string, address: string, more: Record<string, unknown> = {}) => ({ name, role: 'mirror', provider: 'offcloud', address, hostKey: HOME_KEY, user: 'trader', ...more });
const master = (s: Record<string, unknown>) => ({ ...s, role: 'master' });

describe('chooseZones', () => {
  it.each([
    [['us-east-2c', 'us-east-2a', 'us-east-2b'], 2, ['us-east-2a', 'us-east-2b']],
    [['us-east-1e', 'us-east-1a', 'us-east-1f'], 2, ['us-east-1a', 'us-east-1f']],
    [['eu-west-2a', 'eu-west-2a', 'eu-west-2b'], 2, ['eu-west-2a', 'eu-west-2b']],
    [['ap-south-2a', 'ap-south-2b', 'ap-south-2c'], 3, ['ap-south-2a', 'ap-south-2b', 'ap-south-2c']],
  ])('%j, %i -> %j', (available, count, want) => {
    expect(chooseZones(available, count)).toEqual(want);
  });
  it.each([
    [['us-west-1a'], 2],
    [['us-east-1e', 'us-east-1a'], 2],
    [[], 1],
  ])('%j cannot give %i zones', (available, count) => {
    expect(() => chooseZones(available, count)).toThrow(/usable availability zone/);
  });
});

describe('subnetCidrs', () => {
  it.each([
    ['10.20.0.0/16', 2, ['10.20.0.0/24', '10.20.1.0/24']],
    ['10.7.0.0/16', 3, ['10.7.0.0/24', '10.7.1.0/24', '10.7.2.0/24']],
  ])('%s x%i', (cidr, n, want) => expect(subnetCidrs(cidr, n)).toEqual(want));
  it.each([
    ['192.168.0.0/16', 2],
    ['10.20.0.0/16', 0],
    ['10.20.0.0/16', 257],
  ])('rejects %s x%i', (cidr, n) => {
    expect(() => subnetCidrs(cidr, n)).toThrow();
  });
});

describe('image choice', () => {
  it.each([
    ['c6i.large', 'amd64'],
    ['c6i.xlarge', 'amd64'],
    ['c7g.large', 'arm64'],
    ['m6gd.xlarge', 'arm64'],
    ['t4g.micro', 'arm64'],
    ['c6gn.large', 'arm64'],
    ['g5.xlarge', 'amd64'],
    ['g5g.xlarge', 'arm64'],
    ['c6in.large', 'amd64'],
    ['r8g.large', 'arm64'],
    ['t3.micro', 'amd64'],
  ])('AWS %s runs %s', (type, arch) => {
    expect(ubuntuArch(type)).toBe(arch);
    expect(ubuntuImageFilter(ubuntuArch(type))).toBe(`ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${arch}-server-*`);
  });
  it.each([
    ['Standard_D2s_v5', 'amd64', 'server'],
    ['Standard_D2ps_v5', 'arm64', 'server-arm64'],
    ['Standard_E4pds_v5', 'arm64', 'server-arm64'],
    ['Standard_F4s_v2', 'amd64', 'server'],
  ])('Azure %s runs %s', (size, arch, sku) => {
    expect(azureArch(size)).toBe(arch);
    expect(ubuntuImage(size)).toEqual({ publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku, version: 'latest' });
  });
});

describe('hostCidr', () => {
  it.each([
    ['198.51.100.7', { cidr: '198.51.100.7/32', family: 4 }],
    ['2001:db8::7', { cidr: '2001:db8::7/128', family: 6 }],
    ['home.example.net', null],
  ])('%s', (a, want) => expect(hostCidr(a)).toEqual(want));
});

describe('ingressRules', () => {
  const t = topo([master(aws('ny', 'us-east-1', { sshPort: 2222 })), aws('chi', 'us-east-2'), azure('ams', 'westeurope'), off('home', '198.51.100.7'), off('cabin', 'cabin.example.net')], {
    adminCidrs: ['203.0.113.0/24', '2001:db8:1::/48'],
    dns: { zone: 'example.com', name: 'trade.example.com' },
  });

  const summary = (site: string, tt = t) =>
    ingressRules(tt, site)
      .map((r) => {
        const s = r.source;
        return `${r.port} ${s.kind === 'cidr' ? s.cidr : s.kind === 'peer' ? `peer:${s.site}` : 'route53'}`;
      })
      .sort();

  it.each([
    ['ny', ['2222 198.51.100.7/32', '2222 2001:db8:1::/48', '2222 203.0.113.0/24', '2222 peer:ams', '2222 peer:chi', '8443 route53']],
    ['chi', ['22 198.51.100.7/32', '22 2001:db8:1::/48', '22 203.0.113.0/24', '22 peer:ams', '22 peer:ny']],
    ['ams', ['22 198.51.100.7/32', '22 2001:db8:1::/48', '22 203.0.113.0/24', '22 peer:chi', '22 peer:ny']],
  ])('%s admits exactly %j', (site, want) => expect(summary(site)).toEqual(want));

  it('never opens SSH to the world unless allowOpenSsh', () => {
    for (const s of t.sites) {
      for (const r of ingressRules(t, s.name)) {
        if (r.source.kind === 'cidr') expect(['0.0.0.0/0', '::/0']).not.toContain(r.source.cidr);
      }
    }
    const open = topo([master(aws('ny', 'us-east-1')), aws('chi', 'us-east-2')], { allowOpenSsh: true, adminCidrs: ['0.0.0.0/0'] });
    expect(summary('ny', open)).toEqual(['22 0.0.0.0/0', '22 ::/0', '22 peer:chi']);
    expect(ingressRules(open, 'ny').filter((r) => r.description.includes('(allowOpenSsh)'))).toHaveLength(2);
  });

  it('reports off-cloud peers that only have a host name', () => {
    expect(offcloudPeersByName(t)).toEqual(['cabin']);
  });

  it('gives every rule a distinct key (the logical name suffix)', () => {
    for (const s of t.sites) {
      const keys = ingressRules(t, s.name).map((r) => r.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });
});

describe('nsgPriorities', () => {
  it('keeps bands apart and unique', () => {
    const t = topo([master(azure('ams', 'westeurope')), aws('chi', 'us-east-2'), aws('ldn', 'eu-west-2')], {
      adminCidrs: ['203.0.113.0/24', '198.18.0.0/15'],
      dns: { zone: 'example.com', name: 'trade.example.com' },
    });
    const rules = ingressRules(t, 'ams');
    const p = nsgPriorities(rules);
    expect(rules.map((r, i) => `${r.key}=${p[i]}`)).toEqual(['ssh-203-0-113-0-24=100', 'ssh-198-18-0-0-15=101', 'sync-chi=1000', 'sync-ldn=1001', 'health-route53=2000']);
  });
});

describe('snapshotCopyTarget', () => {
  const lab = exampleTopology('lab');
  const globex = exampleTopology('globex');
  it.each([
    [lab, 'ny', { site: 'chi', region: 'us-east-2' }],
    [lab, 'chi', { site: 'ny', region: 'us-east-1' }],
    [lab, 'ldn', { site: 'ny', region: 'us-east-1' }],
    [lab, 'ams', null],
    [globex, 'ny', { site: 'chi', region: 'us-east-2' }],
    [globex, 'chi', { site: 'ny', region: 'us-east-1' }],
    [globex, 'home', null],
  ])('%#: %s', (t, site, want) => expect(snapshotCopyTarget(t, site)).toEqual(want));

  it('skips sites in the same region and prefers the feed parent', () => {
    const t = topo([master(aws('a', 'us-east-1')), aws('b', 'us-east-1'), aws('c', 'eu-west-1', { relayVia: 'd' }), aws('d', 'us-west-2')]);
    // a feeds b (same region, skipped) and d; c is fed by d.
    expect(snapshotCopyTarget(t, 'a')).toEqual({ site: 'd', region: 'us-west-2' });
    expect(snapshotCopyTarget(t, 'b')).toEqual({ site: 'd', region: 'us-west-2' });
    expect(snapshotCopyTarget(t, 'c')).toEqual({ site: 'd', region: 'us-west-2' });
    expect(snapshotCopyTarget(t, 'd')).toEqual({ site: 'a', region: 'us-east-1' });
  });
  it('is null when every other AWS site shares the region', () => {
    const t = topo([master(aws('a', 'us-east-1')), aws('b', 'us-east-1'), azure('c', 'westeurope')]);
    expect(snapshotCopyTarget(t, 'a')).toBeNull();
  });
});

describe('dnsTargets and dnsRegion', () => {
  const dns = { dns: { zone: 'example.com', name: 'trade.example.com' } };
  it.each([
    ['hot beats warm', [master(aws('ny', 'us-east-1')), aws('w', 'us-east-2'), aws('h', 'eu-west-2', { failover: 'hot' })], 'h', 'us-east-1'],
    ['cloud beats off-cloud', [master(aws('ny', 'us-east-1')), off('home', '198.51.100.7'), azure('w', 'westeurope')], 'w', 'us-east-1'],
    ['feed order breaks ties', [master(azure('ams', 'westeurope')), aws('b', 'us-east-2', { relayVia: 'a' }), aws('a', 'us-west-2')], 'a', 'us-east-2'],
    ['host names cannot hold A records', [master(aws('ny', 'us-east-1')), off('cabin', 'cabin.example.net')], null, 'us-east-1'],
  ])('%s', (_why, sites, secondary, region) => {
    const t = topo(sites as Record<string, unknown>[], dns);
    expect(dnsTargets(t)).toEqual({ primary: t.sites.find((s) => s.role === 'master')!.name, secondary });
    expect(dnsRegion(t)).toBe(region);
  });
  it('is null without dns', () => {
    expect(dnsTargets(exampleTopology('globex'))).toBeNull();
  });
});

describe('cloud-init', () => {
  const key = ed25519FromSeed('host');
  const doc = (port?: number, device: Parameters<typeof cloudInit>[0]['device'] = { kind: 'aws-ebs', volumeId: 'vol-0abc' }) =>
    cloudInit({
      adminUser: 'ubuntu',
      adminKeys: ['ssh-ed25519 AAAA admin'],
      hostKey: { privateOpenssh: key.privateOpenssh, publicOpenssh: key.publicOpenssh },
      dataDir: '/srv/trading',
      device,
      sshPort: port,
    });

  it('pins the generated host key, creates the users and installs rsync and Node.js', () => {
    const text = doc();
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    const c = parse(text);
    expect(c.ssh_keys).toEqual({ ed25519_private: key.privateOpenssh, ed25519_public: key.publicOpenssh.trim() });
    expect(c.ssh_genkeytypes).toEqual([]);
    expect(c.users.map((u: { name: string }) => u.name)).toEqual(['ubuntu', 'tandem']);
    expect(c.users[0].ssh_authorized_keys).toEqual(['ssh-ed25519 AAAA admin']);
    expect(c.packages).toEqual(expect.arrayContaining(['rsync', 'nodejs']));
    expect(c.runcmd).toEqual([['/usr/local/sbin/tandem-data-volume']]);
  });
  it('moves sshd only when sshPort is not 22', () => {
    expect(parse(doc(22)).write_files.map((f: { path: string }) => f.path)).toEqual(['/usr/local/sbin/tandem-data-volume']);
    const c = parse(doc(2222));
    expect(c.write_files.find((f: { path: string }) => f.path.endsWith('10-tandem-port.conf')).content).toBe('Port 2222\n');
  });
  it.each([
    [{ kind: 'aws-ebs', volumeId: 'vol-0123abc' } as const, ['/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123abc', '/dev/xvdf']],
    [{ kind: 'azure-lun', lun: 0 } as const, ['/dev/disk/azure/scsi1/lun0', '/dev/disk/azure/data/by-lun/0']],
  ])('waits for %j', (device, paths) => {
    expect(devicePaths(device)).toEqual(paths);
    const script = dataVolumeScript('/srv/trading', device);
    for (const p of paths) expect(script).toContain(`'${p}'`);
    // Formats only a blank volume, mounts by UUID with nofail.
    expect(script).toMatch(/if \[ -z "\$\(blkid -o value -s TYPE "\$DEV" \|\| true\)" \]; then mkfs\.ext4/);
    expect(script).toContain('nofail');
  });
  it('refuses a dataDir that would break the script', () => {
    expect(() => dataVolumeScript("/srv/it's", { kind: 'azure-lun', lun: 0 })).toThrow(/plain path/);
  });
});

function acmeTopology(): any {
  const { parse } = require('yaml');
  const fsx = require('node:fs');
  const px = require('node:path');
  return parse(fsx.readFileSync(px.join(__dirname, '..', '..', 'stacks', 'Pulumi.acme.yaml'), 'utf8')).config['tandem:topology'];
}

describe('stack config checks', () => {
  it('lists every topology problem at once', () => {
    expect(() => topologyFromStackConfig('acme', { dataDir: 'relative', sites: [] }, 'acme')).toThrow(/dataDir[\s\S]*sites/);
  });
  it('rejects a customer that differs from the stack', () => {
    expect(() => topologyFromStackConfig('acme', {}, 'globex')).toThrow(/differs from the stack/);
  });
  it('a cloud stack without admin keys stops before anything is created, naming the hosts', () => {
    const { topology } = topologyFromStackConfig('acme', { ...acmeTopology(), adminKeys: [] }, 'acme');
    expect(() => checkAdminKeys(topology)).toThrow(/stack "acme": adminKeys is empty, so nobody could log in to ny, chi; add your public key under tandem:topology/);
  });
  it('an off-cloud-only stack needs no admin keys', () => {
    const t = acmeTopology();
    const key = `${ed25519FromSeed('box').publicOpenssh.trim()}`;
    t.sites = [
      { name: 'a', role: 'master', provider: 'offcloud', address: '198.51.100.1', hostKey: key, user: 'trader' },
      { name: 'b', role: 'mirror', provider: 'offcloud', address: '198.51.100.2', hostKey: key, user: 'trader' },
    ];
    const { topology } = topologyFromStackConfig('acme', { ...t, adminKeys: [] }, 'acme');
    expect(checkAdminKeys(topology)).toEqual([]);
  });
  it("returns the topology's keys", () => {
    const k = `${ed25519FromSeed('admin').publicOpenssh.trim()} me@laptop`;
    const { topology } = topologyFromStackConfig('acme', { ...acmeTopology(), adminKeys: [k] }, 'acme');
    expect(checkAdminKeys(topology)).toEqual([k]);
  });
});
