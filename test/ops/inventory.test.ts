import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkInventory, feedOrderOf } from '../../scripts/hosts/inventory-check';
import { deriveInventory, resolveTarget } from '../../scripts/hosts/target';
import { parseTopology } from '../../model/topology/load';
import { fakeKey, labInventory } from './fixtures';

/** An inventory as raw JSON, to be broken on purpose. */
type Raw = { hosts: Record<string, unknown>[]; vip: Record<string, unknown>; [k: string]: unknown };
const raw = (): Raw => labInventory() as unknown as Raw;
type Mut = (inv: Raw) => void;

describe('checkInventory: accepts', () => {
  it('a lab-shaped inventory', () => {
    const r = checkInventory(labInventory());
    expect(r.ok).toBe(true);
  });
  it('the whole `pulumi stack output --json` object (every output) by picking .inventory', () => {
    const r = checkInventory({ vipAddress: '1.2.3.4', inventory: labInventory() });
    expect(r.ok).toBe(true);
  });
  it("the master's tickMs", () => {
    const inv = raw();
    inv.hosts[0].tickMs = 50;
    expect(checkInventory(inv).ok).toBe(true);
  });
  it('extra fields a newer provisioning side may add', () => {
    const inv = raw();
    inv.hosts[0].instanceId = 'i-123';
    expect(checkInventory(inv).ok).toBe(true);
  });
});

describe.each<[string, Mut, RegExp]>([
  ['not an object', (i) => Object.assign(i, { hosts: 'x' }), /^hosts: expected a non-empty list/],
  ['wrong version', (i) => (i.version = 2), /^version: is 2; this tandem reads inventory version 1/],
  ['bad source', (i) => (i.source = 'terraform'), /^source: is "terraform"; allowed: "pulumi", "lab"/],
  ['relative dataDir', (i) => (i.hosts[1].dataDir = 'srv'), /^hosts\[1\]\.dataDir: "srv" is not allowed; use an absolute path below \/, e\.g\. \/srv\/trading; correct it in the stack file/],
  ['null host key', (i) => (i.hosts[2].hostKey = null), /^hosts\[2\]\.hostKey: is null: host "ams" has no pinned host key yet.*pulumi stack output inventory --json/],
  ['mangled host key', (i) => (i.hosts[2].hostKey = 'ssh-ed25519 AAAA!!'), /^hosts\[2\]\.hostKey: has a key body that is not base64/],
  ['bad port', (i) => (i.hosts[0].sshPort = 70000), /^hosts\[0\]\.sshPort: expected an integer 1\.\.65535, got 70000/],
  ['duplicate site', (i) => (i.hosts[3].site = 'chi'), /^hosts\[3\]\.site: "chi" is also hosts\[1\]\.site/],
  ['master with feedFrom', (i) => (i.hosts[0].feedFrom = 'chi'), /^hosts\[0\]\.feedFrom: is "chi"; the master receives from nobody/],
  ['mirror without failover', (i) => (i.hosts[1].failover = 'lukewarm'), /^hosts\[1\]\.failover: is "lukewarm"; allowed: "hot", "warm", "cold"/],
  ['feedFrom unknown', (i) => (i.hosts[2].feedFrom = 'tokyo'), /^hosts\[2\]\.feedFrom: is "tokyo", which is not a host here; hosts: ny, chi, ams, ldn/],
  ['two masters', (i) => Object.assign(i.hosts[1], { role: 'master', feedFrom: null, failover: null }), /^hosts: has 2 masters \(ny, chi\)/],
  ['feed loop', (i) => ((i.hosts[1].feedFrom = 'ams'), (i.hosts[2].feedFrom = 'chi')), /^hosts\[1\]\.feedFrom: "chi" is fed through a loop \(chi <- ams <- chi\)/],
  ['tickMs out of range', (i) => (i.hosts[0].tickMs = 5), /^hosts\[0\]\.tickMs: expected an integer 20\.\.1000, got 5/],
  ['tickMs on a mirror', (i) => (i.hosts[1].tickMs = 50), /^hosts\[1\]\.tickMs: is set, but "chi" is a mirror; only the master's feeding daemon takes a tick; correct it in the stack file/],
])('checkInventory refuses %s', (_name, mut, re) => {
  it('with the field path and a fix', () => {
    const inv = raw();
    mut(inv);
    const r = checkInventory(inv);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((x) => x.message)).toContainEqual(expect.stringMatching(re));
  });
});

/**
 * Values that reach remote scripts, ssh and authorized_keys: checked with the topology's own rules
 * (model/topology/rules.ts), each message with the field path, the value, what is allowed and
 * the fix (issue 8, item 10).
 */
const FIXED = '; correct it in the stack file (tandem validate checks it) and regenerate it with `pulumi stack output inventory --json > inventory.json`';
describe.each<[string, Mut, string]>([
  [
    'a command substitution in a host dataDir',
    (i) => (i.hosts[3].dataDir = '/srv/trading$(touch x)'),
    `hosts[3].dataDir: "/srv/trading$(touch x)" is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. /srv/trading${FIXED}`,
  ],
  [
    'a ; in the inventory dataDir',
    (i) => (i.dataDir = '/srv/t;reboot'),
    `dataDir: "/srv/t;reboot" is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. /srv/t${FIXED}`,
  ],
  [
    'a dataDir with ..',
    (i) => (i.hosts[0].dataDir = '/srv/../etc/x'),
    `hosts[0].dataDir: "/srv/../etc/x" is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. /etc/x${FIXED}`,
  ],
  [
    'a dataDir over a system directory',
    (i) => (i.hosts[2].dataDir = '/var/lib/tandem/state'),
    `hosts[2].dataDir: "/var/lib/tandem/state" overlaps the system directory /var/lib/tandem; use a directory of its own, e.g. /srv/trading${FIXED}`,
  ],
  ['the root as dataDir', (i) => (i.hosts[1].dataDir = '/'), `hosts[1].dataDir: "/" is not allowed; use an absolute path below /, e.g. /srv/trading${FIXED}`],
  [
    'an address that is an ssh option',
    (i) => (i.hosts[2].address = '-oProxyCommand=touch x'),
    `hosts[2].address: "-oProxyCommand=touch x" is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`,
  ],
  ['an address starting with -o', (i) => (i.hosts[1].address = '-o'), `hosts[1].address: "-o" is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`],
  [
    'an out-of-range IPv4 address',
    (i) => (i.hosts[1].address = '198.18.0.300'),
    `hosts[1].address: "198.18.0.300" is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`,
  ],
  [
    'an IPv6 address with a zone',
    (i) => (i.hosts[1].address = 'fe80::1%eth0'),
    `hosts[1].address: "fe80::1%eth0" is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`,
  ],
  [
    'a quote in an address',
    (i) => (i.hosts[3].address = 'a.example",command="sh'),
    `hosts[3].address: ${JSON.stringify('a.example",command="sh')} is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`,
  ],
  ['a vip address with a space', (i) => (i.vip.address = '198.18.0.2 -x'), `vip.address: "198.18.0.2 -x" is not an IP address or host name; write it like 198.51.100.7 or home.example.net${FIXED}`],
  ['port 0', (i) => (i.hosts[0].sshPort = 0), 'hosts[0].sshPort: expected an integer 1..65535, got 0'],
  ['a fractional port', (i) => (i.hosts[0].sshPort = 22.5), 'hosts[0].sshPort: expected an integer 1..65535, got 22.5'],
  [
    'a site name the topology refuses',
    (i) => ((i.hosts[3].site = 'LDN;x'), (i.vip.holder = 'ny')),
    `hosts[3].site: "LDN;x" is not a site name; use lowercase letters, digits and '-', starting with a letter, at most 20 characters${FIXED}`,
  ],
  [
    'a feedFrom that is not a site name',
    (i) => (i.hosts[2].feedFrom = '../chi'),
    `hosts[2].feedFrom: "../chi" is not a site name; use lowercase letters, digits and '-', starting with a letter, at most 20 characters${FIXED}`,
  ],
  [
    'a user that is an ssh option',
    (i) => (i.hosts[1].user = '-oProxyCommand=x'),
    `hosts[1].user: "-oProxyCommand=x" is not a Unix user name; use lowercase letters, digits, '_' and '-', e.g. trader${FIXED}`,
  ],
  ['a customer with a slash', (i) => (i.customer = '../acme'), `customer: "../acme" is not a customer name; use lowercase letters, digits and '-', at most 40 characters${FIXED}`],
  ['an empty exclude pattern', (i) => (i.exclude = ['*.tmp', ' ']), `exclude[1]: " " is not a pattern; each entry is one glob such as "*.tmp" or "logs/**"${FIXED}`],
  ['an unknown AWS region', (i) => (i.hosts[1].region = 'us-east-9'), `hosts[1].region: "us-east-9" is not an AWS region; see the list in docs/topology.md${FIXED}`],
  [
    'a vip holder that is no host',
    (i) => (i.vip.holder = 'tokyo'),
    'vip.holder: is "tokyo", which is not a host here; hosts: ny, chi, ams, ldn; regenerate it with `pulumi stack output inventory --json > inventory.json`',
  ],
])('checkInventory refuses %s', (_name, mut, want) => {
  it('with the field path, the value, what is allowed and the fix', () => {
    const inv = raw();
    mut(inv);
    const r = checkInventory(inv);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((x) => x.message)).toContain(want);
  });
});

it('checkInventory lists every bad value at once, not only the first', () => {
  const inv = raw();
  inv.hosts[1].dataDir = '/srv/trading$(touch x)';
  inv.hosts[2].address = '-oProxyCommand=x';
  inv.hosts[3].sshPort = 70000;
  const r = checkInventory(inv);
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.issues.map((x) => x.path)).toEqual(['hosts[1].dataDir', 'hosts[2].address', 'hosts[3].sshPort']);
});

it.each(['198.51.100.7', '2001:db8::7', 'home.example.net', 'home', 'mirror-1.example.net.'])('checkInventory accepts the address %p', (a) => {
  const inv = raw();
  inv.hosts[1].address = a;
  expect(checkInventory(inv).ok).toBe(true);
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
    const r = parseTopology(fs.readFileSync('stacks/Pulumi.lab.yaml', 'utf8'), 'lab');
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
    const f = path.join(fs.mkdtempSync(`${os.tmpdir()}/optest-`), 'inv.json');
    fs.writeFileSync(f, JSON.stringify(labInventory()));
    await expect(resolveTarget({ stack: 'lab', inventory: f })).rejects.toThrow(/is customer "optest", the stack is "lab"/);
    const t = await resolveTarget({ inventory: f });
    expect(t.inventory.hosts).toHaveLength(4);
  });
  it('reports a file that is not JSON with how to make one', async () => {
    const f = path.join(fs.mkdtempSync(`${os.tmpdir()}/optest-`), 'inv.json');
    fs.writeFileSync(f, '{oops');
    await expect(resolveTarget({ inventory: f })).rejects.toThrow(/not JSON .*pulumi stack output inventory --json/);
  });
});
