/**
 * The redundancy verdict of `tandem status`: pure, from what was observed on each host
 * (table-tested in test/ops/verdict.test.ts). A monitor alerts on exit 3, so every rule here
 * answers one question: could a mirror take over now without losing more than it is allowed to?
 *
 * DEGRADED when any of:
 *   - no mirror is in sync (nothing could take over);
 *   - a mirror is behind its interval: lag > max(1.5 x syncIntervalS, LAG_GRACE_S);
 *   - a mirror reports an error or its feed is down;
 *   - a relay is down (unreachable or its agent not running): its children cannot be fed;
 *   - the master or a running mirror is unreachable, or its agent is not running (status.json
 *     older than STALE_AFTER_S, or the agent says it is not running);
 *   - a host runs an older epoch than the master (it would refuse the master's feed), or a
 *     mirror claims to be master (split brain).
 * Not DEGRADED by itself:
 *   - a cold mirror that does not answer: cold mirrors are powered off by design and sync when
 *     they boot. It must have synced at least once, though: if its feeder has never had an
 *     acknowledgement from it, it is reported ("never synced").
 *   - a mirror the operator paused (`tandem mirror pause`): shown as paused; it does not count
 *     as in sync, so pausing every mirror still ends in "no in-sync mirror".
 */
import type { AgentStatus, ChildStatus } from '../../agent/src/contract';
import type { FailoverMode, Role } from '../../model/topology/types';
import { UNKNOWN } from '../util/table';

/** Below this, lag is noise (a write in flight, a status written a moment before the change). */
export const LAG_GRACE_S = 10;
/** The agent rewrites status.json every few seconds; older than this, it is not running. */
export const STALE_AFTER_S = 30;

export interface HostObservation {
  readonly site: string;
  /** From the inventory. */
  readonly role: Role;
  readonly failover: FailoverMode | null;
  readonly feedFrom: string | null;
  readonly syncIntervalS: number | null;
  /** Could we log in? */
  readonly reachable: boolean;
  /** Why not, or why the status could not be read. */
  readonly error: string | null;
  /** The agent's own status; null when it could not be read (not installed, unreadable). */
  readonly status: AgentStatus | null;
  /** Age of status.json by the host's own clock (no clock skew between us and it). */
  readonly statusAgeS: number | null;
}

export type RowState = 'master' | ChildStatus['state'] | 'off (cold)' | 'unreachable' | 'agent down' | 'no agent' | 'unfed' | 'unknown';

export interface HostRow {
  readonly site: string;
  readonly role: Role;
  readonly relay: boolean;
  readonly epoch: number | null;
  readonly agentVersion: string | null;
  readonly state: RowState;
  /** Master to this mirror, through relays (sum of the hops). */
  readonly lagS: number | null;
  readonly bytesBehind: number | null;
  readonly lastError: string | null;
  /** When online verify last found this mirror equal to its source (null: not yet / not known). */
  readonly verifiedAt?: string | null;
  /** A powered-off cold mirror: seconds since it last held its feeder's data (null: unknown). Also in lagS. */
  readonly dataAgeS?: number | null;
}

export interface Verdict {
  readonly ok: boolean;
  readonly reasons: readonly string[];
  readonly rows: readonly HostRow[];
  readonly inSyncMirrors: readonly string[];
}

export interface VerdictOptions {
  readonly lagGraceS?: number;
  readonly staleAfterS?: number;
  /** The clock for ages (tests). */
  readonly now?: number;
}

export function allowedLagS(syncIntervalS: number | null, grace = LAG_GRACE_S): number {
  return Math.max((syncIntervalS ?? 0) * 1.5, grace);
}

/**
 * When a child last held everything its feeder had, as ms since the epoch: the feeder's
 * lastInSyncAt, else the last online verify that found it equal (a copy proven then). Null when
 * neither is known. A cold mirror seeded and powered off before any later change has no
 * acknowledgement (lastAckAt) but was in sync: it has completed a sync.
 */
export function heldAt(cs: Pick<ChildStatus, 'lastInSyncAt' | 'verifiedAt'> | null): number | null {
  const t = [cs?.lastInSyncAt, cs?.verifiedAt].map((x) => (x ? Date.parse(x) : NaN)).filter(Number.isFinite);
  return t.length ? Math.max(...t) : null;
}

function fmtS(s: number): string {
  return s < 10 ? `${Math.round(s * 10) / 10} s` : `${Math.round(s)} s`;
}

/**
 * The first line of an error, shortened, with control characters shown as '?': error texts come
 * from the hosts (a mirror's NAK, rsync's stderr), and an escape sequence in one must not reach
 * the operator's terminal.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

function firstLine(s: string | null, max = 120): string | null {
  if (!s) return null;
  const l = s.trim().split('\n')[0].replace(CONTROL_CHARS, '?');
  return l.length > max ? `${l.slice(0, max - 3)}...` : l;
}

export function assess(hosts: readonly HostObservation[], opts: VerdictOptions = {}): Verdict {
  const grace = opts.lagGraceS ?? LAG_GRACE_S;
  const staleAfter = opts.staleAfterS ?? STALE_AFTER_S;
  const reasons: string[] = [];
  const bySite = new Map(hosts.map((h) => [h.site, h] as const));
  const childrenOf = (site: string) => hosts.filter((h) => h.feedFrom === site);
  const master = hosts.find((h) => h.role === 'master');
  const masterEpoch = master?.status?.epoch ?? null;

  /** Is this host's agent up, and if not, why (null when it is up). */
  const downWhy = (h: HostObservation): string | null => {
    if (!h.reachable) return `unreachable${h.error ? `: ${firstLine(h.error)}` : ''}`;
    if (!h.status) return `agent not answering${h.error ? `: ${firstLine(h.error)}` : ''}`;
    if (!h.status.running) return 'agent not running';
    if (h.statusAgeS !== null && h.statusAgeS > staleAfter) return `agent not running (status ${fmtS(h.statusAgeS)} old)`;
    return null;
  };
  const coldOff = (h: HostObservation) => h.role === 'mirror' && h.failover === 'cold' && !h.reachable;
  const childStatus = (h: HostObservation): ChildStatus | null => {
    const p = h.feedFrom ? bySite.get(h.feedFrom) : undefined;
    return p?.status?.children.find((c) => c.site === h.site) ?? null;
  };

  // Feeders first: is each host's feed alive all the way up from the master?
  const fed = new Map<string, boolean>();
  const isFed = (h: HostObservation, depth = 0): boolean => {
    if (h.role === 'master' || depth > hosts.length) return true;
    const known = fed.get(h.site);
    if (known !== undefined) return known;
    const p = h.feedFrom ? bySite.get(h.feedFrom) : undefined;
    const v = !!p && downWhy(p) === null && isFed(p, depth + 1);
    fed.set(h.site, v);
    return v;
  };

  const lagMemo = new Map<string, number | null>();
  const lagOf = (h: HostObservation, depth = 0): number | null => {
    if (h.role === 'master') return 0;
    if (lagMemo.has(h.site)) return lagMemo.get(h.site)!;
    const cs = childStatus(h);
    const hop = cs?.lagS ?? h.status?.lagS ?? null;
    const p = h.feedFrom ? bySite.get(h.feedFrom) : undefined;
    const up = p && p.role === 'mirror' && depth <= hosts.length ? lagOf(p, depth + 1) : 0;
    const v = hop === null ? null : hop + (up ?? 0);
    lagMemo.set(h.site, v);
    return v;
  };

  const rows: HostRow[] = [];
  const inSync: string[] = [];

  if (!master) reasons.push('no master in the inventory');
  else {
    const why = downWhy(master);
    if (why) reasons.push(`master ${master.site} ${why}: nothing is being mirrored`);
  }

  for (const h of hosts) {
    const relay = h.role === 'mirror' && childrenOf(h.site).length > 0;
    const st = h.status;
    const base = {
      site: h.site,
      role: h.role,
      relay,
      epoch: st?.epoch ?? null,
      agentVersion: st?.agentVersion ?? null,
    };
    const why = downWhy(h);
    if (h.role === 'master') {
      // Unknown for one child (its link is not streaming): unknown in total, not a smaller sum.
      const behind = st && st.children.every((c) => c.bytesBehind !== null) ? st.children.reduce((n, c) => n + c.bytesBehind!, 0) : null;
      rows.push({
        ...base,
        state: why ? (h.reachable ? (st ? 'agent down' : 'no agent') : 'unreachable') : 'master',
        lagS: null,
        bytesBehind: behind,
        lastError: firstLine(st?.lastError ?? (why ? h.error : null)),
      });
      if (st && st.role !== 'master') reasons.push(`master ${h.site} runs as ${st.role} (its agent config says so); reinstall or finish the failover`);
      continue;
    }

    const cs = childStatus(h);
    const lag = lagOf(h);
    const rowBase = { ...base, lagS: lag, bytesBehind: cs?.bytesBehind ?? null, verifiedAt: cs?.verifiedAt ?? null };
    const feederName = h.feedFrom ?? UNKNOWN;

    if (coldOff(h)) {
      // Off, its data is as old as its last sync: that age is what an operator weighs, not the
      // lag (or the bytes behind) of a link that is down. Unknown when no agent ever said.
      const held = heldAt(cs);
      const age = held === null ? null : Math.max(0, (opts.now ?? Date.now()) - held) / 1000;
      rows.push({ ...rowBase, lagS: age, bytesBehind: null, state: 'off (cold)', lastError: null, dataAgeS: age });
      if (cs && cs.lastAckAt === null && held === null) reasons.push(`cold mirror ${h.site} has never completed a sync; power it on until it is in sync`);
      continue;
    }
    if (why) {
      const state: RowState = h.reachable ? (st ? 'agent down' : 'no agent') : 'unreachable';
      rows.push({ ...rowBase, state, lastError: firstLine(st?.lastError ?? h.error) });
      const kids = childrenOf(h.site).filter((c) => !coldOff(c));
      if (relay) reasons.push(`relay ${h.site} down (${why}): ${kids.length ? kids.map((c) => c.site).join(', ') : 'its children'} cannot be fed`);
      else reasons.push(`mirror ${h.site} ${why}`);
      continue;
    }
    if (!isFed(h)) {
      // Its feeder's outage is already a reason; do not report it twice.
      rows.push({ ...rowBase, state: 'unfed', lastError: firstLine(st!.lastError) });
      continue;
    }

    const s = st!;
    const state: RowState = cs?.state ?? (s.inSync ? 'in-sync' : 'unknown');
    const lastError = firstLine(cs?.lastError ?? s.lastError);
    rows.push({ ...rowBase, state, lastError });
    if (s.role === 'master') {
      reasons.push(`mirror ${h.site} runs as master: two masters (split brain); stop one before anything else`);
      continue;
    }
    if (masterEpoch !== null && s.epoch !== masterEpoch) {
      reasons.push(`mirror ${h.site} is at epoch ${s.epoch}, the master at ${masterEpoch}: it refuses the feed; run tandem agent install again`);
      continue;
    }
    if (state === 'paused') continue;
    if (state === 'error' || state === 'down') {
      reasons.push(`mirror ${h.site} ${state === 'down' ? `feed from ${feederName} is down` : 'failing'}${lastError ? `: ${lastError}` : ''}`);
      continue;
    }
    if ((cs?.differences ?? 0) > 0) {
      // Online verify found it different from its source: whatever its lag says, it is not a copy.
      reasons.push(`mirror ${h.site} ${lastError ?? `differs from ${feederName} in ${cs!.differences} entries`}`);
      continue;
    }
    const allowed = allowedLagS(h.syncIntervalS, grace);
    if (lag !== null && lag > allowed) {
      const every = h.syncIntervalS ? `syncs every ${h.syncIntervalS} s` : 'continuous';
      reasons.push(`mirror ${h.site} is ${fmtS(lag)} behind (${every}: at most ${fmtS(allowed)} allowed)${lastError ? `: ${lastError}` : ''}`);
      continue;
    }
    if (state === 'seeding' || state === 'connecting' || state === 'unknown') {
      reasons.push(`mirror ${h.site} is ${state === 'unknown' ? 'not known to be in sync' : state}`);
      continue;
    }
    inSync.push(h.site);
  }

  // A sender's own trouble (a directory it cannot watch) degrades redundancy though every link is up.
  for (const h of hosts) {
    const e = h.status?.daemonError;
    // Whole (the fix is at its end), cleaned of control characters, within reason.
    if (e && h.status?.running) reasons.push(`${h.role} ${h.site}: ${firstLine(e, 400)}`);
  }

  // With the master down, whether the mirrors hold its last state cannot be told from here: the
  // master's outage is the reason, not "no in-sync mirror".
  const masterUp = !!master && downWhy(master) === null;
  if (masterUp && inSync.length === 0 && hosts.some((h) => h.role === 'mirror')) reasons.unshift('no in-sync mirror');
  if (!hosts.some((h) => h.role === 'mirror')) reasons.unshift('no mirror in the inventory');
  return { ok: reasons.length === 0, reasons, rows, inSyncMirrors: inSync };
}
