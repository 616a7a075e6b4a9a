import type { AgentStatus } from '../../agent/src/contract';
import { allowedLagS, assess, type HostObservation } from '../../scripts/status/verdict';
import { agentStatus, child, labInventory } from './fixtures';

/** A healthy fleet: ny feeds chi and ldn, chi relays to ams; every agent fresh, every child in sync. */
function healthy(): Map<string, HostObservation> {
  const inv = labInventory();
  const st: Record<string, AgentStatus> = {
    ny: agentStatus('ny', { children: [child('chi'), child('ldn', { lagS: 20 })] }),
    chi: agentStatus('chi', { children: [child('ams', { lagS: 1.5 })] }),
    ams: agentStatus('ams'),
    ldn: agentStatus('ldn'),
  };
  return new Map(
    inv.hosts.map((h) => [
      h.site,
      { site: h.site, role: h.role, failover: h.failover, feedFrom: h.feedFrom, syncIntervalS: h.syncIntervalS, reachable: true, error: null, status: st[h.site], statusAgeS: 2 },
    ]),
  );
}

type Edit = (m: Map<string, HostObservation>) => void;
const set = (m: Map<string, HostObservation>, site: string, p: Partial<HostObservation>) => m.set(site, { ...m.get(site)!, ...p });
const setStatus = (m: Map<string, HostObservation>, site: string, p: Partial<AgentStatus>) => set(m, site, { status: { ...m.get(site)!.status!, ...p } });
const setChild = (m: Map<string, HostObservation>, feeder: string, site: string, p: Parameters<typeof child>[1]) => {
  const s = m.get(feeder)!.status!;
  setStatus(m, feeder, { children: s.children.map((c) => (c.site === site ? { ...c, ...p } : c)) });
};
const unreachable = (m: Map<string, HostObservation>, site: string) => set(m, site, { reachable: false, error: 'connect ETIMEDOUT 198.18.0.1:22', status: null, statusAgeS: null });

describe.each<[string, Edit, boolean, RegExp[]]>([
  ['all in sync', () => undefined, true, []],
  [
    'online verify found a mirror different',
    (m) => setChild(m, 'ny', 'chi', { differences: 2, lastError: 'differs from the source in 2 entries (state.txt, book/t3); repairing and verifying again' }),
    false,
    [/^mirror chi differs from the source in 2 entries \(state\.txt, book\/t3\); repairing/],
  ],
  [
    'the master cannot watch every directory',
    (m) => setStatus(m, 'ny', { daemonError: "not every directory is watched (Couldn't watch new directory /srv/trading/x/); inotify watch limit 8192; raise fs.inotify.max_user_watches" }),
    false,
    [/^master ny: not every directory is watched .*raise fs\.inotify\.max_user_watches/],
  ],
  ['a cold mirror powered off (expected)', (m) => unreachable(m, 'ldn'), true, []],
  ['a cold mirror powered off that never synced', (m) => (unreachable(m, 'ldn'), setChild(m, 'ny', 'ldn', { state: 'down', lastAckAt: null })), false, [/^cold mirror ldn has never completed a sync/]],
  [
    'a cold mirror seeded, then powered off before any later change (its link re-created since)',
    (m) => (unreachable(m, 'ldn'), setChild(m, 'ny', 'ldn', { state: 'down', lastAckAt: null, lastInSyncAt: '2026-11-22T02:00:00Z' })),
    true,
    [],
  ],
  ['a cold mirror on and within its 300 s interval', (m) => setChild(m, 'ny', 'ldn', { state: 'catching-up', lagS: 400 }), true, []],
  ['a cold mirror on and behind its interval', (m) => setChild(m, 'ny', 'ldn', { lagS: 451 }), false, [/^mirror ldn is 451 s behind \(syncs every 300 s: at most 450 s allowed\)/]],
  [
    'a continuous mirror 11 s behind (and so is what it relays to)',
    (m) => setChild(m, 'ny', 'chi', { lagS: 11 }),
    false,
    [/^mirror chi is 11 s behind \(continuous: at most 10 s allowed\)/, /^mirror ams is 13 s behind/],
  ],
  ['a continuous mirror 8 s behind (grace)', (m) => setChild(m, 'ny', 'chi', { lagS: 8 }), true, []],
  ['a leaf 11 s behind its relay', (m) => setChild(m, 'chi', 'ams', { lagS: 11 }), false, [/^mirror ams is 11 s behind/]],
  ['lag adds up through a relay', (m) => (setChild(m, 'ny', 'chi', { lagS: 6 }), setChild(m, 'chi', 'ams', { lagS: 6 })), false, [/^mirror ams is 12 s behind/]],
  [
    'a mirror out of disk',
    (m) => (setChild(m, 'ny', 'chi', { state: 'error', lastError: 'ENOSPC: no space left on device' }), setStatus(m, 'chi', { lastError: 'ENOSPC: no space left on device' })),
    false,
    [/^mirror chi failing: ENOSPC: no space left on device/],
  ],
  ['a hot mirror unreachable', (m) => unreachable(m, 'chi'), false, [/^relay chi down \(unreachable: connect ETIMEDOUT/]],
  ['a leaf mirror unreachable', (m) => unreachable(m, 'ams'), false, [/^mirror ams unreachable: connect ETIMEDOUT/]],
  ['a relay whose agent is not running (stale status)', (m) => set(m, 'chi', { statusAgeS: 120 }), false, [/^relay chi down \(agent not running \(status 120 s old\)\): ams cannot be fed/]],
  ['a relay down does not also blame its child', (m) => set(m, 'chi', { statusAgeS: 120 }), false, [/^relay chi down/]],
  ['the master unreachable', (m) => unreachable(m, 'ny'), false, [/^master ny unreachable: .*nothing is being mirrored/]],
  ['the master agent says not running', (m) => setStatus(m, 'ny', { running: false }), false, [/^master ny agent not running: nothing is being mirrored/]],
  [
    'no agent installed on a mirror',
    (m) => set(m, 'ams', { status: null, error: 'no agent installed (/var/lib/tandem/agent.js missing)' }),
    false,
    [/^mirror ams agent not answering: no agent installed/],
  ],
  ['a mirror on an older epoch', (m) => setStatus(m, 'ams', { epoch: 0 }), false, [/^mirror ams is at epoch 0, the master at 1/]],
  ['a mirror that claims to be master', (m) => setStatus(m, 'ams', { role: 'master' }), false, [/^mirror ams runs as master: two masters/]],
  ['one mirror paused by the operator', (m) => setChild(m, 'ny', 'ldn', { state: 'paused', lagS: 9999 }), true, []],
  ['a mirror still seeding', (m) => setChild(m, 'chi', 'ams', { state: 'seeding', lagS: null }), false, [/^mirror ams is seeding/]],
  [
    'every mirror paused',
    (m) => (setChild(m, 'ny', 'chi', { state: 'paused' }), setChild(m, 'ny', 'ldn', { state: 'paused' }), setChild(m, 'chi', 'ams', { state: 'paused' })),
    false,
    [/^no in-sync mirror$/],
  ],
  [
    'every mirror unreachable: no in-sync mirror first, then each reason',
    (m) => (unreachable(m, 'chi'), unreachable(m, 'ams'), unreachable(m, 'ldn')),
    false,
    [/^no in-sync mirror$/, /^relay chi down/, /^mirror ams unreachable/],
  ],
])('verdict: %s', (_name, edit, ok, reasons) => {
  const m = healthy();
  edit(m);
  const v = assess([...m.values()]);
  it(ok ? 'is OK' : 'is DEGRADED with the reason', () => {
    expect(v.ok).toBe(ok);
    expect(v.reasons).toHaveLength(reasons.length);
    reasons.forEach((re, i) => expect(v.reasons[i]).toMatch(re));
  });
});

describe('rows', () => {
  it('show state, hop-summed lag and bytes behind from the feeder', () => {
    const m = healthy();
    setChild(m, 'chi', 'ams', { bytesBehind: 4096, lagS: 2 });
    const rows = assess([...m.values()]).rows;
    expect(rows.map((r) => [r.site, r.relay, r.state, r.lagS, r.bytesBehind])).toEqual([
      ['ny', false, 'master', null, 0],
      ['chi', true, 'in-sync', 0.4, 0],
      ['ams', false, 'in-sync', 2.4, 4096],
      ['ldn', false, 'in-sync', 20, 0],
    ]);
  });
  it('mark an unreachable host and a powered-off cold mirror apart', () => {
    const m = healthy();
    unreachable(m, 'ldn');
    unreachable(m, 'ams');
    const by = new Map(assess([...m.values()]).rows.map((r) => [r.site, r]));
    expect(by.get('ldn')!.state).toBe('off (cold)');
    expect(by.get('ams')!.state).toBe('unreachable');
    expect(by.get('ams')!.lastError).toMatch(/ETIMEDOUT/);
  });
  it('bytes behind a link that is not streaming are unknown, for the mirror and the master', () => {
    const m = healthy();
    setChild(m, 'ny', 'chi', { state: 'error', lastError: 'ENOSPC', bytesBehind: null, lagS: 12 });
    const by = new Map(assess([...m.values()]).rows.map((r) => [r.site, r]));
    expect(by.get('chi')!.bytesBehind).toBeNull();
    expect(by.get('ny')!.bytesBehind).toBeNull();
    expect(by.get('ldn')!.bytesBehind).toBe(0);
  });
  it('error texts from hosts reach the table without control characters', () => {
    const m = healthy();
    setChild(m, 'ny', 'chi', { state: 'error', lastError: 'disk \u001b[2J\u001b]0;owned\u0007full\r\nsecond line' });
    const v = assess([...m.values()]);
    expect(v.rows.find((r) => r.site === 'chi')!.lastError).toBe('disk ?[2J?]0;owned?full?');
    // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
    expect(v.reasons.join(' ')).not.toMatch(/[\u0000-\u001f]/);
  });
  it('children of a down relay are "unfed"', () => {
    const m = healthy();
    setStatus(m, 'chi', { running: false });
    expect(assess([...m.values()]).rows.find((r) => r.site === 'ams')!.state).toBe('unfed');
  });
});

it.each([
  [0, 10],
  [null, 10],
  [5, 10],
  [60, 90],
  [300, 450],
])('allowedLagS(%p) = %p', (interval, want) => {
  expect(allowedLagS(interval)).toBe(want);
});

describe('verdict: a powered-off cold mirror', () => {
  it('shows the age of its data (since it was last in sync), not the lag of a link that is down', () => {
    const m = healthy();
    unreachable(m, 'ldn');
    setChild(m, 'ny', 'ldn', { state: 'down', lagS: 0, lastInSyncAt: '2026-11-22T02:00:00Z' });
    const v = assess([...m.values()], { now: Date.parse('2026-11-22T03:00:00Z') });
    const row = v.rows.find((r) => r.site === 'ldn')!;
    expect(row.state).toBe('off (cold)');
    expect(row.lagS).toBe(3600);
    setChild(m, 'ny', 'ldn', { lastInSyncAt: null });
    expect(assess([...m.values()]).rows.find((r) => r.site === 'ldn')!.lagS).toBeNull();
  });
});

describe('verdict: a cold mirror seeded, then powered off before any later change', () => {
  // As a new user gets it: lab up, agent install, mirror start (ldn seeded by rsync, no stream
  // frame ever acknowledged), lab fault poweroff --site ldn, tandem status.
  const seededThenOff = (p: Parameters<typeof child>[1]) => {
    const m = healthy();
    unreachable(m, 'ldn');
    setChild(m, 'ny', 'ldn', { state: 'down', lastAckAt: null, lagS: 0, bytesBehind: 0, lastInSyncAt: null, verifiedAt: null, ...p });
    return assess([...m.values()], { now: Date.parse('2026-11-22T03:00:00Z') });
  };

  it('an online verify that found it equal is a completed sync: OK, not "has never completed a sync"', () => {
    const v = seededThenOff({ verifiedAt: '2026-11-22T02:30:00Z' });
    expect(v.reasons).toEqual([]);
    expect(v.ok).toBe(true);
  });
  it('its row carries the age of its data, from the later of lastInSyncAt and verifiedAt', () => {
    const row = (p: Parameters<typeof child>[1]) => seededThenOff(p).rows.find((r) => r.site === 'ldn')!;
    expect(row({ verifiedAt: '2026-11-22T02:30:00Z' })).toMatchObject({ state: 'off (cold)', lagS: 1800, dataAgeS: 1800 });
    expect(row({ verifiedAt: '2026-11-22T02:30:00Z', lastInSyncAt: '2026-11-22T02:50:00Z' })).toMatchObject({ lagS: 600, dataAgeS: 600 });
  });
  it('bytes behind of a powered-off mirror are unknown, not the 0 of a link that is down', () => {
    expect(seededThenOff({ lastInSyncAt: '2026-11-22T02:00:00Z' }).rows.find((r) => r.site === 'ldn')!.bytesBehind).toBeNull();
  });
  it('with neither known it still has never completed a sync', () => {
    expect(seededThenOff({}).reasons).toEqual([expect.stringMatching(/^cold mirror ldn has never completed a sync/)]);
  });
});
