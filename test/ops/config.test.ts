import { parseTopology } from '../../model/topology/load';
import { buildAgentConfig, controlFrom, fleetEpoch, INSTALL_DEFAULT, renderConfig, sha256 } from '../../scripts/hosts/config';
import { checkInventory } from '../../scripts/hosts/inventory-check';
import { applyLiveToInventory, deriveInventory } from '../../scripts/hosts/target';
import { fakeKey, labInventory } from './fixtures';

const inv = labInventory();
const on = { epoch: 4, paused: false, pausedChildren: [] as string[] };

describe.each([
  // site, role, feedFrom, feedFromAddress, children
  ['ny', 'master', null, null, ['chi', 'ldn']],
  ['chi', 'mirror', 'ny', '198.18.0.10', ['ams']],
  ['ams', 'mirror', 'chi', '198.18.0.11', []],
  ['ldn', 'mirror', 'ny', '198.18.0.10', []],
] as const)('buildAgentConfig(%s)', (site, role, feedFrom, feedFromAddress, children) => {
  const c = buildAgentConfig(inv, site, on);
  it('role, feeder and children follow the inventory', () => {
    expect(c).toMatchObject({ version: 1, customer: 'optest', site, role, feedFrom, feedFromAddress, epoch: 4, dataDir: '/srv/trading' });
    expect(c.children.map((x) => x.site)).toEqual(children);
  });
  it('carries exclude from the stack', () => {
    expect(c.exclude).toEqual(['*.tmp', 'logs/**']);
  });
});

describe('children carry what the feeder needs to reach and pace them', () => {
  it.each([
    ['ny', 'chi', { address: '198.18.0.11', sshPort: 22, syncIntervalS: 0, bandwidthMbit: null, failover: 'hot' }],
    ['ny', 'ldn', { address: '198.18.0.13', syncIntervalS: 300, bandwidthMbit: null, failover: 'cold' }],
    ['chi', 'ams', { address: '198.18.0.12', syncIntervalS: 0, bandwidthMbit: 50, failover: 'warm' }],
  ])('%s -> %s', (feeder, site, want) => {
    const c = buildAgentConfig(inv, feeder, on).children.find((x) => x.site === site)!;
    expect(c).toMatchObject(want);
    expect(c.hostKey).toBe(inv.hosts.find((h) => h.site === site)!.hostKey);
  });
});

describe('pauses', () => {
  it('a fresh install is paused: no seed until mirror start', () => {
    expect(INSTALL_DEFAULT.paused).toBe(true);
    expect(buildAgentConfig(inv, 'ny', INSTALL_DEFAULT).paused).toBe(true);
  });
  it("pausedChildren keeps only this host's children, sorted, once", () => {
    const c = buildAgentConfig(inv, 'ny', { epoch: 1, paused: false, pausedChildren: ['ldn', 'ams', 'chi', 'ldn'] });
    expect(c.pausedChildren).toEqual(['chi', 'ldn']);
  });
});

describe('controlFrom / fleetEpoch', () => {
  it('reads epoch and pauses back from a config on a host', () => {
    const text = renderConfig(buildAgentConfig(inv, 'ny', { epoch: 7, paused: false, pausedChildren: ['ldn'] }));
    expect(controlFrom(text)).toEqual({ epoch: 7, paused: false, pausedChildren: ['ldn'] });
  });
  it.each([null, '', '{', '{"epoch":0}', '{"epoch":"3"}'])('treats %p as no config', (t) => {
    expect(controlFrom(t as string | null)).toBeNull();
  });
  it('the fleet epoch is the highest found (a failover raised it), at least 1', () => {
    expect(fleetEpoch([])).toBe(1);
    expect(fleetEpoch([null, { epoch: 3, paused: false, pausedChildren: [] }, { epoch: 2, paused: true, pausedChildren: [] }])).toBe(3);
  });
  it('renders byte-identically for the same input (so "unchanged" is a hash compare)', () => {
    expect(renderConfig(buildAgentConfig(inv, 'chi', on))).toBe(renderConfig(buildAgentConfig(labInventory(), 'chi', { ...on })));
  });
});

describe("tickMs: the master's feeding tick", () => {
  const withTick = (ms: number) => labInventory({ hosts: inv.hosts.map((h) => (h.role === 'master' ? { ...h, tickMs: ms } : h)) });

  it('goes into the master config when the inventory sets it, and into no mirror config', () => {
    const i = withTick(50);
    expect(buildAgentConfig(i, 'ny', on).tickMs).toBe(50);
    for (const site of ['chi', 'ams', 'ldn']) expect('tickMs' in buildAgentConfig(i, site, on)).toBe(false);
  });

  it('is left out when not set: no host gets the key', () => {
    for (const h of inv.hosts) {
      expect('tickMs' in buildAgentConfig(inv, h.site, on)).toBe(false);
      expect(renderConfig(buildAgentConfig(inv, h.site, on))).not.toContain('tickMs');
    }
  });

  it('a mirror inventory entry that carries it (edited by hand) does not put it in that mirror config', () => {
    const i = labInventory({ hosts: inv.hosts.map((h) => (h.site === 'chi' ? { ...h, tickMs: 50 } : h)) });
    expect('tickMs' in buildAgentConfig(i, 'chi', on)).toBe(false);
  });

  it('a config without it renders byte-identical to one built before the field existed', () => {
    const i = withTick(50);
    for (const h of inv.hosts) {
      const plain = renderConfig(buildAgentConfig(inv, h.site, on));
      const built = buildAgentConfig(i, h.site, on);
      const { tickMs: _t, ...rest } = built;
      // Without the field the bytes are those of the inventory that never had it...
      expect(renderConfig(rest as typeof built)).toBe(plain);
      // ...and with it only the one key is added, at the end.
      if (h.role === 'master') expect(renderConfig(built)).toBe(plain.replace(/\n}\n$/, ',\n  "tickMs": 50\n}\n'));
      else expect(renderConfig(built)).toBe(plain);
    }
    // Recorded from scripts/hosts/config.ts before tickMs existed: the four lab hosts' configs
    // (epoch 3, running, notify with no channels), joined by "---\n".
    const before = inv.hosts.map((h) => renderConfig(buildAgentConfig(inv, h.site, { epoch: 3, paused: false, pausedChildren: [] }, { webhooks: [], email: null }))).join('---\n');
    expect(sha256(before)).toBe('7f458bc6dc1fc95b90d6d83d35936a715d8d8690ffb0cfe12524d561616ddced');
  });

  it('from the stack file to the config, and to the live master after a failover', () => {
    const stack = `config:
  tandem:customer: boxes
  tandem:topology:
    dataDir: /srv/trading
    service: { start: a, stop: b, healthPort: 8443 }
    adminCidrs: [203.0.113.0/24]
    sites:
      - { name: ny, role: master, provider: offcloud, address: 203.0.113.10, hostKey: "${fakeKey(9)}", user: admin, tickMs: 50 }
      - { name: ldn, role: mirror, provider: offcloud, address: 203.0.113.20, hostKey: "${fakeKey(8)}", user: admin }
`;
    const r = parseTopology(stack, 'boxes');
    expect(r.issues).toEqual([]);
    const i = deriveInventory(r.topology!)!;
    expect(checkInventory(JSON.parse(JSON.stringify(i))).ok).toBe(true);
    expect(buildAgentConfig(i, 'ny', on).tickMs).toBe(50);
    expect('tickMs' in buildAgentConfig(i, 'ldn', on)).toBe(false);
    const after = applyLiveToInventory(i, r.topology!, { epoch: 2, master: 'ldn', at: '2026-12-02T21:40:00.000Z', reason: 'test', fenced: [] });
    expect(checkInventory(JSON.parse(JSON.stringify(after))).ok).toBe(true);
    expect(buildAgentConfig(after, 'ldn', on)).toMatchObject({ role: 'master', tickMs: 50 });
    expect('tickMs' in buildAgentConfig(after, 'ny', on)).toBe(false);
  });
});
