/**
 * Owns what a failover (and `service`, `failback`, `mirror refresh`) does on hosts over SSH: one
 * session per host kept for the whole operation (a handshake costs more than most steps), a probe
 * of each host's agent (config, epoch, applied position, sync key), the dataDir digest, service
 * start/stop, rewriting a host's agent config and authorized_keys for a new layout, and copying
 * what differs from a fresher survivor. Every remote argument is shell-quoted; errors name the
 * host and the step.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Excluder } from '../../agent/src/exclude';
import { linkIsMirrored } from '../../agent/src/pathsafe';
import type { AgentConfig, AgentStatus } from '../../agent/src/contract';
import { SERVICE_JSON, WATCH_PID } from '../../agent/src/fence';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { buildAgentConfig, configFileMode, peersFor, renderConfig } from '../hosts/config';
import { asRoot, CONFIG_JSON, STATE_DIR, startScript, type Supervision } from '../hosts/hostfiles';
import { hostOf } from '../hosts/inventory-check';
import { AGENT_JS, AUTHORIZED_KEYS, SYNC_KEY, authorizedKeyLine, authorizedKeysFile, epochAskers, epochQueryLine } from '../hosts/keys';
import { step, type Connector, type Remote, type SshSettings } from '../hosts/remote';
import { sq } from '../ssh/quote';

/** Receiver state as the agent keeps it (agent/src/receiver.ts ReceiverState, the fields used here). */
export interface ReceiverView {
  readonly highestEpoch: number;
  /** Master clock (ms) up to which this host holds every change. */
  readonly through: number | null;
  readonly lastAppliedChangeTime: number | null;
  /** Local clock (ms) of the last frame from the feeder: when the feeder was last heard. */
  readonly updatedAt: number;
  readonly sender: string | null;
}

export interface HostProbe {
  readonly site: string;
  readonly config: AgentConfig | null;
  readonly publicKey: string | null;
  readonly node: string | null;
  readonly supervision: Supervision;
  readonly receiver: ReceiverView | null;
  /** The daemon's own status.json (read as a file: no node start on the host). */
  readonly status: AgentStatus | null;
  /** Sync public keys of other sites found in this host's authorized_keys, by site. */
  readonly knownKeys: ReadonlyMap<string, string>;
  /** The host's clock when probed (ms): a status.json older than a few seconds means no daemon. */
  readonly hostNow: number;
  readonly fence: { fenced: boolean; reason: string; splitBrainDir?: string | null } | null;
}

/** Sessions to the hosts of one operation, opened on first use and kept. */
export class Sessions {
  private readonly open = new Map<string, Promise<Remote>>();
  constructor(
    readonly inv: Inventory,
    private readonly connect: Connector,
    readonly ssh: SshSettings,
  ) {}

  get(site: string): Promise<Remote> {
    let p = this.open.get(site);
    if (!p) {
      p = this.connect(hostOf(this.inv, site), this.ssh);
      this.open.set(site, p);
      p.catch(() => this.open.delete(site));
    }
    return p;
  }

  /** Forget a session (the host went away); the next get() connects again. */
  drop(site: string): void {
    const p = this.open.get(site);
    this.open.delete(site);
    p?.then((r) => r.close()).catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((r) => r.close()).catch(() => undefined)));
  }
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

const PROBE = `H=/var/lib/tandem
enc() { [ -f "$1" ] && base64 -w0 < "$1"; echo; }
printf 'config='; enc ${CONFIG_JSON}
printf 'pub='; enc ${SYNC_KEY}.pub
printf 'receiver='; enc $H/state/receiver.json
printf 'fence='; enc $H/state/fence.json
printf 'keys='; enc ${AUTHORIZED_KEYS}
echo "node=$(command -v node || true)"
echo "systemd=$([ -d /run/systemd/system ] && echo 1 || echo 0)"
printf 'status='; enc $H/state/status.json
echo "now=$(date +%s%3N)"`;

function parseJson<T>(v: string | undefined): T | null {
  if (!v) return null;
  try {
    return JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as T;
  } catch {
    return null;
  }
}

export async function probeHost(r: Remote, h: InventoryHost, timeoutMs: number): Promise<HostProbe> {
  const out = (await step(r, 'reading the agent state', asRoot(h.user, PROBE), { timeoutMs })).stdout;
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const keysOf = new Map<string, string>();
  const ak = kv.get('keys') ? Buffer.from(kv.get('keys')!, 'base64').toString('utf8') : '';
  for (const line of ak.split('\n')) {
    // "<options> ssh-ed25519 <body> tandem@<site>" (receive lines) or "... tandem-epoch@<site>" (query lines)
    const m = /(ssh-ed25519 [A-Za-z0-9+/=]+) tandem(?:-epoch)?@([a-z][a-z0-9-]*)\s*$/.exec(line);
    if (m) keysOf.set(m[2], m[1]);
  }
  const pub = kv.get('pub') ? Buffer.from(kv.get('pub')!, 'base64').toString('utf8').trim() : null;
  return {
    site: h.site,
    config: parseJson<AgentConfig>(kv.get('config')),
    publicKey: pub || null,
    node: kv.get('node') || null,
    supervision: kv.get('systemd') === '1' ? 'systemd' : 'lab',
    receiver: parseJson<ReceiverView>(kv.get('receiver')),
    status: parseJson<AgentStatus>(kv.get('status')),
    hostNow: Number(kv.get('now')) || Date.now(),
    knownKeys: keysOf,
    fence: parseJson(kv.get('fence')),
  };
}

export interface Digest {
  readonly digest: string;
  readonly files: number;
  readonly bytes: number;
  readonly entries?: Record<string, string>;
}

/** The agent's digest of the host's dataDir (agent.js digest): equal digests = equal data. */
export async function digestOf(r: Remote, h: InventoryHost, timeoutMs: number, list = false): Promise<Digest> {
  const res = await step(r, 'computing the dataDir digest', asRoot(h.user, `node ${AGENT_JS} digest${list ? ' --list' : ''}`), { timeoutMs });
  try {
    return JSON.parse(res.stdout) as Digest;
  } catch {
    throw new Error(`${h.site}: agent.js digest printed no JSON (${res.stdout.slice(0, 120)}); the agent may be older than this tandem: run tandem agent upgrade`);
  }
}

/**
 * Shell that lists dataDir (type, path, size or link target) and hashes every regular file, as
 * one gzip+base64 line: two finds and sha256sum, no node start on the host (the agent's digest
 * starts node, the longest part of a switchover on a loaded host). `before` runs first in the same
 * round trip (the service stop); its own output goes to stderr.
 */
export function treeScript(dataDir: string, before?: string): string {
  const list = `LC_ALL=C find . -mindepth 1 \\( -type l -printf 'l%P\\0%l\\0' \\) -o -printf '%y%P\\0%s\\0'`;
  const hash = `LC_ALL=C find . -type f -print0 | xargs -0r sha256sum -z`;
  return `${before ? `set -e\n{ ${before}\n} >&2\n` : ''}cd -- ${sq(dataDir)} && { ${list}; printf '\\0'; ${hash}; printf '\\0end\\0'; } | gzip -1 | base64 -w0`;
}

/**
 * The digest of what treeScript printed, exactly as the agent computes it (agent/src/fence.ts
 * digestTree: the same entries, the same exclusions, the same hash), so the two are comparable.
 */
export function digestOfTree(b64out: string, dataDir: string, exclude: readonly string[]): Digest {
  const parts = gunzipSync(Buffer.from(b64out.trim(), 'base64')).toString('utf8').split('\0');
  if (parts.length < 3 || parts[parts.length - 2] !== 'end') throw new Error('the dataDir listing is incomplete');
  const ex = new Excluder(exclude);
  const listed: { t: string; rel: string; x: string }[] = [];
  let i = 0;
  for (; i + 1 < parts.length && parts[i] !== ''; i += 2) listed.push({ t: parts[i][0], rel: parts[i].slice(1), x: parts[i + 1] });
  const hashes = new Map<string, string>();
  for (i++; i < parts.length && parts[i] !== 'end'; i++) {
    if (parts[i] === '') continue;
    const m = /^([0-9a-f]{64}) [ *]\.\/(.*)$/s.exec(parts[i]);
    if (!m) throw new Error(`unexpected sha256sum output ${JSON.stringify(parts[i].slice(0, 80))}`);
    hashes.set(m[2], m[1]);
  }
  const entries: Record<string, string> = {};
  let files = 0;
  let bytes = 0;
  for (const e of listed) {
    if (ex.excluded(e.rel, e.t === 'd')) continue;
    if (e.t === 'd') entries[e.rel] = 'd';
    else if (e.t === 'f') {
      // A file hashed by neither find (created or removed between them): not a stable tree.
      const h = hashes.get(e.rel);
      entries[e.rel] = h ? `f:${h}` : 'f:?';
      files++;
      bytes += Number(e.x) || 0;
    } else if (e.t === 'l' && linkIsMirrored(dataDir, e.rel, e.x)) entries[e.rel] = `l:${e.x}`;
  }
  const h = createHash('sha256');
  for (const k of Object.keys(entries).sort()) h.update(`${k}\0${entries[k]}\n`);
  return { digest: h.digest('hex'), files, bytes };
}

/**
 * digestOf without node on the host (treeScript); `before` rides the same round trip and must
 * succeed. Null when the listing cannot be read (a host without find -printf, gzip or base64):
 * the caller then asks the agent.
 */
export async function shellDigestOf(r: Remote, h: InventoryHost, exclude: readonly string[], timeoutMs: number, before?: string): Promise<Digest | null> {
  const res = await step(r, before ? 'service stop and dataDir listing' : 'listing dataDir', asRoot(h.user, treeScript(h.dataDir, before)), { timeoutMs });
  try {
    return digestOfTree(res.stdout, h.dataDir, exclude);
  } catch {
    return null;
  }
}

/** Runs the topology's service.start / service.stop on a host. */
export async function runService(r: Remote, h: InventoryHost, inv: Inventory, verb: 'start' | 'stop', timeoutMs: number, before?: string): Promise<string> {
  const cmd = verb === 'start' ? inv.service.start : inv.service.stop;
  // `before` (fence set-up) rides the same round trip; the service's own exit code decides.
  const res = await step(r, `service ${verb} (${cmd})`, asRoot(h.user, before ? `${before}\n${cmd}` : cmd), { timeoutMs });
  return (res.stdout.trim() || res.stderr.trim()).split('\n').slice(-1)[0] ?? '';
}

/** Does something accept TCP connections at address:port within timeoutMs? */
export function answers(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    const done = (ok: boolean) => {
      s.removeAllListeners();
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Polls `answers` until true or the deadline; resolves with when it first answered (ms), or null. */
export async function waitAnswers(address: string, port: number, deadlineMs: number, everyMs = 25): Promise<number | null> {
  while (Date.now() < deadlineMs) {
    if (await answers(address, port, Math.min(1000, Math.max(50, deadlineMs - Date.now())))) return Date.now();
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return null;
}

export interface Reconfigure {
  readonly epoch: number;
  /** Public keys of sites (for the authorized_keys of their children), from the probes. */
  readonly publicKeys: ReadonlyMap<string, string>;
  readonly probe: HostProbe;
  /** This host's role changed from master to mirror: its dataDir becomes the receiver's (tandem). */
  readonly demoted: boolean;
  /** Extra shell run before the daemon is signalled (fence clean-up). */
  readonly extra?: string;
  /** Shell run last, after the daemon re-read its config (the promoted host's service start). */
  readonly then?: string;
}

/**
 * Writes the host's config.json (role, feeder, children, epoch of the new layout; every feed
 * running) and authorized_keys (its new feeder's sync key only), then has the daemon re-read them.
 * Returns what was written.
 */
export async function reconfigureHost(r: Remote, inv: Inventory, site: string, o: Reconfigure, timeoutMs: number): Promise<string[]> {
  const h = hostOf(inv, site);
  // The alert channels stay what the host has (every host carries them: scripts/hosts/config.ts).
  const base = buildAgentConfig(inv, site, { epoch: o.epoch, paused: false, pausedChildren: [] }, o.probe.config?.notify ?? null);
  // It carries every other site (peers), so this host's fence can ask a new master that was never its child.
  const cfg: AgentConfig = base;
  const config = renderConfig(cfg);
  const parts: string[] = ['set -eu'];
  const wrote: string[] = [`config.json (${h.role}${h.feedFrom ? ` fed by ${h.feedFrom}` : ''}, epoch ${o.epoch})`];
  const put = (file: string, text: string, fm = { mode: '0644', owner: 'root:root' }) =>
    parts.push(`t=$(mktemp ${sq(file)}.XXXXXX); printf %s ${sq(b64(text))} | base64 -d > "$t"; chmod ${fm.mode} "$t"; chown ${fm.owner} "$t"; mv -f "$t" ${sq(file)}`);
  put(CONFIG_JSON, config, configFileMode(cfg));
  let keys: string | null = null;
  const parentPub = h.feedFrom ? o.publicKeys.get(h.feedFrom) : null;
  if (o.probe.node && (!h.feedFrom || parentPub)) {
    const lines = h.feedFrom ? [authorizedKeyLine({ parentSite: h.feedFrom, parentAddress: hostOf(inv, h.feedFrom).address, publicKey: parentPub!, node: o.probe.node })] : [];
    // Every other site may ask this host for its epoch (and nothing else): how a master that
    // comes back learns it was replaced (agent/src/fence.ts).
    const askers = epochAskers(inv, site, o.publicKeys);
    for (const x of askers) lines.push(epochQueryLine(x, o.publicKeys.get(x.site)!, o.probe.node));
    keys = authorizedKeysFile(lines);
    wrote.push(`authorized_keys (${h.feedFrom ? `${h.feedFrom}'s sync key` : 'no feeder'}; epoch queries from ${askers.map((x) => x.site).join(', ') || 'nobody'})`);
  }
  if (keys !== null) put(AUTHORIZED_KEYS, keys);
  if (o.demoted) {
    parts.push(`D=${sq(h.dataDir)}; [ -d "$D" ] && chown -R tandem:tandem "$D" || true`);
    wrote.push('dataDir re-owned for the receiver');
  }
  if (o.probe.config && (o.probe.config.feedFrom !== h.feedFrom || o.probe.config.role !== h.role)) {
    // A session of the old feeder can outlive the layout (a TCP connection kept across a partition):
    // end it now. The receiver would refuse its next frame anyway (agent/src/receive-cmd.ts).
    // Waited for (up to 2 s, then SIGKILL): a service started next in this script must not race a
    // batch of the old feeder still being applied.
    parts.push(
      `p=$(cat ${STATE_DIR}/receiver.pid 2>/dev/null || true); if [ -n "$p" ] && grep -q agent.js /proc/$p/cmdline 2>/dev/null && [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; then kill "$p" 2>/dev/null || true; ` +
        `i=0; while [ $i -lt 100 ] && kill -0 "$p" 2>/dev/null; do sleep 0.02; i=$((i+1)); done; kill -9 "$p" 2>/dev/null || true; fi`,
    );
    wrote.push(`the receiver of ${o.probe.config.feedFrom ?? 'nobody'} ended`);
  }
  if (o.extra) parts.push(o.extra);
  // In a subshell: the start script ends with `exit`, and the service start comes after it.
  parts.push(`(\n${startScript(o.probe.supervision, { restart: false, reload: true, unitChanged: false }).replace(/^set -eu\n/, '')}\n)`);
  if (o.then) {
    parts.push(o.then);
    wrote.push('service started');
  }
  await step(r, 'writing the new layout', asRoot(h.user, parts.join('\n')), { timeoutMs });
  return wrote;
}

/** Every site but `site`, as its fence reaches them (AgentConfig.peers); written once, in scripts/hosts/config.ts. */
export { peersFor };

const FENCE_LOG = '/var/lib/tandem/log/fence.log';
/** Shell test: the fence process of this host runs (lab hosts share a pid space: same mount namespace). */
const FENCE_RUNNING = `{ p=$(cat ${WATCH_PID} 2>/dev/null) && [ -n "$p" ] && grep -q fence /proc/$p/cmdline 2>/dev/null && [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; }`;

/**
 * Shell that makes this host a fenced-and-watching master (agent/src/fence.ts): installs the boot
 * fence hook, records the service's stop command for the fence to run, marks this boot confirmed
 * (the host is master by a failover or by the operator now) and starts the fence process, which
 * asks the other sites for their epoch every few seconds for as long as this host is master.
 */
export function fenceHookScript(reason: string, service: { stop: string }, startWatch = true): string {
  const hook = `#!/bin/sh
# Managed by tandem (failover / service start): before a master that comes back feeds anyone, ask
# the other sites whether a higher epoch exists, then keep asking while it is master
# (agent.js fence; see agent/src/fence.ts).
[ -f ${AGENT_JS} ] || exit 0
exec node ${AGENT_JS} fence >>${FENCE_LOG} 2>&1
`;
  const state = JSON.stringify({ fenced: false, reason, at: new Date().toISOString() });
  const svc = JSON.stringify({ stop: service.stop });
  return `mkdir -p /var/lib/tandem/boot.d /run/tandem-fence
printf %s ${sq(b64(hook))} | base64 -d > /var/lib/tandem/boot.d/.40-tandem-fence.tmp && chmod 0755 /var/lib/tandem/boot.d/.40-tandem-fence.tmp && mv -f /var/lib/tandem/boot.d/.40-tandem-fence.tmp /var/lib/tandem/boot.d/40-tandem-fence
printf %s ${sq(svc)} > ${SERVICE_JSON}.tmp && chmod 0644 ${SERVICE_JSON}.tmp && mv -f ${SERVICE_JSON}.tmp ${SERVICE_JSON}
printf %s ${sq(state)} > /run/tandem-fence/state.json; chmod 0644 /run/tandem-fence/state.json
${startWatch ? fenceWatchScript() : ''}`;
}

/** Starts this host's fence process unless it runs (the second half of fenceHookScript: a promotion starts it after the service). */
export function fenceWatchScript(): string {
  return `${FENCE_RUNNING} || setsid node ${AGENT_JS} fence </dev/null >>${FENCE_LOG} 2>&1 &`;
}

/**
 * Shell that ends this host's fence process (it is being demoted by tandem itself: a planned
 * switchover must not race the fence, which would step down on its own and keep a needless copy).
 */
export function stopFenceScript(): string {
  return `if ${FENCE_RUNNING}; then kill "$p" 2>/dev/null || true; fi; rm -f ${WATCH_PID}`;
}

/**
 * Makes `to`'s dataDir hold what `from` holds, through this machine (neither host's sync key is
 * authorized on the other): only entries whose hashes differ are copied; entries `to` has that
 * `from` lacks are left (the survivor is never behind the target here, so nothing of value goes).
 */
export async function copyDifferences(src: { r: Remote; h: InventoryHost }, dst: { r: Remote; h: InventoryHost }, timeoutMs: number): Promise<{ files: number; bytes: number }> {
  const [a, b] = await Promise.all([digestOf(src.r, src.h, timeoutMs, true), digestOf(dst.r, dst.h, timeoutMs, true)]);
  const want = a.entries ?? {};
  const have = b.entries ?? {};
  let files = 0;
  let bytes = 0;
  for (const rel of Object.keys(want).sort()) {
    const e = want[rel];
    if (have[rel] === e) continue;
    const target = `${dst.h.dataDir.replace(/\/+$/, '')}/${rel}`;
    if (e === 'd') {
      await step(dst.r, `catch-up: mkdir ${rel}`, asRoot(dst.h.user, `mkdir -p ${sq(target)} && chown tandem:tandem ${sq(target)} 2>/dev/null || true`), { timeoutMs });
      continue;
    }
    if (e.startsWith('l:')) {
      await step(dst.r, `catch-up: link ${rel}`, asRoot(dst.h.user, `ln -sfn ${sq(e.slice(2))} ${sq(target)}`), { timeoutMs });
      continue;
    }
    const got = await step(src.r, `catch-up: reading ${rel}`, asRoot(src.h.user, `base64 -w0 < ${sq(`${src.h.dataDir.replace(/\/+$/, '')}/${rel}`)}`), { timeoutMs });
    const body = Buffer.from(got.stdout.trim(), 'base64');
    await step(
      dst.r,
      `catch-up: writing ${rel}`,
      asRoot(dst.h.user, `set -eu; mkdir -p "$(dirname ${sq(target)})"; t=${sq(`${target}.tandem-catchup`)}; cat > "$t"; chown tandem:tandem "$t" 2>/dev/null || true; mv -f "$t" ${sq(target)}`),
      { stdin: body, timeoutMs },
    );
    files++;
    bytes += body.length;
  }
  return { files, bytes };
}

/**
 * Lets every site ask every other host its epoch (the boot fence's channel, agent/src/fence.ts):
 * on each reachable host, authorized_keys keeps its feeder's receive line and gets one query line
 * per other site whose sync key is known. Run by `service start` (so a master that reboots before
 * any failover can still confirm) and, through reconfigureHost, by every failover. Returns the
 * sites it could not update.
 */
export async function authorizeEpochQueries(inv: Inventory, sessions: Sessions, timeoutMs: number): Promise<string[]> {
  const probes = await Promise.all(
    inv.hosts.map(async (h) => {
      try {
        return await probeHost(await sessions.get(h.site), h, timeoutMs);
      } catch {
        sessions.drop(h.site);
        return null;
      }
    }),
  );
  const keys = new Map<string, string>();
  for (const p of probes) for (const [k, v] of p?.knownKeys ?? []) keys.set(k, v);
  for (const p of probes) if (p?.publicKey) keys.set(p.site, p.publicKey);
  const missed: string[] = [];
  await Promise.all(
    inv.hosts.map(async (h, i) => {
      const p = probes[i];
      if (!p || !p.node) return void missed.push(h.site);
      const lines = epochAskers(inv, h.site, keys).map((x) => epochQueryLine(x, keys.get(x.site)!, p.node!));
      const script = `set -eu
f=${AUTHORIZED_KEYS}; t=$(mktemp "$f.XXXXXX")
{ [ -f "$f" ] && grep -v ' tandem-epoch@' "$f" || true; printf %s ${sq(b64(lines.map((l) => `${l}\n`).join('')))} | base64 -d; } > "$t"
chmod 0644 "$t"; chown root:root "$t"; mv -f "$t" "$f"`;
      try {
        await step(await sessions.get(h.site), 'authorizing epoch queries', asRoot(h.user, script), { timeoutMs });
      } catch {
        missed.push(h.site);
      }
    }),
  );
  return missed;
}
