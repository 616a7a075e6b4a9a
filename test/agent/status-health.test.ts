/**
 * agent/src/status.ts buildStatus: the health a feeder reports for its children. A cold mirror
 * powered off by design (its link down or connecting, after a completed sync) is not a fault, the
 * same rule `tandem status` and the alerter apply; before, the master's own status.json said
 * DEGRADED for as long as its cold mirror was off.
 */
import { buildStatus, coldOff } from '../../agent/src/status';
import type { AgentConfig, ChildStatus } from '../../agent/src/contract';
import { masterConfig } from '../support/agent-config';

const config = (cold: string[]): AgentConfig => masterConfig(['chi', 'ldn'], cold);
const synced = '2026-12-03T10:00:00.000Z';
const child = (site: string, state: ChildStatus['state'], lastError: string | null = null, lastInSyncAt: string | null = synced): ChildStatus => ({
  site,
  state,
  bytesBehind: null,
  lagS: null,
  lastAckAt: null,
  lastError,
  lastInSyncAt,
});
const chi = child('chi', 'in-sync');
const health = (cold: string[], ldn: ChildStatus) => {
  const s = buildStatus(config(cold), null, [chi, ldn], true, null, Date.parse(synced) + 60_000);
  return { health: s.health, lastError: s.lastError, inSync: s.inSync };
};

describe('buildStatus health', () => {
  it('a cold mirror that is off after a completed sync is not a fault; still not in sync', () => {
    for (const state of ['down', 'connecting'] as const) {
      expect(health(['ldn'], child('ldn', state, state === 'down' ? 'ssh: connect to host x port 22: No route to host' : null))).toEqual({ health: 'ok', lastError: null, inSync: false });
    }
  });

  it('the same mirror is a fault when hot, when it never synced, or when it answers with an error', () => {
    const down = child('ldn', 'down', 'No route to host');
    expect(health([], down)).toEqual({ health: 'degraded', lastError: 'ldn: No route to host', inSync: false });
    expect(health(['ldn'], child('ldn', 'down', 'No route to host', null))).toEqual({ health: 'degraded', lastError: 'ldn: No route to host', inSync: false });
    expect(health(['ldn'], child('ldn', 'error', 'ENOSPC'))).toEqual({ health: 'degraded', lastError: 'ldn: ENOSPC', inSync: false });
    expect(health(['ldn'], { ...child('ldn', 'in-sync'), differences: 2 })).toMatchObject({ health: 'degraded' });
  });

  it('another mirror failing while the cold one is off is named, not the cold one', () => {
    const s = buildStatus(config(['ldn']), null, [child('ldn', 'down', 'No route to host'), child('chi', 'down', 'refused')], true, null);
    expect([s.health, s.lastError]).toEqual(['degraded', 'chi: refused']);
  });

  it('coldOff needs the config to call the mirror cold', () => {
    expect(coldOff(null, child('ldn', 'down'))).toBe(false);
    expect(coldOff(config(['ldn']), child('chi', 'down'))).toBe(false);
    expect(coldOff(config(['ldn']), child('ldn', 'down'))).toBe(true);
    expect(coldOff(config(['ldn']), child('ldn', 'seeding'))).toBe(false);
  });
});
