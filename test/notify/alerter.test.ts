/** agent/src/alerts.ts decisions, with a recording sender and a clock given by the test. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Alerter } from '../../agent/src/alerts';
import { buildStatus } from '../../agent/src/status';
import { masterConfig } from '../support/agent-config';
import type { AgentConfig, AgentStatus, ChildStatus } from '../../agent/src/contract';
import type { NotifyMessage } from '../../agent/src/notify';

const config: AgentConfig = masterConfig(['chi', 'ams', 'ldn'], [], { notify: { webhooks: [{ url: 'http://127.0.0.1:9/x' }], email: null, reminderMin: 60 } });
const child = (site: string, state: ChildStatus['state'], lastError: string | null = null, lastInSyncAt: string | null = null): ChildStatus => ({
  site,
  state,
  bytesBehind: 0,
  lagS: 0,
  lastAckAt: null,
  lastError,
  lastInSyncAt,
});
/** The daemon's own status for these children (status.ts), as the alerter gets it. */
const st = (cfg: AgentConfig, children: ChildStatus[], t: number): AgentStatus => buildStatus(cfg, null, children, true, null, t);

process.env.TANDEM_QUIET = '1';

describe('Alerter', () => {
  let file: string;
  let sent: NotifyMessage[];
  let alerter: Alerter;
  const flush = () => new Promise((r) => setImmediate(r));
  const ok = [child('chi', 'in-sync'), child('ams', 'in-sync'), child('ldn', 'in-sync')];
  beforeEach(() => {
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-alerter-')), 'alerts.json');
    sent = [];
    alerter = new Alerter(file, async (_n, m) => (sent.push(m), [{ channel: 'webhook x', ok: true, error: null }]));
  });
  /** Feeds one status a second from t0 to t1 (ms). */
  async function feed(children: ChildStatus[], t0: number, t1: number, a = alerter, cfg = config): Promise<void> {
    for (let t = t0; t <= t1; t += 1000) {
      a.observe(cfg, st(cfg, children, t), t);
      await flush();
    }
  }

  it('a blip shorter than the confirmation time sends nothing; a fault that lasts sends one alert', async () => {
    await feed(ok, 0, 3000);
    await feed([child('chi', 'down', 'link lost'), ...ok.slice(1)], 4000, 6000);
    await feed(ok, 7000, 9000);
    expect(sent).toEqual([]);
    await feed([child('chi', 'down', 'link lost'), ...ok.slice(1)], 10_000, 40_000);
    expect(sent.map((m) => m.kind)).toEqual(['degraded']);
    expect(sent[0].fields).toMatchObject({ faults: ['mirror chi: down (link lost)'], protectedBy: ['ams (in-sync)', 'ldn (in-sync)'] });
  });

  it('a second fault while degraded is one more alert (the double fault); nothing is protected is said plainly', async () => {
    await feed(ok, 0, 1000);
    await feed([child('chi', 'down', 'a'), ...ok.slice(1)], 2000, 10_000);
    await feed([child('chi', 'down', 'b'), child('ams', 'error', 'No space left on device'), ok[2]], 11_000, 20_000);
    await feed([child('chi', 'down', 'b'), child('ams', 'error', 'No space left on device'), child('ldn', 'down')], 21_000, 30_000);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'worse', 'worse']);
    expect(sent[1].text).toContain('mirror ams: error (No space left on device)');
    expect(sent[2].text).toContain('Nothing is protected: no mirror holds a current copy.');
  });

  it('reminders at the interval; one recovery only when every mirror is in sync again; a new Alerter on the same file repeats nothing', async () => {
    const down = [child('chi', 'down', 'a'), ...ok.slice(1)];
    await feed(ok, 0, 1000);
    await feed(down, 2000, 2 * 3600_000 + 20_000);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'reminder', 'reminder']);
    const again = new Alerter(file, async (_n, m) => (sent.push(m), [{ channel: 'webhook x', ok: true, error: null }]));
    const t = 2 * 3600_000 + 30_000;
    await feed([child('chi', 'connecting'), ...ok.slice(1)], t, t + 5000, again);
    await feed(down, t + 6000, t + 20_000, again);
    expect(sent).toHaveLength(3);
    await feed([child('chi', 'catching-up'), ...ok.slice(1)], t + 21_000, t + 40_000, again);
    expect(sent).toHaveLength(3);
    await feed(ok, t + 41_000, t + 60_000, again);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'reminder', 'reminder', 'recovered']);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ announced: 'ok' });
  });

  it('a cold mirror that does not answer is off by design, once it has synced: no alert for it, recovery is announced without it, and the next fault alerts', async () => {
    const cold: AgentConfig = { ...config, children: config.children.map((c) => (c.site === 'ldn' ? { ...c, failover: 'cold' as const } : c)) };
    const synced = '2026-12-03T10:00:00.000Z';
    const off = (state: 'down' | 'connecting') => child('ldn', state, state === 'down' ? 'link exited (255): ssh: connect to host 10.0.0.9 port 22: No route to host' : null, synced);
    const run = (children: ChildStatus[], t0: number, t1: number) => feed(children, t0, t1, alerter, cold);
    await run(ok, 0, 1000);
    // Powered off, its link flickering between down and connecting as it retries: nothing to say.
    for (let t = 2000; t < 60_000; t += 4000) await run([ok[0], ok[1], off(t % 8000 ? 'down' : 'connecting')], t, t + 3000);
    expect(sent).toEqual([]);
    // The double fault of the drill: a mirror fails while the cold one is off, comes back, fails again.
    await run([child('ams', 'down', 'refused'), ok[0], off('down')], 60_000, 70_000);
    await run([ok[0], ok[1], off('connecting')], 71_000, 80_000);
    await run([child('chi', 'down', 'refused'), ok[1], off('down')], 81_000, 90_000);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'recovered', 'degraded']);
    expect(sent[0].fields).toMatchObject({ faults: ['mirror ams: down (refused)'] });
    expect(sent[2].fields).toMatchObject({ faults: ['mirror chi: down (refused)'], protectedBy: ['ams (in-sync)'] });
    expect(sent.map((m) => m.text).join('\n')).not.toContain('ldn');
  });

  it('a cold mirror that never completed a sync, or one that answers with an error, is still a fault; so is a hot mirror that is down', async () => {
    const cold: AgentConfig = { ...config, children: config.children.map((c) => (c.site === 'ldn' ? { ...c, failover: 'cold' as const } : c)) };
    await feed(ok, 0, 1000, alerter, cold);
    await feed([ok[0], ok[1], child('ldn', 'down', 'No route to host')], 2000, 10_000, alerter, cold);
    expect(sent.map((m) => m.kind)).toEqual(['degraded']);
    expect(sent[0].fields).toMatchObject({ faults: ['mirror ldn: down (No route to host)'] });
    await feed([ok[0], ok[1], child('ldn', 'error', 'No space left on device', '2026-12-03T10:00:00.000Z')], 11_000, 20_000, alerter, cold);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'worse']);
    await feed(ok, 21_000, 30_000, alerter, cold);
    await feed([ok[0], ok[1], child('ldn', 'down', 'No route to host', '2026-12-03T10:00:00.000Z')], 31_000, 40_000, alerter, config);
    expect(sent.map((m) => m.kind)).toEqual(['degraded', 'worse', 'recovered', 'degraded']);
  });
});
