import { checkInventory, feedOrderOf } from '../../scripts/agent/inventory-check';
import { deriveInventory, resolveTarget } from '../../scripts/agent/target';
import { parseTopology } from '../../scripts/topology/load';
import { fakeKey, labInventory } from './fixtures';

type Mut = (inv: any) => void;

describe('checkInventory: accepts', () => {
  it('a lab-shaped inventory', () => {
    const r = checkInventory(labInventory());
    expect(r.ok).toBe(true);
  });
  it('the whole `pulumi stack output --json` object (every output) by picking .inventory', () => {
    const r = checkInventory({ vipAddress: '1.2.3.4', inventory: labInventory() });
    expect(r.ok).toBe(true);
  });
  it('extra fields a newer provisioning side may add', () => {
    const inv: any = labInventory();
    inv.hosts[0].instanceId = 'i-123';
    expect(checkInventory(inv).ok).toBe(true);
  });
});

describe.each<[string, Mut, RegExp]>([
  ['not an object', (i) => Object.assign(i, { hosts: 'x' }), /^hosts: expected a non-empty list/],
  ['wrong version', (i) => (i.version = 2), /^version: is 2; this tandem reads inventory version 1/],
  ['bad source', (i) => (i.source = 'terraform'), /^source: is "terraform"; allowed: "pulumi", "lab"/],
  ['relative dataDir', (i) => (i.hosts[1].dataDir = 'srv'), /^hosts\[1\]\.dataDir: is "srv"; it must be an absolute path/],
  ['null host key', (i) => (i.hosts[2].hostKey = null), /^hosts\[2\]\.hostKey: is null: host "ams" has no pinned host key yet.*pulumi stack output inventory --json/],
  ['mangled host key', (i) => (i.hosts[2].hostKey = 'ssh-ed25519 AAAA!!'), /^hosts\[2\]\.hostKey: has a key body that is not base64/],
  ['bad port', (i) => (i.hosts[0].sshPort = 70000), /^hosts\[0\]\.sshPort: expected an integer 1\.\.65535, got 70000/],
  ['duplicate site', (i) => (i.hosts[3].site = 'chi'), /^hosts\[3\]\.site: "chi" is also hosts\[1\]\.site/],
  ['master with feedFrom', (i) => (i.hosts[0].feedFrom = 'chi'), /^hosts\[0\]\.feedFrom: is "chi"; the master receives from nobody/],
  ['mirror without failover', (i) => (i.hosts[1].failover = 'lukewarm'), /^hosts\[1\]\.failover: is "lukewarm"; allowed: "hot", "warm", "cold"/],
  ['feedFrom unknown', (i) => (i.hosts[2].feedFrom = 'tokyo'), /^hosts\[2\]\.feedFrom: is "tokyo", which is not a host here; hosts: ny, chi, ams, ldn/],
  ['two masters', (i) => Object.assign(i.hosts[1], { role: 'master', feedFrom: null, failover: null }), /^hosts: has 2 masters \(ny, chi\)/],
  ['feed loop', (i) => ((i.hosts[1].feedFrom = 'ams'), (i.hosts[2].feedFrom = 'chi')), /^hosts\[1\]\.feedFrom: "chi" is fed through a loop \(chi <- ams <- chi\)/],
])('checkInventory refuses %s', (_name, mut, re) => {
  it('with the field path and a fix', () => {
    const inv: any = labInventory();
    mut(inv);
    const r = checkInventory(inv);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((x) => x.message)).toContainEqual(expect.stringMatching(re));
  });
});

it('feedOrderOf puts every feeder before its children', () => {
  expect(feedOrderOf(labInventory()).map((h) => h.site)).toEqual(['ny', 'chi', 'ldn', 'ams']);
});

const OFFCLOUD = `config:
  tandem:customer: boxes
  tandem:topology:
    dataDir: /srv/trading
    service: { start: a, stop: b, healthPort: 8443 }
    adminCidrs: [203.0.113.0/24]
    sites:
      - { name: ny, role: master, provider: offcloud, address: 203.0.113.10, hostKey: "${fakeKey(9)}", user: admin }
      - { name: ldn, role: mirror, provider: offcloud, address: 203.0.113.20, hostKey: "${fakeKey(8)}", user: admin, syncIntervalS: 60 }
`;

describe('deriveInventory', () => {
  it('builds an inventory from an all-off-cloud stack (addresses and keys are in the stack)', () => {
    const r = parseTopology(OFFCLOUD, 'boxes');
    expect(r.topology).toBeDefined();
    const inv = deriveInventory(r.topology!)!;
    expect(checkInventory(inv).ok).toBe(true);
    expect(inv.hosts.map((h) => [h.site, h.feedFrom, h.syncIntervalS, h.address])).toEqual([
      ['ny', null, null, '203.0.113.10'],
      ['ldn', 'ny', 60, '203.0.113.20'],
    ]);
  });
  it('is null for a cloud stack (addresses exist only after provisioning)', () => {
    const r = parseTopology(require('node:fs').readFileSync('stacks/Pulumi.lab.yaml', 'utf8'), 'lab');
    expect(deriveInventory(r.topology!)).toBeNull();
  });
});

describe('resolveTarget', () => {
  it('uses the lab inventory when the lab is up', async () => {
    const t = await resolveTarget({ stack: 'lab' }, () => (c) => (c === 'lab' ? labInventory({ customer: 'lab' }) : null));
    expect(t.from).toBe('lab');
    expect(t.inventory.customer).toBe('lab');
  });
  it('says what to do when no lab is up for a cloud stack', async () => {
    await expect(resolveTarget({ stack: 'lab' }, () => () => null)).rejects.toThrow(/no lab of it is up[\s\S]*tandem lab up --stack lab[\s\S]*--inventory inventory.json/);
  });
  it('refuses an --inventory of another customer than the stack named', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const f = require('node:path').join(fs.mkdtempSync(`${os.tmpdir()}/optest-`), 'inv.json');
    fs.writeFileSync(f, JSON.stringify(labInventory()));
    await expect(resolveTarget({ stack: 'lab', inventory: f })).rejects.toThrow(/is customer "optest", the stack is "lab"/);
    const t = await resolveTarget({ inventory: f });
    expect(t.inventory.hosts).toHaveLength(4);
  });
  it('reports a file that is not JSON with how to make one', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const f = require('node:path').join(fs.mkdtempSync(`${os.tmpdir()}/optest-`), 'inv.json');
    fs.writeFileSync(f, '{oops');
    await expect(resolveTarget({ inventory: f })).rejects.toThrow(/not JSON .*pulumi stack output inventory --json/);
  });
});
