import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { readStack, withJson, withStackInput, type StackInput } from '../options';
import { describeIssues } from '../../model/topology/load';

export interface PlanArgs extends StackInput {
  json?: boolean;
}

export const command = 'plan [file]';
export const describe = "Show the resources a stack would create, from Pulumi's mock runtime (offline: no CLI, credentials or network), with policy findings";
export const builder = (y: Argv): Argv<PlanArgs> => withJson(withStackInput(y), 'print {"resources":[...],"findings":[...]} instead of the tree');

/** Exit 2 on an invalid topology, 3 when a policy finds an error (checks not met), else 0. */
export async function handler(a: PlanArgs): Promise<void> {
  const { file, topology, live, warnings } = readStack(a);
  // Loaded here, not at the top: the Pulumi SDKs take seconds to load and other commands don't need them.
  const { plan, formatPlan } = await import('../plan');
  // After a failover the plan is what `pulumi up` would build now (tandem:live).
  const { plan: p } = await plan(topology, live);
  if (a.json) {
    process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
  } else {
    const rel = path.relative(process.cwd(), file) || file;
    const out = [formatPlan(topology.customer, p)];
    if (warnings.length) out.push('', describeIssues(rel, warnings));
    process.stdout.write(`${out.join('\n')}\n`);
  }
  const errors = p.findings.filter((f) => f.severity === 'error').length;
  if (errors > 0) throw new CommandError(a.json ? '' : `plan: ${errors} policy error(s); see FINDINGS above`, EXIT.degraded);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, PlanArgs>;
