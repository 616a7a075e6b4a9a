/**
 * What a failover to a mirror is judged against: its RTO (fault, or the switchover command, to the
 * service answering again) and RPO (seconds of writes lost) targets. A mirror's own
 * `rtoTargetS`/`rpoTargetS` win, then the topology-wide ones, then the defaults per failover mode
 * below. Drills (scripts/drill) report pass/fail against these.
 *
 * Why these defaults:
 * - hot (running, continuous, platform up): promotion is an epoch bump and an address move, no
 *   boot and no platform start; 5 s leaves room for detection and the VIP/DNS move. Continuous
 *   sync keeps lag sub-second, so 1 s of writes at most; on an interval, one interval.
 * - warm (running, platform stopped): the platform has to start on the mirror too, so 10 s. Its
 *   lag is allowed a few seconds under burst (status tolerates LAG_GRACE_S), so 5 s; on an
 *   interval, the interval (a batch not yet sent is what is lost).
 * - cold (powered off): the host boots and catches up first, so a minute. Its data is as old as
 *   its last sync: with `coldRefreshH` that is at most the refresh interval; otherwise nothing
 *   bounds its age, and the default holds it to what a power-on and catch-up from a live source
 *   gives (its syncIntervalS, at least 60 s). A stack that fails over to a cold mirror with the
 *   master dead should set rpoTargetS (or coldRefreshH) to its real exposure.
 * - a planned switchover, and drills that fail nothing over (a mirror crashing, a rebuild, a host
 *   replaced, the master serving throughout): RPO 0, nothing may be lost.
 */
import type { FailoverMode, MirrorSite, Site, Topology } from './types';

/** Same shape as the drill contract's DrillTargets (scripts/drill/types.ts); the model imports nothing outside itself. */
export interface DrillTargets {
  readonly rtoTargetS: number;
  readonly rpoTargetS: number;
  /** Where they come from, in words: "sites[1].rtoTargetS", "default for a warm mirror". */
  readonly basis: string;
}

export const DEFAULT_RTO_S: Readonly<Record<FailoverMode, number>> = { hot: 5, warm: 10, cold: 60 };
/** RPO floors for a continuous mirror; an interval mirror gets at least its interval. */
export const DEFAULT_RPO_S: Readonly<Record<FailoverMode, number>> = { hot: 1, warm: 5, cold: 60 };

/** Drills in which nothing may be lost: a planned switchover (verified by digest), and those where the master keeps serving. */
export const ZERO_LOSS_SCENARIOS: readonly string[] = ['planned-switchover', 'mirror-crash-during-sync', 'rebuild-mirror', 'replace-host'];

/** The default targets of a failover to this mirror, and why, in words. */
export function defaultTargets(m: Pick<MirrorSite, 'failover' | 'syncIntervalS' | 'coldRefreshH'>): DrillTargets {
  const rto = DEFAULT_RTO_S[m.failover];
  if (m.failover === 'cold' && m.coldRefreshH !== undefined) {
    return { rtoTargetS: rto, rpoTargetS: m.coldRefreshH * 3600, basis: `default for a cold mirror refreshed every ${m.coldRefreshH} h` };
  }
  const rpo = Math.max(DEFAULT_RPO_S[m.failover], m.syncIntervalS);
  const sync = m.syncIntervalS > 0 ? `syncing every ${m.syncIntervalS} s` : 'syncing continuously';
  return { rtoTargetS: rto, rpoTargetS: rpo, basis: `default for a ${m.failover} mirror ${sync}` };
}

/**
 * The targets a drill (or failover) to `site` is judged against. `scenario` is the drill's
 * scenario name; ZERO_LOSS_SCENARIOS (or `planned: true`) hold RPO to 0. `site` is the failover's
 * target; the master (a failback's target) takes the topology-wide targets, else a hot mirror's
 * defaults, since it runs the platform already.
 */
export function drillTargets(t: Topology, site: string, scenario: string, opts: { planned?: boolean } = {}): DrillTargets {
  const s: Site | undefined = t.sites.find((x) => x.name === site);
  if (!s) throw new Error(`drillTargets: site "${site}" is not in stack ${t.customer}; use one of: ${t.sites.map((x) => x.name).join(', ')}`);
  const planned = opts.planned ?? ZERO_LOSS_SCENARIOS.includes(scenario);
  const dflt = s.role === 'mirror' ? defaultTargets(s) : { rtoTargetS: DEFAULT_RTO_S.hot, rpoTargetS: DEFAULT_RPO_S.hot, basis: `default for the master ${s.name} (runs the platform already)` };
  const own = s.role === 'mirror' ? s : {};

  /** `place`: where an explicit value is set (`sites[1]`, `tandem:topology`); null for a default. */
  const pick = (k: 'rtoTargetS' | 'rpoTargetS'): { v: number; place: string | null; from: string } => {
    const mine = (own as { rtoTargetS?: number; rpoTargetS?: number })[k];
    if (mine !== undefined) return { v: mine, place: `sites[${s.index}]`, from: `topology sites[${s.index}].${k}` };
    if (t[k] !== undefined) return { v: t[k]!, place: 'tandem:topology', from: `topology tandem:topology.${k}` };
    return { v: dflt[k], place: null, from: dflt.basis };
  };
  const rto = pick('rtoTargetS');
  const rpo = planned ? { v: 0, place: null, from: `${opts.planned ? 'a planned switchover' : scenario} loses nothing by design` } : pick('rpoTargetS');
  const same = rto.place !== null ? rto.place === rpo.place : rto.from === rpo.from;
  const basis = !same ? `rtoTargetS: ${rto.from}; rpoTargetS: ${rpo.from}` : rto.place !== null ? `topology ${rto.place}.rtoTargetS and .rpoTargetS` : rto.from;
  return { rtoTargetS: rto.v, rpoTargetS: rpo.v, basis };
}
