/**
 * The drill's contract: what one scenario run produces (DrillResult), shared by the drill engine
 * (./run.ts, ./scenarios/*), the report writers (./report/*) and `tandem drill --json`.
 * Times are ISO 8601 strings (UTC); durations are milliseconds unless the name says seconds.
 */

export const SCENARIOS = [
  'planned-switchover',
  'master-crash',
  'region-outage',
  'cold-standby',
  'mirror-crash-during-sync',
  'double-fault',
  'stale-master-returns',
  'rebuild-mirror',
  'replace-host',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** One step the drill took, in order: "start load", "crash ny", "failover to chi", "failback", ... */
export interface DrillStep {
  readonly name: string;
  readonly at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * A moment on the timeline picture. `fault`: the fault was injected (RTO counts from here);
 * `detected`: the kit saw it (status/alert); `promoted`: the new master holds the epoch;
 * `service-back`: the service answers on the service address; `restored`: the original layout is
 * back; `alert`: a notice went out; `note`: anything else worth a mark.
 */
export interface DrillEvent {
  readonly kind: 'fault' | 'detected' | 'promoted' | 'service-back' | 'restored' | 'alert' | 'note';
  readonly at: string;
  readonly label: string;
}

/** One mirror's replication lag at one moment (from its agent status); null lag: unknown (down). */
export interface LagSample {
  readonly at: string;
  readonly site: string;
  readonly lagSeconds: number | null;
  readonly state: string;
}

/** One pass/fail item of the verdict, e.g. "RTO 3.9 s <= target 10 s", "no record lost". */
export interface DrillCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** The targets the drill is judged against (topology rtoTargetS / rpoTargetS, or defaults per failover mode). */
export interface DrillTargets {
  readonly rtoTargetS: number;
  readonly rpoTargetS: number;
  /** Where they come from, in words: "topology: sites[1].rtoTargetS", "default for a warm mirror". */
  readonly basis: string;
}

export interface DrillResult {
  readonly version: 1;
  readonly scenario: ScenarioName;
  readonly customer: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Every check passed and the original layout was restored. */
  readonly passed: boolean;
  /** Fault (or command, for a planned switchover) to the service answering on the service address; null: no failover in this scenario or it never answered. */
  readonly rtoSeconds: number | null;
  /** Write time span of the records lost (0 when none); null: not a data-loss scenario. */
  readonly rpoSeconds: number | null;
  /** Records the load generator had confirmed written on the old master but missing on the new one. */
  readonly recordsLost: number;
  /** Records the load generator confirmed written (all masters, whole drill). */
  readonly recordsWritten: number;
  /** Records counted on the master at the end (distinct sequence numbers). */
  readonly recordsFound: number;
  /** Load generator rate, records/s. */
  readonly rate: number;
  /** Master before the fault, and the site serving after the failover (null: no failover). */
  readonly from: string;
  readonly to: string | null;
  readonly targets: DrillTargets;
  readonly checks: readonly DrillCheck[];
  readonly steps: readonly DrillStep[];
  readonly events: readonly DrillEvent[];
  readonly lag: readonly LagSample[];
  /** The original layout is back (master, roles, every mirror in sync). */
  readonly restored: boolean;
  /** When not restored: exactly what state the drill left, and what to run. */
  readonly leftState: string | null;
  /** The failover journal file(s) the drill's failovers wrote. */
  readonly journalFiles: readonly string[];
  /** Why the drill failed to run (not a failed check); null when it ran. */
  readonly error: string | null;
  /** Set when the layout cannot run this scenario (e.g. cold-standby without a cold mirror): not a pass. */
  readonly notApplicable?: string | null;
  /** The load generator's records file on the hosts (inside dataDir). */
  readonly recordsFile?: string;
  /** One per master the load generator ran on: its tag, where it started and the highest sequence it confirmed. */
  readonly segments?: readonly { site: string; tag: string; firstSeq: number; confirmedSeq: number; end: string }[];
}

/** What `tandem drill --report <dir>` wrote. */
export interface ReportFiles {
  readonly markdown: string;
  readonly json: string;
  readonly svg: string;
  readonly png: string;
}
