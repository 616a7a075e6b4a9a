/** A lab host's sshd: starting it, waiting until it listens, and finding it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostPlan, LabPlan } from './plan';
import { waitForOrNull } from '../util/wait';
import { execIn } from './host-exec';
import { hostPath } from './host-paths';
import { hostPids, innerPid } from './host-procs';

export const SSHD = '/usr/sbin/sshd';

/** Pid (on this machine) of the host's sshd if it runs (any state, even stopped), else null. */
export function sshdPid(h: HostPlan): number | null {
  let inner: number;
  try {
    inner = Number(fs.readFileSync(path.join(hostPath(h, 'run'), 'sshd.pid'), 'utf8').trim());
  } catch {
    return null;
  }
  if (!inner) return null;
  for (const p of hostPids(h)) {
    if (innerPid(p) !== inner) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/exe`).endsWith('/sshd')) return p;
    } catch {
      /* gone */
    }
  }
  return null;
}

function listening(pid: number, port: number): boolean {
  try {
    const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    return fs
      .readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .some((l) => {
        const f = l.trim().split(/\s+/);
        return f[1]?.endsWith(hex) && f[3] === '0A';
      });
  } catch {
    return false;
  }
}

/** Starts the host's sshd (it daemonizes in its own session) and waits until it listens. */
export async function startSshd(plan: LabPlan, h: HostPlan): Promise<number> {
  fs.rmSync(path.join(hostPath(h, 'run'), 'sshd.pid'), { force: true });
  fs.mkdirSync(path.join(hostPath(h, 'run'), 'sshd'), { recursive: true, mode: 0o755 });
  await execIn(plan, h, [SSHD, '-f', '/etc/ssh/sshd_config', '-E', '/run/sshd.log'], { context: `starting sshd on ${h.site}`, timeoutMs: 10000 });
  // Bounded wait, looking at the host's own socket table: no network traffic needed.
  const up = await waitForOrNull(
    `sshd on ${h.site}`,
    () => {
      const pid = sshdPid(h);
      return pid && listening(pid, h.sshPort) ? pid : null;
    },
    { timeoutMs: 5000, everyMs: 20, retryErrors: false },
  );
  if (up) return up;
  let log = '';
  try {
    log = fs
      .readFileSync(path.join(hostPath(h, 'run'), 'sshd.log'), 'utf8')
      .trim()
      .split('\n')
      .slice(-5)
      .join('\n');
  } catch {
    /* none */
  }
  throw new Error(`sshd on lab host ${h.site} did not start listening on ${h.address}:${h.sshPort} within 5 s${log ? `; its log:\n${log}` : ''}`);
}
