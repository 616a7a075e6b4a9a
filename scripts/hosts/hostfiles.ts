/**
 * What install puts on a host besides the agent and its config, and the shell it runs there.
 * Pure renderers (tested in test/ops/hostfiles.test.ts), so "unchanged" is a hash comparison.
 *
 * Layout and permissions (why):
 *   /var/lib/tandem            root:root 0755      home of the account (sshd's StrictModes wants
 *                                                   it owned by the user or root, not g/o-writable).
 *                                                   Root's, so tandem cannot rename agent.js,
 *                                                   config.json or boot.d away and put its own in
 *                                                   their place (root runs them)
 *   /var/lib/tandem/agent.js   root:root 0644      the agent; written only by install
 *   /var/lib/tandem/koffi.node root:root 0644      koffi's binary for the agent's in-process
 *                                                   inotify; only on hosts of the operator's
 *                                                   CPU with glibc (else inotifywait), by install
 *   /var/lib/tandem/config.json root:root 0644     AgentConfig; written only by tandem commands
 *   /var/lib/tandem/state/     tandem:tandem 0750  the agent's state and status.json; never
 *                                                   touched by upgrade
 *   /var/lib/tandem/log/       tandem:tandem 0750  the receiver's log
 *   /var/lib/tandem/.ssh/      root:root 0755      sshd reads tandem's authorized_keys here. Root's,
 *                                                   so tandem can neither rename a file of its own
 *                                                   over authorized_keys (an unrestricted key = a
 *                                                   shell) nor add authorized_keys2, rc or
 *                                                   environment. Holds id_ed25519 (tandem 0600,
 *                                                   generated on the host, never leaves it), its
 *                                                   .pub and authorized_keys (root 0644, managed)
 * Chosen over an AuthorizedKeysFile under /etc/ssh (a Match block in sshd's config): it needs no
 * change to sshd's config and no sshd reload on any host (off-cloud boxes included, whose
 * sshd_config may not even read sshd_config.d), and holds whatever AuthorizedKeysFile says, as
 * long as it names ~/.ssh.
 * The daemon runs as `tandem` with one capability, CAP_DAC_READ_SEARCH: it reads every file in
 * the master's dataDir whatever owner and mode the trading platform gave it, and can write
 * nothing but what `tandem` owns. On mirrors the dataDir belongs to `tandem` (the receiver writes
 * it), group tandem, setgid directories, so a platform user added to group `tandem` can use the
 * data after a failover. The master's dataDir is never re-owned.
 */
import { AGENT_HOME, AGENT_USER, HOST } from '../../agent/src/contract';
import { AGENT_JS, AUTHORIZED_KEYS, FFI_NODE, SYNC_KEY } from './keys';
import { FENCE_HOOK } from '../../agent/src/fence';
import { sq } from '../ssh/quote';

export const UNIT_NAME = 'tandem-agent.service';
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
export const SUPERVISOR = `${AGENT_HOME}/supervise.sh`;
/** In /run: gone after a reboot, so a stale pid can never stand for a running supervisor. */
export const RUN_DIR = '/run/tandem-agent';
export const SUPERVISOR_PID = `${RUN_DIR}/supervise.pid`;
export const DAEMON_PID = `${RUN_DIR}/daemon.pid`;
export const DAEMON_LOG = `${AGENT_HOME}/agent.log`;
/** The daemon's log (its stderr, where systemd does not run) is capped at this, as the agent's own logs are. */
export const DAEMON_LOG_CAP = 4 * 1024 * 1024;
export const BOOT_HOOK = `${AGENT_HOME}/boot.d/50-tandem-agent`;
export const CONFIG_JSON = HOST.config;
export const STATUS_JSON = HOST.status;
/** Where earlier installs kept it, in a home tandem could write: removed by install. */
export const LEGACY_STATUS_JSON = `${AGENT_HOME}/status.json`;
export const STATE_DIR = HOST.stateDir;

export type Supervision = 'systemd' | 'lab';

export function systemdUnit(node: string): string {
  return `# Managed by \`tandem agent install\`; edits here are lost on the next install.
[Unit]
Description=tandem sync agent (feeds this host's mirrors, keeps ${STATUS_JSON})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${AGENT_USER}
Group=${AGENT_USER}
# Read the whole dataDir whatever its owners; write only what tandem owns.
AmbientCapabilities=CAP_DAC_READ_SEARCH
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
NoNewPrivileges=yes
ProtectSystem=full
ExecStart=${node} ${AGENT_JS} daemon
Restart=always
RestartSec=2
# Mirroring must never slow the trading platform down.
Nice=10
IOSchedulingClass=idle

[Install]
WantedBy=multi-user.target
`;
}

export const FENCE_UNIT_NAME = 'tandem-fence.service';
export const FENCE_UNIT_PATH = `/etc/systemd/system/${FENCE_UNIT_NAME}`;

/**
 * The boot fence where systemd runs (boot.d is the lab's boot path; systemd does not run it):
 * `agent.js fence` as root at boot, on a host that has been master (the hook file is its mark,
 * written by the failover or `service start`; agent/src/fence.ts). Until it confirms with another
 * site that no higher epoch exists, the daemon does not feed and the service is not started; it
 * then keeps watching while the host is master, and exits when it is not. When it gave up fenced
 * (no site reachable for its deadline) systemd runs it again.
 */
export function fenceUnit(node: string): string {
  return `# Managed by \`tandem agent install\`; edits here are lost on the next install.
[Unit]
Description=tandem boot fence (a master that comes back asks the other sites for a higher epoch before it serves or feeds)
After=network-online.target
Wants=network-online.target
Before=${UNIT_NAME}
ConditionPathExists=${FENCE_HOOK}

[Service]
Type=simple
ExecStart=${node} ${AGENT_JS} fence
StandardOutput=append:${AGENT_HOME}/log/fence.log
StandardError=append:${AGENT_HOME}/log/fence.log
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
`;
}

export const REFRESH_UNIT_NAME = 'tandem-refresh-off.service';
export const REFRESH_UNIT_PATH = `/etc/systemd/system/${REFRESH_UNIT_NAME}`;

/**
 * The host side of a cold refresh (topology `coldRefreshH`), where systemd runs: `agent.js
 * refresh-off` as root at every boot of a cold mirror; it powers the host off once its receiver
 * caught up since the boot (agent/src/refresh-off.ts), and exits at once on a host that is not a
 * cold mirror with a refresh any more (promoted by a failover). Installed only on such hosts.
 */
export function refreshUnit(node: string): string {
  return `# Managed by \`tandem agent install\`; edits here are lost on the next install.
[Unit]
Description=tandem cold refresh (powers this cold mirror off again once it caught up after a scheduled start)
After=network-online.target ${UNIT_NAME}
Wants=network-online.target

[Service]
Type=simple
ExecStart=${node} ${AGENT_JS} refresh-off
StandardOutput=append:${AGENT_HOME}/log/refresh.log
StandardError=append:${AGENT_HOME}/log/refresh.log

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Where systemd does not run (the lab): a loop that restarts the daemon when it exits, started
 * with setsid so it outlives the SSH session. It drops to tandem with the same one capability.
 */
export function supervisorScript(node: string): string {
  return `#!/bin/sh
# Managed by \`tandem agent install\`: keeps the tandem agent daemon running where systemd does
# not (the lab). Restarts it 2 s after it exits; TERM stops both.
mkdir -p ${RUN_DIR}
echo $$ > ${SUPERVISOR_PID}
child=
# ${DAEMON_LOG} is capped like the agent's own logs: past ${DAEMON_LOG_CAP} bytes it is copied to
# agent.log.1 and emptied (the daemon appends, so it just goes on from the start; a line written
# between the copy and the truncation is lost). The loop ends with this supervisor.
( while kill -0 $$ 2>/dev/null; do
    [ "$(stat -c %s ${DAEMON_LOG} 2>/dev/null || echo 0)" -gt ${DAEMON_LOG_CAP} ] && cp ${DAEMON_LOG} ${DAEMON_LOG}.1 && : > ${DAEMON_LOG}
    sleep 10
  done ) </dev/null >/dev/null 2>&1 &
capper=$!
trap '[ -n "$child" ] && kill "$child" 2>/dev/null; kill "$capper" 2>/dev/null; rm -f ${DAEMON_PID} ${SUPERVISOR_PID}; exit 0' TERM INT HUP
while :; do
  nice -n 10 setpriv --reuid=${AGENT_USER} --regid=${AGENT_USER} --init-groups \\
    --inh-caps=+dac_read_search --ambient-caps=+dac_read_search \\
    ${node} ${AGENT_JS} daemon >>${DAEMON_LOG} 2>&1 </dev/null &
  child=$!
  echo "$child" > ${DAEMON_PID}
  wait "$child"
  echo "$(date -u +%FT%TZ) supervise: daemon exited with $?; restarting in 2 s" >>${DAEMON_LOG}
  sleep 2
done
`;
}

/** Run by the lab at host boot/power-on (every executable in boot.d). */
export function bootHook(): string {
  return `#!/bin/sh
# Managed by \`tandem agent install\`: starts the tandem agent's supervisor at boot.
[ -x ${SUPERVISOR} ] || exit 0
${supervisorRunning('')} || setsid ${SUPERVISOR} </dev/null >/dev/null 2>&1 &
exit 0
`;
}

/**
 * Shell test: is our supervisor running? The pid file names a process that really is
 * supervise.sh and lives in this host's mount namespace (lab hosts share one pid space).
 */
function supervisorRunning(indent: string): string {
  return `${indent}{ p=$(cat ${SUPERVISOR_PID} 2>/dev/null) && [ -n "$p" ] && grep -q supervise.sh /proc/$p/cmdline 2>/dev/null && [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; }`;
}

/** Stops the supervisor (its trap stops the daemon) and any daemon it left; waits up to 5 s. */
export function stopSupervisorScript(): string {
  return `if ${supervisorRunning('')}; then
  kill "$p" 2>/dev/null || true
  for i in $(seq 1 50); do [ -d /proc/$p ] || break; sleep 0.1; done
fi
d=$(cat ${DAEMON_PID} 2>/dev/null || true)
if [ -n "$d" ] && grep -q agent.js /proc/$d/cmdline 2>/dev/null && [ "$(readlink /proc/$d/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; then kill "$d" 2>/dev/null || true; fi
rm -f ${SUPERVISOR_PID} ${DAEMON_PID}`;
}

/** Wraps a script for the admin user: root runs it directly, others through sudo. */
export function asRoot(user: string, script: string): string {
  return user === 'root' ? `sh -c ${sq(script)}` : `sudo -n sh -c ${sq(script)}`;
}

/**
 * Creates what must exist before anything is compared (idempotent: prints a `created=` line only
 * for what it made), then reports what is there, one `key=value` per line.
 */
export function prepareScript(dataDir: string, role: 'master' | 'mirror'): string {
  const H = AGENT_HOME;
  return `set -eu
H=${H}
if ! id -u ${AGENT_USER} >/dev/null 2>&1; then
  # The lab shares /etc/passwd between its hosts: another host may have made it a moment ago.
  if useradd --system --home-dir $H --no-create-home --shell /bin/sh --user-group ${AGENT_USER} 2>/dev/null; then echo created=account; else id -u ${AGENT_USER} >/dev/null; fi
fi
# A "!" password is a locked account, and sshd refuses key logins to locked accounts unless PAM
# is on; "*" means no password works but keys do.
if [ -r /etc/shadow ] && grep -q '^${AGENT_USER}:!' /etc/shadow; then usermod -p '*' ${AGENT_USER}; echo created=unlock; fi
# sshd looks for the keys in the home's .ssh: a host where the account existed before (a cloud
# image's cloud-init makes it with /home/tandem) gets the home tandem's keys are in.
if [ "$(getent passwd ${AGENT_USER} | cut -d: -f6)" != "$H" ]; then usermod -d $H ${AGENT_USER}; echo created=home-dir; fi
for d in $H $H/state $H/.ssh $H/boot.d $H/log; do
  [ -d $d ] || { mkdir -p $d; echo created=dir:$d; }
done
# The home is root's: tandem writes only in state/, log/ and .ssh/ (an older install gave it the
# home, and with it the power to replace files root runs).
if [ "$(stat -c %U $H)" != root ]; then chown root:root $H; echo created=home-owner; fi
if [ -e ${LEGACY_STATUS_JSON} ]; then rm -f ${LEGACY_STATUS_JSON}; echo created=status-moved; fi
chown root:root $H/boot.d
chown ${AGENT_USER}:${AGENT_USER} $H/state $H/log
chmod 0755 $H $H/boot.d; chmod 0750 $H/state $H/log
# .ssh is root's (an earlier install gave it to tandem, which could then replace authorized_keys).
# Taken back first, then everything tandem could have put there while it was its own goes: only
# the key pair and authorized_keys stay, and only as plain files with the right owner.
if [ "$(stat -c %U $H/.ssh)" != root ] || [ "$(stat -c %a $H/.ssh)" != 755 ]; then chown root:root $H/.ssh; chmod 0755 $H/.ssh; echo created=ssh-owner; fi
for f in $H/.ssh/* $H/.ssh/.[!.]* $H/.ssh/..?*; do
  { [ -e "$f" ] || [ -L "$f" ]; } || continue
  case "$f" in
    ${SYNC_KEY}|${SYNC_KEY}.pub) [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %U "$f")" = ${AGENT_USER} ] && continue ;;
    ${AUTHORIZED_KEYS}) [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %U:%a "$f")" = root:644 ] && continue ;;
  esac
  rm -rf "$f"; echo "created=ssh-removed:\${f##*/}"
done
if [ ! -f ${SYNC_KEY} ] || [ ! -f ${SYNC_KEY}.pub ]; then
  rm -f ${SYNC_KEY} ${SYNC_KEY}.pub
  ssh-keygen -q -t ed25519 -N '' -C "tandem@$(hostname)" -f ${SYNC_KEY} >/dev/null
  chown ${AGENT_USER}:${AGENT_USER} ${SYNC_KEY} ${SYNC_KEY}.pub
  echo created=synckey
fi
D=${sq(dataDir)}
${
  role === 'mirror'
    ? `# Mirrors: the receiver (tandem) writes the dataDir. Re-owned once, when it is not tandem's yet.
[ -d "$D" ] || { mkdir -p "$D"; echo created=datadir; }
if [ "$(stat -c %U "$D")" != ${AGENT_USER} ]; then
  # Owner only: modes are the master's (a setgid dataDir made every new directory 02755 on it).
  chown -R ${AGENT_USER}:${AGENT_USER} "$D"
  echo created=datadir-owner
fi`
    : `[ -d "$D" ] || echo warn=master dataDir $D does not exist yet`
}
# inotifywait -r needs a watch per directory of the data dir; past the limit, changes under
# the rest reach mirrors only by the agent's periodic reconcile (and status says DEGRADED).
# Raised, never lowered: to twice the directories there now plus headroom for growth.
if [ -d "$D" ]; then
  n=$(find "$D" -xdev -type d 2>/dev/null | wc -l)
  want=$((n * 2 + 65536))
  have=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo 0)
  if [ "$have" -lt "$want" ]; then
    if sysctl -q -w fs.inotify.max_user_watches=$want >/dev/null 2>&1; then
      [ -d /etc/sysctl.d ] && echo "fs.inotify.max_user_watches = $want" > /etc/sysctl.d/60-tandem-inotify.conf
      echo created=inotify-watches:$want
    else
      echo "warn=cannot raise fs.inotify.max_user_watches from $have to $want ($n directories in $D)"
    fi
  fi
fi
${probeBody()}`;
}

/** Reports what is on the host without changing anything (used alone by uninstall/upgrade checks). */
export function probeScript(): string {
  return `set -eu\nH=${AGENT_HOME}\n${probeBody()}`;
}

function probeBody(): string {
  return `echo "node=$(command -v node || true)"
command -v rsync >/dev/null 2>&1 && echo tool=rsync || true
{ [ -x /usr/bin/rrsync ] || [ -f /usr/share/doc/rsync/support/rrsync ]; } && command -v python3 >/dev/null 2>&1 && echo tool=rrsync || true
command -v inotifywait >/dev/null 2>&1 && echo tool=inotifywait || true
echo "systemd=$([ -d /run/systemd/system ] && echo 1 || echo 0)"
# The platform koffi.node must be built for: CPU and libc (glibc first: a glibc host may carry
# musl's loader too). Anything not recognised prints libc=unknown, which gets no binary.
echo "arch=$(uname -m 2>/dev/null || true)"
if getconf GNU_LIBC_VERSION 2>/dev/null | grep -q glibc || ldd --version 2>&1 | head -n 1 | grep -qiE 'glibc|gnu libc'; then echo libc=glibc
elif ls /lib/ld-musl-* >/dev/null 2>&1; then echo libc=musl
else echo libc=unknown; fi
sha() { [ -f "$1" ] && echo "sha:$1=$(sha256sum < "$1" | cut -d' ' -f1)" || true; }
for f in ${AGENT_JS} ${FFI_NODE} ${CONFIG_JSON} ${AUTHORIZED_KEYS} ${SUPERVISOR} ${BOOT_HOOK} ${UNIT_PATH} ${FENCE_UNIT_PATH} ${REFRESH_UNIT_PATH}; do sha $f; done
[ -f ${CONFIG_JSON} ] && echo "config=$(base64 -w0 < ${CONFIG_JSON})" || true
[ -f ${SYNC_KEY}.pub ] && echo "pub=$(base64 -w0 < ${SYNC_KEY}.pub)" || true
if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet ${UNIT_NAME} && echo running=1 || echo running=0
else
  ${supervisorRunning('')} && echo running=1 || echo running=0
fi`;
}

export interface Probe {
  readonly node: string | null;
  readonly supervision: Supervision;
  /** sha256 (hex) of managed files that exist, by absolute path. */
  readonly sha: ReadonlyMap<string, string>;
  readonly configText: string | null;
  readonly publicKey: string | null;
  readonly running: boolean;
  readonly created: readonly string[];
  readonly warnings: readonly string[];
  /** Tools the agent relies on that the host has: rsync, rrsync (with python3), inotifywait. */
  readonly tools: ReadonlySet<string>;
  /** `uname -m` (x86_64, aarch64, ...); null or absent: not known. */
  readonly arch?: string | null;
  /** The host's C library; null or absent: not recognised. Either way koffi.node is not sent. */
  readonly libc?: 'glibc' | 'musl' | null;
}

export function parseProbe(out: string): Probe {
  const sha = new Map<string, string>();
  const created: string[] = [];
  const warnings: string[] = [];
  let node: string | null = null;
  let systemd = false;
  let configText: string | null = null;
  let publicKey: string | null = null;
  let running = false;
  const tools = new Set<string>();
  let arch: string | null = null;
  let libc: 'glibc' | 'musl' | null = null;
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1).trim();
    if (k === 'node') node = v || null;
    else if (k === 'systemd') systemd = v === '1';
    else if (k.startsWith('sha:')) sha.set(k.slice(4), v);
    else if (k === 'config') configText = Buffer.from(v, 'base64').toString('utf8');
    else if (k === 'pub') publicKey = Buffer.from(v, 'base64').toString('utf8').trim();
    else if (k === 'running') running = v === '1';
    else if (k === 'created') created.push(v);
    else if (k === 'warn') warnings.push(v);
    else if (k === 'tool') tools.add(v);
    else if (k === 'arch') arch = /^[A-Za-z0-9_]+$/.test(v) ? v : null;
    else if (k === 'libc') libc = v === 'glibc' || v === 'musl' ? v : null;
  }
  return { node, supervision: systemd ? 'systemd' : 'lab', sha, configText, publicKey, running, created, warnings, tools, arch, libc };
}

/**
 * What the agent needs on this host that is missing, as one message (null when all is there):
 * rsync everywhere (seeding), rrsync + python3 on mirrors (the restricted key's rsync), inotifywait
 * where the daemon watches (master and relays).
 */
export function missingTools(p: Probe, role: 'master' | 'mirror', feeds: boolean): string | null {
  const miss: string[] = [];
  if (!p.tools.has('rsync')) miss.push('rsync');
  if (role === 'mirror' && !p.tools.has('rrsync')) miss.push('rrsync with python3 (Debian/Ubuntu: the rsync and python3 packages)');
  if ((role === 'master' || feeds) && !p.tools.has('inotifywait')) miss.push('inotifywait (package inotify-tools)');
  return miss.length ? `missing on the host: ${miss.join(', ')}; install them, then run this again` : null;
}

/** Writes stdin to `path` atomically (temp file + rename in the same directory). */
export function writeFileScript(path: string, mode: string, owner: string): string {
  return `set -eu
t=$(mktemp ${sq(path)}.XXXXXX)
trap 'rm -f "$t"' EXIT
cat > "$t"
chmod ${mode} "$t"; chown ${owner} "$t"
mv -f "$t" ${sq(path)}
trap - EXIT`;
}

/**
 * Starts the daemon if it is not running; else restarts it (`restart`: new agent code or
 * supervision) or makes it re-read config.json (`reload`: SIGHUP; it also re-reads the file every
 * second, so open links to children survive a config change).
 */
export function startScript(sup: Supervision, opts: { restart: boolean; reload?: boolean; unitChanged: boolean }): string {
  if (sup === 'systemd') {
    const act = opts.restart ? `systemctl restart ${UNIT_NAME}` : opts.reload ? `systemctl start ${UNIT_NAME}; systemctl kill -s HUP ${UNIT_NAME}` : `systemctl start ${UNIT_NAME}`;
    return `set -eu
${opts.unitChanged ? 'systemctl daemon-reload' : ':'}
systemctl enable --quiet ${UNIT_NAME}
${act}`;
  }
  const sig = opts.restart ? 'TERM' : opts.reload ? 'HUP' : null;
  return `set -eu
if ${supervisorRunning('')}; then
  ${sig ? `d=$(cat ${DAEMON_PID} 2>/dev/null || true); [ -n "$d" ] && kill -${sig} "$d" 2>/dev/null || true` : ':'}
else
  setsid ${SUPERVISOR} </dev/null >/dev/null 2>&1 &
fi
for i in $(seq 1 50); do ${supervisorRunning('')} && exit 0; sleep 0.1; done
echo "the supervisor did not start; see ${DAEMON_LOG}" >&2; exit 1`;
}

/** Stops the daemon and removes everything install made except state, dataDir and the account. */
export function uninstallScript(opts: { keepState: boolean }): string {
  return `set -u
H=${AGENT_HOME}
if [ -d /run/systemd/system ] && [ -f ${UNIT_PATH} ]; then
  systemctl disable --now --quiet ${UNIT_NAME} || true
  rm -f ${UNIT_PATH}; systemctl daemon-reload || true
fi
if [ -d /run/systemd/system ] && [ -f ${FENCE_UNIT_PATH} ]; then
  systemctl disable --quiet ${FENCE_UNIT_NAME} || true
  rm -f ${FENCE_UNIT_PATH}; systemctl daemon-reload || true
fi
if [ -d /run/systemd/system ] && [ -f ${REFRESH_UNIT_PATH} ]; then
  systemctl disable --quiet ${REFRESH_UNIT_NAME} || true
  rm -f ${REFRESH_UNIT_PATH}; systemctl daemon-reload || true
fi
${stopSupervisorScript()}
rm -f ${BOOT_HOOK} ${SUPERVISOR} ${AGENT_JS} ${FFI_NODE} ${CONFIG_JSON} ${STATUS_JSON} ${LEGACY_STATUS_JSON} \\
  ${AUTHORIZED_KEYS} ${SYNC_KEY} ${SYNC_KEY}.pub
${opts.keepState ? ': keep state' : `rm -rf ${STATE_DIR}`}
echo removed=1`;
}
