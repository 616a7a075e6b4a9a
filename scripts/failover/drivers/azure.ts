/**
 * The Azure address and power driver. The service address is the stack file master's Standard
 * static public IP; it moves between NICs of one location: off the holder's IP configuration,
 * onto the target's, and the target's own public IP goes to the old holder in exchange (so both
 * stay reachable, and the addresses are where `pulumi up` after the failover puts them). VMs are
 * started, and deallocated (billing stops, the machine cannot serve), through ARM.
 *
 * Everything it acts on comes from the inventory's resource ids (`hosts[].cloud`, `vipCloud`).
 * When the topology has `dns`, the service address is a Route 53 record: the AWS driver moves it.
 */
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient, type NetworkInterface } from '@azure/arm-network';
import type { TokenCredential } from '@azure/core-auth';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { AzureHostIds, Inventory, InventoryHost, VipCloudIds } from '../../../model/inventory';
import type { AddressDriver, DriverStep } from './types';

export interface AzureDriverOptions {
  /** @default `new DefaultAzureCredential()` from @azure/identity (az login, environment, managed identity) */
  readonly credential?: TokenCredential;
  /** The HTTP client under the SDKs' pipeline (tests give a fake). @default the SDK's own */
  readonly httpClient?: HttpClient;
  /** Milliseconds between polls of a long-running operation. @default 2000 */
  readonly pollMs?: number;
}

const FIX_INVENTORY = 'regenerate the inventory with `pulumi stack output inventory --json > inventory.json` (inventories written before failover support lack the provider ids)';

/** The parts of an ARM resource id `/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}`. */
export function parseResourceId(id: string): { subscriptionId: string; resourceGroup: string; type: string; name: string } {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(id);
  if (!m) throw new Error(`azure: "${id}" is not an Azure resource id (/subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>); ${FIX_INVENTORY}`);
  return { subscriptionId: m[1], resourceGroup: m[2], type: m[3], name: m[4] };
}

function why(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: string }).code;
    const msg = e.message.length > 300 ? `${e.message.slice(0, 297)}...` : e.message;
    return code ? `${code}: ${msg}` : msg;
  }
  return String(e);
}

async function attempt<T>(call: string, on: string, check: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`azure: ${call} ${on} failed: ${why(e)}; ${check}`, { cause: e });
  }
}

const sameId = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();

export function createAzureDriver(inv: Inventory, opts: AzureDriverOptions = {}): AddressDriver {
  let defaultCredential: Promise<TokenCredential> | undefined;
  // @azure/identity (and MSAL under it) is loaded only when a real failover asks for a token.
  const credential: TokenCredential = opts.credential ?? {
    getToken: async (scopes, o) => {
      defaultCredential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await defaultCredential).getToken(scopes, o);
    },
  };
  const cred = (): TokenCredential => credential;
  const clientOptions = opts.httpClient ? { httpClient: opts.httpClient } : {};
  const network = new Map<string, NetworkManagementClient>();
  const compute = new Map<string, ComputeManagementClient>();
  const net = (sub: string) => network.get(sub) ?? network.set(sub, new NetworkManagementClient(cred(), sub, clientOptions)).get(sub)!;
  const cmp = (sub: string) => compute.get(sub) ?? compute.set(sub, new ComputeManagementClient(cred(), sub, clientOptions)).get(sub)!;
  const poll = { updateIntervalInMs: opts.pollMs ?? 2000 };

  const idsOf = (h: InventoryHost, forWhat: string): AzureHostIds & { region: string } => {
    if (h.provider !== 'azure') throw new Error(`azure: cannot ${forWhat} site "${h.site}": it is on ${h.provider}, not Azure; use the ${h.provider} driver for it`);
    if (!h.cloud || h.cloud.kind !== 'azure' || !h.region) {
      throw new Error(`azure: cannot ${forWhat} site "${h.site}": the inventory of "${inv.customer}" has no Azure resource ids for it (hosts[].cloud.vmId, nicId); ${FIX_INVENTORY}`);
    }
    return { ...h.cloud, region: h.region };
  };

  /**
   * Puts `publicIpId` (or none) on a NIC's IP configuration: GET the NIC, change that one field,
   * PUT it back (a long-running operation, awaited). Returns the step and the public IP it had.
   */
  async function setPublicIp(site: string, nicId: string, config: string, publicIpId: string | null): Promise<{ step: DriverStep; previous: string | null }> {
    const nic = parseResourceId(nicId);
    const client = net(nic.subscriptionId);
    const what = publicIpId ? `public IP ${parseResourceId(publicIpId).name} -> NIC ${nic.name} (site ${site})` : `public IP off NIC ${nic.name} (site ${site})`;
    const current = await attempt('GET network interface', `${nicId} (site ${site})`, 'check that the NIC exists and the credentials may read it (Network Contributor on its resource group)', () =>
      client.networkInterfaces.get(nic.resourceGroup, nic.name),
    );
    const configs = current.ipConfigurations ?? [];
    const i = configs.findIndex((c) => c.name?.toLowerCase() === config.toLowerCase());
    if (i < 0) {
      throw new Error(`azure: NIC ${nicId} (site ${site}) has no IP configuration "${config}" (it has: ${configs.map((c) => c.name).join(', ') || 'none'}); ${FIX_INVENTORY}`);
    }
    const previous = configs[i].publicIPAddress?.id ?? null;
    const updated: NetworkInterface = {
      ...current,
      ipConfigurations: configs.map((c, k) => (k === i ? { ...c, publicIPAddress: publicIpId ? { id: publicIpId } : undefined } : c)),
    };
    await attempt(
      'PUT network interface',
      `${nicId} (${what})`,
      "check that the public IP is in the NIC's location and not held by another NIC, and that the credentials allow Microsoft.Network/networkInterfaces/write and publicIPAddresses/join/action",
      () => client.networkInterfaces.createOrUpdate(nic.resourceGroup, nic.name, updated, poll),
    );
    return { step: { action: publicIpId ? 'azure: associate public IP' : 'azure: dissociate public IP', detail: what }, previous };
  }

  async function movePublicIp(vc: Extract<VipCloudIds, { kind: 'public-ip' }>, from: InventoryHost | null, to: InventoryHost): Promise<DriverStep[]> {
    const target = idsOf(to, 'move the public IP to');
    const pip = parseResourceId(vc.publicIpId);
    if (target.region !== vc.location) {
      throw new Error(
        `azure: cannot move the service address to site "${to.site}": public IP ${pip.name} is in ${vc.location} and site "${to.site}" in ${target.region}, ` +
          `and a public IP cannot leave its location; fail over to a site in ${vc.location}, or add \`dns\` to the topology so failover moves the Route 53 record instead`,
      );
    }
    // Which IP configuration holds the service address now, from ARM rather than the inventory (an
    // inventory written before an earlier failover shows the addresses where they were then).
    const svc = await attempt('GET public IP', `${vc.publicIpId}`, 'check that the public IP still exists and the credentials may read it', () =>
      net(pip.subscriptionId).publicIPAddresses.get(pip.resourceGroup, pip.name),
    );
    const on = /^(.*\/networkInterfaces\/[^/]+)\/ipConfigurations\/([^/]+)$/i.exec(svc.ipConfiguration?.id ?? '');
    const holder = on ? { nicId: on[1], config: on[2] } : null;
    if (holder && sameId(holder.nicId, target.nicId)) {
      return [{ action: 'azure: associate public IP', detail: `public IP ${pip.name} is already on site ${to.site}; nothing to move` }];
    }
    const siteOfNic = (nicId: string) => inv.hosts.find((h) => h.cloud?.kind === 'azure' && sameId(h.cloud.nicId, nicId))?.site ?? parseResourceId(nicId).name;
    const steps: DriverStep[] = [];
    // A public IP sits on one IP configuration at a time: free it first. The old master's NIC
    // outlives its VM, so this works with the old master down.
    if (holder) steps.push((await setPublicIp(siteOfNic(holder.nicId), holder.nicId, holder.config, null)).step);
    const moved = await setPublicIp(to.site, target.nicId, target.ipConfigurationName, vc.publicIpId);
    steps.push(moved.step);
    // The target's own public IP just came off it: give it to the old holder, so the old master
    // stays reachable (to be fenced and demoted) and the addresses are where `pulumi up` puts them.
    const fromIds = from && from.site !== to.site && from.cloud?.kind === 'azure' && from.region === vc.location ? from.cloud : null;
    const old = holder ?? (fromIds ? { nicId: fromIds.nicId, config: fromIds.ipConfigurationName } : null);
    if (moved.previous && old) {
      const site = siteOfNic(old.nicId);
      try {
        steps.push((await setPublicIp(site, old.nicId, old.config, moved.previous)).step);
      } catch (e) {
        // The service address moved; an old master without a public address does not stop that.
        steps.push({
          action: 'azure: associate public IP',
          detail: `public IP ${parseResourceId(moved.previous).name} (site ${to.site}'s own) -> site ${site} FAILED: ${why(e)}; site ${site} has no public address until \`pulumi up\``,
        });
      }
    }
    return steps;
  }

  async function power(host: InventoryHost, op: 'start' | 'deallocate'): Promise<DriverStep[]> {
    const ids = idsOf(host, op === 'start' ? 'power on' : 'power off');
    const vm = parseResourceId(ids.vmId);
    const started = Date.now();
    await attempt(
      op === 'start' ? 'start of VM' : 'deallocation of VM',
      `${vm.name} (site ${host.site}, ${ids.region}, resource group ${vm.resourceGroup})`,
      op === 'start'
        ? 'check the VM exists, the location has capacity for its size (AllocationFailed), and the credentials allow Microsoft.Compute/virtualMachines/start/action'
        : 'check the VM exists and the credentials allow Microsoft.Compute/virtualMachines/deallocate/action',
      () => (op === 'start' ? cmp(vm.subscriptionId).virtualMachines.start(vm.resourceGroup, vm.name, poll) : cmp(vm.subscriptionId).virtualMachines.deallocate(vm.resourceGroup, vm.name, poll)),
    );
    const s = ((Date.now() - started) / 1000).toFixed(1);
    return [
      { action: op === 'start' ? 'azure: start VM' : 'azure: deallocate VM', detail: `VM ${vm.name} (site ${host.site}, ${ids.region}) ${op === 'start' ? 'running' : 'deallocated'} after ${s} s` },
    ];
  }

  return {
    kind: 'azure',

    async moveServiceAddress(from, to) {
      const vip = inv.vip;
      if (!vip) throw new Error(`azure: stack "${inv.customer}" has no service address (inventory vip is null) to move to site "${to.site}"`);
      if (vip.kind !== 'public-ip') {
        throw new Error(
          `azure: the service address of "${inv.customer}" is a ${vip.kind} address (${vip.address}); the Azure driver moves Azure public IPs only${vip.kind === 'dns' ? ' (a Route 53 record is moved by the AWS driver)' : ''}`,
        );
      }
      const vc = inv.vipCloud;
      if (vc?.kind !== 'public-ip') throw new Error(`azure: the inventory of "${inv.customer}" has no resource id for public IP ${vip.address} (vipCloud); ${FIX_INVENTORY}`);
      return movePublicIp(vc, from, to);
    },
    powerOn: (host) => power(host, 'start'),
    powerOff: (host) => power(host, 'deallocate'),
  };
}
