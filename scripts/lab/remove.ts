/**
 * Removing one lab host (its processes, mount namespace, network namespace, files): used by
 * `lab down` and by `lab up` for the sites a stack no longer has.
 */
import * as fs from 'node:fs';
import { mntFile } from './host-paths';
import { killHost } from './host-power';
import type { HostPlan, LabPlan } from './plan';
import { ip, isMountPoint, listNetns, mountsUnder, run } from './sys';

/** Unmounts `mp`, lazily when it is busy. */
export async function umount(mp: string): Promise<void> {
  const r = await run(['umount', mp], { allowFail: true });
  if (r.code !== 0 && isMountPoint(mp)) await run(['umount', '-l', mp], { context: `unmounting ${mp}` });
}

/** Removes one host (processes, mount namespace, network namespace); used by down and by up for dropped sites. */
export async function removeHost(plan: LabPlan, h: HostPlan, removed: string[] = []): Promise<string[]> {
  await killHost(h);
  const f = mntFile(plan, h.site);
  if (isMountPoint(f)) {
    await umount(f);
    removed.push(`mount namespace ${f}`);
  }
  for (const mp of mountsUnder(h.dir)) {
    await umount(mp);
    removed.push(`mount ${mp}`);
  }
  if ((await listNetns()).includes(h.netns)) {
    await ip(null, ['netns', 'del', h.netns], { context: `removing ${h.netns}` });
    removed.push(`netns ${h.netns} (and its link ${h.routerIf}/eth0)`);
  }
  await ip(plan.routerNetns, ['link', 'del', h.routerIf], { allowFail: true });
  fs.rmSync(h.dir, { recursive: true, force: true });
  fs.rmSync(f, { force: true });
  return removed;
}
