/** `tandem fleet plan` for real: the command line, worker processes, Pulumi's mock runtime. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCustomersFile } from './generate';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'tandem');

function tandem(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tandem fleet plan (real worker processes on the mock runtime)', () => {
  jest.setTimeout(180000);

  it('plans every customer of the example file: one table, policy findings across the fleet, exit 0', () => {
    const r = tandem(['fleet', 'plan', '--customers', 'stacks/customers.yaml', '--parallel', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OFFLINE FLEET PLAN: /);
    expect(r.stdout).toContain('5 customer(s) in');
    expect(r.stdout).toContain('on 2 worker process(es)');
    const table = r.stdout.split('\n').filter((l) => /^(acme|globex|initech|umbrella|hooli)\s/.test(l));
    expect(table.map((l) => l.split(/\s+/)[0])).toEqual(['acme', 'globex', 'initech', 'umbrella', 'hooli']);
    for (const l of table) expect(l).toMatch(/^\S+\s+\d+\s+0\s+\d+\s+ok$/);
    expect(r.stdout).toContain('5 planned, 0 failed to plan, 0 with policy errors');
    // Progress per customer on stderr.
    expect(r.stderr.split('\n').filter((l) => / planned \(\d+ resources\) in /.test(l)).length).toBe(5);
  });

  it('--json gives {customers:[{customer, resources, findings}]}, the same plan as tandem plan for the same stack', () => {
    const r = tandem(['fleet', 'plan', '--json', '--only', 'acme,initech']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.customers.map((c: { customer: string }) => c.customer)).toEqual(['acme', 'initech']);
    const single = JSON.parse(tandem(['plan', '--stack', 'acme', '--json']).stdout);
    expect(j.customers[0].resources).toEqual(single.resources);
    expect(j.customers[0].findings).toEqual(single.findings);
    // initech is acme's shape moved by overrides: its resources land in the override's regions.
    const regions = new Set(j.customers[1].resources.map((x: { region: string | null }) => x.region).filter(Boolean));
    expect([...regions].sort()).toEqual(['eu-central-1', 'eu-west-2']);
    expect(JSON.stringify(j)).not.toContain('PRIVATE KEY');
  });

  it('policy warnings are listed per customer across the fleet and do not fail it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fleet-plan-'));
    try {
      // SSH open to the world, asked for with allowOpenSsh, is a policy warning.
      const file = writeCustomersFile(dir, 2, (i) => (i === 1 ? { overrides: { adminCidrs: ['0.0.0.0/0'] } } : {}));
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/(id: c002\n\s+topology:\n)/, '$1      allowOpenSsh: true\n'));
      const r = tandem(['fleet', 'plan', '--customers', file, '--parallel', '2']);
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^c002\s+\d+\s+0\s+[1-9]\d*\s+ok$/m);
      expect(r.stdout).toMatch(/c002 {2}warning no-world-ssh {2}c002-m-ingress-ssh-0-0-0-0-0: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('planFleet isolation', () => {
  jest.setTimeout(180000);

  it('a worker killed mid-run fails only the customer it was planning; a fresh worker plans the rest', async () => {
    const { planFleet } = await import('../../scripts/fleet/plan-pool');
    const { parseCustomers } = await import('../../scripts/fleet/customers');
    const { customersYaml } = await import('./generate');
    const fleetFile = parseCustomers(customersYaml(3), path.join(ROOT, 'stacks'));
    /** Our own plan workers (children of this process), by pid. */
    const workers = () =>
      fs
        .readdirSync(`/proc/${process.pid}/task`)
        .flatMap((t) => fs.readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
        .filter((pid) => {
          try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('plan-worker.js');
          } catch {
            return false;
          }
        });
    const results = await planFleet(fleetFile.customers, {
      parallel: 1,
      onStart: (c) => {
        if (c === 'c002') for (const pid of workers()) process.kill(pid, 'SIGKILL');
      },
    });
    expect(results.map((r) => [r.customer, r.error === null])).toEqual([
      ['c001', true],
      ['c002', false],
      ['c003', true],
    ]);
    expect(results[1].error).toMatch(/^plan worker died \(SIGKILL\) while planning c002/);
    expect(results[2].plan!.resources.length).toBeGreaterThan(10);
    expect(workers()).toEqual([]);
  });
});
