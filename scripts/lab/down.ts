/**
 * `lab down`: removes everything `up` made for a stack — processes, namespaces, links, mounts,
 * files — using the state file when there is one and the lab's naming rules when there is not
 * (a crash before the state was written), and lists what it removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findRootLink } from './net';
import { ownsNetns, routerNetns, stackDir, type LabOptions } from './plan';
import { removePlatform } from './platform';
import { readMountPoints, readState, releaseSlot, setMountPoints } from './state';
import { ip, isMountPoint, killPids, listNetns, mountsUnder, netnsPids, requireRoot, sleep } from './sys';
import { umount } from './remove';
import { UNKNOWN } from '../util/table';

async function killNetns(ns: string, removed: string[]): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = await netnsPids(ns);
    if (!pids.length) return;
    for (const p of pids) {
      let name = UNKNOWN;
      try {
        name = fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        /* gone */
      }
      if (i === 0) removed.push(`process ${p} (${name}) in ${ns}`);
    }
    killPids(pids, 'SIGKILL');
    await sleep(20);
  }
  throw new Error(`processes in ${ns} survive SIGKILL: ${(await netnsPids(ns)).join(', ')}`);
}

export async function labDown(customer: string, opts: LabOptions = {}): Promise<{ removed: string[] }> {
  requireRoot('tandem lab down');
  const log = opts.log ?? (() => undefined);
  const removed: string[] = [];
  const st = readState(customer);
  const dir = stackDir(customer);
  const all = await listNetns();
  const mine = all.filter((n) => ownsNetns(customer, n));
  // Hosts first (their processes), then the router; named by the state or by the naming rule.
  const hostNs = mine.filter((n) => n !== routerNetns(customer));
  for (const ns of hostNs) await killNetns(ns, removed);
  if (mine.includes(routerNetns(customer))) await killNetns(routerNetns(customer), removed);
  for (const mp of mountsUnder(dir)) {
    await umount(mp);
    removed.push(`mount ${mp}`);
  }
  for (const ns of [...hostNs, ...mine.filter((n) => n === routerNetns(customer))]) {
    await ip(null, ['netns', 'del', ns], { context: `removing ${ns}` });
    removed.push(`netns ${ns}`);
  }
  const link = (st && fs.existsSync(`/sys/class/net/${st.plan.rootLink}`) ? st.plan.rootLink : null) ?? (await findRootLink(customer));
  if (link) {
    // Deleting one end of a veth deletes both, and the route through it.
    await ip(null, ['link', 'del', link], { allowFail: true });
    removed.push(`link ${link}${st ? ` and route ${st.plan.subnet}` : ''}`);
  }
  const others = (await listNetns()).filter((n) => n.startsWith('tl.') && !ownsNetns(customer, n));
  // Removing a directory that another lab host uses as a mount point would unmount it there,
  // so the mount points go only with the last stack.
  if (!others.length) {
    const keep: string[] = [];
    for (const d of readMountPoints().sort((a, b) => b.length - a.length)) {
      if (rmEmptyTree(d)) removed.push(`dir ${d}`);
      else if (fs.existsSync(d)) keep.push(d);
    }
    setMountPoints(keep);
  }
  if (!others.length && removePlatform()) removed.push('file /usr/local/bin/tandem-lab-platform');
  const slot = releaseSlot(customer);
  if (slot !== null) removed.push(`address slot ${slot}`);
  if (fs.existsSync(dir)) {
    const left = mountsUnder(dir);
    if (left.length) throw new Error(`cannot remove ${dir}: still mounted: ${left.join(', ')}`);
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(`dir ${dir}`);
  }
  for (const r of removed) log(`removed ${r}`);
  return { removed };
}

/** Removes a directory tree made only of empty directories; false if anything is in it. */
function rmEmptyTree(d: string): boolean {
  try {
    for (const n of fs.readdirSync(d)) if (!rmEmptyTree(path.join(d, n))) return false;
    if (isMountPoint(d)) return false;
    fs.rmdirSync(d);
    return true;
  } catch {
    return false;
  }
}
