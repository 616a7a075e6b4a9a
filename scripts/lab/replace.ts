/**
 * A lab host lost for good and replaced by a new one (`tandem site replace` on a lab): everything
 * of the old host goes (processes, namespaces, its data directory, its host key), then `lab up`
 * builds the site again from scratch, as a new server: a new sshd host key, pinned afresh in the
 * lab state and inventory, an empty data directory. The other hosts are kept as they are.
 */
import type { Inventory } from '../../model/inventory';
import { removeHost } from './remove';
import { readState, writeState } from './state';
import { requireRoot } from './sys';
import { labUp } from './up';

export interface LabReplaced {
  readonly inventory: Inventory;
  readonly oldHostKey: string | null;
  readonly newHostKey: string;
  readonly removed: string[];
}

export async function labReplaceHost(customer: string, site: string, log: (l: string) => void = () => undefined): Promise<LabReplaced> {
  requireRoot('tandem site replace (lab)');
  const st = readState(customer);
  if (!st) throw new Error(`the lab "${customer}" is not up; start it with: tandem lab up --stack ${customer}`);
  const h = st.plan.hosts.find((x) => x.site === site);
  if (!h) throw new Error(`--site ${site}: no such host in the lab "${customer}"; hosts: ${st.plan.hosts.map((x) => x.site).join(', ')}`);
  const oldHostKey = st.hosts[site]?.hostKey ?? null;
  log(`lab ${customer}: destroying host ${site} (processes, namespaces, data, host key)`);
  const removed = await removeHost(st.plan, h);
  // The new server starts from nothing: no power/isolation/disk faults carried over.
  delete st.hosts[site];
  writeState(st);
  log(`lab ${customer}: building a new host for ${site}`);
  const inventory = await labUp(st.topology, { log });
  const newHostKey = inventory.hosts.find((x) => x.site === site)?.hostKey;
  if (!newHostKey) throw new Error(`lab ${customer}: the new host ${site} has no host key in the inventory`);
  if (oldHostKey && newHostKey === oldHostKey) throw new Error(`lab ${customer}: the new host ${site} came up with the old host key; its /etc/ssh was not removed`);
  return { inventory, oldHostKey, newHostKey, removed };
}
