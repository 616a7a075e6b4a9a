import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCustomersFile, parseCustomers, resolveSecrets, selectCustomers } from '../../scripts/fleet/customers';
import { parseTopologyFile } from '../../model/topology/load';
import { customersYaml, generatedTopology } from './generate';

const ROOT = path.join(__dirname, '..', '..');
const STACKS = path.join(ROOT, 'stacks');
const errors = (text: string, dir = STACKS) =>
  parseCustomers(text, dir)
    .issues.filter((i) => i.severity === 'error')
    .map((i) => i.message);

describe('the example customers file', () => {
  const f = loadCustomersFile(path.join(STACKS, 'customers.yaml'));

  it('is valid, with customers of several shapes', () => {
    expect(f.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(f.customers.map((c) => c.id)).toEqual(['acme', 'globex', 'initech', 'umbrella', 'hooli']);
    const providers = new Set(f.customers.flatMap((c) => c.topology.sites.map((s) => s.provider)));
    expect([...providers].sort()).toEqual(['aws', 'azure', 'offcloud']);
    expect(f.remote).toEqual({ org: 'example-org', url: 'https://github.com/example-org/tandem.git', branch: 'main' });
  });

  it('a stack file used as is gives the same topology as tandem validate reads', () => {
    const acme = f.customers.find((c) => c.id === 'acme')!;
    expect(acme.topology).toEqual(parseTopologyFile(path.join(STACKS, 'Pulumi.acme.yaml')).topology);
  });

  it('overrides change the template for that customer only, and the customer id names the stack', () => {
    const initech = f.customers.find((c) => c.id === 'initech')!;
    expect(initech.topology.customer).toBe('initech');
    expect(initech.topology.sites.map((s) => [s.name, s.region, s.size])).toEqual([
      ['ny', 'eu-west-2', 'c6i.2xlarge'],
      ['chi', 'eu-central-1', 'c6i.2xlarge'],
    ]);
    expect(f.customers.find((c) => c.id === 'acme')!.topology.sites[0].region).toBe('us-east-1');
  });

  it('notify channels and secret references are carried, secrets by variable name only', () => {
    const globex = f.customers.find((c) => c.id === 'globex')!;
    expect(globex.notify).toEqual([{ webhook: 'https://hooks.example.com/globex' }]);
    expect(globex.secrets).toEqual([{ key: 'fleet:webhookToken', env: 'GLOBEX_WEBHOOK_TOKEN' }]);
  });
});

describe("customers file errors: the validator's messages under the customer's path", () => {
  const bad = (i: number, sites: unknown[]) => ({ ...generatedTopology(i), sites });

  it('re-roots every topology error under customers[i].topology and lists all of them at once', () => {
    const text = customersYaml(5, (i) => {
      if (i === 1) return { topology: { ...generatedTopology(1), adminCidrs: ['0.0.0.0/0'] } };
      if (i === 3) {
        const t = generatedTopology(3) as { sites: Record<string, unknown>[] };
        return { topology: bad(3, [t.sites[0], { ...t.sites[1], region: 'us-east-9' }, t.sites[2]]) };
      }
      return {};
    });
    expect(errors(text)).toEqual([
      'customers[1].topology.adminCidrs[0] "0.0.0.0/0" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it',
      'customers[3].topology.sites[1].region "us-east-9" is not an AWS region; did you mean "us-east-1"?',
    ]);
  });

  it("cross-site rules keep their wording (the example path of the issue: a mirror in the master's region)", () => {
    const text = customersYaml(4, (i) => (i === 3 ? { overrides: { sites: { m: { region: 'us-east-1' }, r1: { region: 'us-east-1' }, r2: { region: 'us-east-1' } } } } : {}));
    expect(errors(text)).toEqual([
      'customers[3].topology.sites[1].region "us-east-1" is the master\'s region; a mirror must be in another region (one in the master\'s region is allowed only beside one that is not) (the value comes from customers[3].overrides.sites.r1.region; fix it there)',
      'customers[3].topology.sites[2].region "us-east-1" is the master\'s region; a mirror must be in another region (one in the master\'s region is allowed only beside one that is not) (the value comes from customers[3].overrides.sites.r2.region; fix it there)',
    ]);
  });

  it('file-level mistakes: duplicate ids, unknown keys, bad ids, missing stack files, unknown override sites', () => {
    const text = [
      'customers:',
      '  - { id: acme, stack: Pulumi.acme.yaml }',
      '  - { id: acme, stack: Pulumi.globex.yaml }',
      '  - { id: Bad_Id, stack: Pulumi.acme.yaml }',
      '  - { id: gone, stack: Pulumi.nothere.yaml }',
      '  - { id: typo, stack: Pulumi.acme.yaml, overide: {} }',
      '  - { id: both, stack: Pulumi.acme.yaml, topology: {} }',
      '  - { id: ovr, stack: Pulumi.acme.yaml, overrides: { sites: { chj: { region: us-west-2 } } } }',
    ].join('\n');
    expect(errors(text)).toEqual([
      'customers[1].id "acme" is already used by customers[0]; every customer is its own stack and needs its own id',
      'customers[2].id "Bad_Id" is not allowed; use lowercase letters, digits and \'-\', starting with a letter or digit, at most 40 characters (it is the stack name)',
      `customers[3].stack "Pulumi.nothere.yaml" cannot be read (no such file: ${path.join(STACKS, 'Pulumi.nothere.yaml')}); give a stack file relative to this file, e.g. Pulumi.acme.yaml`,
      'customers[4].overide: unknown key (line 6); did you mean "overrides"?',
      'customers[5] has both stack and topology; give exactly one: stack: Pulumi.<customer>.yaml (a path relative to this file) or an inline topology: mapping',
      'customers[6].overrides.sites.chj: "chj" is not a site of this topology (line 8); did you mean "chi"?',
    ]);
  });

  it('a secret written in the file is refused without echoing it', () => {
    const text = 'customers:\n  - id: acme\n    stack: Pulumi.acme.yaml\n    secrets:\n      fleet:token: hunter2-very-secret\n      tandem:thing: { env: X }\n';
    const msgs = errors(text);
    expect(msgs).toEqual([
      'customers[0].secrets.fleet:token is not allowed: a secret is read from the environment, never written in this file; write it as { env: ACME_NOTIFY_TOKEN } and export that variable before the run',
      'customers[0].secrets.tandem:thing: "tandem:thing" is not allowed as a secret\'s config key (line 6); use namespace:name outside "tandem:" (the topology holds no secrets), e.g. fleet:notifyToken',
    ]);
    expect(msgs.join('\n')).not.toContain('hunter2');
  });

  it('notify channels are checked', () => {
    const text = 'customers:\n  - id: acme\n    stack: Pulumi.acme.yaml\n    notify: [{ webhook: "http://x.example/h" }, { email: nope }, { sms: "123" }]\n';
    expect(errors(text)).toEqual([
      'customers[0].notify[0].webhook "http://x.example/h" is not an https URL; write it like "https://hooks.example.com/acme" (put tokens in secrets, not in the URL)',
      'customers[0].notify[1].email "nope" is not an email address; write it like ops@acme.example',
      'customers[0].notify[2] {"sms":"123"} is not a channel; each entry is one of { webhook: "https://..." } or { email: "ops@example.com" }',
    ]);
  });

  it('YAML syntax errors give line and column, and a file with errors yields no customers', () => {
    const r = parseCustomers('customers:\n  - id: acme\n   stack: [\n', STACKS);
    expect(r.customers).toEqual([]);
    expect(r.issues[0].message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
  });

  it('a missing file says where the example is', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fleet-'));
    const r = loadCustomersFile(path.join(dir, 'none.yaml'));
    expect(r.issues[0].message).toContain('no such file; the example is stacks/customers.yaml');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('selection and secrets', () => {
  const f = loadCustomersFile(path.join(STACKS, 'customers.yaml'));

  it('--only keeps the file order and refuses unknown ids with a suggestion', () => {
    expect(selectCustomers(f.customers, ['hooli', 'acme']).customers.map((c) => c.id)).toEqual(['acme', 'hooli']);
    expect(selectCustomers(f.customers, ['acmee']).errors).toEqual(['--only "acmee" is not a customer in the customers file; did you mean "acme"?']);
  });

  it('secrets come from the environment; a missing variable names customer, key and variable, never a value', () => {
    expect(resolveSecrets(f.customers, {}).errors).toEqual([
      'customers[1].secrets.fleet:webhookToken: the environment variable GLOBEX_WEBHOOK_TOKEN is not set; export it before the run (the value is never read from the file)',
    ]);
    expect(resolveSecrets(f.customers, { GLOBEX_WEBHOOK_TOKEN: 's3' }).values.get('globex')).toEqual({ 'fleet:webhookToken': 's3' });
  });
});

describe('stack config files a deployment writes never overwrite a template', () => {
  it("a customer that overrides its own stack file, or whose file is another customer's template, is refused", () => {
    const text = [
      'customers:',
      '  - { id: acme, stack: Pulumi.acme.yaml, overrides: { sites: { chi: { size: c6i.2xlarge } } } }',
      '  - { id: globex, stack: Pulumi.acme.yaml }',
      '  - { id: other, stack: Pulumi.globex.yaml }',
    ].join('\n');
    expect(errors(text)).toEqual([
      'customers[0].id "acme": a deployment writes this customer\'s config to stacks/Pulumi.acme.yaml, which customers[0] itself (with overrides), customers[1] ("globex") reads as a template; keep templates under names no customer has (e.g. stacks/templates/Pulumi.acme.yaml) or give this customer another id',
      'customers[1].id "globex": a deployment writes this customer\'s config to stacks/Pulumi.globex.yaml, which customers[2] ("other") reads as a template; keep templates under names no customer has (e.g. stacks/templates/Pulumi.globex.yaml) or give this customer another id',
    ]);
  });

  it('a customer that uses its own stack file as is, as the example does, is fine', () => {
    expect(errors('customers:\n  - { id: acme, stack: Pulumi.acme.yaml }\n  - { id: initech, stack: Pulumi.acme.yaml }\n')).toEqual([]);
  });
});

it('the generated fleet of the tests and the benchmark is valid (100 customers)', () => {
  expect(errors(customersYaml(100))).toEqual([]);
});
