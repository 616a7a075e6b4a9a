/**
 * Owns `tandem site replace`: a mirror's host is lost for good and the site gets a new one.
 *
 *   lab    the old host is destroyed (processes, namespaces, data, host key) and built again from
 *          nothing (scripts/lab/replace.ts): a new host key, pinned afresh in the lab state and
 *          inventory. Then the agent is installed (the feeder learns the new key, the new host
 *          its feeder's), mirroring to the site is started, the feeder's agent seeds it, it
 *          reports in sync and a verify finds it equal.
 *   cloud  `pulumi up --replace <instance> --replace <host key>` through the Automation API with
 *          the site's data volume created from the newest snapshot (`tandem:restore` in the stack
 *          config, read by the program: modules/*\/host.ts), the new inventory read from the stack
 *          output, then the same install / seed (only the difference since the snapshot) / verify.
 *
 * The master is never replaced here: it must stop being master first (a failover).
 */
import * as fs from 'node:fs';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { applyLiveToInventory, checked } from '../hosts/target';
import { agentBundle } from '../hosts/bundle';
import { installFleet, type FleetOptions } from '../hosts/install';
import { mirrorFleet } from '../hosts/mirror';
import { connectorFor } from '../hosts/ssh';
import { Sessions } from '../failover/hosts';
import type { RepairContext, ReplaceResult } from './api';
import { waitInSync } from './rebuild';
import { RepairInputError, verifyWith } from './verify';

import type { CloudReplace } from './api';
export type { CloudReplace, ReplaceStack } from './api';

export interface ReplaceOptions {
  /** The cloud side; default: the Automation API and the provider SDKs (./cloud.ts). */
  readonly cloud?: CloudReplace;
  /** A snapshot id to restore from instead of the newest. */
  readonly snapshot?: string;
  /** How long the new host may take to be seeded and report in sync. @default 300000 */
  readonly syncTimeoutMs?: number;
}

/** The URNs `pulumi up --replace` targets for a site: its server and the host key the program generates. */
export function replaceUrns(project: string, stack: string, customer: string, host: Pick<InventoryHost, 'site' | 'provider'>): string[] {
  const base = `urn:pulumi:${stack}::${project}::tandem:index:Customer`;
  const name = `${customer}-${host.site}`;
  if (host.provider === 'aws') {
    return [`${base}$tandem:aws:Host$aws:ec2/instance:Instance::${name}-host`, `${base}$tandem:aws:Host$tls:index/privateKey:PrivateKey::${name}-host-key`];
  }
  if (host.provider === 'azure') {
    return [
      `${base}$tandem:azure:Host$azure-native:resources:ResourceGroup$azure-native:compute:VirtualMachine::${name}-vm`,
      `${base}$tandem:azure:Host$tls:index/privateKey:PrivateKey::${name}-host-key`,
    ];
  }
  throw new RepairInputError(
    `--site ${host.site} is an off-cloud host: tandem cannot build a new one; install the new box, put its address and host key in the stack file, then run tandem agent install and tandem mirror start --site ${host.site}`,
  );
}

export function checkReplaceable(inv: Inventory, site: string, stackHint: string): InventoryHost {
  const h = inv.hosts.find((x) => x.site === site);
  if (!h) throw new RepairInputError(`--site ${site}: no such site in stack "${inv.customer}"; sites: ${inv.hosts.map((x) => x.site).join(', ')}`);
  if (h.role === 'master') {
    const to = inv.hosts.find((x) => x.role === 'mirror' && x.failover === 'hot') ?? inv.hosts.find((x) => x.role === 'mirror');
    throw new RepairInputError(
      `--site ${site}: ${site} is the master now; a master is not replaced in place. Fail over first: ` +
        `tandem failover ${stackHint}${to ? ` --to ${to.site}` : ''} (add --planned while ${site} still runs), then replace it: tandem site replace ${stackHint} --site ${site}`,
    );
  }
  return h;
}

/** Agent on the new host, the fleet's keys and known hosts updated, mirroring to the site started. */
async function joinNewHost(ctx: RepairContext, inv: Inventory, site: string): Promise<void> {
  const f: FleetOptions = { inventory: inv, connect: connectorFor(inv), ssh: ctx.ssh, parallel: 8, progress: (s, l) => ctx.log(`  ${s.padEnd(10)} ${l}`) };
  ctx.log(`replace ${site}: installing the agent (every host: the new host key and sync key go where they are needed)`);
  const inst = await installFleet(f, 'install', agentBundle(ctx.log));
  // A cold mirror is off by design: it learns the new host's key at its next install (said below).
  const coldOff = (r: (typeof inst)[number]) =>
    r.site !== site && inv.hosts.find((h) => h.site === r.site)?.failover === 'cold' && /EHOSTUNREACH|ETIMEDOUT|ECONNREFUSED|unreachable|timed out/i.test(r.error ?? '');
  for (const r of inst.filter((x) => x.outcome === 'failed' && coldOff(x)))
    ctx.log(`replace ${site}: ${r.site} (cold) is off and was not updated; when it is on, run: tandem agent install --site ${r.site}`);
  const bad = inst.filter((r) => (r.outcome === 'failed' || r.outcome === 'skipped') && !coldOff(r));
  if (bad.length) throw new Error(`agent install failed on ${bad.map((r) => `${r.site}: ${r.error}`).join('; ')}`);
  ctx.log(`replace ${site}: starting mirroring to ${site}; its feeder seeds it`);
  const m = await mirrorFleet(f, 'start', [site]);
  const mbad = m.filter((r) => r.outcome === 'failed');
  if (mbad.length) throw new Error(`mirror start failed on ${mbad.map((r) => `${r.site}: ${r.error}`).join('; ')}`);
}

async function seededAndVerified(ctx: RepairContext, inv: Inventory, site: string, since: number, timeoutMs: number) {
  const c2: RepairContext = { ...ctx, inventory: inv, connect: connectorFor(inv) };
  const sessions = new Sessions(inv, c2.connect, c2.ssh);
  try {
    await waitInSync(sessions, c2, site, since, timeoutMs);
    ctx.log(`replace ${site}: seeded; its agent reports in sync; verifying`);
    return await verifyWith(c2, site, sessions);
  } finally {
    await sessions.closeAll();
  }
}

function liveInventory(ctx: RepairContext, inv: Inventory, from: string): Inventory {
  return ctx.topology ? checked(applyLiveToInventory(inv, ctx.topology, ctx.live), from) : inv;
}

export async function replaceSite(ctx: RepairContext, site: string, o: ReplaceOptions = {}): Promise<ReplaceResult> {
  const t0 = Date.now();
  const stackHint = ctx.stackFile ? `--stack ${ctx.inventory.customer}` : `--inventory ${ctx.inventoryFile ?? 'inventory.json'}`;
  const old = checkReplaceable(ctx.inventory, site, stackHint);
  const feeder = old.feedFrom!;
  let inv: Inventory;
  let newHostKey: string;
  let extra: Partial<ReplaceResult> = {};
  if (ctx.inventory.source === 'lab') {
    const { labReplaceHost } = await import('../lab/replace');
    const r = await labReplaceHost(ctx.inventory.customer, site, ctx.log);
    inv = liveInventory(ctx, r.inventory, `lab inventory of "${ctx.inventory.customer}"`);
    newHostKey = r.newHostKey;
    ctx.log(`replace ${site}: new host up; host key ${newHostKey.slice(0, 30)}... pinned in the lab inventory (was ${(old.hostKey ?? 'none').slice(0, 30)}...)`);
  } else {
    const cloud = o.cloud ?? (await import('./cloud')).defaultCloudReplace();
    const snap = o.snapshot ? { id: o.snapshot, at: 'given' } : await cloud.newestSnapshot(ctx.inventory, old);
    ctx.log(`replace ${site}: data volume from snapshot ${snap.id} (${snap.at})`);
    const stack = await cloud.openStack(ctx.inventory.customer);
    const urns = replaceUrns(stack.project, stack.stack, ctx.inventory.customer, old);
    await stack.setRestore(site, snap.id);
    ctx.log(`replace ${site}: pulumi up --replace ${urns.join(' --replace ')}`);
    await stack.up(urns, (t) => ctx.log(t.trimEnd()));
    inv = liveInventory(ctx, checked(await stack.inventory(), `stack output inventory of "${ctx.inventory.customer}"`), 'stack output');
    newHostKey = inv.hosts.find((x) => x.site === site)?.hostKey ?? '';
    if (!newHostKey || newHostKey === old.hostKey) throw new Error(`pulumi up ran, but the inventory's host key of ${site} did not change: was the host key resource replaced? (${urns[1]})`);
    if (ctx.inventoryFile) {
      fs.writeFileSync(`${ctx.inventoryFile}.tmp`, `${JSON.stringify(inv, null, 2)}\n`);
      fs.renameSync(`${ctx.inventoryFile}.tmp`, ctx.inventoryFile);
      ctx.log(`replace ${site}: the new host key is pinned in ${ctx.inventoryFile}`);
    }
    extra = { snapshotId: snap.id };
  }
  const since = Date.now();
  await joinNewHost(ctx, inv, site);
  const verify = await seededAndVerified(ctx, inv, site, since, o.syncTimeoutMs ?? 300_000);
  ctx.log(`replace ${site}: ${verify.equal ? 'verified equal to' : 'STILL DIFFERENT from'} ${verify.source}`);
  return { site, oldHostKey: old.hostKey, newHostKey, seededFrom: feeder, ms: Date.now() - t0, verify, ...extra, inventory: inv };
}
