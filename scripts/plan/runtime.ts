/**
 * Runs the stack program on Pulumi's mock runtime: no Pulumi CLI, no credentials, no network.
 * Returns the resource graph (with parents, regions and inputs) and the resolved inventory.
 */
import type { LiveLayout } from '../../model/live';
import * as pulumi from '@pulumi/pulumi';
import type { Inventory } from '../../model/inventory';
import type { Topology } from '../../model/topology/types';
import { ed25519FromSeed, providerRefKey, RecordingMocks } from './mocks';

/** One resource of the graph: what the plan prints and the policy functions read. */
export interface GraphResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** Logical name of the parent; null for the root. */
  readonly parent: string | null;
  readonly custom: boolean;
  /** AWS region / Azure location the resource lands in; null when it has none (components, tls). */
  readonly region: string | null;
  /** Logical name of the explicit provider; null when none was given. */
  readonly provider: string | null;
  readonly inputs: Record<string, any>;
  /** Output state the mocks returned, with `id` (addresses, ARNs, ...). */
  readonly state: Record<string, any>;
  /** False when the resource was created outside the stack's root component. */
  readonly inTree: boolean;
}

export interface MockRun {
  readonly resources: GraphResource[];
  readonly inventory: Inventory;
  readonly mocks: RecordingMocks;
}

/** The admin key a plan uses when none is given: offline plans never log in anywhere. */
export const PLAN_ADMIN_KEY = ed25519FromSeed('tandem-plan-admin').publicOpenssh.trim() + ' tandem-plan-placeholder';

/** The marker Pulumi's serializer wraps secret values in. */
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const SECRET_VALUE = '1b47061264138c4ac30d75fd1eb44270';

/** Inputs as plain values: secrets unwrapped (the plan redacts them by key when printing). */
export function unwrapSecrets(v: any): any {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === 'object') {
    if (v[SECRET_SIG] === SECRET_VALUE) return unwrapSecrets(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) =>
    o.apply((v) => {
      resolve(v);
      return v;
    }),
  );
}

/** Tracks each resource's parent, which the mocks' newResource is not told. */
class ParentTracker {
  private readonly names = new WeakMap<pulumi.Resource, string>();
  readonly parentOf = new Map<string, string | null>();
  readonly typeOf = new Map<string, string>();

  readonly transformation: pulumi.ResourceTransformation = (a) => {
    const key = `${a.type}::${a.name}`;
    this.names.set(a.resource, key);
    this.parentOf.set(key, a.opts.parent ? (this.names.get(a.opts.parent) ?? null) : null);
    this.typeOf.set(key, a.type);
    return undefined;
  };

  /** Types from the root down to `key`, for the URN's qualified type. */
  chain(key: string): string[] {
    const out: string[] = [];
    for (let k: string | null | undefined = key; k; k = this.parentOf.get(k)) out.unshift(this.typeOf.get(k) ?? k.split('::')[0]);
    return out;
  }
}

export interface RunOptions {
  /** @default the topology's adminKeys, or [PLAN_ADMIN_KEY] when it has none (an offline plan still shows the tree) */
  readonly adminKeys?: string[];
  /** @default 'tandem' */
  readonly project?: string;
  /** The live layout (`tandem:live`) after a failover: the plan shows what `pulumi up` would build now. */
  readonly live?: LiveLayout | null;
}

/**
 * Builds the stack for `topology` on mocks and waits for every registration. Runs may follow one
 * another in one process; each gets fresh mocks.
 */
export async function runOnMocks(topology: Topology, o: RunOptions = {}): Promise<MockRun> {
  const project = o.project ?? 'tandem';
  const stack = topology.customer;
  const mocks = new RecordingMocks(stack);
  await pulumi.runtime.setMocks(mocks, project, stack, false);
  const tracker = new ParentTracker();
  // Imported after the mocks are set, as Pulumi's testing guide asks.
  const { buildStack } = await import('../../stacks/program');
  const { inventory } = buildStack(topology, {
    adminKeys: o.adminKeys ?? (topology.adminKeys.length ? [...topology.adminKeys] : [PLAN_ADMIN_KEY]),
    opts: { transformations: [tracker.transformation] },
    live: o.live ?? null,
  });
  const inv = await outputValue(inventory);
  await pulumi.runtime.disconnect();

  const providerName = (ref: string | undefined) => providerRefKey(ref)?.split('::')[1] ?? null;
  const resources = mocks.resources.map((r): GraphResource => {
    const key = `${r.type}::${r.name}`;
    const inTree = tracker.parentOf.has(key);
    const parentKey = tracker.parentOf.get(key) ?? null;
    const types = inTree ? tracker.chain(key) : [r.type];
    let region: string | null = null;
    if (r.type.startsWith('pulumi:providers:')) region = mocks.providers.get(key)?.region ?? null;
    else if (r.custom) region = mocks.regionOf(r.provider) ?? (typeof r.inputs.location === 'string' ? r.inputs.location : null);
    return {
      urn: `urn:pulumi:${stack}::${project}::${types.join('$')}::${r.name}`,
      type: r.type,
      name: r.name,
      parent: parentKey ? parentKey.slice(parentKey.indexOf('::') + 2) : null,
      custom: r.custom,
      region,
      provider: r.custom ? providerName(r.provider) : null,
      inputs: unwrapSecrets(r.inputs),
      state: { id: r.id, ...unwrapSecrets(r.state) },
      inTree,
    };
  });
  return { resources, inventory: inv, mocks };
}
