/**
 * The stack program on Pulumi's mock runtime, for each example stack. One file, one load of the
 * Pulumi SDKs: every example is built once in beforeAll and the tests read the recorded graphs.
 */
import { parse } from 'yaml';
import { dnsRegion } from '../../modules/customer';
import { dnsTargets } from '../../model/topology/dns';
import { snapshotCopyTarget } from '../../modules/shared/snapshots';
import { checkAll } from '../../policy/rules';
import { topologyFindings } from '../../scripts/plan/notes';
import { masterOf } from '../../model/topology/graph';
import type { Site, Topology } from '../../model/topology/types';
import { EXAMPLES, ofType, one, runExample, type GraphResource, type MockRun } from '../mocks';

type Run = { topology: Topology } & MockRun;
const runs = new Map<string, Run>();

beforeAll(async () => {
  for (const c of EXAMPLES) runs.set(c, await runExample(c));
}, 120_000);

const T = {
  instance: 'aws:ec2/instance:Instance',
  volume: 'aws:ebs/volume:Volume',
  key: 'aws:kms/key:Key',
  eip: 'aws:ec2/eip:Eip',
  ingress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  state: 'aws:ec2transitgateway/instanceState:InstanceState',
  dlm: 'aws:dlm/lifecyclePolicy:LifecyclePolicy',
  vm: 'azure-native:compute:VirtualMachine',
  disk: 'azure-native:compute:Disk',
  pip: 'azure-native:network:PublicIPAddress',
  nsgRule: 'azure-native:network:SecurityRule',
  tls: 'tls:index/privateKey:PrivateKey',
};

/** The site a resource belongs to, from its logical name `<customer>-<site>-...`. */
function siteOf(t: Topology, r: GraphResource): Site | undefined {
  return t.sites.find((s) => r.name === `${t.customer}-${s.name}` || r.name.startsWith(`${t.customer}-${s.name}-`));
}

describe.each(EXAMPLES)('stack %s on the mock runtime', (customer) => {
  const run = () => runs.get(customer)!;

  it('builds cloud resources for every cloud site and none for off-cloud ones', () => {
    const { topology: t, resources } = run();
    for (const s of t.sites) {
      const mine = resources.filter((r) => r.custom && siteOf(t, r)?.name === s.name && !r.type.startsWith('pulumi:providers:'));
      if (s.provider === 'offcloud') expect(mine).toEqual([]);
      else expect(mine.length).toBeGreaterThan(10);
    }
  });

  it('puts every resource under the root component, with unique URNs and names', () => {
    const { resources } = run();
    expect(resources.filter((r) => !r.inTree).map((r) => r.name)).toEqual([]);
    const urns = resources.map((r) => r.urn);
    expect(new Set(urns).size).toBe(urns.length);
    const names = resources.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of resources) expect(r.name === customer || r.name.startsWith(`${customer}-`)).toBe(true);
  });

  it('creates one explicit provider per AWS region and Azure location, and nothing without one', () => {
    const { topology: t, resources } = run();
    const providers = resources.filter((r) => r.type.startsWith('pulumi:providers:'));
    const want = new Set(t.sites.filter((s) => s.provider !== 'offcloud').map((s) => `${s.provider === 'aws' ? 'aws' : 'azure-native'}:${s.region}`));
    if (t.dns) want.add(`aws:${dnsRegion(t)}`);
    expect(providers.map((p) => `${p.type.split(':')[2]}:${p.region}`).sort()).toEqual([...want].sort());
    for (const r of resources) {
      if (!r.custom || r.type.startsWith('pulumi:providers:') || r.type.startsWith('tls:')) continue;
      expect({ name: r.name, provider: r.provider }).toEqual({ name: r.name, provider: expect.stringMatching(new RegExp(`^${customer}-(aws|azure)-`)) });
    }
  });

  it('sends every cloud lookup through an explicit provider', () => {
    const { mocks } = run();
    expect(mocks.calls.length).toBeGreaterThan(0);
    for (const c of mocks.calls) expect({ token: c.token, region: mocks.regionOf(c.provider) }).toEqual({ token: c.token, region: expect.any(String) });
  });

  it("places every resource in its site's region or location", () => {
    const { topology: t, resources } = run();
    let checked = 0;
    for (const r of resources) {
      if (!r.custom || r.type.startsWith('pulumi:providers:') || r.type.startsWith('tls:')) continue;
      const s = siteOf(t, r);
      if (r.name.startsWith(`${customer}-dns-`)) {
        expect({ name: r.name, region: r.region }).toEqual({ name: r.name, region: dnsRegion(t) });
      } else {
        expect(s).toBeDefined();
        expect({ name: r.name, region: r.region }).toEqual({ name: r.name, region: s!.region });
        if (typeof r.inputs.location === 'string') expect(r.inputs.location).toBe(s!.region);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it("never places a mirror in the master's region unless the topology does", () => {
    const { topology: t, resources } = run();
    const master = masterOf(t);
    const hosts = [...ofType(resources, T.instance), ...ofType(resources, T.vm)];
    expect(hosts).toHaveLength(t.sites.filter((s) => s.provider !== 'offcloud').length);
    for (const h of hosts) {
      const s = siteOf(t, h)!;
      expect(h.inputs.tags['tandem:role']).toBe(s.role);
      if (s.role === 'mirror' && !(s.provider === master.provider && s.region === master.region)) {
        expect(h.region).not.toBe(master.region);
      }
    }
  });

  it('encrypts every volume and disk, with the KMS key of its own site', () => {
    const { topology: t, resources } = run();
    const keys = ofType(resources, T.key);
    for (const v of ofType(resources, T.volume)) {
      const s = siteOf(t, v)!;
      expect(v.inputs).toMatchObject({ encrypted: true, type: 'gp3', size: s.diskGb });
      expect(v.inputs.kmsKeyId).toBe(one(keys, T.key, `${customer}-${s.name}-key`).state.arn);
      expect(v.inputs.kmsKeyId).toContain(`:${s.region}:`);
    }
    for (const i of ofType(resources, T.instance)) {
      const s = siteOf(t, i)!;
      expect(i.inputs.rootBlockDevice).toMatchObject({ encrypted: true, kmsKeyId: one(keys, T.key, `${customer}-${s.name}-key`).state.arn });
    }
    for (const d of ofType(resources, T.disk)) expect(d.inputs.encryption).toEqual({ type: 'EncryptionAtRestWithPlatformKey' });
    for (const vm of ofType(resources, T.vm)) {
      expect(vm.inputs.storageProfile.dataDisks).toEqual([
        expect.objectContaining({ createOption: 'Attach', managedDisk: { id: ofType(resources, T.disk).find((d) => siteOf(t, d) === siteOf(t, vm))!.state.id } }),
      ]);
    }
    expect(ofType(resources, T.volume)).toHaveLength(t.sites.filter((s) => s.provider === 'aws').length);
    expect(ofType(resources, T.disk)).toHaveLength(t.sites.filter((s) => s.provider === 'azure').length);
  });

  it('requires IMDSv2 and boots a current Ubuntu LTS image found by lookup', () => {
    const { resources, mocks } = run();
    const amiCalls = mocks.calls.filter((c) => c.token === 'aws:ec2/getAmi:getAmi');
    for (const i of ofType(resources, T.instance)) {
      expect(i.inputs.metadataOptions).toMatchObject({ httpTokens: 'required', httpPutResponseHopLimit: 1 });
      const call = amiCalls.find((c) => mocks.regionOf(c.provider) === i.region)!;
      expect(call.inputs.owners).toEqual(['099720109477']);
      expect(call.inputs.filters).toContainEqual({ name: 'name', values: ['ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*'] });
      expect(i.inputs.ami).toMatch(/^ami-0[0-9a-f]{16}$/);
    }
    for (const vm of ofType(resources, T.vm)) {
      expect(vm.inputs.storageProfile.imageReference).toEqual({ publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' });
    }
  });

  it('prepares each host with cloud-init: pinned host key, users, data volume mount', () => {
    const { topology: t, resources, inventory } = run();
    const docs: [Site, string][] = [
      ...ofType(resources, T.instance).map((i) => [siteOf(t, i)!, i.inputs.userData as string] as [Site, string]),
      ...ofType(resources, T.vm).map((v) => [siteOf(t, v)!, Buffer.from(v.inputs.osProfile.customData, 'base64').toString()] as [Site, string]),
    ];
    for (const [s, text] of docs) {
      const c = parse(text);
      const host = inventory.hosts.find((h) => h.site === s.name)!;
      expect(`${c.ssh_keys.ed25519_public}`).toBe(host.hostKey);
      expect(c.users.map((u: { name: string }) => u.name)).toEqual([s.user, 'tandem']);
      expect(c.packages).toEqual(expect.arrayContaining(['rsync', 'nodejs']));
      const script = c.write_files.find((f: { path: string }) => f.path === '/usr/local/sbin/tandem-data-volume').content as string;
      expect(script).toContain(`DIR='${t.dataDir}'`);
      if (s.provider === 'aws') {
        const vol = one(resources, T.volume, `${customer}-${s.name}-data`);
        expect(script).toContain(`nvme-Amazon_Elastic_Block_Store_${vol.state.id.replace('-', '')}`);
      } else expect(script).toContain('/dev/disk/azure/scsi1/lun0');
    }
    expect(docs.length).toBe(t.sites.filter((x) => x.provider !== 'offcloud').length);
  });

  it('admits exactly SSH from adminCidrs and the other sites, and the health port only for Route 53', () => {
    const { topology: t, resources, inventory } = run();
    const addr = new Map(inventory.hosts.map((h) => [h.site, h.address]));
    const healthChecked = t.dns ? masterOf(t).name : null;
    for (const s of t.sites.filter((x) => x.provider !== 'offcloud')) {
      const want = [
        ...t.adminCidrs.map((c) => `${s.sshPort} ${c}`),
        ...t.sites.filter((o) => o.name !== s.name).map((o) => `${s.sshPort} ${addr.get(o.name)}/32`),
        ...(healthChecked === s.name ? [`${t.service.healthPort} route53`] : []),
      ].sort();
      let got: string[];
      if (s.provider === 'aws') {
        const rules = resources.filter((r) => r.type === T.ingress && r.parent === `${customer}-${s.name}-ingress`);
        const sg = one(resources, 'aws:ec2/securityGroup:SecurityGroup', `${customer}-${s.name}-sg`);
        for (const r of rules) expect(r.inputs).toMatchObject({ securityGroupId: sg.state.id, ipProtocol: 'tcp' });
        got = rules.map((r) => {
          expect(r.inputs.fromPort).toBe(r.inputs.toPort);
          return `${r.inputs.fromPort} ${r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? (r.inputs.prefixListId?.startsWith('pl-') ? 'route53' : '?')}`;
        });
      } else {
        const rules = resources.filter((r) => r.type === T.nsgRule && r.parent === `${customer}-${s.name}-ingress`);
        const prio = rules.map((r) => r.inputs.priority);
        expect(new Set(prio).size).toBe(prio.length);
        got = rules.map((r) => {
          expect(r.inputs).toMatchObject({ direction: 'Inbound', access: 'Allow', protocol: 'Tcp' });
          return `${r.inputs.destinationPortRange} ${r.inputs.sourceAddressPrefix === 'Internet' ? 'route53' : r.inputs.sourceAddressPrefix}`;
        });
      }
      expect({ site: s.name, rules: got.sort() }).toEqual({ site: s.name, rules: want });
      expect(got.some((g) => / (0\.0\.0\.0\/0|::\/0)$/.test(g))).toBe(false);
    }
    if (t.dns) {
      const calls = run().mocks.calls.filter((c) => c.token === 'aws:ec2/getManagedPrefixList:getManagedPrefixList');
      expect(calls.map((c) => c.inputs.name)).toEqual([`com.amazonaws.${masterOf(t).region}.route53-healthchecks`]);
    }
  });

  it('stops cold mirrors after creation (AWS) and notes what Azure cannot do', () => {
    const { topology: t, resources } = run();
    const states = ofType(resources, T.state);
    const coldAws = t.sites.filter((s) => s.role === 'mirror' && s.failover === 'cold' && s.provider === 'aws');
    expect(states.map((s) => s.name).sort()).toEqual(coldAws.map((s) => `${customer}-${s.name}-state`).sort());
    for (const st of states) {
      const s = siteOf(t, st)!;
      expect(st.inputs).toEqual({ instanceId: one(resources, T.instance, `${customer}-${s.name}-host`).state.id, state: 'stopped' });
    }
    const coldAzure = t.sites.filter((s) => s.role === 'mirror' && s.failover === 'cold' && s.provider === 'azure').map((s) => `${customer}-${s.name}-vm`);
    expect(
      topologyFindings(t)
        .filter((f) => f.rule === 'cold-mirror')
        .map((f) => f.resource),
    ).toEqual(coldAzure);
    for (const name of coldAzure) expect(one(resources, T.vm, name).inputs.tags['tandem:failover']).toBe('cold');
  });

  it("snapshots every data volume/disk, copying AWS snapshots to another site's region with that site's key", () => {
    const { topology: t, resources } = run();
    for (const s of t.sites.filter((x) => x.provider === 'aws')) {
      const p = one(resources, T.dlm, `${customer}-${s.name}-snapshots-dlm`);
      const vol = one(resources, T.volume, `${customer}-${s.name}-data`);
      expect(p.inputs.policyDetails.targetTags).toEqual({ 'tandem:snapshots': vol.inputs.tags['tandem:snapshots'] });
      const target = snapshotCopyTarget(t, s.name);
      const copy = p.inputs.policyDetails.schedules[0].crossRegionCopyRules ?? [];
      if (target) {
        const key = one(resources, T.key, `${customer}-${target.site}-key`);
        expect(copy).toEqual([expect.objectContaining({ target: target.region, encrypted: true, cmkArn: key.state.arn })]);
        expect(target.region).not.toBe(s.region);
      } else expect(copy).toEqual([]);
    }
    for (const s of t.sites.filter((x) => x.provider === 'azure')) {
      const bi = one(resources, 'azure-native:dataprotection:BackupInstance', `${customer}-${s.name}-backup-instance`);
      const disk = one(resources, T.disk, `${customer}-${s.name}-data`);
      expect(bi.inputs.properties.dataSourceInfo.resourceID).toBe(disk.state.id);
    }
  });

  it('passes every policy, and a policy fails once the real graph is broken', () => {
    const { resources } = run();
    expect(checkAll(resources).filter((f) => f.severity === 'error')).toEqual([]);
    const broken = resources.map((r) => (r.type === T.volume ? { ...r, inputs: { ...r.inputs, encrypted: false } } : r));
    expect(checkAll(broken).filter((f) => f.rule === 'encryption-at-rest' && f.severity === 'error').length).toBe(ofType(resources, T.volume).length);
  });

  it('outputs an inventory with every host', () => {
    const { topology: t, resources, inventory } = run();
    expect(inventory).toMatchObject({ version: 1, customer, source: 'pulumi', dataDir: t.dataDir, exclude: t.exclude, service: t.service });
    expect(inventory.hosts.map((h) => h.site)).toEqual(t.sites.map((s) => s.name));
    for (const s of t.sites) {
      const h = inventory.hosts.find((x) => x.site === s.name)!;
      expect(h).toMatchObject({ role: s.role, provider: s.provider, region: s.region, user: s.user, sshPort: s.sshPort, dataDir: t.dataDir });
      expect(h.hostKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
      if (s.provider === 'aws') {
        expect(h.address).toBe(one(resources, T.eip, `${customer}-${s.name}-eip`).state.publicIp);
        expect(h.hostKeySource).toBe('generated');
        expect(h.hostKey).toBe(one(resources, T.tls, `${customer}-${s.name}-host-key`).state.publicKeyOpenssh.trim());
      } else if (s.provider === 'azure') {
        expect(h.address).toBe(one(resources, T.pip, `${customer}-${s.name}-ip`).state.ipAddress);
        expect(h.hostKeySource).toBe('generated');
      } else {
        expect(h).toMatchObject({ address: s.address, hostKey: s.hostKey, hostKeySource: 'pinned' });
      }
      if (s.role === 'mirror') expect(h).toMatchObject({ failover: s.failover, feedFrom: s.relayVia ?? masterOf(t).name, syncIntervalS: s.syncIntervalS, bandwidthMbit: s.bandwidthMbit });
      else expect(h).toMatchObject({ failover: null, feedFrom: null, syncIntervalS: null, bandwidthMbit: null });
    }
    const master = inventory.hosts.find((h) => h.role === 'master')!;
    if (t.dns) expect(inventory.vip).toEqual({ kind: 'dns', address: t.dns.name, holder: master.site });
    else expect(inventory.vip).toEqual({ kind: master.provider === 'aws' ? 'eip' : 'public-ip', address: master.address, holder: master.site });
    expect(JSON.parse(JSON.stringify(inventory))).toEqual(inventory);
  });
});

describe('DNS failover (acme)', () => {
  it('health-checks the master on its health port and points PRIMARY/SECONDARY at master and standby', () => {
    const { topology: t, resources, inventory } = runs.get('acme')!;
    const targets = dnsTargets(t)!;
    const addr = (site: string) => inventory.hosts.find((h) => h.site === site)!.address;
    const hc = one(resources, 'aws:route53/healthCheck:HealthCheck', 'acme-dns-health');
    expect(hc.inputs).toMatchObject({ type: 'TCP', ipAddress: addr(targets.primary), port: t.service.healthPort });
    const p = one(resources, 'aws:route53/record:Record', 'acme-dns-primary');
    const s = one(resources, 'aws:route53/record:Record', 'acme-dns-secondary');
    expect(p.inputs).toMatchObject({ name: t.dns!.name, type: 'A', ttl: 30, records: [addr('ny')], setIdentifier: 'ny', failoverRoutingPolicies: [{ type: 'PRIMARY' }], healthCheckId: hc.state.id });
    expect(s.inputs).toMatchObject({ name: t.dns!.name, type: 'A', records: [addr('chi')], setIdentifier: 'chi', failoverRoutingPolicies: [{ type: 'SECONDARY' }] });
    expect(p.inputs.zoneId).toMatch(/^Z[0-9A-F]{12}$/);
  });
  it('creates no DNS resources for stacks without dns', () => {
    for (const c of ['globex', 'lab']) expect(runs.get(c)!.resources.filter((r) => r.type.startsWith('aws:route53/'))).toEqual([]);
  });
});

describe('DNS failover for an Azure master', () => {
  it('probes the Azure public IP and opens its health port to the checkers only', async () => {
    const { topologyFromStackConfig } = await import('../../stacks/program');
    const { runOnMocks } = await import('../mocks');
    const { topology: t } = topologyFromStackConfig(
      'initech',
      {
        dataDir: '/srv/trading',
        service: { start: 'a', stop: 'b', healthPort: 9000 },
        adminCidrs: ['203.0.113.0/24'],
        dns: { zone: 'example.com', name: 'trade.initech.example.com', ttl: 60 },
        sites: [
          { name: 'ams', role: 'master', provider: 'azure', region: 'westeurope' },
          { name: 'ldn', role: 'mirror', provider: 'aws', region: 'eu-west-2', failover: 'hot' },
        ],
      },
      'initech',
    );
    const { resources, inventory } = await runOnMocks(t);
    const ams = inventory.hosts.find((h) => h.site === 'ams')!;
    expect(ams.address).toBe(one(resources, T.pip, 'initech-ams-ip').state.ipAddress);
    const hc = one(resources, 'aws:route53/healthCheck:HealthCheck', 'initech-dns-health');
    expect(hc.inputs).toMatchObject({ type: 'TCP', ipAddress: ams.address, port: 9000 });
    // Route 53 calls go through the mirror's AWS region: there is no AWS master.
    expect(hc.region).toBe('eu-west-2');
    expect(one(resources, 'aws:route53/record:Record', 'initech-dns-secondary').inputs.records).toEqual([inventory.hosts.find((h) => h.site === 'ldn')!.address]);
    const health = one(resources, T.nsgRule, 'initech-ams-ingress-health-route53');
    expect(health.inputs).toMatchObject({ destinationPortRange: '9000', sourceAddressPrefix: 'Internet', priority: 2000 });
    expect(topologyFindings(t).map((f) => f.rule)).toContain('health-port');
    expect(checkAll(resources).filter((f) => f.severity === 'error')).toEqual([]);
  }, 60_000);
});

describe('stacks/index.ts, the `pulumi up` entry', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  async function entry(config: Record<string, string>): Promise<{ inventory?: import('@pulumi/pulumi').Output<unknown>; error?: Error }> {
    const pulumi = await import('@pulumi/pulumi');
    const { RecordingMocks } = await import('../mocks');
    await pulumi.runtime.setMocks(new RecordingMocks('acme'), 'tandem', 'acme', false);
    pulumi.runtime.setAllConfig(config);
    let out: { inventory?: import('@pulumi/pulumi').Output<unknown>; error?: Error } = {};
    jest.isolateModules(() => {
      try {
        out = { inventory: require('../../stacks/index').inventory };
      } catch (e) {
        out = { error: e as Error };
      }
    });
    return out;
  }
  const stackConfig = () => {
    const doc = parse(fs.readFileSync(path.join(__dirname, '..', '..', 'stacks', 'Pulumi.acme.yaml'), 'utf8'));
    return { 'tandem:customer': doc.config['tandem:customer'], 'tandem:topology': JSON.stringify(doc.config['tandem:topology']) };
  };

  it('reads the stack config once, validates it and exports the inventory', async () => {
    const { inventory, error } = await entry(stackConfig());
    expect(error).toBeUndefined();
    const inv = await new Promise<any>((resolve) => inventory!.apply(resolve));
    expect(inv.hosts.map((h: { site: string }) => h.site)).toEqual(['ny', 'chi']);
    await (await import('@pulumi/pulumi')).runtime.disconnect();
  }, 60_000);

  it('stops with a clear message when the admin keys are missing', async () => {
    const c = stackConfig();
    const t = JSON.parse(c['tandem:topology']);
    delete t.adminKeys;
    const { error } = await entry({ ...c, 'tandem:topology': JSON.stringify(t) });
    expect(error?.message).toMatch(/adminKeys is empty, so nobody could log in to ny, chi/);
  });

  it('stops listing every topology problem', async () => {
    const { error } = await entry({ 'tandem:customer': 'acme', 'tandem:topology': JSON.stringify({ dataDir: 'x', sites: [] }) });
    expect(error?.message).toMatch(/stack "acme": \d+ errors[\s\S]*dataDir "x"[\s\S]*sites/);
  });
});
