/**
 * The fleet orchestration end to end through `fleet()` (what the command's handler calls), with
 * a fake workspace that records calls and fails where each test says.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommandError } from '../../scripts/errors';
import type { RemoteSettings } from '../../scripts/fleet/customers';
import { FakeWorkspace, type FakeOptions } from '../../scripts/fleet/fake';
import { fleet, type FleetArgs, type FleetDeps } from '../../scripts/fleet/main';
import type { FleetWorkspace } from '../../scripts/fleet/workspace';
import { customerId, writeCustomersFile } from './generate';

const SECRET = 'tok-9f8e7d6c5b4a-do-not-print';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fleet-run-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** Every workspace the command asked for, with its kind and remote settings. */
  asked: { kind: string; remote: RemoteSettings | null }[];
}

async function run(args: Partial<FleetArgs> & { action: FleetArgs['action'] }, ws: FleetWorkspace, o: { prompt?: string | null; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<Result> {
  const r: Result = { code: 0, stdout: '', stderr: '', asked: [] };
  const deps: FleetDeps = {
    workspace(kind, remote) {
      r.asked.push({ kind, remote });
      return ws;
    },
    prompt: async () => (o.prompt === undefined ? null : o.prompt),
    stdout: (t) => (r.stdout += t),
    stderr: (t) => (r.stderr += t),
    tty: false,
    env: o.env ?? { C003_TOKEN: SECRET },
    signal: o.signal,
  };
  try {
    await fleet({ customers: path.join(dir, 'customers.yaml'), recordsDir: path.join(dir, 'records'), ...args }, deps);
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    r.code = e.exitCode;
    r.stderr += e.message;
  }
  return r;
}

/** 20 customers; c003 has a secret that the workspace's output and error both contain. */
function twenty(): void {
  writeCustomersFile(dir, 20, (i) => (i === 2 ? { secrets: { 'fleet:token': { env: 'C003_TOKEN' } } } : {}));
}

const FAILING: FakeOptions['fail'] = {
  c003: { at: 'up', message: `provider error: token ${SECRET} rejected by the webhook` },
  c008: { at: 'open', message: 'error: could not select stack c008: the backend refused (403)' },
  c015: { at: 'up', message: 'aws:ec2/instance:Instance (c015-m-host): InsufficientInstanceCapacity in us-east-1a' },
};

describe('20 customers, 3 failing at chosen points', () => {
  it('the other 17 succeed, the summary names the 3 with their errors, exit 1; a resumed run touches only the 3', async () => {
    twenty();
    const ws = new FakeWorkspace({ fail: FAILING, output: (c) => `updating ${c} with ${SECRET}\n` });
    const r = await run({ action: 'up', parallel: 4 }, ws);
    expect(r.code).toBe(1);
    expect(ws.customersCalled('up').length).toBe(19); // c008 failed before its update
    expect(r.stdout).toMatch(/^FLEET UP \(fake workspace\)/);
    expect(r.stdout).toContain('20 customer(s): 17 ok, 3 failed');
    for (let i = 0; i < 20; i++) {
      const id = customerId(i);
      const failed = ['c003', 'c008', 'c015'].includes(id);
      expect(r.stdout).toMatch(new RegExp(`^${id}\\s+${failed ? 'FAILED' : 'OK'}\\s`, 'm'));
    }
    const failedPart = r.stdout.slice(r.stdout.indexOf('FAILED:\n'));
    expect(failedPart).toContain('  c003: provider error: token [secret] rejected by the webhook');
    expect(failedPart).toContain('  c008: error: could not select stack c008: the backend refused (403)');
    expect(failedPart).toContain('  c015: aws:ec2/instance:Instance (c015-m-host): InsufficientInstanceCapacity in us-east-1a');
    expect(r.stderr).toContain('fleet up: 3 customer(s) did not finish: c003, c008, c015');

    // Secrets: set on the stack, never printed nor recorded.
    const c003 = ws.calls.find((c) => c.customer === 'c003' && c.call === 'open')!;
    expect(c003.config!.secrets).toEqual({ 'fleet:token': SECRET });
    const records = fs
      .readdirSync(path.join(dir, 'records'))
      .map((f) => fs.readFileSync(path.join(dir, 'records', f), 'utf8'))
      .join('\n');
    for (const text of [r.stdout, r.stderr, records]) expect(text).not.toContain(SECRET);
    expect(records).toContain('[secret]');

    // The same command again: only the 3 are touched, and now they pass.
    const again = new FakeWorkspace();
    const r2 = await run({ action: 'up', parallel: 4 }, again);
    expect(r2.code).toBe(0);
    expect(again.customersCalled().sort()).toEqual(['c003', 'c008', 'c015']);
    expect(r2.stderr).toMatch(/resuming the up run started .*: 17 customer\(s\) already done are skipped/);
    expect(r2.stdout).toContain('20 customer(s): 3 ok, 0 failed, 17 skipped (already done)');

    // That run finished the record: the next one starts afresh and runs everyone.
    const third = new FakeWorkspace();
    expect((await run({ action: 'up', parallel: 4 }, third)).code).toBe(0);
    expect(third.customersCalled().length).toBe(20);
  });

  it('a customer whose config changed since the interrupted run runs again; --fresh runs all', async () => {
    twenty();
    await run({ action: 'up' }, new FakeWorkspace({ fail: { c002: FAILING.c015! } }));
    // c005's topology changes between the runs.
    const file = path.join(dir, 'customers.yaml');
    writeCustomersFile(dir, 20, (i) => (i === 2 ? { secrets: { 'fleet:token': { env: 'C003_TOKEN' } } } : i === 4 ? { overrides: { sites: { m: { size: 'c6i.4xlarge' } } } } : {}));
    expect(fs.existsSync(file)).toBe(true);
    const ws = new FakeWorkspace();
    await run({ action: 'up' }, ws);
    expect(ws.customersCalled().sort()).toEqual(['c002', 'c005']);
    const fresh = new FakeWorkspace({ fail: { c001: FAILING.c015! } });
    await run({ action: 'up', fresh: true }, fresh);
    expect(fresh.customersCalled().length).toBe(20);
  });

  it('an interrupted run (Ctrl-C) starts no more customers, says which did not run, and the next run does only those', async () => {
    twenty();
    const abort = new AbortController();
    const ws = new FakeWorkspace({ delayMs: 10 });
    const origOpen = ws.open.bind(ws);
    let opened = 0;
    ws.open = async (c, cfg) => {
      if (++opened === 6) abort.abort();
      return origOpen(c, cfg);
    };
    const r = await run({ action: 'up', parallel: 2 }, ws, { signal: abort.signal });
    expect(r.code).toBe(1);
    const ran = ws.customersCalled('up');
    expect(ran.length).toBeGreaterThanOrEqual(6);
    expect(ran.length).toBeLessThan(20);
    expect(r.stdout).toContain(`${20 - ran.length} not run`);
    const next = new FakeWorkspace();
    await run({ action: 'up', parallel: 2 }, next);
    expect(next.customersCalled().sort()).toEqual(Array.from({ length: 20 }, (_, i) => customerId(i)).filter((c) => !ran.includes(c)));
  });
});

describe('--parallel bounds concurrency (observed in the workspace)', () => {
  it.each([1, 3, 8])('--parallel %i', async (n) => {
    twenty();
    const ws = new FakeWorkspace({ delayMs: 25 });
    const r = await run({ action: 'preview', parallel: n }, ws);
    expect(r.code).toBe(0);
    expect(ws.maxRunning).toBe(n);
    expect(ws.customersCalled('preview').length).toBe(20);
  });

  it('a bad --parallel is refused before anything runs', async () => {
    twenty();
    const ws = new FakeWorkspace();
    const r = await run({ action: 'up', parallel: 0 }, ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('--parallel 0 is not allowed; give a whole number of customers to run at once, 1 or more (e.g. --parallel 4)');
    expect(ws.calls).toEqual([]);
  });
});

describe('arguments that reach the workspace', () => {
  it('--only opens just those stacks, named by customer id, with config from the customers file', async () => {
    twenty();
    const ws = new FakeWorkspace();
    const r = await run({ action: 'up', only: 'c007,c002' }, ws);
    expect(r.code).toBe(0);
    expect(r.asked).toEqual([{ kind: 'local', remote: null }]);
    const opens = ws.calls.filter((c) => c.call === 'open');
    expect(opens.map((c) => c.customer).sort()).toEqual(['c002', 'c007']);
    const c7 = opens.find((c) => c.customer === 'c007')!.config!;
    expect(c7.values['tandem:customer']).toBe('c007');
    expect((c7.values['tandem:topology'] as { sites: { name: string }[] }).sites.map((s) => s.name)).toEqual(['m', 'r1', 'r2']);
    expect(c7.secrets).toEqual({});
    expect(ws.customersCalled('up').sort()).toEqual(['c002', 'c007']);
  });

  it('--only with an unknown id is bad input, nothing runs', async () => {
    twenty();
    const ws = new FakeWorkspace();
    const r = await run({ action: 'up', only: 'c002,c0077' }, ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--only "c0077" is not a customer in the customers file; did you mean "c007"?');
    expect(ws.calls).toEqual([]);
  });

  it("--remote asks for the remote workspace with the file's remote settings", async () => {
    const file = writeCustomersFile(dir, 3);
    fs.appendFileSync(file, 'remote: { org: acme-corp, url: "https://git.example.com/tandem.git", commit: 0123abc }\n');
    const ws = new FakeWorkspace({ kind: 'remote' });
    const r = await run({ action: 'preview', remote: true, only: 'c002' }, ws);
    expect(r.code).toBe(0);
    expect(r.asked).toEqual([{ kind: 'remote', remote: { org: 'acme-corp', url: 'https://git.example.com/tandem.git', commit: '0123abc' } }]);
    expect(ws.customersCalled('preview')).toEqual(['c002']);
    expect(r.stdout).toMatch(/^FLEET PREVIEW \(remote workspace\)/);
  });

  it('--remote without a remote: section is bad input', async () => {
    writeCustomersFile(dir, 3);
    const ws = new FakeWorkspace();
    const r = await run({ action: 'up', remote: true }, ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^--remote needs a remote: section in .*customers\.yaml, e\.g\./);
    expect(ws.calls).toEqual([]);
  });

  it('status opens each stack without touching its config and keeps no record', async () => {
    writeCustomersFile(dir, 3);
    const ws = new FakeWorkspace();
    const r = await run({ action: 'status', json: true }, ws);
    expect(r.code).toBe(0);
    expect(ws.calls.filter((c) => c.call === 'open').every((c) => c.config === null)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'records'))).toBe(false);
    const j = JSON.parse(r.stdout);
    expect(j.customers.map((c: { customer: string; status: string }) => [c.customer, c.status])).toEqual([
      ['c001', 'ok'],
      ['c002', 'ok'],
      ['c003', 'ok'],
    ]);
    expect(j.customers[0].stack.lastUpdate.result).toBe('succeeded');
  });

  it('--json prints the outcomes as JSON, with the failures', async () => {
    twenty();
    const r = await run({ action: 'refresh', json: true }, new FakeWorkspace({ fail: { c010: { at: 'refresh', message: 'boom' } } }));
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.counts).toEqual({ ok: 19, failed: 1, skipped: 0, 'not-run': 0 });
    expect(j.customers.find((c: { customer: string }) => c.customer === 'c010')).toMatchObject({ status: 'failed', error: 'boom' });
  });
});

describe('a customers file with errors is refused with every error listed, nothing run', () => {
  it.each(['plan', 'up', 'destroy', 'status'] as const)('fleet %s', async (action) => {
    const file = writeCustomersFile(dir, 6, (i) => (i === 1 ? { overrides: { sites: { r1: { region: 'mars-1' } } } } : i === 4 ? { id: 'c001' } : {}));
    fs.appendFileSync(file, 'colour: blue\n');
    const ws = new FakeWorkspace();
    const r = await run({ action, yes: true }, ws);
    expect(r.code).toBe(2);
    expect(ws.calls).toEqual([]);
    expect(r.asked).toEqual([]);
    expect(r.stderr.split('\n')).toEqual([
      expect.stringMatching(/customers\.yaml: 3 errors$/),
      expect.stringMatching(/^ {2}error {3}colour: unknown key \(line \d+\); allowed keys: customers, remote$/),
      '  error   customers[1].topology.sites[1].region "mars-1" is not an AWS region; see the AWS regions list in docs/topology.md (the value comes from customers[1].overrides.sites.r1.region; fix it there)',
      '  error   customers[4].id "c001" is already used by customers[0]; every customer is its own stack and needs its own id',
      'nothing was run',
    ]);
  });

  it('missing secret variables are bad input, nothing runs', async () => {
    twenty();
    const ws = new FakeWorkspace();
    const r = await run({ action: 'up' }, ws, { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('customers[2].secrets.fleet:token: the environment variable C003_TOKEN is not set');
    expect(ws.calls).toEqual([]);
  });
});

describe('destroy asks for the names to be typed back', () => {
  beforeEach(() => writeCustomersFile(dir, 3));

  it('without a terminal and without --yes it refuses (exit 2), nothing destroyed', async () => {
    const ws = new FakeWorkspace();
    const r = await run({ action: 'destroy', only: 'c001,c002' }, ws, { prompt: null });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Pass --yes to destroy c001, c002 without asking');
    expect(ws.calls).toEqual([]);
  });

  it('wrong names typed back: refused, nothing destroyed', async () => {
    const ws = new FakeWorkspace();
    const r = await run({ action: 'destroy', only: 'c001,c002' }, ws, { prompt: 'c001' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('the names typed (c001) are not the customers to destroy (c001 c002); nothing was destroyed');
    expect(ws.calls).toEqual([]);
  });

  it('the right names (any order) or --yes: destroyed', async () => {
    const ws = new FakeWorkspace();
    expect((await run({ action: 'destroy', only: 'c001,c002' }, ws, { prompt: 'c002 c001' })).code).toBe(0);
    expect(ws.customersCalled('destroy').sort()).toEqual(['c001', 'c002']);
    const ws2 = new FakeWorkspace();
    expect((await run({ action: 'destroy', yes: true, fresh: true }, ws2, { prompt: 'nonsense' })).code).toBe(0);
    expect(ws2.customersCalled('destroy').length).toBe(3);
  });
});

describe('preflight', () => {
  it('a workspace that cannot run at all (no Pulumi CLI) fails once, before any customer, exit 1', async () => {
    writeCustomersFile(dir, 3);
    const ws = new FakeWorkspace({ preflightError: 'the Pulumi CLI is needed' });
    const r = await run({ action: 'up' }, ws);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('fleet up: the Pulumi CLI is needed; nothing was run');
    expect(ws.calls).toEqual([]);
  });
});

describe('fleet drill', () => {
  it('is refused as not built yet, exit 2, nothing run', async () => {
    writeCustomersFile(dir, 3);
    const ws = new FakeWorkspace();
    const r = await run({ action: 'drill', scenario: 'master-dies' }, ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^fleet drill needs drills, which are not built yet .*nothing was run/);
    expect(ws.calls).toEqual([]);
  });
});
