/**
 * The failover's first step, probing every host: it waits for the hosts the decision needs and
 * not for a cold mirror that does not answer (powered off: in a cloud its address can take the
 * whole SSH timeout to fail), unless no other mirror could be chosen; that one's probe goes on
 * in the background, for its re-rooting after the service is back.
 */
import type { Connector, Remote } from '../../scripts/hosts/remote';
import { Sessions } from '../../scripts/failover/hosts';
import { essentialSites, probeAll } from '../../scripts/failover/run';
import { inv } from './fixtures';

/** Hosts answer the probe at once, except those in `hang` (never connect) and `refuse` (fail after 50 ms). */
function fakeSessions(o: { hang?: string[]; refuse?: string[] }): { sessions: Sessions } {
  const connect: Connector = (h) => {
    if (o.hang?.includes(h.site)) return new Promise<Remote>(() => undefined);
    if (o.refuse?.includes(h.site)) return new Promise<Remote>((_, rej) => setTimeout(() => rej(new Error(`connect ECONNREFUSED ${h.address}:22`)), 50));
    return Promise.resolve({
      site: h.site,
      exec: async () => ({ stdout: `now=${Date.now()}\n`, stderr: '', code: 0, signal: null }),
      close: () => undefined,
    });
  };
  return { sessions: new Sessions(inv, connect, { timeoutMs: 10_000 }) };
}

describe('essentialSites', () => {
  it.each([
    ['--to chi: the master and every mirror that is not cold', 'chi', ['ams', 'chi', 'ny']],
    ['no --to: the same', undefined, ['ams', 'chi', 'ny']],
    ['--to the cold mirror: it too', 'ldn', ['ams', 'chi', 'ldn', 'ny']],
  ])('%s', (_n, to, want) => {
    expect([...essentialSites(inv, to)].sort()).toEqual(want);
  });
});

describe('probeAll', () => {
  it('returns without waiting for a cold mirror that never answers, and says it is pending', async () => {
    const { sessions } = fakeSessions({ hang: ['ldn'] });
    const r = await probeAll(inv, sessions, 1000, essentialSites(inv, 'chi'), () => false);
    expect([...r.seen.keys()]).toEqual(['ny', 'chi', 'ams', 'ldn']);
    expect(['ny', 'chi', 'ams'].map((s) => !!r.seen.get(s)!.probe)).toEqual([true, true, true]);
    expect(r.seen.get('ldn')).toEqual({ probe: null, error: expect.stringMatching(/not waited for/) });
    expect([...r.pending.keys()]).toEqual(['ldn']);
  });

  it('waits for every host when the caller says it needs them, and reports their own error', async () => {
    const { sessions } = fakeSessions({ refuse: ['ldn', 'chi', 'ams'] });
    let asked = 0;
    const r = await probeAll(inv, sessions, 1000, new Set(['ny']), () => ++asked > 0);
    expect(asked).toBe(1);
    expect(r.pending.size).toBe(0);
    expect(r.seen.get('ldn')).toEqual({ probe: null, error: 'connect ECONNREFUSED 10.0.0.3:22' });
  });

  it('fills in a pending host when it answers later, for the re-rooting that waits on it', async () => {
    let release: (r: Remote) => void = () => undefined;
    const connect: Connector = (h) =>
      h.site === 'ldn'
        ? new Promise<Remote>((r) => (release = r))
        : Promise.resolve({ site: h.site, exec: async () => ({ stdout: 'now=1\n', stderr: '', code: 0, signal: null }), close: () => undefined });
    const r = await probeAll(inv, new Sessions(inv, connect, { timeoutMs: 10_000 }), 1000, essentialSites(inv, 'chi'), () => false);
    expect(r.seen.get('ldn')!.probe).toBeNull();
    release({ site: 'ldn', exec: async () => ({ stdout: 'now=2\n', stderr: '', code: 0, signal: null }), close: () => undefined });
    await r.pending.get('ldn');
    expect(r.seen.get('ldn')).toMatchObject({ probe: { site: 'ldn', hostNow: 2 }, error: null });
  });
});
