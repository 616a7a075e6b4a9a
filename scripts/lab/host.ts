/**
 * One lab host: its private directories, its persistent mount namespace, its sshd, its boot
 * hooks, and running commands inside it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labRoot, type HostPlan, type LabPlan } from './plan';
import { waitForOrNull } from '../util/wait';
import { isMountPoint, killPids, pidsInNetns, run, sleep, type RunOptions, type RunResult } from './sys';

export const SSHD = '/usr/sbin/sshd';
export const BOOT_DIR = '/var/lib/tandem/boot.d';

export const mntFile = (plan: LabPlan, site: string) => path.join(plan.stackDir, 'ns', `${site}.mnt`);
export const netnsFile = (ns: string) => `/run/netns/${ns}`;

/** Where a host directory seen inside the host lives on this machine. */
export const hostPath = (h: HostPlan, what: 'data' | 'agent' | 'home' | 'root' | 'tmp' | 'run' | 'etc-ssh') => path.join(h.dir, what);

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

/** Environment of processes the lab starts inside a host (like init's). */
export function hostEnv(plan: LabPlan, h: HostPlan): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    TANDEM_LAB_CUSTOMER: plan.customer,
    TANDEM_LAB_SITE: h.site,
  };
}

/** Pids (as this machine sees them) of every process in a host's network namespace. */
export function hostPids(h: HostPlan): number[] {
  return pidsInNetns([h.netns]);
}

/** The pid a process has inside its own (innermost) PID namespace. */
function innerPid(pid: number): number | null {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const ids = m ? m[1].trim().split(/\s+/) : [];
    return ids.length ? Number(ids[ids.length - 1]) : null;
  } catch {
    return null;
  }
}

/** The host's init (pid 1 of its PID namespace), by its pid on this machine; null when the host is down. */
export function initPid(h: HostPlan): number | null {
  for (const p of hostPids(h)) {
    try {
      if (innerPid(p) === 1 && fs.readlinkSync(`/proc/${p}/ns/pid`) !== fs.readlinkSync('/proc/self/ns/pid')) return p;
    } catch {
      /* gone */
    }
  }
  return null;
}

/**
 * argv that runs a command inside a host: in its init's network, mount, PID and UTS namespaces
 * when it is up; in its network and mount namespaces when it is down (the lab's back door).
 */
export function nsenterArgv(plan: LabPlan, h: HostPlan, argv: readonly string[]): string[] {
  const init = initPid(h);
  if (init) return ['nsenter', '-t', String(init), '--net', '--mount', '--pid', '--uts', '--', ...argv];
  return ['nsenter', `--net=${netnsFile(h.netns)}`, `--mount=${mntFile(plan, h.site)}`, '--', ...argv];
}

/** Runs a command inside a host. */
export function execIn(plan: LabPlan, h: HostPlan, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(nsenterArgv(plan, h, argv), { env: hostEnv(plan, h), ...opts });
}

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
