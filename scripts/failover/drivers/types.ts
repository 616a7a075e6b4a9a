/**
 * Address and power drivers: the one seam through which a failover touches the provider.
 * Operations never branch on the provider; they get a driver for the inventory and call it.
 * Implementations: lab (real, this machine), aws (EC2 + Route 53), azure (Network + Compute).
 */
import type { Inventory, InventoryHost } from '../../../model/inventory';

/** What a driver did, for the failover journal and report. */
export interface DriverStep {
  /** Short name of the call, e.g. "ec2:AssociateAddress", "lab: move VIP". */
  readonly action: string;
  /** Human-readable detail: ids, addresses, regions. Never secrets. */
  readonly detail: string;
}

export interface AddressDriver {
  readonly kind: 'lab' | 'aws' | 'azure';
  /**
   * Point the service address (the inventory's VIP: lab address, Elastic IP, Azure public IP,
   * or the DNS failover record) at `to`. `from` is the current holder when known, null when it is
   * gone. Must be idempotent: moving to the current holder succeeds and does nothing harmful.
   */
  moveServiceAddress(from: InventoryHost | null, to: InventoryHost): Promise<DriverStep[]>;
  /** Power a (cold or stopped) site on and wait until the provider says it is running. */
  powerOn(host: InventoryHost): Promise<DriverStep[]>;
  /** Power a site off (cold refresh, fencing). */
  powerOff(host: InventoryHost): Promise<DriverStep[]>;
}

export type DriverFactory = (inv: Inventory) => AddressDriver;
