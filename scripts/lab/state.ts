/** The lab's state on this machine: one directory per stack, a slot registry, the inventory. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { INVENTORY_VERSION, type Inventory } from '../../model/inventory';
import type { Topology } from '../../model/topology/types';
import { MAX_SLOTS, labRoot, stackDir, type LabPlan } from './plan';

export interface HostState {
  readonly hostKey: string;
  poweredOff: boolean;
  isolated: boolean;
  diskFull: boolean;
}

export interface LabState {
  readonly version: 1;
  readonly customer: string;
  /** The topology the lab was built from, so down/status/fault work without the stack file. */
  topology: Topology;
  plan: LabPlan;
  readonly adminKey: string;
  hosts: Record<string, HostState>;
  vipHolder: string;
  upAt: string;
}

export const statePath = (customer: string) => path.join(stackDir(customer), 'state.json');

/** Where `tandem lab up` writes the stack's inventory (same shape as the Pulumi output). */
export function labInventoryPath(customer: string): string {
  return path.join(stackDir(customer), 'inventory.json');
}

export function readState(customer: string): LabState | null {
  try {
    return JSON.parse(fs.readFileSync(statePath(customer), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

export function writeState(s: LabState): void {
  writeAtomic(statePath(s.customer), `${JSON.stringify(s, null, 2)}\n`, 0o600);
}

export function writeInventory(inv: Inventory): void {
  writeAtomic(labInventoryPath(inv.customer), `${JSON.stringify(inv, null, 2)}\n`);
}

/** The inventory of a lab stack that is up; throws a clear error if it is not. */
export function readLabInventory(customer: string): Inventory {
  const file = labInventoryPath(customer);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`the lab "${customer}" is not up (no ${file}); start it with: tandem lab up --stack ${customer}`);
  }
  const inv = JSON.parse(text) as Inventory;
  if (inv.version !== INVENTORY_VERSION || inv.source !== 'lab') {
    throw new Error(`${file} is not a lab inventory of version ${INVENTORY_VERSION}; run tandem lab up --stack ${customer} again`);
  }
  return inv;
}

const slotsDir = () => path.join(labRoot(), '.slots');

/** Slot owned by `customer`, or null. */
export function ownedSlot(customer: string): number | null {
  let names: string[];
  try {
    names = fs.readdirSync(slotsDir());
  } catch {
    return null;
  }
  for (const n of names) {
    try {
      if (fs.readFileSync(path.join(slotsDir(), n, 'owner'), 'utf8').trim() === customer) return Number(n);
    } catch {
      /* being claimed */
    }
  }
  return null;
}

/**
 * Claims an address slot for a stack. mkdir is atomic, so two stacks coming up at once never
 * get the same slot; `taken(slot)` lets the caller skip slots something else on the machine uses.
 */
export function claimSlot(customer: string, taken: (slot: number) => boolean): number {
  const own = ownedSlot(customer);
  if (own !== null) return own;
  fs.mkdirSync(slotsDir(), { recursive: true });
  for (let k = 0; k < MAX_SLOTS; k++) {
    if (taken(k)) continue;
    try {
      fs.mkdirSync(path.join(slotsDir(), String(k)));
    } catch {
      continue;
    }
    fs.writeFileSync(path.join(slotsDir(), String(k), 'owner'), `${customer}\n`);
    return k;
  }
  throw new Error(`all ${MAX_SLOTS} lab address slots in ${slotsDir()} are taken; take some stacks down (tandem lab down --stack <name>)`);
}

export function releaseSlot(customer: string): number | null {
  const k = ownedSlot(customer);
  if (k === null) return null;
  fs.rmSync(path.join(slotsDir(), String(k)), { recursive: true, force: true });
  return k;
}

const mountPointsFile = () => path.join(labRoot(), '.mountpoints.json');

/**
 * Directories any lab stack created on the root filesystem as mount points (e.g. /srv/trading).
 * Kept machine-wide, not per stack: two stacks may share one, and only the last down removes it.
 */
export function readMountPoints(): string[] {
  try {
    return JSON.parse(fs.readFileSync(mountPointsFile(), 'utf8')) as string[];
  } catch {
    return [];
  }
}

export function addMountPoints(dirs: readonly string[]): void {
  const cur = readMountPoints();
  const next = [...new Set([...cur, ...dirs])];
  if (next.length === cur.length) return;
  fs.mkdirSync(labRoot(), { recursive: true });
  writeAtomic(mountPointsFile(), JSON.stringify(next));
}

export function setMountPoints(dirs: readonly string[]): void {
  if (!dirs.length) fs.rmSync(mountPointsFile(), { force: true });
  else writeAtomic(mountPointsFile(), JSON.stringify(dirs));
}
