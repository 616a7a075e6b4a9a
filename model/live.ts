/**
 * The live layout: who is master *now*. The stack file says who was meant to be master; after a
 * failover the live layout is the truth for every `tandem` command and for `pulumi up`.
 *
 * It is stored in the stack config under `tandem:live` (written by `tandem failover`, shown as a
 * diff the user commits), so the Pulumi program (`new pulumi.Config('tandem').getObject('live')`)
 * and the command read the same record:
 *
 *   config:
 *     tandem:live:
 *       epoch: 3
 *       master: chi
 *       at: "2026-12-02T21:40:00.000Z"
 *       reason: "planned switchover ny -> chi"
 *       fenced: [ny]            # optional: sites that must not serve until they rejoin as mirrors
 *
 * `applyLive` turns (stack topology, live layout) into the topology as it stands now; everything
 * downstream (inventory, programs, status) works from that result and never branches on it.
 */
import { masterOf } from './topology/graph';
import type { Issue, MasterSite, MirrorSite, Site, Topology } from './topology/types';

export interface LiveLayout {
  /** Raised by every role change; a receiver refuses a sender with an older epoch. >= 1. */
  readonly epoch: number;
  /** The site serving now. */
  readonly master: string;
  /** When the layout last changed (ISO 8601). */
  readonly at: string;
  /** Why, in words: "planned switchover ny -> chi", "unplanned failover: ny unreachable". */
  readonly reason: string;
  /** Sites fenced off: they must not serve or push until they rejoin as mirrors. */
  readonly fenced: readonly string[];
}

export const LIVE_KEY = 'tandem:live';
const LIVE_FIELDS = ['epoch', 'master', 'at', 'reason', 'fenced'];

/**
 * Validates a raw `tandem:live` value against the topology. Returns the layout, or issues whose
 * paths start with `tandem:live` and say how to fix them. `undefined`/`null` -> no live layout.
 */
export function parseLive(raw: unknown, t: Topology): { live: LiveLayout | null; issues: Issue[] } {
  const issues: Issue[] = [];
  const bad = (path: string, message: string) => issues.push({ severity: 'error', path: `${LIVE_KEY}${path}`, message });
  if (raw === undefined || raw === null) return { live: null, issues };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    bad('', `${LIVE_KEY} must be a mapping {epoch, master, at, reason}; it is written by "tandem failover" — restore it from version control or delete it to go back to the roles in the stack file`);
    return { live: null, issues };
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!LIVE_FIELDS.includes(k)) bad(`.${k}`, `unknown field "${k}"; ${LIVE_KEY} has ${LIVE_FIELDS.join(', ')}`);
  const names = t.sites.map((s) => s.name);
  if (typeof o.epoch !== 'number' || !Number.isInteger(o.epoch) || o.epoch < 1) bad('.epoch', `epoch must be a whole number >= 1, got ${JSON.stringify(o.epoch)}`);
  if (typeof o.master !== 'string' || !names.includes(o.master)) bad('.master', `master ${JSON.stringify(o.master)} is not a site of stack "${t.customer}"; sites: ${names.join(', ')}`);
  if (typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) bad('.at', `at must be an ISO 8601 time, got ${JSON.stringify(o.at)}`);
  if (o.reason !== undefined && typeof o.reason !== 'string') bad('.reason', `reason must be text`);
  const fenced = o.fenced ?? [];
  if (!Array.isArray(fenced) || fenced.some((f) => typeof f !== 'string' || !names.includes(f)))
    bad('.fenced', `fenced must be a list of site names of stack "${t.customer}" (${names.join(', ')}), got ${JSON.stringify(o.fenced)}`);
  else if (fenced.includes(o.master)) bad('.fenced', `the live master "${String(o.master)}" cannot also be fenced`);
  if (issues.length) return { live: null, issues };
  return {
    live: { epoch: o.epoch as number, master: o.master as string, at: o.at as string, reason: (o.reason as string | undefined) ?? '', fenced: fenced as string[] },
    issues,
  };
}

/**
 * The topology as it stands now. With no live layout, or one naming the stack file's master, the
 * topology is returned as is. Otherwise the live master takes the master role; the stack file's
 * master becomes a warm, continuous mirror fed straight from the new master; mirrors that relayed
 * through the promoted site are fed straight from the new master; every other mirror keeps its
 * mode, interval, relay and cap. The stack file master's `tickMs` moves to the live master. Site
 * order and `index` are kept, so messages still point at the stack file.
 */
export function applyLive(t: Topology, live: LiveLayout | null): Topology {
  if (!live) return t;
  const oldMaster = masterOf(t);
  if (live.master === oldMaster.name) return t;
  const sites: Site[] = t.sites.map((s): Site => {
    if (s.name === live.master) {
      const { failover: _f, syncIntervalS: _i, relayVia: _r, bandwidthMbit: _b, ...base } = s as MirrorSite;
      // The master's tick is the fleet's choice of lag against CPU: it goes with the role.
      return { ...base, role: 'master', ...(oldMaster.tickMs !== undefined ? { tickMs: oldMaster.tickMs } : {}) };
    }
    if (s.name === oldMaster.name) {
      const { tickMs: _t, ...rest } = s as MasterSite;
      return { ...rest, role: 'mirror', failover: 'warm', syncIntervalS: 0, relayVia: null, bandwidthMbit: null } as MirrorSite;
    }
    const m = s as MirrorSite;
    return m.relayVia === live.master ? { ...m, relayVia: null } : m;
  });
  return { ...t, sites };
}

/** The site the stack file names as master, before any failover. */
export function originalMaster(t: Topology): string {
  return masterOf(t).name;
}
