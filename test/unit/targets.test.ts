/**
 * RTO/RPO targets in the topology: validated like every other key (field path, value, fix), and
 * drillTargets picks a mirror's own, then the topology-wide, then the default per failover mode.
 */
import { stringify } from 'yaml';
import { parseTopology } from '../../model/topology/load';
import { DEFAULT_RPO_S, DEFAULT_RTO_S, drillTargets, ZERO_LOSS_SCENARIOS } from '../../model/topology/targets';
import type { Topology } from '../../model/topology/types';

type Obj = Record<string, any>;

function base(): Obj {
  return {
    config: {
      'tandem:customer': 'acme',
      'tandem:topology': {
        dataDir: '/srv/trading',
        service: { start: 'systemctl start trader', stop: 'systemctl stop trader', healthPort: 8443 },
        adminCidrs: ['203.0.113.0/24'],
        sites: [
          { name: 'ny', role: 'master', provider: 'aws', region: 'us-east-1' },
          { name: 'chi', role: 'mirror', provider: 'aws', region: 'us-east-2', failover: 'hot' },
          { name: 'ams', role: 'mirror', provider: 'azure', region: 'westeurope' },
          { name: 'ldn', role: 'mirror', provider: 'aws', region: 'eu-west-2', failover: 'cold' },
          { name: 'fra', role: 'mirror', provider: 'aws', region: 'eu-central-1', failover: 'warm', syncIntervalS: 30 },
          { name: 'syd', role: 'mirror', provider: 'aws', region: 'ap-southeast-2', failover: 'cold', coldRefreshH: 6 },
        ],
      },
    },
  };
}

function parse(mutate: (t: Obj) => void = () => undefined): { topology?: Topology; errors: string[]; warnings: string[]; paths: string[] } {
  const o = base();
  mutate(o.config['tandem:topology']);
  const r = parseTopology(stringify(o), 'acme');
  return {
    topology: r.topology,
    errors: r.issues.filter((i) => i.severity === 'error').map((i) => i.message),
    warnings: r.issues.filter((i) => i.severity === 'warning').map((i) => i.message),
    paths: r.issues.map((i) => i.path),
  };
}

function site(t: Obj, name: string): Obj {
  return t.sites.find((s: Obj) => s.name === name);
}

describe('defaults per failover mode', () => {
  const t = parse().topology!;
  it.each([
    ['chi', 'hot mirror syncing continuously', DEFAULT_RTO_S.hot, DEFAULT_RPO_S.hot],
    ['ams', 'warm mirror syncing continuously', DEFAULT_RTO_S.warm, DEFAULT_RPO_S.warm],
    ['fra', 'warm mirror syncing every 30 s', DEFAULT_RTO_S.warm, 30],
    ['ldn', 'cold mirror syncing continuously', DEFAULT_RTO_S.cold, DEFAULT_RPO_S.cold],
    ['syd', 'cold mirror refreshed every 6 h', DEFAULT_RTO_S.cold, 6 * 3600],
  ])('%s: default for a %s', (name, words, rto, rpo) => {
    expect(drillTargets(t, name, 'master-crash')).toEqual({ rtoTargetS: rto, rpoTargetS: rpo, basis: `default for a ${words}` });
  });

  it('ranks hot < warm < cold for RTO, and the defaults are what docs/topology.md says', () => {
    expect(DEFAULT_RTO_S.hot).toBeLessThan(DEFAULT_RTO_S.warm);
    expect(DEFAULT_RTO_S.warm).toBeLessThan(DEFAULT_RTO_S.cold);
    expect([DEFAULT_RTO_S.hot, DEFAULT_RPO_S.hot, DEFAULT_RTO_S.warm, DEFAULT_RPO_S.warm, DEFAULT_RTO_S.cold]).toEqual([5, 1, 10, 5, 60]);
  });

  it.each(ZERO_LOSS_SCENARIOS)('%s holds RPO to 0 and keeps the RTO target', (scenario) => {
    const r = drillTargets(t, 'ams', scenario);
    expect(r.rpoTargetS).toBe(0);
    expect(r.rtoTargetS).toBe(DEFAULT_RTO_S.warm);
    expect(r.basis).toBe(`rtoTargetS: default for a warm mirror syncing continuously; rpoTargetS: ${scenario} loses nothing by design`);
  });

  it('planned: true holds RPO to 0 whatever the scenario is called', () => {
    expect(drillTargets(t, 'fra', 'master-crash', { planned: true }).rpoTargetS).toBe(0);
    expect(drillTargets(t, 'fra', 'planned-switchover', { planned: false }).rpoTargetS).toBe(30);
  });

  it("the master (a failback's target) gets a hot mirror's defaults", () => {
    expect(drillTargets(t, 'ny', 'master-crash')).toMatchObject({ rtoTargetS: DEFAULT_RTO_S.hot, rpoTargetS: DEFAULT_RPO_S.hot });
  });

  it('an unknown site is refused by name, listing the sites', () => {
    expect(() => drillTargets(t, 'tokyo', 'master-crash')).toThrow('drillTargets: site "tokyo" is not in stack acme; use one of: ny, chi, ams, ldn, fra, syd');
  });
});

describe('set in the topology', () => {
  it("a mirror's own targets win over the topology-wide ones, which win over the defaults", () => {
    const r = parse((t) => {
      t.rtoTargetS = 20;
      t.rpoTargetS = 8;
      site(t, 'chi').rtoTargetS = 3.5;
      site(t, 'ams').rpoTargetS = 2;
    });
    expect(r.errors).toEqual([]);
    const t = r.topology!;
    expect(t).toMatchObject({ rtoTargetS: 20, rpoTargetS: 8 });
    expect(t.sites[1]).toMatchObject({ name: 'chi', rtoTargetS: 3.5 });
    expect(drillTargets(t, 'chi', 'master-crash')).toEqual({ rtoTargetS: 3.5, rpoTargetS: 8, basis: 'rtoTargetS: topology sites[1].rtoTargetS; rpoTargetS: topology tandem:topology.rpoTargetS' });
    expect(drillTargets(t, 'ams', 'master-crash')).toEqual({ rtoTargetS: 20, rpoTargetS: 2, basis: 'rtoTargetS: topology tandem:topology.rtoTargetS; rpoTargetS: topology sites[2].rpoTargetS' });
    expect(drillTargets(t, 'ldn', 'region-outage')).toEqual({ rtoTargetS: 20, rpoTargetS: 8, basis: 'topology tandem:topology.rtoTargetS and .rpoTargetS' });
    // A planned switchover is held to 0 even where the stack allows loss.
    expect(drillTargets(t, 'ams', 'planned-switchover').rpoTargetS).toBe(0);
  });

  it('both from one place: the basis names it once', () => {
    const t = parse((x) => Object.assign(site(x, 'ams'), { rtoTargetS: 12, rpoTargetS: 0 })).topology!;
    expect(drillTargets(t, 'ams', 'master-crash')).toEqual({ rtoTargetS: 12, rpoTargetS: 0, basis: 'topology sites[2].rtoTargetS and .rpoTargetS' });
  });

  it('absent targets leave the parsed sites as they were (no new keys)', () => {
    const t = parse().topology!;
    expect(Object.keys(t)).not.toContain('rtoTargetS');
    expect(Object.keys(t.sites[1])).not.toContain('rpoTargetS');
  });
});

describe('validation: field path, value, fix', () => {
  it.each([
    [
      'sites[1].rtoTargetS',
      (t: Obj) => (site(t, 'chi').rtoTargetS = 0),
      'sites[1].rtoTargetS 0 is not allowed; rtoTargetS is the seconds from a fault to the service answering again: a number above 0 and at most 86400, e.g. 10',
    ],
    ['sites[2].rtoTargetS', (t: Obj) => (site(t, 'ams').rtoTargetS = 'fast'), 'sites[2].rtoTargetS "fast" is not allowed; rtoTargetS is the seconds from a fault'],
    [
      'sites[2].rpoTargetS',
      (t: Obj) => (site(t, 'ams').rpoTargetS = -1),
      'sites[2].rpoTargetS -1 is not allowed; rpoTargetS is the seconds of writes a failover may lose: a number from 0 to 2592000, e.g. 5 (0: nothing may be lost)',
    ],
    ['rtoTargetS', (t: Obj) => (t.rtoTargetS = 100000), 'rtoTargetS 100000 is not allowed; rtoTargetS is the seconds'],
    ['rpoTargetS', (t: Obj) => (t.rpoTargetS = '5s'), 'rpoTargetS "5s" is not allowed; rpoTargetS is the seconds of writes'],
    [
      'sites[0].rtoTargetS',
      (t: Obj) => (site(t, 'ny').rtoTargetS = 5),
      "sites[0].rtoTargetS is only for mirrors (a failover's target is judged by it, and the master is not one); set it on the mirrors, or once for all of them at tandem:topology.rtoTargetS",
    ],
    ['sites[1].rtoTarget', (t: Obj) => (site(t, 'chi').rtoTarget = 5), 'sites[1].rtoTarget: unknown key (line'],
  ])('%s', (p, mutate, message) => {
    const r = parse(mutate);
    expect(r.topology).toBeUndefined();
    expect(r.paths).toContain(p);
    expect(r.errors.join('\n')).toContain(message);
  });

  it('a misspelt key gets a "did you mean"', () => {
    expect(parse((t) => (site(t, 'chi').rpoTarget = 5)).errors.join('\n')).toMatch(/sites\[1\]\.rpoTarget: unknown key \(line \d+\); did you mean "rpoTargetS"\?/);
    expect(parse((t) => (t.rtoTarget = 5)).errors.join('\n')).toMatch(/rtoTarget: unknown key \(line \d+\); did you mean "rtoTargetS"\?/);
  });

  it('every bad target is reported at once', () => {
    const r = parse((t) => {
      t.rtoTargetS = -3;
      site(t, 'chi').rpoTargetS = 'x';
      site(t, 'ams').rtoTargetS = null; // null = absent, as for every other key
    });
    expect(r.paths.filter((p) => /TargetS$/.test(p)).sort()).toEqual(['rtoTargetS', 'sites[1].rpoTargetS']);
  });
});

describe('warnings: a target the schedule cannot meet', () => {
  it('an interval mirror with an RPO target below its interval', () => {
    const r = parse((t) => (site(t, 'fra').rpoTargetS = 10));
    expect(r.errors).toEqual([]);
    expect(r.warnings).toContain(
      'sites[4] "fra" syncs every 30 s, so an unplanned failover to it can lose up to 30 s of writes: sites[4].rpoTargetS 10 s cannot be met; set syncIntervalS to 10 or less, or raise the target to 30 s or more',
    );
  });

  it('a topology-wide target applies to every mirror, the refreshed cold one too', () => {
    const r = parse((t) => (t.rpoTargetS = 60));
    expect(r.warnings.filter((w) => /rpoTargetS/.test(w))).toEqual([
      'sites[5] "syd" is a cold mirror refreshed every 6 h, so an unplanned failover to it can lose up to 6.0 h of writes: rpoTargetS 60 s cannot be met; refresh it more often (coldRefreshH), or raise the target to 21600 s or more',
    ]);
  });

  it('no warning when the target allows the interval', () => {
    expect(parse((t) => (site(t, 'fra').rpoTargetS = 30)).warnings.filter((w) => /rpoTargetS/.test(w))).toEqual([]);
  });
});
