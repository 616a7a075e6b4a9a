/**
 * A lab host's files on this machine: its private directories, its data mount, its host key, and
 * its /etc/ssh (sshd config, root's authorized keys, the lab's per-host config).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostPlan, LabPlan } from './plan';
import { hostPath } from './host-paths';
import { isMountPoint, run } from './sys';

export function sshdConfig(h: HostPlan): string {
  return `# sshd of lab host ${h.site} (written by tandem lab up; this host's /etc/ssh is private to it)
Port ${h.sshPort}
ListenAddress 0.0.0.0
AddressFamily inet
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
PrintMotd no
MaxStartups 64:30:256
MaxSessions 64
ClientAliveInterval 15
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
# root's keys live in this host's /etc/ssh, next to its host key.
Match User root
    AuthorizedKeysFile /etc/ssh/authorized_keys/%u
`;
}

/** Creates a host's directories, data mount, host key and sshd config. Returns true if the data mount is new. */
export async function ensureHostFiles(plan: LabPlan, h: HostPlan, adminPub: string, healthPort: number): Promise<boolean> {
  for (const d of ['data', 'agent', 'home', 'root', 'tmp', 'run', 'etc-ssh'] as const) fs.mkdirSync(hostPath(h, d), { recursive: true });
  fs.chmodSync(hostPath(h, 'tmp'), 0o1777);
  fs.chmodSync(hostPath(h, 'root'), 0o700);
  // A fresh server's root home: the distribution's skeleton, not this machine's dotfiles.
  for (const f of ['.bashrc', '.profile']) {
    const dst = path.join(hostPath(h, 'root'), f);
    if (!fs.existsSync(dst) && fs.existsSync(path.join('/etc/skel', f))) fs.copyFileSync(path.join('/etc/skel', f), dst);
  }
  fs.mkdirSync(path.join(hostPath(h, 'run'), 'sshd'), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(hostPath(h, 'agent'), 'boot.d'), { recursive: true, mode: 0o755 });
  const etc = hostPath(h, 'etc-ssh');
  fs.mkdirSync(path.join(etc, 'authorized_keys'), { recursive: true, mode: 0o755 });
  let freshData = false;
  if (!isMountPoint(hostPath(h, 'data'))) {
    const inodes = Math.max(4096, h.diskMb * 256);
    await run(['mount', '-t', 'tmpfs', '-o', `size=${h.diskMb}m,nr_inodes=${inodes},mode=0755`, `tandem-lab-${plan.customer}-${h.site}`, hostPath(h, 'data')], {
      context: `mounting the data directory of ${h.site}`,
    });
    freshData = true;
  }
  const key = path.join(etc, 'ssh_host_ed25519_key');
  if (!fs.existsSync(key) || !fs.existsSync(`${key}.pub`)) {
    fs.rmSync(key, { force: true });
    fs.rmSync(`${key}.pub`, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `root@${h.site}.${plan.customer}.lab`, '-f', key], { context: `host key of ${h.site}` });
  }
  for (const f of ['ssh_config', 'moduli']) {
    if (!fs.existsSync(path.join(etc, f)) && fs.existsSync(path.join('/etc/ssh', f))) fs.copyFileSync(path.join('/etc/ssh', f), path.join(etc, f));
  }
  writeIfChanged(path.join(etc, 'sshd_config'), sshdConfig(h), 0o644);
  writeIfChanged(path.join(etc, 'authorized_keys', 'root'), `${adminPub.trim()}\n`, 0o644);
  writeIfChanged(path.join(etc, 'tandem-lab.conf'), `# this lab host (sourced by tandem-lab-platform)\nCUSTOMER=${plan.customer}\nSITE=${h.site}\nHEALTH_PORT=${healthPort}\n`, 0o644);
  return freshData;
}

function writeIfChanged(file: string, text: string, mode: number): void {
  try {
    if (fs.readFileSync(file, 'utf8') === text) return;
  } catch {
    /* missing */
  }
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

export function hostKeyOf(h: HostPlan): string {
  const [type, b64] = fs
    .readFileSync(path.join(hostPath(h, 'etc-ssh'), 'ssh_host_ed25519_key.pub'), 'utf8')
    .trim()
    .split(/\s+/);
  return `${type} ${b64}`;
}
