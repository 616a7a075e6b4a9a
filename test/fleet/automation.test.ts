/**
 * The Automation API side, as far as it runs without the Pulumi CLI: the arguments a remote stack
 * is opened with, and the stack config file a local run writes before Pulumi reads it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { remoteArgs, stackConfigYaml, writeStackConfig } from '../../scripts/fleet/automation';
import { loadCustomersFile } from '../../scripts/fleet/customers';
import { stackConfigOf } from '../../scripts/fleet/orchestrate';
import { parseTopologyFile } from '../../model/topology/load';

const STACKS = path.join(__dirname, '..', '..', 'stacks');
const fleetFile = loadCustomersFile(path.join(STACKS, 'customers.yaml'));
const byId = (id: string) => fleetFile.customers.find((c) => c.id === id)!;

describe('remoteArgs: what --remote hands to RemoteWorkspace.createOrSelectStack', () => {
  it('a fully qualified stack name from the customer id, the repository and branch from the file', () => {
    const { args, opts } = remoteArgs('acme', null, fleetFile.remote!);
    expect(args).toEqual({ stackName: 'example-org/tandem/acme', url: 'https://github.com/example-org/tandem.git', branch: 'main' });
    expect(opts).toEqual({});
  });

  it('a commit instead of a branch, and a project path', () => {
    const { args } = remoteArgs('acme', null, { org: 'o', url: 'u', commit: 'abc123', projectPath: 'infra' });
    expect(args).toEqual({ stackName: 'o/tandem/acme', url: 'u', commitHash: 'abc123', projectPath: 'infra' });
  });

  it('config travels as environment variables, secrets as secret variables, never inside a command', () => {
    const cfg = stackConfigOf(byId('globex'), { 'fleet:webhookToken': 'tok-secret-123' });
    const { opts } = remoteArgs('globex', cfg, fleetFile.remote!);
    expect(opts.envVars!.TANDEM_SECRET_0).toEqual({ secret: 'tok-secret-123' });
    expect(opts.envVars!.TANDEM_STACK_CONFIG).toBe(stackConfigYaml(cfg));
    expect(String(opts.envVars!.TANDEM_STACK_CONFIG)).not.toContain('tok-secret-123');
    expect(opts.preRunCommands).toEqual([
      `printf '%s' "$TANDEM_STACK_CONFIG" > stacks/Pulumi.globex.yaml`,
      `pulumi config set --secret --stack example-org/tandem/globex 'fleet:webhookToken' "$TANDEM_SECRET_0"`,
    ]);
    expect(JSON.stringify(opts.preRunCommands)).not.toContain('tok-secret-123');
  });
});

describe('writeStackConfig: stacks/Pulumi.<customer>.yaml before a local run', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fleet-cfg-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a new customer gets a file tandem validate reads back to the same topology', () => {
    const c = byId('initech');
    const file = path.join(dir, 'Pulumi.initech.yaml');
    expect(writeStackConfig(file, stackConfigOf(c, { 'x:y': 'never-written' }))).toBe(true);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toMatch(/^# Written by `tandem fleet`/);
    expect(text).not.toContain('never-written');
    expect(parseTopologyFile(file).topology).toEqual(c.topology);
  });

  it('an existing file with the same config is left alone; a changed value is written, comments kept', () => {
    const file = path.join(dir, 'Pulumi.acme.yaml');
    fs.copyFileSync(path.join(STACKS, 'Pulumi.acme.yaml'), file);
    const acme = byId('acme');
    const same = { values: { 'tandem:customer': 'acme', 'tandem:topology': acme.topologyConfig }, secrets: {} };
    expect(writeStackConfig(file, same)).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe(fs.readFileSync(path.join(STACKS, 'Pulumi.acme.yaml'), 'utf8'));
    expect(writeStackConfig(file, stackConfigOf(acme, {}))).toBe(true); // adds fleet:notify
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('# acme: AWS in two regions.');
    expect(text).toContain('fleet:notify:');
    expect(parseTopologyFile(file).topology).toEqual(acme.topology);
  });
});
