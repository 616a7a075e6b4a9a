/**
 * The seam between fleet orchestration and Pulumi: one small interface with three
 * implementations — the Automation API on this machine (local), the Automation API on Pulumi
 * Deployments (remote), and a fake that records calls and fails where a test says.
 */

/** What a fleet run does to each customer's stack. */
export const FLEET_OPS = ['preview', 'up', 'refresh', 'destroy', 'status'] as const;
export type FleetOp = (typeof FLEET_OPS)[number];
/** Operations that change or read the cloud through an update; `status` only reads the backend. */
export type UpdateOp = Exclude<FleetOp, 'status'>;

/** The config a customer's stack gets: plain values (objects allowed) and secrets. */
export interface StackConfig {
  /** e.g. `tandem:customer`, `tandem:topology`, `fleet:notify`. */
  readonly values: Readonly<Record<string, unknown>>;
  /** Secret values by config key; set as Pulumi secrets, never printed or recorded. */
  readonly secrets: Readonly<Record<string, string>>;
}

/** How an update ended, in a few words for the summary (e.g. "3 created, 1 updated"). */
export interface UpdateOutcome {
  readonly changes: Readonly<Record<string, number>>;
}

/** A stack's last update, as `fleet status` shows it. */
export interface StackStatus {
  /** null when the stack was never updated. */
  readonly lastUpdate: { readonly kind: string; readonly result: string; readonly endTime: string | null; readonly changes: Readonly<Record<string, number>> } | null;
  /** Number of stack outputs (the inventory is one). */
  readonly outputs: number;
}

export interface FleetStack {
  readonly name: string;
  /** Runs one update; `onOutput` gets the engine's text output as it comes. */
  run(op: UpdateOp, onOutput: (text: string) => void, signal?: AbortSignal): Promise<UpdateOutcome>;
  status(): Promise<StackStatus>;
}

export interface FleetWorkspace {
  /** `local`, `remote` or `fake`: shown in the summary. */
  readonly kind: string;
  /**
   * Selects the customer's stack, creating it when it does not exist, and sets its config
   * (null: leave the config alone, for `status`).
   */
  open(customer: string, config: StackConfig | null): Promise<FleetStack>;
  /**
   * Checks once, before any customer, what every customer needs (the Pulumi CLI); throws an
   * error that says what is missing and how to get it.
   */
  preflight?(): Promise<void>;
}
