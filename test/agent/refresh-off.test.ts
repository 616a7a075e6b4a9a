/**
 * The host side of a cold refresh (agent/src/refresh-off.ts): a cold mirror started by the
 * provider's schedule powers itself off once its receiver has caught up since the boot, never
 * while held on or once promoted. The decision is tested as a function; the process runs for
 * real against a real master daemon feeding a real receiver (local transport), with the
 * power-off command replaced by one that records the call (this machine must stay on).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { AgentConfig } from '../../agent/src/contract';
import { emptyReceiverState, type ReceiverState } from '../../agent/src/receiver';
import { HOLD_FILE, REFRESH_FILE, refreshVerdict } from '../../agent/src/refresh-off';
import { Host, agentBundle, child, makeHost, sameTree, startDaemon, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60_000);

const base = { version: 1, customer: 'acme', site: 'ldn', epoch: 1, dataDir: '/d', exclude: [], feedFrom: 'ny', feedFromAddress: null, children: [], paused: false, pausedChildren: [] } as const;
const cold: AgentConfig = { ...base, role: 'mirror', coldRefresh: { everyH: 24 } };
const T0 = 1_800_000_000_000;
const rv = (o: Partial<ReceiverState>): ReceiverState => ({ ...emptyReceiverState(), ...o });
const look = (o: Partial<Parameters<typeof refreshVerdict>[0]>) =>
  refreshVerdict({ config: cold, receiver: rv({ inSync: true, through: T0 + 5_000 }), hold: null, startedAt: T0, now: T0 + 100_000, caughtSince: T0 + 10_000, settleMs: 60_000, ...o });

describe('refreshVerdict', () => {
  it.each([
    ['a master: exit', { config: { ...cold, role: 'master' } as AgentConfig }, 'exit', /master now; a refresh never powers a master off/],
    ['a mirror without a refresh: exit', { config: { ...cold, coldRefresh: undefined } }, 'exit', /not a cold mirror with a refresh schedule/],
    ['no config yet: wait', { config: null }, 'wait', /no readable config/],
    ['not in sync: wait', { receiver: rv({ inSync: false, through: T0 + 5_000 }) }, 'wait', /catching up from ny \(not in sync\)/],
    ['in sync only through a time before this boot: wait', { receiver: rv({ inSync: true, through: T0 - 1 }) }, 'wait', /before this boot/],
    ['no receiver state: wait', { receiver: null }, 'wait', /no receiver state yet/],
    ['held on: wait, whatever else', { hold: { until: T0 + 200_000, by: 'failover' } }, 'wait', /held on until .* by failover/],
    ['a hold that ran out: off', { hold: { until: T0 + 50_000 } }, 'off', /caught up since this boot and in sync for 90 s/],
    ['caught up, settling: wait', { caughtSince: T0 + 50_000 }, 'wait', /powering off after 60 s in sync/],
    ['caught up first now: wait', { caughtSince: null }, 'wait', /powering off after 60 s in sync/],
    ['caught up and settled: off', {}, 'off', /caught up since this boot and in sync for 90 s/],
  ])('%s', (_n, o, k, why) => {
    const v = look(o);
    expect(v.k).toBe(k);
    expect(v.why).toMatch(why);
  });
});

describe('agent.js refresh-off on a cold mirror fed by a real master daemon', () => {
  let root: string;
  let m: Host, c: Host;
  const procs: ChildProcess[] = [];
  beforeAll(() => agentBundle());
  beforeEach(() => {
    root = tempRoot('refresh');
    [m, c] = ['ny', 'ldn'].map((s) => makeHost(root, s));
    fs.writeFileSync(path.join(m.dataDir, 'book.csv'), 'a,1\n'.repeat(1000));
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const marker = () => path.join(root, 'powered-off');
  function refreshOff(): ChildProcess & { code: Promise<number | null> } {
    const p = spawn(process.execPath, [agentBundle(), 'refresh-off'], {
      env: { ...process.env, TANDEM_AGENT_HOME: c.home, TANDEM_TEST_POWEROFF_CMD: `date +%s%3N > '${marker()}'`, TANDEM_TEST_REFRESH_SETTLE_MS: '1500' },
      stdio: 'ignore',
    });
    procs.push(p);
    return Object.assign(p, { code: new Promise<number | null>((r) => p.once('exit', (code) => r(code))) });
  }
  function feed(coldRefresh: AgentConfig['coldRefresh']): void {
    writeConfig(c, { role: 'mirror', site: 'ldn', feedFrom: 'ny', coldRefresh });
    writeConfig(m, { role: 'master', site: 'ny', children: [child(c, { failover: 'cold' })] });
  }

  it('powers off once the receiver caught up since it started, with the data on disk', async () => {
    feed({ everyH: 24 });
    const p = refreshOff(); // the "boot": before the feeder reaches it
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(marker())).toBe(false);
    startDaemon(m);
    expect(await p.code).toBe(0);
    expect(fs.existsSync(marker())).toBe(true);
    expect(sameTree(m.dataDir, c.dataDir)).toBe(true);
    // In sync for the settle time (1.5 s here) before it powered off.
    expect(JSON.parse(fs.readFileSync(path.join(c.home, 'state', REFRESH_FILE), 'utf8')).why).toMatch(/caught up since this boot and in sync for [2-9] s/);
  });

  it('stays on while held, and powers off once the hold runs out', async () => {
    feed({ everyH: 24 });
    fs.mkdirSync(path.join(c.home, 'state'), { recursive: true });
    const hold = path.join(c.home, 'state', HOLD_FILE);
    fs.writeFileSync(hold, JSON.stringify({ until: Date.now() + 600_000, by: 'test' }));
    startDaemon(m);
    const p = refreshOff();
    await waitFor('mirror in sync', () => sameTree(m.dataDir, c.dataDir), 20_000);
    // Well past the settle time, in sync all along: still on.
    await new Promise((r) => setTimeout(r, 3500));
    expect(fs.existsSync(marker())).toBe(false);
    expect(p.exitCode).toBeNull();
    fs.writeFileSync(hold, JSON.stringify({ until: Date.now() - 1, by: 'test' }));
    expect(await p.code).toBe(0);
    expect(fs.existsSync(marker())).toBe(true);
  });

  it('exits without powering off on a mirror that has no refresh, and on a master', async () => {
    feed(undefined);
    expect(await refreshOff().code).toBe(0);
    writeConfig(c, { role: 'master', site: 'ldn', coldRefresh: { everyH: 24 } });
    expect(await refreshOff().code).toBe(0);
    expect(fs.existsSync(marker())).toBe(false);
    expect(fs.readFileSync(path.join(c.home, 'log', 'refresh.log'), 'utf8')).toMatch(/not a cold mirror with a refresh schedule[\s\S]*master now; a refresh never powers a master off/);
  });
});
