/**
 * The lab's VIP: one /32 per stack, held on the loopback of one host, which the lab router
 * routes to. Moving it is what a failover does to a cloud Elastic IP.
 */
import { INVENTORY_VERSION } from '../../model/inventory';
import { siteByName } from '../../model/topology/graph';
import type { LabPlan } from './plan';
import { readState, writeInventory, writeState } from './state';
import { buildInventory } from './inventory';
import { ip, requireRoot } from './sys';

export async function ensureVip(plan: LabPlan, holder: string): Promise<void> {
  for (const h of plan.hosts) {
    if (h.site === holder) continue;
    const r = await ip(h.netns, ['-4', 'addr', 'show', 'dev', 'lo'], { allowFail: true });
    if (r.stdout.includes(` ${plan.vip}/32`)) await ip(h.netns, ['addr', 'del', `${plan.vip}/32`, 'dev', 'lo'], { allowFail: true });
  }
  const h = plan.hosts.find((x) => x.site === holder);
  if (!h) throw new Error(`no site "${holder}" in lab "${plan.customer}"; sites: ${plan.hosts.map((x) => x.site).join(', ')}`);
  await ip(h.netns, ['addr', 'replace', `${plan.vip}/32`, 'dev', 'lo'], { context: `putting the VIP on ${holder}` });
  await ip(plan.routerNetns, ['route', 'replace', `${plan.vip}/32`, 'via', h.address], { context: `routing the VIP to ${holder}` });
}

/** Moves the stack's VIP to `site` and records it in the inventory. Returns the previous holder. */
export async function moveVip(customer: string, site: string): Promise<{ from: string; to: string; address: string }> {
  requireRoot('moving the lab VIP');
  const st = readState(customer);
  if (!st) throw new Error(`the lab "${customer}" is not up; start it with: tandem lab up --stack ${customer}`);
  siteByName(st.topology, site);
  const from = st.vipHolder;
  await ensureVip(st.plan, site);
  st.vipHolder = site;
  writeState(st);
  const inv = buildInventory(st.topology, st.plan, st);
  if (inv.version === INVENTORY_VERSION) writeInventory(inv);
  return { from, to: site, address: st.plan.vip };
}
