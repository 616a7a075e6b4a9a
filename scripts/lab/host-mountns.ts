/**
 * A lab host's persistent mount namespace: its own directories bound over the machine's, the lab
 * state hidden, kept alive by a file under the stack's ns/ dir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labRoot, type HostPlan, type LabPlan } from './plan';
import { mntFile } from './host-paths';
import { isMountPoint, run } from './sys';

/**
 * The mount setup run inside a new mount namespace. Per-host directories are bound over the
 * paths a host must not share, the data directory last (it may sit under /home or /tmp), then the
 * whole lab state root is hidden so no host can reach another host's directories.
 */
const MOUNT_SCRIPT = `set -e
H=$1; DATA=$2; ROOT=$3
mount --bind "$H/agent" /var/lib/tandem
mount --bind "$H/home" /home
mount --bind "$H/root" /root
mount --bind "$H/etc-ssh" /etc/ssh
mount --bind "$H/run" /run
mount --bind "$H/tmp" /tmp
mkdir -p "$DATA"
mount --bind "$H/data" "$DATA"
# Copies of other hosts' mounts under the state root go first, so nothing here pins them.
for m in $(awk -v r="$ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
if [ -d "$ROOT" ]; then mount -t tmpfs -o size=16k,mode=0700 tandem-lab-hidden "$ROOT"; fi
`;

/** Makes the host's persistent mount namespace (bound to a file under the stack's ns/ dir). */
export async function createMountNs(plan: LabPlan, h: HostPlan, dataDir: string): Promise<void> {
  const nsDir = path.join(plan.stackDir, 'ns');
  fs.mkdirSync(nsDir, { recursive: true });
  if (!isMountPoint(nsDir)) {
    // A namespace file can only be bound under a private mount.
    await run(['mount', '--bind', nsDir, nsDir], { context: 'preparing the namespace directory' });
    await run(['mount', '--make-private', nsDir], { context: 'preparing the namespace directory' });
  }
  const f = mntFile(plan, h.site);
  if (isMountPoint(f)) await run(['umount', f], { allowFail: true });
  fs.writeFileSync(f, '');
  await run(['unshare', `--mount=${f}`, '--propagation', 'private', '/bin/sh', '-c', MOUNT_SCRIPT, 'sh', h.dir, dataDir, labRoot()], {
    context: `making the mount namespace of ${h.site}`,
  });
}

export function hasMountNs(plan: LabPlan, site: string): boolean {
  return isMountPoint(mntFile(plan, site));
}
