/**
 * Which hosts a command works on, as a checked Inventory:
 *   --inventory <json>    a provisioned stack: `pulumi stack output inventory --json > inv.json`
 *   <file> | --stack X    the lab of that customer when one is up; else, for a stack whose sites
 *                         are all off-cloud (addresses and host keys in the stack file), derived
 *                         from the stack itself; else an error that says which of the above to do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { INVENTORY_VERSION, topologyHostFields, type Inventory, type InventoryHost } from '../../model/inventory';
import { CommandError, EXIT } from '../errors';
import { labInventoryPath, readLabInventory } from '../lab/state';
import { readStack } from '../options';
import type { Topology } from '../../model/topology/types';
import { applyLive, type LiveLayout } from '../../model/live';
import { parseTopologyFile } from '../../model/topology/load';
import { checkInventory, describeInventoryIssues } from './inventory-check';
import type { TargetOptions } from './options';

export interface Target {
  readonly inventory: Inventory;
  /** Where it came from, for messages: "lab", a file, "stack file". */
  readonly from: string;
  /** The stack file's topology (as written, before the live layout), when a stack was named. */
  readonly topology?: Topology;
  /** The stack file the target came from, when one was named (failover records the live layout there). */
  readonly stackFile?: string;
  /** The live layout (`tandem:live`) the inventory was re-rooted with; null: none recorded. */
  readonly live?: LiveLayout | null;
  /**
   * True: an inventory alone, no stack file found: its roles are those of the `pulumi up` that
   * wrote it and a failover since may have changed them. Commands that act on roles ask the hosts.
   */
  readonly liveUnknown?: boolean;
}

/**
 * The inventory as it stands now: every host's role, feeder and mirror settings re-derived from
 * the live layout (`applyLive`), addresses and keys kept. A lab inventory and a Pulumi output made
 * before a failover both name the stack file's roles; this is the one place they are corrected,
 * so status, mirror, agent install, service and failover all act on the current master.
 */
export function applyLiveToInventory(inv: Inventory, t: Topology, live: LiveLayout | null): Inventory {
  if (!live) return inv;
  const now = applyLive(t, live);
  const hosts = inv.hosts.map((h) => {
    const s = now.sites.find((x) => x.name === h.site);
    return s ? { ...h, ...topologyHostFields(now, s) } : h;
  });
  return { ...inv, hosts };
}

function liveOf(file: string): LiveLayout | null {
  try {
    return parseTopologyFile(file).live ?? null;
  } catch {
    return null;
  }
}

export type LabReader = (customer: string) => Inventory | null;

/** The lab's inventory of a customer when its lab is up, else null. */
export function defaultLabReader(): LabReader {
  return (customer) => (fs.existsSync(labInventoryPath(customer)) ? readLabInventory(customer) : null);
}

export function readInventoryFile(file: string): Inventory {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CommandError(`--inventory ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}); create it with: pulumi stack output inventory --json > ${file}`, EXIT.usage);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CommandError(`--inventory ${file}: not JSON (${(e as Error).message}); create it with: pulumi stack output inventory --json > ${file}`, EXIT.usage);
  }
  return checked(raw, path.relative(process.cwd(), file) || file);
}

export function checked(raw: unknown, source: string): Inventory {
  const r = checkInventory(raw);
  if (!r.ok) throw new CommandError(describeInventoryIssues(source, r.issues), EXIT.usage);
  return r.inventory;
}

/**
 * An inventory from the stack file alone, possible only when every site is off-cloud (the stack
 * names each host's address and pinned host key). Null otherwise.
 */
export function deriveInventory(t: Topology): Inventory | null {
  if (!t.sites.every((s) => s.provider === 'offcloud' && s.address && s.hostKey)) return null;
  const hosts: InventoryHost[] = t.sites.map((s) => ({
    ...topologyHostFields(t, s),
    address: s.address!,
    sshPort: s.sshPort,
    user: s.user,
    hostKey: s.hostKey,
    hostKeySource: 'pinned',
  }));
  return { version: INVENTORY_VERSION, customer: t.customer, source: 'pulumi', dataDir: t.dataDir, exclude: t.exclude, service: t.service, vip: null, hosts };
}

export async function resolveTarget(a: TargetOptions, labReader: () => LabReader = defaultLabReader): Promise<Target> {
  if (a.inventory) {
    const inventory = readInventoryFile(a.inventory);
    if (a.file || a.stack) {
      const { file, topology } = readStack(a);
      if (topology.customer !== inventory.customer) {
        throw new CommandError(`--inventory ${a.inventory} is customer "${inventory.customer}", the stack is "${topology.customer}"; give the inventory of the same stack`, EXIT.usage);
      }
      const live = liveOf(file);
      return { inventory: checked(applyLiveToInventory(inventory, topology, live), a.inventory), from: a.inventory, topology, stackFile: file, live };
    }
    // An inventory alone names the roles of the `pulumi up` that wrote it; a failover since then is
    // recorded only in the stack file. The stack's own file, where Pulumi keeps it
    // (stacks/Pulumi.<customer>.yaml from the project root, Pulumi.yaml's stackConfigDir), is used
    // when it is there; otherwise the caller gets the inventory as it is, marked liveUnknown
    // (service and failover then check with the hosts themselves, or refuse).
    const own = path.join(process.cwd(), 'stacks', `Pulumi.${inventory.customer}.yaml`);
    if (fs.existsSync(own)) {
      const { file, topology } = readStack({ file: own });
      if (topology.customer === inventory.customer) {
        const live = liveOf(file);
        return {
          inventory: checked(applyLiveToInventory(inventory, topology, live), a.inventory),
          from: `${a.inventory} (live layout from ${path.relative(process.cwd(), file)})`,
          topology,
          stackFile: file,
          live,
        };
      }
    }
    return { inventory, from: a.inventory, liveUnknown: true };
  }
  const { file, topology } = readStack(a);
  const live = liveOf(file);
  const lab = await labReader()(topology.customer);
  if (lab) return { inventory: checked(applyLiveToInventory(lab, topology, live), `lab inventory of "${topology.customer}"`), from: 'lab', topology, stackFile: file, live };
  const derived = deriveInventory(topology);
  if (derived) return { inventory: checked(applyLiveToInventory(derived, topology, live), 'stack file'), from: 'stack file', topology, stackFile: file, live };
  throw new CommandError(
    `no hosts for "${topology.customer}": no lab of it is up, and its sites are not all off-cloud hosts with addresses and host keys.\n` +
      `  For the lab:            tandem lab up --stack ${topology.customer}\n` +
      `  For a provisioned stack: pulumi stack output inventory --json --stack ${topology.customer} > inventory.json\n` +
      `                          then add --inventory inventory.json`,
    EXIT.usage,
  );
}

/** What a host's own config says of it (role, and the highest epoch it has seen). */
export interface HostRole {
  readonly site: string;
  readonly role: 'master' | 'mirror';
  readonly epoch: number;
}

/**
 * The hosts are the truth about who is master: each one's config names its role and epoch (a
 * failover rewrites them; a demoted master rewrites its own). An inventory made before a failover,
 * or a stack file whose tandem:live was not committed, names an old master. Returns why the hosts
 * disagree with the inventory's master (the message to refuse with), or null when they do not.
 * One rule for `service`, `mirror start` and `agent install`.
 */
export function rolesDisagree(inv: Inventory, seen: readonly (HostRole | null)[]): string | null {
  const m = inv.hosts.find((h) => h.role === 'master');
  if (!m) return null;
  const known = seen.filter((x): x is HostRole => !!x);
  const top = Math.max(0, ...known.map((x) => x.epoch));
  const masters = known.filter((x) => x.role === 'master' && x.epoch === top);
  const mine = known.find((x) => x.site === m.site);
  const fix = `the inventory or the stack file's tandem:live is older than the last failover: name the stack file (tandem:live) with --stack ${inv.customer} or its path, or regenerate the inventory (pulumi up, then pulumi stack output inventory --json)`;
  if (masters.length && !masters.some((x) => x.site === m.site)) {
    return `the hosts say ${masters.map((x) => x.site).join(', ')} is master at epoch ${top}, not ${m.site}${mine ? ` (${m.site}: ${mine.role}, epoch ${mine.epoch})` : ''}; ${fix}`;
  }
  if (mine && mine.role !== 'master') return `${m.site} says it is a ${mine.role} at epoch ${mine.epoch}; ${fix}`;
  return null;
}

/** A host's role from its config.json text (null: none or unreadable). */
export function roleFromConfig(site: string, text: string | null, receiverEpoch = 0): HostRole | null {
  if (!text) return null;
  try {
    const c = JSON.parse(text) as { role?: unknown; epoch?: unknown };
    if (c.role !== 'master' && c.role !== 'mirror') return null;
    return { site, role: c.role, epoch: Math.max(typeof c.epoch === 'number' ? c.epoch : 0, receiverEpoch) };
  } catch {
    return null;
  }
}
