/**
 * The Azure driver through the SDKs' own HTTP pipeline: a fake `HttpClient` plays ARM (NICs,
 * VMs, long-running operations polled through Azure-AsyncOperation until they succeed), a fake
 * TokenCredential signs requests. Asserts the exact requests: method, path, api-version, body.
 * The fake refuses any host but management.azure.com and answers everything itself: nothing
 * leaves the process.
 */
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/core-auth';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { createAzureDriver, parseResourceId } from '../../scripts/failover/drivers/azure';

const SUB = '00000000-0000-4000-8000-000000000000';
const rid = (rg: string, type: string, name: string) => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/${type}/${name}`;
const nicId = (site: string) => rid(`acme-${site}-rg`, 'Microsoft.Network/networkInterfaces', `acme-${site}-nic`);
const pipId = (site: string) => rid(`acme-${site}-rg`, 'Microsoft.Network/publicIPAddresses', `acme-${site}-ip`);
const vmId = (site: string) => rid(`acme-${site}-rg`, 'Microsoft.Compute/virtualMachines', `acme-${site}-vm`);
const subnetId = (site: string) => rid(`acme-${site}-rg`, 'Microsoft.Network/virtualNetworks', `acme-${site}-vnet`) + '/subnets/default';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly apiVersion: string | null;
  readonly body: any;
  readonly auth: string | undefined;
}

/** ARM, as far as the driver needs it. */
class FakeArm implements HttpClient {
  readonly seen: Seen[] = [];
  /** NIC JSON by lowercased id. */
  readonly nics = new Map<string, any>();
  readonly vmState = new Map<string, string>();
  /** Polls left before each operation succeeds. */
  private readonly ops = new Map<string, { left: number; done: () => void; fail?: { code: string; message: string } }>();
  private opSeq = 0;
  /** Make the next POST on this VM action fail its operation. */
  failVm?: { vm: string; code: string; message: string };

  addNic(site: string, publicIp: string | null): void {
    this.nics.set(nicId(site).toLowerCase(), {
      id: nicId(site),
      name: `acme-${site}-nic`,
      location: 'westeurope',
      properties: {
        provisioningState: 'Succeeded',
        ipConfigurations: [
          {
            id: `${nicId(site)}/ipConfigurations/primary`,
            name: 'primary',
            properties: { primary: true, privateIPAllocationMethod: 'Dynamic', subnet: { id: subnetId(site) }, ...(publicIp ? { publicIPAddress: { id: publicIp } } : {}) },
          },
        ],
      },
    });
  }

  publicIpOf(site: string): string | null {
    return this.nics.get(nicId(site).toLowerCase()).properties.ipConfigurations[0].properties.publicIPAddress?.id ?? null;
  }

  private reply(req: PipelineRequest, status: number, body: unknown, headers: Record<string, string> = {}): PipelineResponse {
    return { request: req, status, headers: createHttpHeaders({ 'content-type': 'application/json', ...headers }), bodyAsText: body === undefined ? '' : JSON.stringify(body) };
  }

  private operation(req: PipelineRequest, done: () => void, fail?: { code: string; message: string }): Record<string, string> {
    const id = `op-${++this.opSeq}`;
    this.ops.set(id, { left: 1, done, fail });
    const url = `https://management.azure.com/subscriptions/${SUB}/providers/Microsoft.Network/locations/westeurope/operations/${id}?api-version=2026-01-01`;
    return { 'azure-asyncoperation': url, location: url };
  }

  async sendRequest(req: PipelineRequest): Promise<PipelineResponse> {
    const u = new URL(req.url);
    if (u.host !== 'management.azure.com') throw new Error(`fake ARM: refusing a request to ${u.host}`);
    const body = req.body ? JSON.parse(String(req.body)) : undefined;
    this.seen.push({ method: req.method, path: u.pathname, apiVersion: u.searchParams.get('api-version'), body, auth: req.headers.get('authorization') });
    const op = /\/operations\/(op-\d+)$/.exec(u.pathname);
    if (op && req.method === 'GET') {
      const o = this.ops.get(op[1])!;
      if (o.left-- > 0) return this.reply(req, 200, { status: 'InProgress' });
      if (o.fail) return this.reply(req, 200, { status: 'Failed', error: o.fail });
      o.done();
      return this.reply(req, 200, { status: 'Succeeded' });
    }
    const key = u.pathname.toLowerCase();
    if (key.includes('/publicipaddresses/') && req.method === 'GET') {
      const on = [...this.nics.values()].find((n) => n.properties.ipConfigurations[0].properties.publicIPAddress?.id?.toLowerCase() === key);
      return this.reply(req, 200, {
        id: u.pathname,
        name: u.pathname.split('/').pop(),
        location: 'westeurope',
        properties: { publicIPAllocationMethod: 'Static', ...(on ? { ipConfiguration: { id: `${on.id}/ipConfigurations/primary` } } : {}) },
      });
    }
    if (key.includes('/networkinterfaces/')) {
      const nic = this.nics.get(key);
      if (!nic) return this.reply(req, 404, { error: { code: 'NotFound', message: `Resource ${u.pathname} not found.` } });
      if (req.method === 'GET') return this.reply(req, 200, nic);
      if (req.method === 'PUT') {
        const want = body.properties.ipConfigurations[0].properties.publicIPAddress?.id as string | undefined;
        const elsewhere = want && [...this.nics.values()].find((n) => n !== nic && n.properties.ipConfigurations[0].properties.publicIPAddress?.id?.toLowerCase() === want.toLowerCase());
        if (elsewhere) {
          return this.reply(req, 400, { error: { code: 'PublicIPAddressInUse', message: `Resource ${want} is referenced by ${elsewhere.id}/ipConfigurations/primary.` } });
        }
        const next = { ...body, id: nic.id, name: nic.name, properties: { ...body.properties, provisioningState: 'Updating' } };
        this.nics.set(key, next);
        return this.reply(
          req,
          200,
          next,
          this.operation(req, () => {
            next.properties.provisioningState = 'Succeeded';
          }),
        );
      }
    }
    const vm = /\/virtualmachines\/([^/]+)\/(start|deallocate)$/.exec(key);
    if (vm && req.method === 'POST') {
      const fail = this.failVm?.vm === vm[1] ? this.failVm : undefined;
      return this.reply(
        req,
        202,
        undefined,
        this.operation(req, () => this.vmState.set(vm[1], vm[2] === 'start' ? 'running' : 'deallocated'), fail && { code: fail.code, message: fail.message }),
      );
    }
    return this.reply(req, 404, { error: { code: 'NotFound', message: `fake ARM has no ${req.method} ${u.pathname}` } });
  }
}

const credential: TokenCredential = { getToken: async () => ({ token: 'fake-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

function host(site: string, role: 'master' | 'mirror', n: number, failover: 'hot' | 'warm' | 'cold' | null = role === 'mirror' ? 'warm' : null, location = 'westeurope'): InventoryHost {
  return {
    site,
    role,
    provider: 'azure',
    region: location,
    address: `20.0.0.${n}`,
    sshPort: 22,
    user: 'tandem-admin',
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH',
    hostKeySource: 'generated',
    failover,
    dataDir: '/srv/trading',
    feedFrom: role === 'master' ? null : 'ams',
    syncIntervalS: role === 'master' ? null : 0,
    bandwidthMbit: null,
    cloud: { kind: 'azure', vmId: vmId(site), nicId: nicId(site), ipConfigurationName: 'primary', publicIpId: pipId(site) },
  };
}
const ams = host('ams', 'master', 1);
const ams2 = host('ams2', 'mirror', 2, 'cold');
const dub = host('dub', 'mirror', 3, 'warm', 'northeurope');
const inv: Inventory = {
  version: 1,
  customer: 'acme',
  source: 'pulumi',
  dataDir: '/srv/trading',
  exclude: [],
  service: { start: 'a', stop: 'b', healthPort: 8443 },
  vip: { kind: 'public-ip', address: '20.0.0.1', holder: 'ams' },
  vipCloud: { kind: 'public-ip', publicIpId: pipId('ams'), location: 'westeurope' },
  hosts: [ams, ams2, dub],
};

let arm: FakeArm;
const driver = (i: Inventory = inv) => createAzureDriver(i, { credential, httpClient: arm, pollMs: 1 });
/** What was asked of ARM, without the LRO polls. */
const calls = () => arm.seen.filter((s) => !s.path.includes('/operations/')).map((s) => `${s.method} ${s.path}`);
const polls = () => arm.seen.filter((s) => s.path.includes('/operations/')).length;

beforeEach(() => {
  arm = new FakeArm();
  arm.addNic('ams', pipId('ams'));
  arm.addNic('ams2', pipId('ams2'));
  arm.addNic('dub', pipId('dub'));
});

describe('moving the public IP between NICs', () => {
  it("frees it from the old master, puts it on the target, and gives the old master the target's own", async () => {
    const steps = await driver().moveServiceAddress(ams, ams2);
    // Each PUT is followed by the SDK's final GET of the NIC once its operation has succeeded.
    expect(calls()).toEqual([
      `GET ${pipId('ams')}`,
      `GET ${nicId('ams')}`,
      `PUT ${nicId('ams')}`,
      `GET ${nicId('ams')}`,
      `GET ${nicId('ams2')}`,
      `PUT ${nicId('ams2')}`,
      `GET ${nicId('ams2')}`,
      `GET ${nicId('ams')}`,
      `PUT ${nicId('ams')}`,
      `GET ${nicId('ams')}`,
    ]);
    expect(arm.seen[0].body).toBeUndefined();
    const puts = arm.seen.filter((s) => s.method === 'PUT');
    const ipOf = (s: Seen) => s.body.properties.ipConfigurations[0].properties.publicIPAddress;
    expect(puts.map(ipOf)).toEqual([undefined, { id: pipId('ams') }, { id: pipId('ams2') }]);
    for (const p of puts) {
      // The rest of the NIC goes back as ARM returned it: same configuration name, subnet, primary flag.
      expect(p.body.properties.ipConfigurations[0]).toMatchObject({ name: 'primary', properties: { primary: true, privateIPAllocationMethod: 'Dynamic' } });
      expect(p.body.properties.ipConfigurations[0].properties.subnet.id).toMatch(/\/subnets\/default$/);
      expect(p.body.location).toBe('westeurope');
    }
    for (const s of arm.seen) {
      expect(s.apiVersion).toMatch(/^\d{4}-\d{2}-\d{2}(-preview)?$/);
      expect(s.auth).toBe('Bearer fake-token');
    }
    // Each PUT is a long-running operation, polled until it succeeded.
    expect(polls()).toBeGreaterThanOrEqual(6);
    expect(arm.publicIpOf('ams2')).toBe(pipId('ams'));
    expect(arm.publicIpOf('ams')).toBe(pipId('ams2'));
    expect(steps).toEqual([
      { action: 'azure: dissociate public IP', detail: 'public IP off NIC acme-ams-nic (site ams)' },
      { action: 'azure: associate public IP', detail: 'public IP acme-ams-ip -> NIC acme-ams2-nic (site ams2)' },
      { action: 'azure: associate public IP', detail: 'public IP acme-ams2-ip -> NIC acme-ams-nic (site ams)' },
    ]);
  });

  it('frees it from the NIC ARM says holds it when the old master is unknown', async () => {
    await driver().moveServiceAddress(null, ams2);
    expect(arm.publicIpOf('ams2')).toBe(pipId('ams'));
    expect(arm.publicIpOf('ams')).toBe(pipId('ams2'));
  });

  it('goes by ARM, not the inventory: failing back with an inventory from before the failover', async () => {
    await driver().moveServiceAddress(ams, ams2);
    arm.seen.length = 0;
    // The same (now stale) inventory says ams holds the service IP; ARM says ams2 does.
    const steps = await driver().moveServiceAddress(ams2, ams);
    expect(arm.publicIpOf('ams')).toBe(pipId('ams'));
    expect(arm.publicIpOf('ams2')).toBe(pipId('ams2'));
    expect(steps.map((x) => x.detail)).toEqual([
      'public IP off NIC acme-ams2-nic (site ams2)',
      'public IP acme-ams-ip -> NIC acme-ams-nic (site ams)',
      'public IP acme-ams2-ip -> NIC acme-ams2-nic (site ams2)',
    ]);
  });

  it('does nothing when ARM says the target already holds it', async () => {
    await driver().moveServiceAddress(ams, ams2);
    arm.seen.length = 0;
    const steps = await driver().moveServiceAddress(ams, ams2);
    expect(calls()).toEqual([`GET ${pipId('ams')}`]);
    expect(steps).toEqual([{ action: 'azure: associate public IP', detail: 'public IP acme-ams-ip is already on site ams2; nothing to move' }]);
  });

  it('refuses a target in another location, naming both and the fix, before any request', async () => {
    await expect(driver().moveServiceAddress(ams, dub)).rejects.toThrow(
      'azure: cannot move the service address to site "dub": public IP acme-ams-ip is in westeurope and site "dub" in northeurope, and a public IP cannot leave its location; fail over to a site in westeurope, or add `dns` to the topology so failover moves the Route 53 record instead',
    );
    expect(arm.seen).toEqual([]);
  });

  it("reports ARM's refusal with the NIC, the move and what to check", async () => {
    // Something else took the target NIC's place: the fake says the IP is in use elsewhere.
    arm.addNic('other', null);
    arm.nics.get(nicId('other').toLowerCase()).properties.ipConfigurations[0].properties.publicIPAddress = { id: pipId('ams') };
    const onlyTarget: Inventory = { ...inv, hosts: [ams2, dub] };
    await expect(driver(onlyTarget).moveServiceAddress(null, ams2)).rejects.toThrow(
      /^azure: PUT network interface \/subscriptions\/.*\/networkInterfaces\/acme-ams2-nic \(public IP acme-ams-ip -> NIC acme-ams2-nic \(site ams2\)\) failed: PublicIPAddressInUse: .*; check that the public IP is in the NIC's location and not held by another NIC/,
    );
  });

  it('reports a missing NIC by its id', async () => {
    arm.nics.delete(nicId('ams2').toLowerCase());
    await expect(driver().moveServiceAddress(ams, ams2)).rejects.toThrow(
      /^azure: GET network interface \/subscriptions\/.*acme-ams2-nic \(site ams2\) failed: NotFound: .*; check that the NIC exists/,
    );
  });

  it('refuses inventories and addresses it cannot act on', async () => {
    const { vipCloud: _v, ...old } = inv;
    await expect(driver(old as Inventory).moveServiceAddress(ams, ams2)).rejects.toThrow(
      /^azure: the inventory of "acme" has no resource id for public IP 20\.0\.0\.1 \(vipCloud\); regenerate the inventory/,
    );
    const dns: Inventory = { ...inv, vip: { kind: 'dns', address: 'trade.acme.example.com', holder: 'ams' } };
    await expect(driver(dns).moveServiceAddress(ams, ams2)).rejects.toThrow(
      'azure: the service address of "acme" is a dns address (trade.acme.example.com); the Azure driver moves Azure public IPs only (a Route 53 record is moved by the AWS driver)',
    );
    expect(arm.seen).toEqual([]);
  });
});

describe('power', () => {
  it('starts a VM with POST .../start and waits for the operation to succeed', async () => {
    const steps = await driver().powerOn(ams2);
    expect(calls()).toEqual([`POST ${vmId('ams2')}/start`]);
    const post = arm.seen[0];
    expect(post.apiVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(post.auth).toBe('Bearer fake-token');
    // InProgress, then Succeeded: the driver returned only after the operation finished.
    expect(polls()).toBeGreaterThanOrEqual(2);
    expect(arm.vmState.get('acme-ams2-vm')).toBe('running');
    expect(steps).toEqual([{ action: 'azure: start VM', detail: expect.stringMatching(/^VM acme-ams2-vm \(site ams2, westeurope\) running after \d+\.\d s$/) }]);
  });

  it('deallocates a VM with POST .../deallocate', async () => {
    await driver().powerOff(ams);
    expect(calls()).toEqual([`POST ${vmId('ams')}/deallocate`]);
    expect(arm.vmState.get('acme-ams-vm')).toBe('deallocated');
  });

  it('reports a start that fails, with the VM, its group and what to check', async () => {
    arm.failVm = { vm: 'acme-ams2-vm', code: 'AllocationFailed', message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.' };
    await expect(driver().powerOn(ams2)).rejects.toThrow(
      /^azure: start of VM acme-ams2-vm \(site ams2, westeurope, resource group acme-ams2-rg\) failed: .*Allocation failed.*; check the VM exists, the location has capacity for its size \(AllocationFailed\)/,
    );
  });

  it('refuses hosts of other providers or without resource ids', async () => {
    await expect(driver().powerOn({ ...ams2, provider: 'aws', region: 'us-east-1', cloud: undefined })).rejects.toThrow(
      'azure: cannot power on site "ams2": it is on aws, not Azure; use the aws driver for it',
    );
    await expect(driver().powerOff({ ...ams2, cloud: undefined })).rejects.toThrow(/^azure: cannot power off site "ams2": the inventory of "acme" has no Azure resource ids for it/);
    expect(arm.seen).toEqual([]);
  });
});

describe('parseResourceId', () => {
  it.each([
    [nicId('ams'), { subscriptionId: SUB, resourceGroup: 'acme-ams-rg', type: 'Microsoft.Network/networkInterfaces', name: 'acme-ams-nic' }],
    [vmId('x'), { subscriptionId: SUB, resourceGroup: 'acme-x-rg', type: 'Microsoft.Compute/virtualMachines', name: 'acme-x-vm' }],
  ])('%s', (id, want) => expect(parseResourceId(id)).toEqual(want));
  it('refuses what is not a resource id', () => {
    expect(() => parseResourceId('acme-ams-nic')).toThrow(/^azure: "acme-ams-nic" is not an Azure resource id/);
  });
});
