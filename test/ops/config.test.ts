import { buildAgentConfig, controlFrom, fleetEpoch, INSTALL_DEFAULT, renderConfig } from '../../scripts/hosts/config';
import { labInventory } from './fixtures';

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
