/** The `tandem fleet` command's flags, parsed from real argv, and the command line end to end. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import yargs from 'yargs';
import { builder } from '../../scripts/commands/fleet';

const ROOT = path.join(__dirname, '..', '..');

async function parse(argv: string[]) {
  const y = yargs()
    .command('fleet <action>', '', builder)
    .exitProcess(false)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  return await y.parseAsync(['fleet', ...argv]);
}

describe('tandem fleet flags', () => {
  it('defaults: the example customers file, no --parallel (chosen per action), not remote', async () => {
    const a = await parse(['up']);
    expect(a).toMatchObject({ action: 'up', customers: 'stacks/customers.yaml', json: false, remote: false, yes: false, fresh: false });
    expect(a.parallel).toBeUndefined();
  });

  it('every flag', async () => {
    const a = await parse(['destroy', '--customers', 'f.yaml', '--parallel', '7', '--only', 'a,b', '--json', '--remote', '--yes', '--fresh', '--records-dir', '/r']);
    expect(a).toMatchObject({ action: 'destroy', customers: 'f.yaml', parallel: 7, only: 'a,b', json: true, remote: true, yes: true, fresh: true, recordsDir: '/r' });
  });

  it.each([
    [['deploy'], /Invalid values:\s+Argument: action, Given: "deploy", Choices: "validate", "plan", "preview", "up", "refresh", "destroy", "status", "drill"/],
    [['up', '--only'], /Not enough arguments following: only/],
    [['up', '--parralel', '2'], /Unknown argument: parralel/],
  ])('%p is refused', async (argv, re) => {
    await expect(parse(argv)).rejects.toThrow(re);
  });
});

describe('the real command line', () => {
  const tandem = (args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tandem'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });

  it('fleet validate lists the customers, exit 0', () => {
    const r = tandem(['fleet', 'validate']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('5 customer(s) in stacks/customers.yaml:');
    expect(r.stdout).toMatch(/initech\s+2 sites \(ny:aws eu-west-2, chi:aws eu-central-1\)\s+from Pulumi\.acme\.yaml/);
  });

  it('fleet drill is refused (exit 2) and says why', () => {
    const r = tandem(['fleet', 'drill', '--scenario', 'master-dies']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^fleet drill needs drills, which are not built yet/);
  });

  it('fleet up without GLOBEX_WEBHOOK_TOKEN is bad input before the Pulumi SDK is even loaded', () => {
    const env = { ...process.env };
    delete env.GLOBEX_WEBHOOK_TOKEN;
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tandem'), 'fleet', 'up'], { cwd: ROOT, encoding: 'utf8', timeout: 60000, env });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('customers[1].secrets.fleet:webhookToken: the environment variable GLOBEX_WEBHOOK_TOKEN is not set');
  });
});
