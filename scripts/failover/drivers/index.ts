/**
 * Owns picking the address/power driver for an inventory: the lab driver for a lab inventory,
 * AWS for Elastic IPs / Route 53 records / AWS hosts, Azure for public IPs / Azure hosts. The cloud
 * factories are loaded lazily (require), so a command that never fails over in the cloud does not
 * load the SDKs, and the lab path works whatever state the cloud drivers are in.
 */
import type { Inventory, InventoryHost } from '../../../model/inventory';
import { createLabDriver } from './lab';
import type { AddressDriver } from './types';

export type DriverKind = AddressDriver['kind'];

/** Which driver an inventory needs (pure). */
export function driverKindFor(inv: Inventory): DriverKind {
  if (inv.source === 'lab' || inv.vip?.kind === 'lab') return 'lab';
  if (inv.vip?.kind === 'eip' || inv.vip?.kind === 'dns') return 'aws';
  if (inv.vip?.kind === 'public-ip') return 'azure';
  const providers = new Set(inv.hosts.map((h) => h.provider));
  if (providers.has('aws')) return 'aws';
  if (providers.has('azure')) return 'azure';
  throw new Error(
    `stack "${inv.customer}" has no service address (vip) and no AWS or Azure host, so no driver can move its service address or power its hosts; ` +
      'give the inventory a vip (pulumi stack output inventory) or fail over by hand',
  );
}

/**
 * The driver for an inventory. In a stack that spans clouds (an AWS master with an Azure mirror)
 * the service address belongs to one provider while power belongs to each host's own: the
 * address goes to the address's driver, powerOn/powerOff to the driver of the host's provider.
 */
export function driverFor(inv: Inventory): AddressDriver {
  const kind = driverKindFor(inv);
  if (kind === 'lab') return createLabDriver(inv);
  const address = loadCloud(inv, kind);
  const clouds = new Set(inv.hosts.map((h) => h.provider).filter((p): p is 'aws' | 'azure' => p === 'aws' || p === 'azure'));
  if (clouds.size <= 1 && (clouds.size === 0 || clouds.has(kind))) return address;
  const byProvider = new Map<string, AddressDriver>([[kind, address]]);
  const power = (h: InventoryHost): AddressDriver => {
    if (h.provider !== 'aws' && h.provider !== 'azure') throw new Error(`${h.site} is an off-cloud host: tandem cannot power it; power it on by hand, then run the failover again`);
    let d = byProvider.get(h.provider);
    if (!d) byProvider.set(h.provider, (d = loadCloud(inv, h.provider)));
    return d;
  };
  return {
    kind,
    moveServiceAddress: (from, to) => address.moveServiceAddress(from, to),
    powerOn: async (h) => power(h).powerOn(h),
    powerOff: async (h) => power(h).powerOff(h),
  };
}

function loadCloud(inv: Inventory, kind: 'aws' | 'azure'): AddressDriver {
  const file = kind === 'aws' ? './aws' : './azure';
  const factory = kind === 'aws' ? 'createAwsDriver' : 'createAzureDriver';
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`the ${kind} failover driver (scripts/failover/drivers/${kind}.ts) cannot be loaded: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const f = mod[factory];
  if (typeof f !== 'function') throw new Error(`scripts/failover/drivers/${kind}.ts does not export ${factory}(inventory)`);
  return (f as (inv: Inventory) => AddressDriver)(inv);
}
