/** `tandem plan`: argv parsing, the JSON and text forms, and exit 2 on an invalid topology. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import planCommand, { type PlanArgs } from '../../scripts/commands/plan';
import { CommandError, EXIT } from '../../scripts/errors';

async function parse(argv: string[]): Promise<PlanArgs> {
  let got: PlanArgs | undefined;
  await yargs(argv)
    .command({
      ...planCommand,
      handler: (a) => {
        got = a as PlanArgs;
      },
    })
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
  return got!;
}

/** Runs the handler, returning what it printed and what it threw. */
async function runPlan(a: PlanArgs): Promise<{ out: string; error?: unknown }> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  });
  try {
    await planCommand.handler(a as never);
    return { out: chunks.join('') };
  } catch (error) {
    return { out: chunks.join(''), error };
  } finally {
    spy.mockRestore();
  }
}

describe('tandem plan argv', () => {
  it.each([
    [['plan', '--stack', 'acme'], { stack: 'acme', json: false }],
    [['plan', 'stacks/Pulumi.lab.yaml', '--json'], { file: 'stacks/Pulumi.lab.yaml', json: true }],
  ])('%j', async (argv, want) => expect(await parse(argv)).toMatchObject(want));
  it('refuses a file and --stack together', async () => {
    await expect(parse(['plan', 'x.yaml', '--stack', 'acme'])).rejects.toThrow(/mutually exclusive/);
  });
});

describe('tandem plan --json', () => {
  let parsed: { resources: Record<string, unknown>[]; findings: Record<string, unknown>[] };
  let out: string;
  beforeAll(async () => {
    const r = await runPlan({ stack: 'acme', json: true });
    expect(r.error).toBeUndefined();
    out = r.out;
    parsed = JSON.parse(out);
  }, 60_000);

  it('prints {"resources":[{type,name,parent,region,inputs}], "findings":[{severity,rule,resource,message}]}', () => {
    expect(Object.keys(parsed).sort()).toEqual(['findings', 'resources']);
    for (const r of parsed.resources) expect(Object.keys(r).sort()).toEqual(['inputs', 'name', 'parent', 'region', 'type']);
    for (const f of parsed.findings) expect(Object.keys(f).sort()).toEqual(['message', 'resource', 'rule', 'severity']);
    const names = parsed.resources.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['acme', 'acme-ny-host', 'acme-chi-host', 'acme-dns-primary', 'acme-dns-secondary']));
    const host = parsed.resources.find((r) => r.name === 'acme-chi-host')!;
    expect(host).toMatchObject({ type: 'aws:ec2/instance:Instance', parent: 'acme-chi', region: 'us-east-2' });
    expect((host.inputs as Record<string, unknown>).instanceType).toBe('c6i.xlarge');
  });

  it('never prints the generated host private keys', () => {
    expect(out).not.toContain('PRIVATE KEY');
    const host = parsed.resources.find((r) => r.name === 'acme-ny-host')!;
    expect((host.inputs as Record<string, unknown>).userData).toBe('[secret]');
  });
});

describe('tandem plan (text)', () => {
  it('labels itself an offline plan and prints the tree with regions and findings', async () => {
    const { out, error } = await runPlan({ stack: 'lab', json: false });
    expect(error).toBeUndefined();
    expect(out.split('\n')[0]).toBe(`OFFLINE PLAN for stack "lab": the stack program run on Pulumi's mock runtime`);
    expect(out).toContain('(no Pulumi CLI, no credentials, no network)');
    expect(out).toMatch(/^tandem:index:Customer {2}lab$/m);
    expect(out).toMatch(/├─ pulumi:providers:aws {2}lab-aws-eu-west-2 {2}\[eu-west-2\]/);
    expect(out).toMatch(/aws:ec2transitgateway\/instanceState:InstanceState {2}lab-ldn-state {2}\[eu-west-2\] {2}state=stopped/);
    expect(out).toMatch(/azure-native:compute:Disk {2}lab-ams-data {2}\[westeurope\] .*type=EncryptionAtRestWithPlatformKey/);
    expect(out).toMatch(/^FINDINGS: 0 error\(s\)/m);
    expect(out).not.toContain('PRIVATE KEY');
  }, 60_000);
});

describe('tandem plan on an invalid topology', () => {
  it('exits 2 with every validation error and builds nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-plan-'));
    const file = path.join(dir, 'Pulumi.bad.yaml');
    fs.writeFileSync(
      file,
      [
        'config:',
        '  tandem:customer: bad',
        '  tandem:topology:',
        '    dataDir: /srv/trading',
        '    service: { start: a, stop: b, healthPort: 8443 }',
        '    adminCidrs: [0.0.0.0/0]',
        '    sites:',
        '      - { name: ny, role: master, provider: aws, region: us-east-1 }',
        '      - { name: ny2, role: mirror, provider: aws, region: us-east-1 }',
        '',
      ].join('\n'),
    );
    const { out, error } = await runPlan({ file, json: true });
    expect(out).toBe('');
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).exitCode).toBe(EXIT.usage);
    expect((error as CommandError).message).toMatch(/adminCidrs\[0\] "0\.0\.0\.0\/0" opens SSH to the whole internet/);
    expect((error as CommandError).message).toMatch(/sites\[1\]\.region "us-east-1" is the master's region/);

    // The same through the real entry point: the exit code a script sees.
    const cli = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'tandem'), 'plan', file], { encoding: 'utf8', timeout: 60_000 });
    expect(cli.status).toBe(EXIT.usage);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toMatch(/2 errors/);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
