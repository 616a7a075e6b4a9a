/** `fleet plan`'s exit codes for outcomes the example file cannot produce, with the pool stubbed. */
import * as path from 'node:path';
import { CommandError } from '../../scripts/errors';
import { fleet, type FleetDeps } from '../../scripts/fleet/main';
import type { CustomerPlan } from '../../scripts/fleet/plan-pool';

const plans: CustomerPlan[] = [];
jest.mock('../../scripts/fleet/plan-pool', () => ({ planFleet: async () => plans }));

const deps = (out: { stdout: string }): FleetDeps => ({
  workspace: () => {
    throw new Error('fleet plan must not open a workspace');
  },
  prompt: async () => null,
  stdout: (t) => (out.stdout += t),
  stderr: () => undefined,
  tty: false,
  env: {},
});

async function exitOf(): Promise<{ code: number; message: string; stdout: string }> {
  const out = { stdout: '' };
  try {
    await fleet({ action: 'plan', customers: path.join(__dirname, '..', '..', 'stacks', 'customers.yaml'), only: 'acme,hooli' }, deps(out));
    return { code: 0, message: '', stdout: out.stdout };
  } catch (e) {
    return { code: (e as CommandError).exitCode, message: (e as Error).message, stdout: out.stdout };
  }
}

const ok = (customer: string): CustomerPlan => ({ customer, plan: { resources: [], findings: [] }, error: null, ms: 1 });

it('a policy error in one customer: exit 3 (checks not met), the customer named', async () => {
  plans.splice(0, plans.length, ok('acme'), {
    ...ok('hooli'),
    plan: { resources: [], findings: [{ severity: 'error', rule: 'encryption-at-rest', resource: 'hooli-tyo-data', message: 'not encrypted' }] },
  });
  const r = await exitOf();
  expect(r).toMatchObject({ code: 3, message: 'fleet plan: policy errors in hooli; see FINDINGS above' });
  expect(r.stdout).toMatch(/^hooli\s+0\s+1\s+0\s+policy errors$/m);
  expect(r.stdout).toContain('  hooli  error   encryption-at-rest  hooli-tyo-data: not encrypted');
});

it('a customer that could not be planned: exit 1, the others still in the table', async () => {
  plans.splice(0, plans.length, ok('acme'), { customer: 'hooli', plan: null, error: 'plan worker died (SIGKILL) while planning hooli', ms: 1 });
  const r = await exitOf();
  expect(r).toMatchObject({ code: 1, message: 'fleet plan: 1 customer(s) could not be planned; see above' });
  expect(r.stdout).toMatch(/^acme\s+0\s+0\s+0\s+ok$/m);
  expect(r.stdout).toContain('  hooli: plan worker died (SIGKILL) while planning hooli');
});
