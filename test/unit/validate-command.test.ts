import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'tandem');

function tandem(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tandem validate (the real command line)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-validate-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--stack prints the summary with the feed tree and exits 0', () => {
    const r = tandem(['validate', '--stack', 'globex']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('customer globex: 4 sites, data /srv/trading');
    expect(r.stdout).toMatch(/ams\s+mirror \(cold\)\s+azure westeurope/);
    expect(r.stdout).toContain('  ├─ chi (warm, aws us-east-2)\n  │  └─ ams (cold, azure westeurope)\n  └─ home (warm, offcloud 198.51.100.7)');
    expect(r.stdout).toContain('OK: stacks/Pulumi.globex.yaml is valid');
  });

  it('a file path works the same', () => {
    const r = tandem(['validate', 'stacks/Pulumi.acme.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('customer acme: 2 sites');
  });

  it('an invalid file lists every problem and exits 2', () => {
    const text = fs
      .readFileSync(path.join(ROOT, 'stacks', 'Pulumi.acme.yaml'), 'utf8')
      .replace('adminCidrs: [203.0.113.0/24]', 'adminCidrs: [0.0.0.0/0]')
      .replace('region: us-east-2', 'region: us-east-1')
      .replace('failover: hot', 'failover: hot\n        relayVia: nyc');
    const file = path.join(dir, 'Pulumi.acme.yaml');
    fs.writeFileSync(file, text);
    const r = tandem(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/Pulumi\.acme\.yaml: 3 errors$/);
    expect(lines.slice(1)).toEqual([
      `  error   adminCidrs[0] "0.0.0.0/0" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it`,
      `  error   sites[1].relayVia "nyc" is not a site in this stack; did you mean "ny"?`,
      `  error   sites[1].region "us-east-1" is the master's region; a mirror must be in another region (one in the master's region is allowed only beside one that is not)`,
    ]);
  });

  it('warnings are shown but do not fail', () => {
    const text = fs.readFileSync(path.join(ROOT, 'stacks', 'Pulumi.acme.yaml'), 'utf8').replace('failover: hot', 'failover: warm\n        bandwidthMbit: 5');
    const file = path.join(dir, 'Pulumi.acme.yaml');
    fs.writeFileSync(file, text);
    const r = tandem(['validate', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Pulumi.acme.yaml: 0 errors, 1 warning');
    expect(r.stdout).toContain('warning sites[1] "chi" syncs continuous over a 5 Mbit/s cap: expect about 1.7 s of lag for every MiB changed');
  });

  it('an unknown stack says where stack files live', () => {
    const r = tandem(['validate', '--stack', 'nobody']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Pulumi.nobody.yaml: no such file; stack files live in stacks/ as Pulumi.<customer>.yaml');
  });

  it('a file and --stack together is a usage error', () => {
    const r = tandem(['validate', 'stacks/Pulumi.acme.yaml', '--stack', 'acme']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Arguments file and stack are mutually exclusive');
  });

  it('neither a file nor --stack is a usage error that says what to give', () => {
    const r = tandem(['validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give a stack file or --stack <customer>');
  });

  it('an unknown command suggests the right one', () => {
    const r = tandem(['valdate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Did you mean validate?');
  });
});
