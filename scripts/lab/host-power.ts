/**
 * Powering a lab host on and off: booting it (its init, sshd, boot hooks), killing or shutting
 * down its processes, and emptying what a reboot empties.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostPlan, LabPlan } from './plan';
import { sleep, waitForOrNull } from '../util/wait';
import { hostEnv, nsenterArgv } from './host-exec';
import { BOOT_DIR, hostPath, mntFile, netnsFile } from './host-paths';
import { hostPids, initPid } from './host-procs';
import { startSshd } from './host-sshd';
import { killPids } from './sys';

/**
 * A host's init: pid 1 of the host's own PID namespace, so pids (and pid files, and kill) are
 * per host, as on a real server. It mounts the host's /proc — in the host's own mount namespace;
 * it refuses to run in the machine's — sets the hostname, and reaps orphans. SIGTERM ends it.
 */
const INIT_SCRIPT = `set -e
# Only a lab host's mount namespace has its own /etc/ssh with tandem-lab.conf: never touch the machine's /proc.
[ -f /etc/ssh/tandem-lab.conf ] || { echo "tandem lab: not in a lab host's mount namespace; refusing to mount /proc" >&2; exit 1; }
umount -l /proc 2>/dev/null || true
mount -t proc -o nosuid,nodev,noexec proc /proc
hostname "$1"
exec /bin/sh -c 'trap "exit 0" TERM; while :; do sleep infinity & wait $!; done'
`;

async function startInit(plan: LabPlan, h: HostPlan): Promise<number> {
  const argv = [
    'nsenter',
    `--net=${netnsFile(h.netns)}`,
    `--mount=${mntFile(plan, h.site)}`,
    '--',
    'unshare',
    '--pid',
    '--uts',
    '--fork',
    '--kill-child',
    '/bin/sh',
    '-c',
    INIT_SCRIPT,
    'init',
    h.site,
  ];
  fs.mkdirSync(hostPath(h, 'run'), { recursive: true });
  const fd = fs.openSync(path.join(hostPath(h, 'run'), 'init.log'), 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: hostEnv(plan, h), cwd: '/' });
    child.on('error', () => undefined);
    child.unref();
  } finally {
    fs.closeSync(fd);
  }
  const ready = await waitForOrNull(
    `the init of ${h.site}`,
    () => {
      const p = initPid(h);
      // ready once /proc is the host's own (its pid 1 is itself)
      return p && fs.existsSync(`/proc/${p}/root/proc/1`) && readlinkOr(`/proc/${p}/root/proc/1/ns/pid`) === readlinkOr(`/proc/${p}/ns/pid`) ? p : null;
    },
    { timeoutMs: 5000, everyMs: 20, retryErrors: false },
  );
  if (ready) return ready;
  let log = '';
  try {
    log = fs.readFileSync(path.join(hostPath(h, 'run'), 'init.log'), 'utf8').trim();
  } catch {
    /* none */
  }
  throw new Error(`the init of lab host ${h.site} did not start within 5 s${log ? `: ${log}` : ''}`);
}

function readlinkOr(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/**
 * Runs each executable in the host's /var/lib/tandem/boot.d (like init would at boot), detached,
 * in its own session, output to /run/boot.d/<name>.log. Not waited for.
 */
export function runBootHooks(plan: LabPlan, h: HostPlan): string[] {
  const dir = path.join(hostPath(h, 'agent'), 'boot.d');
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  const started: string[] = [];
  const logDir = path.join(hostPath(h, 'run'), 'boot.d');
  for (const n of names) {
    const p = path.join(dir, n);
    try {
      const st = fs.statSync(p);
      if (!st.isFile() || !(st.mode & 0o111) || n.startsWith('.')) continue;
    } catch {
      continue;
    }
    fs.mkdirSync(logDir, { recursive: true });
    const fd = fs.openSync(path.join(logDir, `${n}.log`), 'a');
    try {
      const argv = nsenterArgv(plan, h, [path.posix.join(BOOT_DIR, n)]);
      const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: hostEnv(plan, h), cwd: '/' });
      child.on('error', () => undefined);
      child.unref();
      started.push(n);
    } finally {
      fs.closeSync(fd);
    }
  }
  return started;
}

/**
 * Boots a host: its init, sshd, then its boot hooks. If the init still runs (only sshd died), it
 * is not a boot: sshd is started again and the hooks are not run twice.
 */
export async function bootHost(plan: LabPlan, h: HostPlan): Promise<{ pid: number; hooks: string[] }> {
  const booting = !initPid(h);
  if (booting) await startInit(plan, h);
  const pid = await startSshd(plan, h);
  return { pid, hooks: booting ? runBootHooks(plan, h) : [] };
}

/**
 * Kills every process of a host (every process in its network namespace); bounded wait. With a
 * grace period it is a shutdown: SIGTERM to everything but init first, init last.
 */
export async function killHost(h: HostPlan, graceMs = 0): Promise<number[]> {
  const all = new Set<number>();
  if (graceMs > 0) {
    const init = initPid(h);
    const keep = new Set<number>();
    if (init) {
      keep.add(init);
      try {
        keep.add(Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${init}/status`, 'utf8'))?.[1]));
      } catch {
        /* gone */
      }
    }
    const pids = hostPids(h).filter((p) => !keep.has(p));
    pids.forEach((p) => all.add(p));
    killPids(pids, 'SIGTERM');
    killPids(pids, 'SIGCONT');
    // Whatever is still there after the grace period gets SIGKILL below: a timeout is no error here.
    await waitForOrNull('the host to stop', () => !hostPids(h).some((p) => !keep.has(p)), { timeoutMs: graceMs, retryErrors: false });
  }
  for (let i = 0; i < 50; i++) {
    const pids = hostPids(h);
    if (!pids.length) break;
    pids.forEach((p) => all.add(p));
    killPids(pids, 'SIGKILL');
    await sleep(20);
  }
  return [...all];
}

/** Empties /run and /tmp of a host, as a reboot would. */
export function wipeVolatile(h: HostPlan): void {
  for (const d of ['run', 'tmp'] as const) {
    const dir = hostPath(h, d);
    for (const n of fs.readdirSync(dir)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(hostPath(h, 'run'), 'sshd'), { recursive: true, mode: 0o755 });
}
