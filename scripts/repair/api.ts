/**
 * The contract of repair and replace without downtime (issue 11), used by the commands
 * (`tandem mirror verify|rebuild`, `tandem site replace`) and by the drill's rebuild-mirror and
 * replace-host scenarios. Implemented in ./verify.ts, ./rebuild.ts, ./replace.ts and exported
 * from ./index.ts with exactly these names and shapes.
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import type { Topology } from '../../model/topology/types';
import type { LiveLayout } from '../../model/live';
import type { Connector, SshSettings } from '../hosts/remote';

export interface RepairContext {
  /** The inventory as it stands now (live layout applied). */
  readonly inventory: Inventory;
  /** The stack file's topology and path when a stack was named (replace records the new host key there / in the lab). */
  readonly topology: Topology | null;
  readonly stackFile: string | null;
  readonly live: LiveLayout | null;
  readonly connect: Connector;
  readonly ssh: SshSettings;
  /** Progress lines (stderr). */
  readonly log: (line: string) => void;
  /** The `--inventory` file the hosts came from, when one was given (a cloud replace pins the new host key there). */
  readonly inventoryFile?: string | null;
}

export interface MirrorDifference {
  /** Path relative to dataDir. */
  readonly path: string;
  readonly kind: 'missing' | 'extra' | 'content' | 'type' | 'mode' | 'link';
}

export interface MirrorVerify {
  readonly site: string;
  /** The site compared against (the mirror's feeder: the master or its relay). */
  readonly source: string;
  readonly equal: boolean;
  readonly filesCompared: number;
  readonly bytesCompared: number;
  /** The first differences (bounded list); `moreDifferences` counts the rest. */
  readonly differences: readonly MirrorDifference[];
  readonly moreDifferences: number;
  readonly ms: number;
  /** Paths the source changed while they were being compared (in flight, not counted as differences). */
  readonly changing?: readonly string[];
  /** Comparison passes run: 1 when the first found nothing, 2 when differences were checked again. */
  readonly passes?: number;
}

export interface RebuildResult {
  readonly site: string;
  readonly source: string;
  readonly bytesSent: number;
  readonly ms: number;
  /** The verify run after the rebuild: equal when it succeeded. */
  readonly verify: MirrorVerify;
}

export interface ReplaceResult {
  readonly site: string;
  readonly oldHostKey: string | null;
  readonly newHostKey: string;
  readonly seededFrom: string;
  readonly ms: number;
  readonly verify: MirrorVerify;
  /** Cloud: the snapshot the new data volume was created from. */
  readonly snapshotId?: string;
  /** The inventory after the replace (the new host key pinned). */
  readonly inventory?: Inventory;
}

export type VerifyMirror = (ctx: RepairContext, site: string) => Promise<MirrorVerify>;
export type RebuildMirror = (ctx: RepairContext, site: string) => Promise<RebuildResult>;
export type ReplaceSite = (ctx: RepairContext, site: string) => Promise<ReplaceResult>;

/** The customer's Pulumi stack, as replace needs it (the Automation API: scripts/fleet/automation.ts). */
export interface ReplaceStack {
  readonly project: string;
  readonly stack: string;
  /** Sets `tandem:restore.<site>.snapshotId` in the stack config. */
  setRestore(site: string, snapshotId: string): Promise<void>;
  /** `pulumi up --replace <urn>...`. */
  up(replace: readonly string[], onOutput: (text: string) => void): Promise<void>;
  /** The stack output `inventory`. */
  inventory(): Promise<unknown>;
}

export interface CloudReplace {
  /** The newest completed snapshot of the site's data volume (AWS) or disk (Azure). */
  newestSnapshot(inv: Inventory, host: InventoryHost): Promise<{ id: string; at: string }>;
  openStack(customer: string): Promise<ReplaceStack>;
}
