/**
 * `pulumi up` after a failover (issue 10): the program reads `tandem:live` and builds the layout
 * as it stands now. On the mock runtime: the new master stays primary in every resource that
 * depends on a role (DNS records and health check, cold stop, refresh schedule, health-port rules,
 * tags, address associations, inventory), logical names do not move (no server is replaced), and
 * with no live layout the graph is exactly the one from before live layouts existed
 * (fixtures/graph-before-live.json, recorded from that code).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import type { Inventory } from '../../model/inventory';
import { applyLive, type LiveLayout } from '../../model/live';
import { addressSwap, dnsPlan } from '../../modules/shared/addresses';
import { topologyFromConfig } from '../../model/topology/load';
import type { Topology } from '../../model/topology/types';
import { checkAll } from '../../policy/rules';
import { outputValue, PLAN_ADMIN_KEY, unwrapSecrets } from '../../scripts/plan/runtime';
import { EXAMPLES, exampleTopology, RecordingMocks, runExample } from '../mocks';

/** One recorded resource, as the live tests read it. */
interface R {
  readonly type: string;
  readonly name: string;
  readonly region: string | null;
  readonly inputs: Record<string, any>;
  readonly state: Record<string, any>;
}

/** The program on mocks with a live layout (runOnMocks builds from the stack file's roles only). */
async function runLive(topology: Topology, live: LiveLayout | null): Promise<{ resources: R[]; inventory: Inventory }> {
  const mocks = new RecordingMocks(topology.customer);
  await pulumi.runtime.setMocks(mocks, 'tandem', topology.customer, false);
  const { buildStack } = await import('../../stacks/program');
  const { inventory } = buildStack(topology, { adminKeys: topology.adminKeys.length ? [...topology.adminKeys] : [PLAN_ADMIN_KEY], live });
  const inv = await outputValue(inventory);
  await pulumi.runtime.disconnect();
  const resources = mocks.resources.map((r) => ({
    type: r.type,
    name: r.name,
    region: r.custom && !r.type.startsWith('pulumi:providers:') ? mocks.regionOf(r.provider) : null,
    inputs: unwrapSecrets(r.inputs),
    state: { id: r.id, ...unwrapSecrets(r.state) },
  }));
  return { resources, inventory: inv };
}

function the(rs: readonly R[], type: string, name: string): R {
  const hit = rs.filter((r) => r.type === type && r.name === name);
  if (hit.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${hit.length}`);
  return hit[0];
}
const ofType = (rs: readonly R[], type: string) => rs.filter((r) => r.type === type);
const live = (master: string, epoch = 2): LiveLayout => ({ epoch, master, at: '2026-12-02T21:40:00.000Z', reason: `failover to ${master}`, fenced: [] });

const T = {
  instance: 'aws:ec2/instance:Instance',
  eip: 'aws:ec2/eip:Eip',
  eipAssoc: 'aws:ec2/eipAssociation:EipAssociation',
  state: 'aws:ec2transitgateway/instanceState:InstanceState',
  schedule: 'aws:scheduler/schedule:Schedule',
  ingress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  health: 'aws:route53/healthCheck:HealthCheck',
  record: 'aws:route53/record:Record',
  vm: 'azure-native:compute:VirtualMachine',
  nic: 'azure-native:network:NetworkInterface',
  pip: 'azure-native:network:PublicIPAddress',
  nsgRule: 'azure-native:network:SecurityRule',
  workflow: 'azure-native:logic:Workflow',
};

function canon(v: any): any {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canon(v[k])]),
    );
  return v;
}
const digest = (v: unknown) =>
  createHash('sha256')
    .update(JSON.stringify(canon(v)))
    .digest('hex')
    .slice(0, 16);

/** The inventory as it was before the drivers' ids were added to it. */
function withoutCloudIds(inv: Inventory): unknown {
  const { vipCloud: _v, ...rest } = inv;
  return { ...rest, hosts: inv.hosts.map(({ cloud: _c, ...h }) => h) };
}

describe('no tandem:live: the graph is unchanged', () => {
  const before = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'graph-before-live.json'), 'utf8'));

  it.each(EXAMPLES)(
    'stack %s: every resource, parent, provider, region and input as before',
    async (customer) => {
      const run = await runExample(customer);
      const now = run.resources.map((x) => ({ type: x.type, name: x.name, parent: x.parent, provider: x.provider, region: x.region, inputs: digest(x.inputs) }));
      expect(now).toEqual(before[customer].resources);
      // The inventory only gains the drivers' ids.
      expect(digest(withoutCloudIds(run.inventory))).toBe(before[customer].inventory);
    },
    120_000,
  );

  it('a live layout naming the stack file master builds the same graph as none', async () => {
    const t = exampleTopology('acme');
    const a = await runLive(t, null);
    const b = await runLive(t, live('ny', 3));
    expect(b.resources.map((r) => [r.type, r.name, digest(r.inputs)])).toEqual(a.resources.map((r) => [r.type, r.name, digest(r.inputs)]));
    expect(b.inventory).toEqual(a.inventory);
  }, 120_000);
});

describe('acme after a cross-region failover ny -> chi (DNS)', () => {
  let before: { resources: R[]; inventory: Inventory };
  let after: { resources: R[]; inventory: Inventory };
  const t = exampleTopology('acme');
  beforeAll(async () => {
    before = await runLive(t, null);
    after = await runLive(t, live('chi'));
  }, 120_000);
  const addr = (site: string) => the(before.resources, T.eip, `acme-${site}-eip`).state.publicIp as string;

  it('keeps chi primary: health check, PRIMARY and SECONDARY records updated in place', () => {
    const hc = the(after.resources, T.health, 'acme-dns-health');
    expect(hc.inputs).toMatchObject({ type: 'TCP', ipAddress: addr('chi'), port: 8443 });
    const p = the(after.resources, T.record, 'acme-dns-primary');
    const s = the(after.resources, T.record, 'acme-dns-secondary');
    // Set identifiers are the records' identities: the same as before, so nothing is replaced.
    expect(p.inputs).toMatchObject({ records: [addr('chi')], setIdentifier: 'ny', failoverRoutingPolicies: [{ type: 'PRIMARY' }], healthCheckId: hc.state.id });
    expect(s.inputs).toMatchObject({ records: [addr('ny')], setIdentifier: 'chi', failoverRoutingPolicies: [{ type: 'SECONDARY' }] });
    expect(the(before.resources, T.record, 'acme-dns-primary').inputs.setIdentifier).toBe('ny');
    // Route 53 calls still go through the stack file's region: moving the provider replaces records.
    for (const r of after.resources.filter((x) => x.type.startsWith('aws:route53/'))) expect(r.region).toBe('us-east-1');
  });

  it('tags chi master and ny a warm mirror, and moves the health-port rule to chi', () => {
    const role = (site: string) => the(after.resources, T.instance, `acme-${site}-host`).inputs.tags;
    expect(role('chi')).toMatchObject({ 'tandem:role': 'master' });
    expect(role('chi')['tandem:failover']).toBeUndefined();
    expect(role('ny')).toMatchObject({ 'tandem:role': 'mirror', 'tandem:failover': 'warm' });
    const health = (rs: R[]) =>
      ofType(rs, T.ingress)
        .filter((r) => r.name.endsWith('-ingress-health-route53'))
        .map((r) => r.name);
    expect(health(before.resources)).toEqual(['acme-ny-ingress-health-route53']);
    expect(health(after.resources)).toEqual(['acme-chi-ingress-health-route53']);
    expect(the(after.resources, T.ingress, 'acme-chi-ingress-health-route53').inputs).toMatchObject({ fromPort: 8443, toPort: 8443 });
  });

  it('keeps every server, volume and address: no logical name of a host changes', () => {
    const names = (rs: R[]) =>
      rs
        .filter((r) => !r.name.includes('-ingress-health-'))
        .map((r) => `${r.type} ${r.name}`)
        .sort();
    expect(names(after.resources)).toEqual(names(before.resources));
    for (const site of ['ny', 'chi']) {
      expect(the(after.resources, T.eipAssoc, `acme-${site}-eip-assoc`).inputs.instanceId).toBe(the(after.resources, T.instance, `acme-${site}-host`).state.id);
    }
    expect(ofType(after.resources, T.state)).toEqual([]);
  });

  it('outputs the live inventory: chi master, ny fed by chi, the DNS ids for the driver', () => {
    const inv = after.inventory;
    const h = (site: string) => inv.hosts.find((x) => x.site === site)!;
    expect(h('chi')).toMatchObject({ role: 'master', feedFrom: null, failover: null, address: addr('chi') });
    expect(h('ny')).toMatchObject({ role: 'mirror', feedFrom: 'chi', failover: 'warm', syncIntervalS: 0, address: addr('ny') });
    expect(inv.vip).toEqual({ kind: 'dns', address: 'trade.acme.example.com', holder: 'chi' });
    expect(inv.vipCloud).toEqual({
      kind: 'route53',
      hostedZoneId: the(after.resources, T.record, 'acme-dns-primary').inputs.zoneId,
      recordName: 'trade.acme.example.com',
      ttl: 30,
      primarySetIdentifier: 'ny',
      healthCheckId: the(after.resources, T.health, 'acme-dns-health').state.id,
      secondary: { setIdentifier: 'chi', address: addr('ny') },
    });
    expect(h('chi').cloud).toEqual({
      kind: 'aws',
      instanceId: the(after.resources, T.instance, 'acme-chi-host').state.id,
      allocationId: the(after.resources, T.eip, 'acme-chi-eip').state.allocationId,
    });
  });

  it('still passes every policy', () => {
    expect(checkAll(after.resources as any).filter((f) => f.severity === 'error')).toEqual([]);
  });
});

/** ny (master) and dal in us-east-1, a cold mirror chi in us-east-2 refreshed every 12 h; no DNS. */
function sameRegionTopology(): Topology {
  const r = topologyFromConfig(
    {
      'tandem:customer': 'umbrella',
      'tandem:topology': {
        dataDir: '/srv/trading',
        service: { start: 'a', stop: 'b', healthPort: 9000 },
        adminCidrs: ['203.0.113.0/24'],
        adminKeys: [PLAN_ADMIN_KEY],
        sites: [
          { name: 'ny', role: 'master', provider: 'aws', region: 'us-east-1' },
          { name: 'dal', role: 'mirror', provider: 'aws', region: 'us-east-1', failover: 'hot' },
          { name: 'chi', role: 'mirror', provider: 'aws', region: 'us-east-2', failover: 'cold', coldRefreshH: 12 },
        ],
      },
    },
    'umbrella',
  );
  if (!r.topology) throw new Error(r.issues.map((i) => i.message).join('\n'));
  return r.topology;
}

describe('same-region failover ny -> dal (Elastic IP, no DNS)', () => {
  let before: { resources: R[]; inventory: Inventory };
  let after: { resources: R[]; inventory: Inventory };
  beforeAll(async () => {
    const t = sameRegionTopology();
    before = await runLive(t, null);
    after = await runLive(t, live('dal'));
  }, 120_000);

  it("keeps the service address on dal and ny reachable at dal's old address (the swap the driver made)", () => {
    const r = after.resources;
    const instance = (site: string) => the(r, T.instance, `umbrella-${site}-host`).state.id;
    const eip = (site: string) => the(r, T.eip, `umbrella-${site}-eip`).state;
    expect(the(r, T.eipAssoc, 'umbrella-ny-eip-assoc').inputs).toEqual({ allocationId: eip('ny').allocationId, instanceId: instance('dal') });
    expect(the(r, T.eipAssoc, 'umbrella-dal-eip-assoc').inputs).toEqual({ allocationId: eip('dal').allocationId, instanceId: instance('ny') });
    expect(the(r, T.eipAssoc, 'umbrella-chi-eip-assoc').inputs.instanceId).toBe(instance('chi'));
    const inv = after.inventory;
    expect(inv.vip).toEqual({ kind: 'eip', address: eip('ny').publicIp, holder: 'dal' });
    expect(before.inventory.vip).toEqual({ kind: 'eip', address: eip('ny').publicIp, holder: 'ny' });
    expect(inv.vipCloud).toEqual({ kind: 'eip', allocationId: eip('ny').allocationId, region: 'us-east-1' });
    const h = (site: string) => inv.hosts.find((x) => x.site === site)!;
    expect(h('dal')).toMatchObject({ role: 'master', address: eip('ny').publicIp, cloud: { kind: 'aws', instanceId: instance('dal'), allocationId: eip('ny').allocationId } });
    expect(h('ny')).toMatchObject({
      role: 'mirror',
      failover: 'warm',
      feedFrom: 'dal',
      address: eip('dal').publicIp,
      cloud: { kind: 'aws', instanceId: instance('ny'), allocationId: eip('dal').allocationId },
    });
  });

  it('admits the peers at the addresses they hold now', () => {
    const rule = the(after.resources, T.ingress, 'umbrella-chi-ingress-sync-dal');
    expect(rule.inputs.cidrIpv4).toBe(`${the(after.resources, T.eip, 'umbrella-ny-eip').state.publicIp}/32`);
  });

  it('leaves the cold mirror stopped, refreshed, and fed by the new master', () => {
    expect(ofType(after.resources, T.state).map((r) => r.name)).toEqual(['umbrella-chi-state']);
    expect(ofType(after.resources, T.schedule).map((r) => r.name)).toEqual(['umbrella-chi-refresh-schedule']);
    expect(after.inventory.hosts.find((h) => h.site === 'chi')).toMatchObject({ role: 'mirror', failover: 'cold', feedFrom: 'dal', coldRefreshH: 12 });
  });
});

describe('failover onto a former cold mirror, cross-region: ny -> chi', () => {
  let before: { resources: R[]; inventory: Inventory };
  let after: { resources: R[]; inventory: Inventory };
  beforeAll(async () => {
    const t = sameRegionTopology();
    before = await runLive(t, null);
    after = await runLive(t, live('chi'));
  }, 120_000);

  it('does not stop the promoted cold mirror again, nor schedule its refresh', () => {
    expect(ofType(before.resources, T.state).map((r) => r.name)).toEqual(['umbrella-chi-state']);
    expect(ofType(after.resources, T.state)).toEqual([]);
    expect(ofType(after.resources, T.schedule)).toEqual([]);
    expect(ofType(after.resources, 'aws:iam/role:Role').filter((r) => r.name.includes('refresh'))).toEqual([]);
    expect(the(after.resources, T.instance, 'umbrella-chi-host').inputs.tags).toMatchObject({ 'tandem:role': 'master' });
  });

  it('makes chi the master in the inventory and the service address its own Elastic IP (an address cannot leave its region)', () => {
    const inv = after.inventory;
    const chiEip = the(after.resources, T.eip, 'umbrella-chi-eip').state;
    expect(inv.vip).toEqual({ kind: 'eip', address: chiEip.publicIp, holder: 'chi' });
    expect(inv.vipCloud).toEqual({ kind: 'eip', allocationId: chiEip.allocationId, region: 'us-east-2' });
    const h = (site: string) => inv.hosts.find((x) => x.site === site)!;
    expect(h('chi')).toMatchObject({ role: 'master', failover: null, feedFrom: null });
    expect(h('chi').coldRefreshH).toBeUndefined();
    expect(h('ny')).toMatchObject({ role: 'mirror', failover: 'warm', feedFrom: 'chi' });
    expect(h('dal')).toMatchObject({ role: 'mirror', failover: 'hot', feedFrom: 'chi' });
    for (const site of ['ny', 'dal', 'chi']) {
      expect(the(after.resources, T.eipAssoc, `umbrella-${site}-eip-assoc`).inputs.instanceId).toBe(the(after.resources, T.instance, `umbrella-${site}-host`).state.id);
    }
  });
});

describe('Azure: failover onto the former cold mirror ams (globex)', () => {
  let after: { resources: R[]; inventory: Inventory };
  beforeAll(async () => {
    after = await runLive(exampleTopology('globex'), live('ams'));
  }, 120_000);

  it('tags the VM master, keeps its NIC on its own public IP, and points the inventory at it', () => {
    const vm = the(after.resources, T.vm, 'globex-ams-vm');
    expect(vm.inputs.tags).toMatchObject({ 'tandem:role': 'master' });
    const pip = the(after.resources, T.pip, 'globex-ams-ip');
    const nic = the(after.resources, T.nic, 'globex-ams-nic');
    expect(nic.inputs.ipConfigurations[0].publicIPAddress).toEqual({ id: pip.state.id });
    const inv = after.inventory;
    expect(inv.vip).toEqual({ kind: 'public-ip', address: pip.state.ipAddress, holder: 'ams' });
    expect(inv.vipCloud).toEqual({ kind: 'public-ip', publicIpId: pip.state.id, location: 'westeurope' });
    const ams = inv.hosts.find((h) => h.site === 'ams')!;
    expect(ams).toMatchObject({ role: 'master', feedFrom: null, cloud: { kind: 'azure', vmId: vm.state.id, nicId: nic.state.id, ipConfigurationName: 'primary', publicIpId: pip.state.id } });
    // chi relayed to ams; the old master ny and chi are both fed by ams now.
    expect(
      inv.hosts
        .filter((h) => h.feedFrom === 'ams')
        .map((h) => h.site)
        .sort(),
    ).toEqual(['chi', 'home', 'ny']);
  });
});

describe('stacks/index.ts reads tandem:live', () => {
  async function entry(config: Record<string, string>): Promise<{ inventory?: pulumi.Output<any>; error?: Error }> {
    await pulumi.runtime.setMocks(new RecordingMocks('acme'), 'tandem', 'acme', false);
    pulumi.runtime.setAllConfig(config);
    let out: { inventory?: pulumi.Output<any>; error?: Error } = {};
    jest.isolateModules(() => {
      try {
        // The entry runs at import: a fresh module per test, after the mocks and config are set.

        out = { inventory: require('../../stacks/index').inventory };
      } catch (e) {
        out = { error: e as Error };
      }
    });
    return out;
  }
  const acme = () => {
    const doc = parse(fs.readFileSync(path.join(__dirname, '..', '..', 'stacks', 'Pulumi.acme.yaml'), 'utf8'));
    return { 'tandem:customer': doc.config['tandem:customer'], 'tandem:topology': JSON.stringify(doc.config['tandem:topology']) };
  };

  it('builds the live layout from the stack config', async () => {
    const { inventory, error } = await entry({ ...acme(), 'tandem:live': JSON.stringify(live('chi', 4)) });
    expect(error).toBeUndefined();
    const inv = await outputValue(inventory!);
    expect(inv.hosts.map((h: any) => [h.site, h.role])).toEqual([
      ['ny', 'mirror'],
      ['chi', 'master'],
    ]);
    expect(inv.vip.holder).toBe('chi');
    await pulumi.runtime.disconnect();
  }, 60_000);

  it('refuses a live layout naming no site of the stack, saying which sites there are', async () => {
    const { error } = await entry({ ...acme(), 'tandem:live': JSON.stringify(live('ldn')) });
    expect(error?.message).toMatch(/stack "acme": 1 error[\s\S]*master "ldn" is not a site of stack "acme"; sites: ny, chi/);
  });
});

describe('same-location failover on Azure: the public IPs swap NICs', () => {
  let after: { resources: R[]; inventory: Inventory };
  beforeAll(async () => {
    const r = topologyFromConfig(
      {
        'tandem:customer': 'vandelay',
        'tandem:topology': {
          dataDir: '/srv/trading',
          service: { start: 'a', stop: 'b', healthPort: 9000 },
          adminCidrs: ['203.0.113.0/24'],
          adminKeys: [PLAN_ADMIN_KEY],
          sites: [
            { name: 'ams', role: 'master', provider: 'azure', region: 'westeurope' },
            { name: 'ams2', role: 'mirror', provider: 'azure', region: 'westeurope', failover: 'hot' },
            { name: 'dub', role: 'mirror', provider: 'azure', region: 'northeurope', failover: 'cold', coldRefreshH: 24 },
          ],
        },
      },
      'vandelay',
    );
    after = await runLive(r.topology!, live('ams2'));
  }, 120_000);

  it("puts the service IP on the new master's NIC and the new master's own IP on the old master's", () => {
    const r = after.resources;
    const pip = (site: string) => the(r, T.pip, `vandelay-${site}-ip`).state;
    const nicIp = (site: string) => the(r, T.nic, `vandelay-${site}-nic`).inputs.ipConfigurations[0].publicIPAddress.id;
    expect(nicIp('ams2')).toBe(pip('ams').id);
    expect(nicIp('ams')).toBe(pip('ams2').id);
    expect(nicIp('dub')).toBe(pip('dub').id);
    const inv = after.inventory;
    expect(inv.vip).toEqual({ kind: 'public-ip', address: pip('ams').ipAddress, holder: 'ams2' });
    expect(inv.vipCloud).toEqual({ kind: 'public-ip', publicIpId: pip('ams').id, location: 'westeurope' });
    const h = (site: string) => inv.hosts.find((x) => x.site === site)!;
    expect(h('ams2')).toMatchObject({ role: 'master', address: pip('ams').ipAddress, cloud: { publicIpId: pip('ams').id, nicId: the(r, T.nic, 'vandelay-ams2-nic').state.id } });
    expect(h('ams')).toMatchObject({ role: 'mirror', failover: 'warm', address: pip('ams2').ipAddress, cloud: { publicIpId: pip('ams2').id } });
    // The cold mirror is still cold and refreshed, fed by the new master.
    expect(ofType(r, T.workflow).map((w) => w.name)).toEqual(['vandelay-dub-refresh-workflow']);
    expect(h('dub')).toMatchObject({ feedFrom: 'ams2', coldRefreshH: 24 });
  });
});

describe('failover onto an off-cloud box (globex -> home)', () => {
  it('builds: home is master, no cloud address is the service address, ny is a warm mirror', async () => {
    const { resources, inventory } = await runLive(exampleTopology('globex'), live('home'));
    expect(inventory.vip).toBeNull();
    expect(inventory.vipCloud).toBeUndefined();
    expect(inventory.hosts.find((h) => h.site === 'home')).toMatchObject({ role: 'master', feedFrom: null });
    expect(the(resources, T.instance, 'globex-ny-host').inputs.tags).toMatchObject({ 'tandem:role': 'mirror', 'tandem:failover': 'warm' });
  }, 120_000);
});

describe('the decisions: addressSwap and dnsPlan', () => {
  const topo = (sites: object[], dns = false): Topology => {
    const r = topologyFromConfig(
      {
        'tandem:customer': 'x',
        'tandem:topology': {
          dataDir: '/srv/trading',
          service: { start: 'a', stop: 'b', healthPort: 9000 },
          adminCidrs: ['203.0.113.0/24'],
          ...(dns ? { dns: { zone: 'example.com', name: 'trade.example.com' } } : {}),
          sites,
        },
      },
      'x',
    );
    if (!r.topology) throw new Error(r.issues.map((i) => i.message).join('\n'));
    return r.topology;
  };
  const sites = [
    { name: 'ny', role: 'master', provider: 'aws', region: 'us-east-1' },
    { name: 'dal', role: 'mirror', provider: 'aws', region: 'us-east-1', failover: 'hot' },
    { name: 'chi', role: 'mirror', provider: 'aws', region: 'us-east-2', failover: 'warm' },
    {
      name: 'home',
      role: 'mirror',
      provider: 'offcloud',
      address: 'home.example.net',
      user: 'trader',
      failover: 'warm',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH',
    },
  ];

  it.each<[string, boolean, string | null, [string, string][]]>([
    [
      'same region, no dns',
      false,
      'dal',
      [
        ['dal', 'ny'],
        ['ny', 'dal'],
      ],
    ],
    ['other region, no dns', false, 'chi', []],
    ['same region with dns (the record moves, not the address)', true, 'dal', []],
    ['no failover', false, null, []],
    ['onto an off-cloud box', false, 'home', []],
  ])('addressSwap: %s', (_what, dns, master, want) => {
    const t = topo(sites, dns);
    expect([...addressSwap(t, applyLive(t, master ? live(master) : null))]).toEqual(want);
  });

  it('dnsPlan keeps the set identifiers of the stack file and points them at the live roles', () => {
    const t = topo(sites, true);
    expect(dnsPlan(t, t)).toEqual({ primary: { site: 'ny', setIdentifier: 'ny' }, secondary: { site: 'dal', setIdentifier: 'dal' } });
    expect(dnsPlan(t, applyLive(t, live('chi')))).toEqual({ primary: { site: 'chi', setIdentifier: 'ny' }, secondary: { site: 'dal', setIdentifier: 'dal' } });
    expect(dnsPlan(t, applyLive(t, live('dal')))).toEqual({ primary: { site: 'dal', setIdentifier: 'ny' }, secondary: { site: 'ny', setIdentifier: 'dal' } });
    expect(dnsPlan(topo(sites), topo(sites))).toBeNull();
  });

  it("dnsPlan never gives the SECONDARY the PRIMARY's identifier when the stack file had no SECONDARY", () => {
    // Only an off-cloud mirror known by host name: it cannot hold an A record, so no SECONDARY.
    const only = topo([sites[0], { ...sites[3], name: 'box' }], true);
    expect(dnsPlan(only, only)).toEqual({ primary: { site: 'ny', setIdentifier: 'ny' }, secondary: null });
    // After a failover onto it, ny (the old master) is the standby: a new record, named after box.
    expect(dnsPlan(only, applyLive(only, live('box')))).toEqual({ primary: { site: 'box', setIdentifier: 'ny' }, secondary: { site: 'ny', setIdentifier: 'box' } });
  });
});
