/** `tandem plan`: the stack program on Pulumi's mock runtime, printed as a tree plus findings. */
import { checkAll } from '../../policy/rules';
import type { Inventory } from '../../model/inventory';
import type { LiveLayout } from '../../model/live';
import type { Topology } from '../../model/topology/types';
import { topologyFindings } from './notes';
import { runOnMocks, type GraphResource } from './runtime';
import type { Plan } from './types';

export type { Plan, PlanResource } from './types';

export interface PlanRun {
  readonly plan: Plan;
  readonly graph: GraphResource[];
  readonly inventory: Inventory;
}

const SECRET_KEY = /^(userData|userDataBase64|customData|privateKey.*)$/;

/** Inputs fit to print: secrets (user data with the host's private key) redacted. */
export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) && x !== undefined ? '[secret]' : redact(x)]));
  }
  return v;
}

/** `live`: the stack's `tandem:live` after a failover, so the plan is what `pulumi up` builds now. */
export async function plan(topology: Topology, live: LiveLayout | null = null): Promise<PlanRun> {
  const run = await runOnMocks(topology, { live });
  const findings = [...checkAll(run.resources), ...topologyFindings(topology)];
  const order = { error: 0, warning: 1, info: 2 } as const;
  findings.sort((a, b) => order[a.severity] - order[b.severity]);
  const resources = run.resources.map((r) => ({
    type: r.type,
    name: r.name,
    parent: r.parent,
    region: r.region,
    inputs: redact(r.inputs) as Record<string, unknown>,
  }));
  // The JSON contract is {severity, rule, resource, message}; URNs stay with the policy pack.
  const printed = findings.map(({ severity, rule, resource, message }) => ({ severity, rule, resource, message }));
  return { plan: { resources, findings: printed }, graph: run.resources, inventory: run.inventory };
}

export { formatPlan } from './format';
