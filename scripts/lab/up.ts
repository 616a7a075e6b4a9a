/**
 * `lab up`: every site of a stack becomes a host on this machine. Idempotent: each step checks
 * what is there and makes only what is missing, so a second `up` changes nothing and an `up`
 * after a crash of the tool repairs what it finds half made.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Inventory } from '../../model/inventory';
import { masterOf } from '../../model/topology/graph';
import { buildInventory } from './inventory';
import type { Topology } from '../../model/topology/types';
import { ensureHostFiles, hostKeyOf } from './host-files';
import { createMountNs, hasMountNs } from './host-mountns';
import { bootHost, killHost } from './host-power';
import { sshdPid } from './host-sshd';
import { ensureHostNet, ensureRouter, rootLinkTaken } from './net';
import { HOST_BINDS, labRoot, planLab, rootLinkName, stackDir, type HostPlan, type LabOptions } from './plan';
import { installPlatform } from './platform';
import { addMountPoints, claimSlot, readState, writeInventory, writeState, type LabState } from './state';
import { ensureVip } from './vip';
import { removeHost } from './remove';
import { requireRoot, run } from './sys';

const TOOLS = ['ip', 'tc', 'nsenter', 'unshare', 'mount', 'umount', 'ssh-keygen', 'sysctl'];

async function checkTools(): Promise<void> {
  const missing: string[] = [];
  for (const t of TOOLS) if ((await run(['sh', '-c', `command -v ${t}`], { allowFail: true })).code !== 0) missing.push(t);
  if (!fs.existsSync('/usr/sbin/sshd')) missing.push('/usr/sbin/sshd');
  if (missing.length) {
    throw new Error(`the lab needs ${missing.join(', ')}, which this machine lacks; run scripts/setup.sh (it installs openssh-server, iproute2, util-linux)`);
  }
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

function checkRoot(t: Topology): void {
  const root = labRoot();
  for (const b of [...HOST_BINDS, t.dataDir]) {
    if (under(root, b) || under(b, root)) {
      throw new Error(`the lab state directory ${root} overlaps ${b}, which every lab host replaces with its own; set TANDEM_LAB_DIR to a directory elsewhere (default /var/lib/tandem-lab)`);
    }
  }
}

/** Creates missing parents of a mount point on the root filesystem; returns the topmost one created. */
function mkMountPoint(dir: string): string | null {
  let top: string | null = null;
  let p = dir;
  while (!fs.existsSync(p)) {
    top = p;
    p = path.dirname(p);
  }
  if (top) fs.mkdirSync(dir, { recursive: true });
  return top;
}

export async function labUp(t: Topology, opts: LabOptions = {}): Promise<Inventory> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  requireRoot('tandem lab up');
  await checkTools();
  checkRoot(t);
  const dir = stackDir(t.customer);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const prev = readState(t.customer);
  const slot = claimSlot(t.customer, (k) => rootLinkTaken(rootLinkName(k), t.customer));
  const plan = planLab(t, slot, dir);
  log(`lab ${t.customer}: ${plan.hosts.length} hosts in ${plan.regions.length} region networks, subnet ${plan.subnet}`);

  const adminKey = path.join(dir, 'admin_ed25519');
  if (!fs.existsSync(adminKey) || !fs.existsSync(`${adminKey}.pub`)) {
    fs.rmSync(adminKey, { force: true });
    fs.rmSync(`${adminKey}.pub`, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `tandem-lab-admin@${t.customer}`, '-f', adminKey], { context: 'making the lab admin key' });
  }
  const adminPub = fs.readFileSync(`${adminKey}.pub`, 'utf8');

  const state: LabState = {
    version: 1,
    customer: t.customer,
    topology: t,
    plan,
    adminKey,
    hosts: {},
    vipHolder: prev?.vipHolder && t.sites.some((s) => s.name === prev.vipHolder) ? prev.vipHolder : masterOf(t).name,
    upAt: prev?.upAt ?? new Date().toISOString(),
  };
  // Sites that left the topology since the last up: their hosts go.
  if (prev) {
    for (const old of prev.plan.hosts) {
      if (!plan.hosts.some((h) => h.site === old.site)) {
        await removeHost(prev.plan, old);
        log(`removed host ${old.site} (no longer in the stack)`);
      }
    }
  }

  await ensureRouter(plan);
  log(`router ${plan.routerNetns} ready; operator link ${plan.rootLink} ${plan.operatorAddress} -> ${plan.subnet}`);

  // Shared with other stacks, so made only once this stack has a namespace: a concurrent `down`
  // of another stack then sees this one and leaves them in place.
  const createdDirs: string[] = [];
  for (const mp of ['/var/lib/tandem', t.dataDir]) {
    if (HOST_BINDS.some((b) => b !== '/var/lib/tandem' && under(mp, b))) continue; // made inside the host's own dir
    const top = mkMountPoint(mp);
    if (top) createdDirs.push(top);
  }
  addMountPoints(createdDirs);
  if (installPlatform()) log('installed tandem-lab-platform (the stand-in trading platform)');

  await Promise.all(
    plan.hosts.map(async (h: HostPlan) => {
      const was = prev?.hosts[h.site];
      const hs = { poweredOff: was?.poweredOff ?? false, isolated: was?.isolated ?? false, diskFull: was?.diskFull ?? false };
      await ensureHostNet(plan, h, !hs.poweredOff && !hs.isolated);
      const freshData = await ensureHostFiles(plan, h, adminPub, t.service.healthPort);
      if (freshData) hs.diskFull = false;
      let fresh = false;
      if (freshData || !hasMountNs(plan, h.site)) {
        // A mount namespace that no longer matches its data mount is rebuilt, with its processes.
        await killHost(h);
        await createMountNs(plan, h, t.dataDir);
        fresh = true;
      }
      state.hosts[h.site] = { hostKey: hostKeyOf(h), ...hs };
      const what: string[] = [];
      if (!hs.poweredOff && !sshdPid(h)) {
        const b = await bootHost(plan, h);
        what.push(`sshd pid ${b.pid}`);
        if (b.hooks.length) what.push(`boot.d: ${b.hooks.join(', ')}`);
      } else if (hs.poweredOff) {
        what.push(`powered off (tandem lab fault poweron --site ${h.site} to start it)`);
      } else {
        what.push(`sshd running (pid ${sshdPid(h)})`);
      }
      log(
        `host ${h.site.padEnd(10)} ${h.address.padEnd(15)} ${h.netns}  ${fresh ? 'created' : 'kept'}; ${what.join('; ')}` +
          `${h.linkMbit ? `; link capped at ${h.linkMbit} Mbit/s` : ''}${hs.isolated ? '; isolated' : ''}`,
      );
    }),
  );

  await ensureVip(plan, state.vipHolder);
  writeState(state);
  const inv = buildInventory(t, plan, state);
  writeInventory(inv);
  log(`vip ${plan.vip} on ${state.vipHolder}; inventory ${path.join(dir, 'inventory.json')} (${Date.now() - t0} ms)`);
  return inv;
}
