/**
 * The stack program's body, as a function: `pulumi up` runs it through stacks/index.ts with the
 * real engine; `tandem plan` and the tests run it on Pulumi's mock runtime.
 */
import * as pulumi from '@pulumi/pulumi';
import { Customer } from '../modules/customer';
import type { Inventory } from '../model/inventory';
import { describeIssues, topologyFromConfig } from '../model/topology/load';
import type { Issue, Topology } from '../model/topology/types';
import type { LiveLayout } from '../model/live';

export interface BuildOptions {
  /** Public keys that may log in as each cloud host's admin user. */
  readonly adminKeys: pulumi.Input<string[]>;
  /** Options of the root component (tests and the plan pass transformations here). */
  readonly opts?: pulumi.ComponentResourceOptions;
  /** The live layout (`tandem:live`) after a failover. @default null (the stack file's roles) */
  readonly live?: LiveLayout | null;
  /** `tandem:restore`, checked (restoreFromConfig): sites whose data volume comes from a snapshot. @default none */
  readonly restore?: Restore;
}

/** `tandem:restore`: per site, the snapshot its data volume is created from (written by `tandem site replace`). */
export type Restore = Readonly<Record<string, { readonly snapshotId: string }>>;

/**
 * Checks the raw `tandem:restore` value against the topology as it stands now: each key a cloud
 * site that is a mirror (a master's volume is never swapped under it), each value
 * `{ snapshotId: <id> }` (an EBS `snap-...` id on AWS, an ARM snapshot id on Azure). Throws one
 * error listing every problem.
 */
export function restoreFromConfig(raw: unknown, topology: Topology, live: LiveLayout | null): Restore {
  if (raw === undefined || raw === null) return {};
  const where = 'tandem:restore';
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where} must be a map of site -> { snapshotId: <id> }, got ${JSON.stringify(raw)}`);
  const masterNow = live?.master ?? topology.sites.find((s) => s.role === 'master')!.name;
  const problems: string[] = [];
  const out: Record<string, { snapshotId: string }> = {};
  for (const [site, v] of Object.entries(raw as Record<string, unknown>)) {
    const s = topology.sites.find((x) => x.name === site);
    const id = (v as { snapshotId?: unknown } | null)?.snapshotId;
    if (!s) problems.push(`${where}.${site}: no such site; sites: ${topology.sites.map((x) => x.name).join(', ')}`);
    else if (s.provider === 'offcloud') problems.push(`${where}.${site}: an off-cloud site has no volume Pulumi creates; remove it`);
    else if (site === masterNow) problems.push(`${where}.${site}: ${site} is the master; its data volume is never re-created from a snapshot (fail over first)`);
    else if (
      typeof id !== 'string' ||
      !(s.provider === 'aws' ? /^snap-[0-9a-f]{8,17}$/.test(id) : /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/snapshots\/[^/]+$/i.test(id))
    )
      problems.push(
        `${where}.${site}.snapshotId: ${JSON.stringify(id)} is not ${s.provider === 'aws' ? 'an EBS snapshot id (snap-0123456789abcdef0)' : 'an Azure snapshot id (/subscriptions/.../providers/Microsoft.Compute/snapshots/<name>)'}`,
      );
    else out[site] = { snapshotId: id };
  }
  if (problems.length) throw new Error(`stack "${topology.customer}":\n  ${problems.join('\n  ')}`);
  return out;
}

export function buildStack(topology: Topology, o: BuildOptions): { customer: Customer; inventory: pulumi.Output<Inventory> } {
  const customer = new Customer(topology.customer, { topology, adminKeys: o.adminKeys, live: o.live ?? null, restore: o.restore ?? {} }, o.opts);
  return { customer, inventory: customer.inventory };
}

/**
 * Validates raw stack config values the way `tandem validate` validates the file. Throws one
 * error listing every problem; returns warnings for the caller to log. `live` is the raw
 * `tandem:live` value (absent until a failover has written one), checked against the topology.
 */
export function topologyFromStackConfig(customer: unknown, topology: unknown, stack: string, live?: unknown): { topology: Topology; live: LiveLayout | null; warnings: readonly Issue[] } {
  const config: Record<string, unknown> = { 'tandem:customer': customer, 'tandem:topology': topology };
  if (live !== undefined && live !== null) config['tandem:live'] = live;
  const r = topologyFromConfig(config, stack);
  if (!r.topology) throw new Error(describeIssues(`stack "${stack}"`, r.issues));
  return { topology: r.topology, live: r.live ?? null, warnings: r.issues };
}

/**
 * The admin keys come from the topology (`adminKeys`), validated there. A cloud stack without
 * any would build hosts nobody can log in to; stop before creating anything.
 */
export function checkAdminKeys(topology: Topology): string[] {
  const cloud = topology.sites.filter((s) => s.provider !== 'offcloud').map((s) => s.name);
  if (cloud.length > 0 && topology.adminKeys.length === 0) {
    throw new Error(
      `stack "${topology.customer}": adminKeys is empty, so nobody could log in to ${cloud.join(', ')}; ` +
        `add your public key under tandem:topology, e.g. adminKeys: ["$(cat ~/.ssh/id_ed25519.pub)"], and check with: tandem validate --stack ${topology.customer}`,
    );
  }
  return [...topology.adminKeys];
}
