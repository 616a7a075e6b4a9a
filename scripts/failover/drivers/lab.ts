/**
 * Owns the lab's address and power driver: the lab VIP (a /32 moved between lab hosts, routed by
 * the stack's lab router) and lab power (the `poweron` / `poweroff` faults, which boot a host and
 * run its boot.d hooks, or stop it and cut its link). Real: it changes this machine's namespaces.
 */
import type { Inventory, InventoryHost } from '../../../model/inventory';
import { labFault } from '../../lab/fault';
import { readState } from '../../lab/state';
import { moveVip } from '../../lab/vip';
import type { AddressDriver, DriverStep } from './types';

export function createLabDriver(inv: Inventory): AddressDriver {
  const customer = inv.customer;
  const up = () => {
    const st = readState(customer);
    if (!st) throw new Error(`the lab "${customer}" is not up; start it with: tandem lab up --stack ${customer}`);
    return st;
  };
  return {
    kind: 'lab',
    async moveServiceAddress(from: InventoryHost | null, to: InventoryHost): Promise<DriverStep[]> {
      const r = await moveVip(customer, to.site);
      return [{ action: 'lab: move VIP', detail: `${r.address} from ${from?.site ?? r.from} to ${r.to}` }];
    },
    async powerOn(host: InventoryHost): Promise<DriverStep[]> {
      const st = up();
      if (!st.hosts[host.site]) throw new Error(`no site "${host.site}" in lab "${customer}"`);
      const what = await labFault(customer, host.site, 'poweron');
      return [{ action: 'lab: power on', detail: what }];
    },
    async powerOff(host: InventoryHost): Promise<DriverStep[]> {
      up();
      const what = await labFault(customer, host.site, 'poweroff');
      return [{ action: 'lab: power off', detail: what }];
    },
  };
}
