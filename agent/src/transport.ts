/**
 * How a sender reaches a child: one persistent OpenSSH client per link for frames, and rsync
 * over the same key for seed/reconcile. The test-only transport (TANDEM_TEST_TRANSPORT=local)
 * spawns the receiver locally; child.address is then the child's agent home directory.
 */
import { ChildProcess, spawn } from 'child_process';
import type { AgentChild } from './contract';
import { HomePaths, STAGING_DIR, testTransport } from './env';

export const SSH_USER = 'tandem';

export function sshBase(paths: HomePaths, child: AgentChild): string[] {
  return [
    'ssh',
    '-T',
    '-i',
    paths.key,
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${paths.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'ConnectTimeout=10',
    // AES-GCM runs on the CPU's AES instructions (AES-NI on every x86 server this targets) where
    // OpenSSH's default chacha20-poly1305 is plain code: the cheaper cipher for the master's
    // ssh clients. chacha20 stays second, for a peer that offers no AES-GCM.
    '-o',
    'Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com',
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(child.sshPort),
  ];
}

export function knownHostsLine(child: AgentChild): string {
  const host = child.sshPort === 22 ? child.address : `[${child.address}]:${child.sshPort}`;
  return `${host} ${child.hostKey.trim()}`;
}

export function spawnLink(paths: HomePaths, child: AgentChild, agentJs: string): ChildProcess {
  if (testTransport()) {
    return spawn(process.execPath, [agentJs, 'receive'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TANDEM_AGENT_HOME: child.address, SSH_ORIGINAL_COMMAND: 'tandem-receive', TANDEM_TEST_TRANSPORT: '' },
    });
  }
  const [cmd, ...args] = sshBase(paths, child);
  // No ssh compression: the agent deflates each tick's batch itself, once for all children in
  // step (Z frames, see link.ts), where ssh compressed the same bytes again in every client at
  // zlib level 6. A child too old to take Z frames gets plain frames (the upgrade-window cost).
  // rsync (seed/catch-up) runs without compression too: bulk data is often already compressed.
  return spawn(cmd, [...args, '-o', 'Compression=no', `${SSH_USER}@${child.address}`, 'tandem-receive'], { stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface RsyncPlan {
  readonly cmd: string;
  readonly args: string[];
}

export function rsyncPlan(paths: HomePaths, child: AgentChild, dataDir: string, exclude: readonly string[], agentJs: string): RsyncPlan {
  const args = [
    '-a',
    '--delete',
    '--numeric-ids',
    // One symlink policy with the stream: a link that leaves dataDir (absolute, or too many
    // '..') is not mirrored. Holes stay holes on the mirror.
    '--safe-links',
    '--sparse',
    // rrsync maps these root-relative paths into the child's dataDir.
    `--partial-dir=/${STAGING_DIR}/rsync-partial`,
    `--temp-dir=/${STAGING_DIR}/rsync-tmp`,
    `--exclude=/${STAGING_DIR}/`,
    ...exclude.map((e) => `--exclude=${e}`),
  ];
  if (child.bandwidthMbit) args.push(`--bwlimit=${Math.max(1, Math.floor((child.bandwidthMbit * 1_000_000) / 8 / 1024))}`);
  if (testTransport()) {
    // rsync splits -e on spaces: tests use homes without spaces.
    args.push('-e', `${process.execPath} ${agentJs} test-rsh ${child.address}`, `${dataDir}/`, `${child.site}:/`);
  } else {
    args.push('-e', sshBase(paths, child).join(' '), `${dataDir}/`, `${SSH_USER}@${child.address}:/`);
  }
  return { cmd: 'rsync', args };
}
