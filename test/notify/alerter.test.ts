/** agent/src/alerts.ts decisions, with a recording sender and a clock given by the test. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Alerter } from '../../agent/src/alerts';
import type { AgentConfig, AgentStatus, ChildStatus } from '../../agent/src/contract';
import type { NotifyMessage } from '../../agent/src/notify';

const config: AgentConfig = {
  version: 1,
  customer: 'acme',
  site: 'ny',
  role: 'master',
  epoch: 1,
  dataDir: '/d',
  exclude: [],
  feedFrom: null,
  feedFromAddress: null,
  children: ['chi', 'ams', 'ldn'].map((site) => ({ site, address: 'x', sshPort: 22, hostKey: 'k', syncIntervalS: 0, bandwidthMbit: null, failover: 'hot' as const })),
  paused: false,
  pausedChildren: [],
  notify: { webhooks: [{ url: 'http://127.0.0.1:9/x' }], email: null, reminderMin: 60 },
};
const child = (site: string, state: ChildStatus['state'], lastError: string | null = null): ChildStatus => ({ site, state, bytesBehind: 0, lagS: 0, lastAckAt: null, lastError });
function st(children: ChildStatus[], t: number): AgentStatus {
  const bad = children.some((c) => c.state === 'down' || c.state === 'error');
  return {
    site: 'ny',
    role: 'master',
    epoch: 1,
    agentVersion: 't',
    updatedAt: new Date(t).toISOString(),
    running: true,
    lastAppliedChangeAt: null,
    lagS: null,
    inSync: !bad,
    lastError: null,
    health: bad ? 'degraded' : 'ok',
    children,
  };
}

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
  async function feed(children: ChildStatus[], t0: number, t1: number, a = alerter): Promise<void> {
    for (let t = t0; t <= t1; t += 1000) {
      a.observe(config, st(children, t), t);
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
});
