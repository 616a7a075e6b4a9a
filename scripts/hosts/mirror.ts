/**
 * `tandem mirror start | stop | pause | resume`: what to feed is a property of each feeder's
 * AgentConfig (`paused`, `pausedChildren`); these commands rewrite the configs that change and
 * restart those daemons. The agent does the rest: an unpaused feeder seeds a child (rsync) and
 * then streams changes to it.
 *
 *   start                 everything feeds (clears every pause)
 *   start --site X        X and the whole path from the master to X feed again; other children
 *                         of a feeder that was stopped stay stopped
 *   stop                  nothing feeds (every host paused)
 *   stop --site X         X's feeder stops feeding X, and X (a relay) stops feeding its children
 *   pause --site X        X's feeder stops feeding X; X keeps its position
 *   resume --site X       undoes pause --site X
 */
import type { Inventory } from '../../model/inventory';
import { buildAgentConfig, configFileMode, controlFrom, controlNotify, fleetEpoch, renderConfig, sha256, type MirrorControl } from './config';
import { asRoot, CONFIG_JSON, parseProbe, probeScript, startScript, writeFileScript, type Probe } from './hostfiles';
import { childrenIn, hostOf } from './inventory-check';
import { type FleetOptions, type HostResult } from './install';
import { AGENT_JS } from './keys';
import { mapParallel } from './parallel';
import { step, type Remote } from './remote';
import { roleFromConfig, rolesDisagree } from './target';

export type MirrorVerb = 'start' | 'stop' | 'pause' | 'resume';

export class MirrorUsageError extends Error {}

/** Checks `--site` names: each must be a mirror of this inventory. */
export function checkSites(inv: Inventory, sites: readonly string[]): void {
  for (const s of sites) {
    const h = inv.hosts.find((x) => x.site === s);
    if (!h)
      throw new MirrorUsageError(
        `--site ${s}: no such site; mirrors: ${inv.hosts
          .filter((x) => x.role === 'mirror')
          .map((x) => x.site)
          .join(', ')}`,
      );
    if (h.role !== 'mirror') throw new MirrorUsageError(`--site ${s}: it is the master; name a mirror, or leave --site out to act on all mirroring`);
  }
}

/** The pure part: new controls for every host after a verb. Hosts not in `current` are left out. */
export function applyMirrorVerb(inv: Inventory, current: ReadonlyMap<string, MirrorControl>, verb: MirrorVerb, sites: readonly string[]): Map<string, MirrorControl> {
  checkSites(inv, sites);
  const next = new Map<string, { epoch: number; paused: boolean; pausedChildren: Set<string> }>();
  for (const [site, c] of current) next.set(site, { epoch: c.epoch, paused: c.paused, pausedChildren: new Set(c.pausedChildren) });
  const get = (site: string) => {
    const c = next.get(site);
    if (!c) throw new MirrorUsageError(`${site}: its agent config could not be read; run tandem agent install first`);
    return c;
  };
  const parentOf = (site: string) => hostOf(inv, site).feedFrom!;

  if (sites.length === 0) {
    if (verb === 'pause' || verb === 'resume') throw new MirrorUsageError(`mirror ${verb} needs --site <mirror>; to act on everything use mirror ${verb === 'pause' ? 'stop' : 'start'}`);
    for (const c of next.values()) {
      c.paused = verb === 'stop';
      if (verb === 'start') c.pausedChildren.clear();
    }
  }
  for (const s of sites) {
    if (verb === 'pause') get(parentOf(s)).pausedChildren.add(s);
    else if (verb === 'resume') get(parentOf(s)).pausedChildren.delete(s);
    else if (verb === 'stop') {
      get(parentOf(s)).pausedChildren.add(s);
      if (childrenIn(inv, s).length) get(s).paused = true;
    } else {
      get(s).paused = false;
      // Re-open the path from the master: a feeder that was stopped whole starts feeding this
      // branch only.
      let child = s;
      for (let p: string | null = parentOf(s); p; p = hostOf(inv, p).feedFrom) {
        const c = get(p);
        if (c.paused) {
          c.paused = false;
          for (const k of childrenIn(inv, p)) if (k.site !== child) c.pausedChildren.add(k.site);
        }
        c.pausedChildren.delete(child);
        child = p;
      }
    }
  }
  const out = new Map<string, MirrorControl>();
  for (const [site, c] of next) out.set(site, { epoch: c.epoch, paused: c.paused, pausedChildren: [...c.pausedChildren].sort() });
  return out;
}

export async function mirrorFleet(o: FleetOptions, verb: MirrorVerb, sites: readonly string[]): Promise<HostResult[]> {
  const inv = o.inventory;
  checkSites(inv, sites);
  const sessions = new Map<string, Remote>();
  const probes = new Map<string, Probe>();
  const t0 = Date.now();
  try {
    const opened = await mapParallel(inv.hosts, o.parallel, async (h) => {
      const r = await o.connect(h, o.ssh);
      sessions.set(h.site, r);
      const probe = parseProbe((await step(r, 'reading the agent config', asRoot(h.user, probeScript()), { timeoutMs: o.stepTimeoutMs ?? 30_000 })).stdout);
      if (!probe.sha.has(AGENT_JS) || !probe.configText) throw new Error(`${h.site}: the agent is not installed; run tandem agent install first`);
      probes.set(h.site, probe);
    });
    const failed = opened.map((r, i) => (r.ok ? null : `${inv.hosts[i].site}: ${r.error.message}`)).filter(Boolean);
    // Configs must change together (a feeder and its child): refuse rather than half-apply.
    if (failed.length) throw new Error(`nothing changed; cannot reach or read every host:\n  ${failed.join('\n  ')}`);
    // An inventory alone may name the roles of before a failover: writing them would undo it.
    if (o.liveUnknown) {
      const why = rolesDisagree(
        inv,
        inv.hosts.map((h) => roleFromConfig(h.site, probes.get(h.site)?.configText ?? null)),
      );
      if (why) throw new Error(`nothing changed; ${why}`);
    }

    const current = new Map<string, MirrorControl>();
    for (const [site, p] of probes) current.set(site, controlFrom(p.configText)!);
    const epoch = fleetEpoch([...current.values()]);
    const next = applyMirrorVerb(inv, current, verb, sites);

    const res = await mapParallel(inv.hosts, o.parallel, async (h): Promise<HostResult> => {
      const r = sessions.get(h.site)!;
      const probe = probes.get(h.site)!;
      const config = buildAgentConfig(inv, h.site, { ...next.get(h.site)!, epoch }, o.notify !== undefined ? o.notify : controlNotify(probe.configText));
      const text = renderConfig(config);
      const fm = configFileMode(config);
      const changed = probe.sha.get(CONFIG_JSON) !== sha256(text);
      const changes: string[] = [];
      if (changed) {
        await step(r, 'writing config.json', asRoot(h.user, writeFileScript(CONFIG_JSON, fm.mode, fm.owner)), { stdin: text, timeoutMs: 30_000 });
        changes.push('config.json');
      }
      if (changed || !probe.running) {
        await step(r, 'signalling the agent', asRoot(h.user, startScript(probe.supervision, { restart: false, reload: changed, unitChanged: false })), { timeoutMs: 30_000 });
        changes.push(probe.running ? 'reloaded' : 'started');
      }
      const c = next.get(h.site)!;
      const kids = childrenIn(inv, h.site).map((k) => k.site);
      const feeding = c.paused ? [] : kids.filter((k) => !c.pausedChildren.includes(k));
      const note = kids.length ? `feeds ${feeding.length ? feeding.join(', ') : 'nobody'}${c.paused ? ' (stopped)' : ''}` : 'receives only';
      o.progress(h.site, `${changes.length ? changes.join(', ') : 'unchanged'}; ${note}`);
      return { site: h.site, outcome: changes.length ? 'updated' : 'unchanged', changes, error: null, ms: Date.now() - t0 };
    });
    return inv.hosts.map((h, i) => {
      const r = res[i];
      return r.ok ? r.value : { site: h.site, outcome: 'failed', changes: [], error: r.error.message, ms: r.ms };
    });
  } finally {
    for (const r of sessions.values()) await Promise.resolve(r.close()).catch(() => undefined);
  }
}
