/**
 * Pulumi test mocks. The object-form mocks themselves live in scripts/plan/mocks.ts because
 * `tandem plan` runs on them too; this file is what component tests import.
 *
 * `runExample(customer)` sets the mocks, imports the program only then, builds the example
 * stack and returns every recorded resource (with parent, region, inputs and mock state) and the
 * resolved inventory.
 */
import * as path from 'node:path';
import { loadTopology } from '../model/topology/load';
import type { Topology } from '../model/topology/types';
import { runOnMocks, type GraphResource, type MockRun } from '../scripts/plan/runtime';

export { RecordingMocks, ed25519FromSeed, MOCK_ACCOUNT, MOCK_SUBSCRIPTION } from '../scripts/plan/mocks';
export type { GraphResource, MockRun } from '../scripts/plan/runtime';
export { runOnMocks } from '../scripts/plan/runtime';

export const EXAMPLES = ['acme', 'globex', 'lab'] as const;

export function exampleTopology(customer: string): Topology {
  return loadTopology(path.join(__dirname, '..', 'stacks', `Pulumi.${customer}.yaml`)).topology;
}

export async function runExample(customer: string): Promise<{ topology: Topology } & MockRun> {
  const topology = exampleTopology(customer);
  return { topology, ...(await runOnMocks(topology)) };
}

/** Resources of one type. */
export function ofType(rs: readonly GraphResource[], type: string): GraphResource[] {
  return rs.filter((r) => r.type === type);
}

/** The one resource with this type and name; throws listing what exists otherwise. */
export function one(rs: readonly GraphResource[], type: string, name: string): GraphResource {
  const hit = rs.filter((r) => r.type === type && r.name === name);
  if (hit.length !== 1)
    throw new Error(
      `expected one ${type} named ${name}, found ${hit.length}; have: ${ofType(rs, type)
        .map((r) => r.name)
        .join(', ')}`,
    );
  return hit[0];
}
