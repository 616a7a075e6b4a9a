/**
 * `tandem agent install | upgrade | uninstall`, host by host in parallel.
 *
 * Install is idempotent: every managed file is compared by sha256 before anything is written,
 * and the daemon is restarted only when its code, config or supervision changed. A second
 * install on an installed fleet writes nothing and reports every host "unchanged".
 *
 * Two phases, because a child's authorized_keys holds its parent's public key:
 *   1. every host: ensure account, dirs and sync keypair (generated on the host; only the .pub
 *      is read back), and report hashes of what is there;
 *   2. every host: write what differs (agent, config, authorized_keys, supervision), (re)start.
 *
 * koffi.node (the agent's in-process inotify) goes beside agent.js only to hosts whose CPU and
 * libc are those it was built for (the operator's: scripts/build-agent.js); the others watch
 * with inotifywait, and their result carries a note saying so.
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import { AGENT_USER, type AgentNotify } from '../../agent/src/contract';
import { buildAgentConfig, configFileMode, controlFrom, controlNotify, fleetEpoch, INSTALL_DEFAULT, renderConfig, sha256, type MirrorControl } from './config';
import {
  asRoot,
  BOOT_HOOK,
  bootHook,
  CONFIG_JSON,
  FENCE_UNIT_NAME,
  FENCE_UNIT_PATH,
  fenceUnit,
  REFRESH_UNIT_NAME,
  REFRESH_UNIT_PATH,
  refreshUnit,
  missingTools,
  parseProbe,
  prepareScript,
  probeScript,
  startScript,
  SUPERVISOR,
  stopSupervisorScript,
  supervisorScript,
  systemdUnit,
  UNIT_PATH,
  uninstallScript,
  writeFileScript,
  type Probe,
} from './hostfiles';
import { childrenIn, hostOf } from './inventory-check';
import { agentFfi, type FfiBinary } from './bundle';
import { AGENT_JS, AUTHORIZED_KEYS, FFI_NODE, authorizedKeyLine, authorizedKeysFile, epochAskers, epochQueryLine } from './keys';
import { mapParallel, type Progress, type Settled } from './parallel';
import { step, type Connector, type Remote, type SshSettings } from './remote';
import { HostKeyRefused } from './ssh';
import { sq } from '../ssh/quote';
import { roleFromConfig, rolesDisagree } from './target';

export interface FleetOptions {
  readonly inventory: Inventory;
  readonly connect: Connector;
  readonly ssh: SshSettings;
  readonly parallel: number;
  readonly progress: Progress;
  /** Per remote step. */
  readonly stepTimeoutMs?: number;
  /** The stack's alert channels, secrets resolved (scripts/notify/channels.ts); null: none; undefined: not known here (keep what hosts have). */
  readonly notify?: AgentNotify | null;
  /**
   * The inventory came alone (Target.liveUnknown): its roles may predate a failover. Then install
   * and mirror start ask the hosts who is master first and change nothing when they disagree.
   */
  readonly liveUnknown?: boolean;
}

export type Outcome = 'installed' | 'upgraded' | 'updated' | 'started' | 'unchanged' | 'uninstalled' | 'not installed' | 'skipped' | 'failed';

export interface HostResult {
  readonly site: string;
  readonly outcome: Outcome;
  /** What changed, for the summary: file names, "account", "sync key", "restarted". */
  readonly changes: readonly string[];
  readonly error: string | null;
  readonly ms: number;
  /** Facts worth a line in the summary that are no change (install: how the change feed runs there). */
  readonly notes?: readonly string[];
}

interface FileSpec {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: string;
  readonly owner: string;
  readonly label: string;
}

const STEP_TIMEOUT_MS = 120_000;

/** Opens a session to every host in parallel; the caller closes them. */
async function openAll(o: FleetOptions, hosts: readonly InventoryHost[]): Promise<Map<string, Settled<Remote>>> {
  const res = await mapParallel(hosts, o.parallel, async (h) => {
    o.progress(h.site, `connecting to ${h.user}@${h.address}:${h.sshPort}`);
    return o.connect(h, o.ssh);
  });
  return new Map(hosts.map((h, i) => [h.site, res[i]] as const));
}

async function closeAll(sessions: Map<string, Settled<Remote>>): Promise<void> {
  for (const s of sessions.values()) if (s.ok) await Promise.resolve(s.value.close()).catch(() => undefined);
}

/** `uname -m` to Node's process.arch, for the CPUs koffi ships Linux builds for. */
const NODE_ARCH = new Map([
  ['x86_64', 'x64'],
  ['amd64', 'x64'],
  ['aarch64', 'arm64'],
  ['arm64', 'arm64'],
]);

/**
 * Why `ffi` cannot go to this host, as the short reason of a note (null: it fits). The probe must
 * show the same CPU and libc; anything not known counts as not matching.
 */
export function ffiMismatch(probe: Pick<Probe, 'arch' | 'libc'>, ffi: FfiBinary | null | undefined): string | null {
  if (!ffi) return 'no koffi.node was built with the agent';
  const arch = probe.arch ? NODE_ARCH.get(probe.arch) : undefined;
  if (arch === ffi.arch && probe.libc === ffi.libc) return null;
  return `no prebuilt koffi.node for ${probe.arch || 'unknown CPU'}/${probe.libc ?? 'unknown libc'}`;
}

/** Managed files of one host, exactly as they should be. */
export function desiredFiles(args: {
  inv: Inventory;
  site: string;
  probe: Probe;
  control: MirrorControl;
  agentJs: Buffer;
  /** koffi.node built with agentJs: sent only where ffiMismatch finds none (absent: not sent). */
  ffi?: FfiBinary | null;
  parentPublicKey: string | null;
  /** Sync public keys of the other hosts (from the probes): each may ask this host for its epoch. */
  peerKeys?: ReadonlyMap<string, string>;
  /** Alert channels for config.json (undefined: keep none). */
  notify?: AgentNotify | null;
}): FileSpec[] {
  const { inv, site, probe } = args;
  const h = hostOf(inv, site);
  const node = probe.node!;
  const config = buildAgentConfig(inv, site, args.control, args.notify ?? null);
  const files: FileSpec[] = [
    { path: AGENT_JS, content: args.agentJs, mode: '0644', owner: 'root:root', label: 'agent.js' },
    ...(args.ffi && ffiMismatch(probe, args.ffi) === null ? [{ path: FFI_NODE, content: args.ffi.content, mode: '0644', owner: 'root:root', label: 'koffi.node' }] : []),
    { path: CONFIG_JSON, content: Buffer.from(renderConfig(config)), ...configFileMode(config), label: 'config.json' },
  ];
  const keyLines: string[] =
    h.feedFrom && args.parentPublicKey ? [authorizedKeyLine({ parentSite: h.feedFrom, parentAddress: hostOf(inv, h.feedFrom).address, publicKey: args.parentPublicKey, node })] : [];
  // Every other host may ask this one for its epoch (and nothing else): the boot fence check of a
  // master that comes back (agent/src/fence.ts). The feeder's key is already there with `receive`,
  // which answers that question too; sshd takes the first line of a key, so it is not repeated.
  const peerKeys = args.peerKeys ?? new Map<string, string>();
  for (const x of epochAskers(inv, site, peerKeys)) {
    try {
      keyLines.push(epochQueryLine(x, peerKeys.get(x.site)!, node));
    } catch {
      /* an address that cannot go in from="": that host cannot confirm epochs; fencing says so */
    }
  }
  files.push({ path: AUTHORIZED_KEYS, content: Buffer.from(authorizedKeysFile(keyLines)), mode: '0644', owner: 'root:root', label: 'authorized_keys' });
  if (probe.supervision === 'systemd') {
    files.push({ path: UNIT_PATH, content: Buffer.from(systemdUnit(node)), mode: '0644', owner: 'root:root', label: 'systemd unit' });
    // boot.d is not run at boot under systemd: the boot fence gets its own unit.
    files.push({ path: FENCE_UNIT_PATH, content: Buffer.from(fenceUnit(node)), mode: '0644', owner: 'root:root', label: 'fence unit' });
    if (config.coldRefresh) {
      files.push({ path: REFRESH_UNIT_PATH, content: Buffer.from(refreshUnit(node)), mode: '0644', owner: 'root:root', label: 'refresh unit' });
    }
  } else {
    files.push({ path: SUPERVISOR, content: Buffer.from(supervisorScript(node)), mode: '0755', owner: 'root:root', label: 'supervisor' });
    files.push({ path: BOOT_HOOK, content: Buffer.from(bootHook()), mode: '0755', owner: 'root:root', label: 'boot hook' });
  }
  return files;
}

export function changedFiles(files: readonly FileSpec[], probe: Probe): FileSpec[] {
  return files.filter((f) => probe.sha.get(f.path) !== sha256(f.content));
}

/**
 * Optional managed files the host has that `files` leaves out, so install removes them: a
 * koffi.node of another build must not stay beside an agent.js it was not built with.
 */
export function removedFiles(files: readonly FileSpec[], probe: Probe): { path: string; label: string }[] {
  return [{ path: FFI_NODE, label: 'koffi.node' }].filter((o) => probe.sha.has(o.path) && !files.some((f) => f.path === o.path));
}

/**
 * With an inventory alone (o.liveUnknown): why the hosts' own configs disagree with its roles
 * (rolesDisagree), read with one probe per reachable host; null when they agree.
 */
export async function hostsDisagree(o: FleetOptions, hosts: readonly InventoryHost[], remote: (h: InventoryHost) => Remote | null): Promise<string | null> {
  const seen = await Promise.all(
    hosts.map(async (h) => {
      const r = remote(h);
      if (!r) return null;
      try {
        const p = parseProbe((await step(r, 'reading the agent config', asRoot(h.user, probeScript()), { timeoutMs: o.stepTimeoutMs ?? STEP_TIMEOUT_MS })).stdout);
        return roleFromConfig(h.site, p.configText);
      } catch {
        return null;
      }
    }),
  );
  return rolesDisagree(o.inventory, seen);
}

/**
 * `ffi`: koffi.node built with agentJs; by default the one the last build left beside
 * dist/agent.js (agentFfi()), null to send none (every host then watches with inotifywait).
 */
export async function installFleet(o: FleetOptions, mode: 'install' | 'upgrade', agentJs: Buffer, ffi: FfiBinary | null = agentFfi()): Promise<HostResult[]> {
  const inv = o.inventory;
  const hosts = inv.hosts;
  const timeoutMs = o.stepTimeoutMs ?? STEP_TIMEOUT_MS;
  const t0 = new Map<string, number>(hosts.map((h) => [h.site, Date.now()]));
  const sessions = await openAll(o, hosts);
  try {
    // A host key mismatch means the inventory is wrong or someone is in the middle: nothing is
    // changed anywhere, or the feeders' configs would carry the inventory's (wrong) pin.
    const refused = hosts.filter((h) => {
      const s = sessions.get(h.site)!;
      return !s.ok && s.error instanceof HostKeyRefused;
    });
    if (refused.length) {
      const names = refused.map((h) => h.site).join(', ');
      return hosts.map((h) => {
        const s = sessions.get(h.site)!;
        const error = !s.ok ? s.error.message : `not touched: the host key of ${names} was refused; nothing is installed anywhere until every host key matches`;
        o.progress(h.site, !s.ok ? `FAILED: ${error}` : 'skipped');
        return { site: h.site, outcome: !s.ok ? 'failed' : 'skipped', changes: [], error, ms: Date.now() - t0.get(h.site)! };
      });
    }
    // An inventory alone may name the roles of before a failover: the preparation below already
    // writes by role (a mirror's dataDir goes to the receiver), so the hosts are asked first.
    if (o.liveUnknown) {
      const why = await hostsDisagree(o, hosts, (h) => {
        const s = sessions.get(h.site)!;
        return s.ok ? s.value : null;
      });
      if (why) {
        return hosts.map((h) => {
          o.progress(h.site, 'skipped');
          return { site: h.site, outcome: 'skipped', changes: [], error: `not touched: ${why}`, ms: Date.now() - t0.get(h.site)! };
        });
      }
    }
    // Phase 1: prepare + probe.
    const probes = new Map<string, Settled<Probe>>();
    await mapParallel(hosts, o.parallel, async (h) => {
      const s = sessions.get(h.site)!;
      if (!s.ok) {
        probes.set(h.site, s);
        return;
      }
      const t = Date.now();
      try {
        if (mode === 'upgrade') {
          const before = parseProbe((await step(s.value, 'reading what is installed', asRoot(h.user, probeScript()), { timeoutMs })).stdout);
          if (!before.sha.has(AGENT_JS)) throw new Error(`${h.site}: no agent installed; run tandem agent install first`);
        }
        // Upgrades prepare too (idempotent): a newer agent may come with a newer layout, such
        // as the home no longer being tandem's.
        o.progress(h.site, 'preparing account, directories and sync key');
        const probe = parseProbe((await step(s.value, 'preparing the host', asRoot(h.user, prepareScript(h.dataDir, h.role)), { timeoutMs })).stdout);
        if (!probe.node) throw new Error(`${h.site}: node is not installed on the host (the agent needs Node.js >= 20 on PATH); install it, then run this again`);
        const missing = missingTools(probe, h.role, childrenIn(inv, h.site).length > 0);
        if (missing) throw new Error(`${h.site}: ${missing}`);
        for (const w of probe.warnings) o.progress(h.site, `warning: ${w}`);
        probes.set(h.site, { ok: true, value: probe, ms: Date.now() - t });
      } catch (e) {
        probes.set(h.site, { ok: false, error: e instanceof Error ? e : new Error(String(e)), ms: Date.now() - t });
      }
    });

    const found = [...probes.values()].map((p) => (p.ok ? controlFrom(p.value.configText) : null));
    const epoch = fleetEpoch(found);

    const peerKeys = new Map<string, string>();
    for (const [site, p] of probes) if (p.ok && p.value.publicKey) peerKeys.set(site, p.value.publicKey);

    // Phase 2: write what differs, (re)start.
    const results = await mapParallel(hosts, o.parallel, async (h): Promise<HostResult> => {
      const p = probes.get(h.site)!;
      if (!p.ok) throw p.error;
      const probe = p.value;
      const r = (sessions.get(h.site) as { ok: true; value: Remote }).value;
      let parentKey: string | null = null;
      if (h.feedFrom) {
        const pp = probes.get(h.feedFrom);
        if (!pp || !pp.ok) throw new Error(`${h.site}: its feeder ${h.feedFrom} failed, so its sync key cannot be authorized here; fix ${h.feedFrom} and run this again`);
        parentKey = pp.value.publicKey;
        if (!parentKey) throw new Error(`${h.site}: feeder ${h.feedFrom} has no sync public key`);
      }
      const existing = controlFrom(probe.configText);
      const control: MirrorControl = { ...(existing ?? INSTALL_DEFAULT), epoch };
      const files = desiredFiles({
        inv,
        site: h.site,
        probe,
        control,
        agentJs,
        ffi,
        parentPublicKey: parentKey,
        peerKeys,
        notify: o.notify !== undefined ? o.notify : controlNotify(probe.configText),
      });
      const changed = changedFiles(files, probe);
      for (const f of changed) {
        o.progress(h.site, `writing ${f.label} (${f.content.length} bytes)`);
        await step(r, `writing ${f.path}`, asRoot(h.user, writeFileScript(f.path, f.mode, f.owner)), { stdin: f.content, timeoutMs });
      }
      const removed = removedFiles(files, probe);
      for (const f of removed) {
        o.progress(h.site, `removing ${f.label}`);
        await step(r, `removing ${f.path}`, asRoot(h.user, `rm -f ${sq(f.path)}`), { timeoutMs });
      }
      const whyNoFfi = ffiMismatch(probe, ffi);
      const notes = whyNoFfi ? [`change feed: inotifywait (${whyNoFfi})`] : [];
      for (const n of notes) o.progress(h.site, n);
      const labels = new Set(changed.map((f) => f.label));
      if (labels.has('fence unit')) {
        // Enabled, not started: it runs at boot (and only where the boot fence hook marks a master).
        await step(r, 'enabling the boot fence unit', asRoot(h.user, `systemctl daemon-reload && systemctl enable --quiet ${FENCE_UNIT_NAME}`), { timeoutMs });
      }
      if (labels.has('refresh unit')) {
        // Enabled, not started: it runs at the boots the provider's schedule makes.
        await step(r, 'enabling the cold refresh unit', asRoot(h.user, `systemctl daemon-reload && systemctl enable --quiet ${REFRESH_UNIT_NAME}`), { timeoutMs });
      }
      const supervisionChanged = labels.has('systemd unit') || labels.has('supervisor');
      // The daemon re-reads config.json by itself; only new code (koffi.node is code too, and a
      // removed one sends the daemon back to inotifywait) or supervision needs a restart.
      const restart = labels.has('agent.js') || labels.has('koffi.node') || removed.length > 0 || supervisionChanged;
      const reload = labels.has('config.json');
      const changes = [...probe.created.map((c) => c.replace(/^dir:.*/, 'directories')), ...changed.map((f) => f.label), ...removed.map((f) => `${f.label} removed`)];
      if (restart || reload || !probe.running) {
        if (supervisionChanged && probe.supervision === 'lab' && probe.running) {
          // A running sh keeps the old script; stop it so the new one takes over.
          await step(r, 'stopping the old supervisor', asRoot(h.user, stopSupervisorScript()), { timeoutMs });
        }
        const how = !probe.running ? 'started' : restart ? 'restarted' : 'reloaded';
        o.progress(h.site, `${how.replace(/ed$/, 'ing')} the agent`);
        await step(
          r,
          `${how.replace(/ed$/, 'ing')} the agent`,
          asRoot(h.user, startScript(probe.supervision, { restart: restart && probe.running, reload, unitChanged: labels.has('systemd unit') })),
          { timeoutMs },
        );
        changes.push(how);
      }
      const outcome: Outcome = !probe.sha.has(AGENT_JS)
        ? 'installed'
        : labels.has('agent.js')
          ? 'upgraded'
          : changed.length || removed.length || probe.created.length
            ? 'updated'
            : changes.length
              ? 'started'
              : 'unchanged';
      o.progress(h.site, `${outcome}${changes.length ? `: ${[...new Set(changes)].join(', ')}` : ''}`);
      return { site: h.site, outcome, changes: [...new Set(changes)], error: null, ms: Date.now() - t0.get(h.site)!, ...(notes.length ? { notes } : {}) };
    });
    return hosts.map((h, i) => {
      const r = results[i];
      if (r.ok) return r.value;
      o.progress(h.site, `FAILED: ${r.error.message.split('\n')[0]}`);
      return { site: h.site, outcome: 'failed', changes: [], error: r.error.message, ms: Date.now() - t0.get(h.site)! };
    });
  } finally {
    await closeAll(sessions);
  }
}

export async function uninstallFleet(o: FleetOptions, opts: { keepState: boolean }): Promise<HostResult[]> {
  const hosts = o.inventory.hosts;
  const sessions = await openAll(o, hosts);
  try {
    const res = await mapParallel(hosts, o.parallel, async (h): Promise<HostResult> => {
      const t = Date.now();
      const s = sessions.get(h.site)!;
      if (!s.ok) throw s.error;
      const probe = parseProbe((await step(s.value, 'reading what is installed', asRoot(h.user, probeScript()), { timeoutMs: o.stepTimeoutMs ?? STEP_TIMEOUT_MS })).stdout);
      if (!probe.sha.has(AGENT_JS) && !probe.running && probe.sha.size === 0) {
        o.progress(h.site, 'not installed');
        return { site: h.site, outcome: 'not installed', changes: [], error: null, ms: Date.now() - t };
      }
      o.progress(h.site, 'stopping the agent and removing it');
      await step(s.value, 'uninstalling', asRoot(h.user, uninstallScript(opts)), { timeoutMs: o.stepTimeoutMs ?? STEP_TIMEOUT_MS });
      o.progress(h.site, `uninstalled (dataDir ${h.dataDir} and the ${AGENT_USER} account left as they are${opts.keepState ? '; state kept' : ''})`);
      return { site: h.site, outcome: 'uninstalled', changes: ['removed'], error: null, ms: Date.now() - t };
    });
    return hosts.map((h, i) => {
      const r = res[i];
      if (r.ok) return r.value;
      o.progress(h.site, `FAILED: ${r.error.message.split('\n')[0]}`);
      return { site: h.site, outcome: 'failed', changes: [], error: r.error.message, ms: r.ms };
    });
  } finally {
    await closeAll(sessions);
  }
}

export function summarizeResults(verb: string, results: readonly HostResult[]): string {
  const lines = results.map((r) => {
    const t = `${(r.ms / 1000).toFixed(1)} s`;
    if (r.outcome === 'failed' || r.outcome === 'skipped') return `  ${r.site.padEnd(12)} ${(r.outcome === 'failed' ? 'FAILED' : 'skipped').padEnd(13)} ${t.padStart(7)}  ${r.error}`;
    return `  ${r.site.padEnd(12)} ${r.outcome.padEnd(13)} ${t.padStart(7)}  ${[r.changes.join(', '), ...(r.notes ?? [])].filter(Boolean).join('; ')}`;
  });
  const failed = results.filter((r) => r.outcome === 'failed' || r.outcome === 'skipped').length;
  const head = failed ? `${verb}: ${failed} of ${results.length} hosts FAILED or skipped` : `${verb}: ${results.length} hosts done`;
  return [head, ...lines].join('\n');
}
