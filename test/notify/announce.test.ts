/**
 * `tandem notify --announce` through the real command line (scripts/cli.ts main), to a real SMTP
 * server and HTTP receiver on loopback; and requireAnnouncement, which planned switchovers call.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../scripts/cli';
import { parseWindow, readAnnouncements, requireAnnouncement, WindowError } from '../../scripts/notify/announce';
import { loadTopology } from '../../model/topology';
import { deadPort, startHook, startSmtp, type Hook, type Smtp } from './servers';

jest.setTimeout(60_000);

const NOW = new Date('2026-12-03T01:00:00Z');

describe('parseWindow', () => {
  it.each([
    ['2026-12-03T02:00Z/2026-12-03T03:00Z', '2026-12-03T02:00:00.000Z', '2026-12-03T03:00:00.000Z'],
    ['2026-12-03T02:00:00+01:00/+90m', '2026-12-03T01:00:00.000Z', '2026-12-03T02:30:00.000Z'],
    ['2026-12-03T02:00Z/+2h', '2026-12-03T02:00:00.000Z', '2026-12-03T04:00:00.000Z'],
  ])('%s', (w, from, to) => {
    const r = parseWindow(w, NOW);
    expect([r.from.toISOString(), r.to.toISOString()]).toEqual([from, to]);
  });
  it.each([
    ['2026-12-03T02:00Z', '--window "2026-12-03T02:00Z" is not a window; write it as <from>/<to>'],
    ['2026-12-03T02:00/2026-12-03T03:00Z', '--window start "2026-12-03T02:00" is not an ISO 8601 time with a zone'],
    ['tomorrow/+1h', '--window start "tomorrow" is not an ISO 8601 time with a zone'],
    [
      '2026-12-03T03:00Z/2026-12-03T02:00Z',
      '--window "2026-12-03T03:00Z/2026-12-03T02:00Z" ends (2026-12-03T02:00:00.000Z) before or when it starts (2026-12-03T03:00:00.000Z); give an end after the start',
    ],
    ['2026-12-02T03:00Z/2026-12-02T04:00Z', '--window "2026-12-02T03:00Z/2026-12-02T04:00Z" is over already'],
  ])('%s is refused', (w, message) => {
    expect(() => parseWindow(w, NOW)).toThrow(WindowError);
    expect(() => parseWindow(w, NOW)).toThrow(message);
  });
});

describe('tandem notify --announce', () => {
  let dir: string;
  let smtp: Smtp;
  let hook: Hook;
  let stdout: string;
  let stderr: string;
  const env = { ...process.env };

  function stack(notify: string): string {
    const f = path.join(dir, 'Pulumi.acme.yaml');
    fs.writeFileSync(
      f,
      `config:
  tandem:customer: acme
  tandem:topology:
    dataDir: /srv/trading
    service: { start: a, stop: b, healthPort: 8443 }
    adminCidrs: [203.0.113.0/24]
    sites:
      - { name: ny, role: master, provider: aws, region: us-east-1 }
      - { name: chi, role: mirror, provider: aws, region: us-east-2 }
    notify:
${notify}`,
    );
    return f;
  }
  async function run(...argv: string[]): Promise<number> {
    stdout = '';
    stderr = '';
    const o = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
    const e = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
    try {
      return await main(argv);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-notify-'));
    process.env.TANDEM_NOTIFY_DIR = path.join(dir, 'state');
    smtp = await startSmtp({ users: { tandem: 'pw-8f3k' } });
    hook = await startHook();
  });
  afterEach(async () => {
    process.env = { ...env };
    await smtp.close();
    await hook.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const window = () => {
    const from = new Date(Date.now() + 60 * 60_000);
    const to = new Date(from.getTime() + 30 * 60_000);
    return { from, to, arg: `${from.toISOString()}/${to.toISOString()}` };
  };

  it('sends to every channel, records it, and requireAnnouncement then accepts a switchover in the window', async () => {
    process.env.T_SMTP_PW = 'pw-8f3k';
    process.env.T_HOOK = 'hook-tok-1';
    const f = stack(`      webhooks: [{ url: "${hook.url}", tokenEnv: T_HOOK }]
      email: { smtp: "${smtp.url}", from: tandem@example.com, to: [ops@example.com, traders@example.com], user: tandem, passwordEnv: T_SMTP_PW }
      announceLeadMin: 30
`);
    const w = window();
    const code = await run('notify', f, '--announce', '--window', w.arg, '--impact', 'trading paused up to 2 minutes', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rec = JSON.parse(stdout);
    expect(rec).toMatchObject({ customer: 'acme', from: w.from.toISOString(), to: w.to.toISOString(), impact: 'trading paused up to 2 minutes' });
    expect(rec.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true]);
    expect(hook.posts).toHaveLength(1);
    expect(hook.posts[0].headers.authorization).toBe('Bearer hook-tok-1');
    expect(hook.posts[0].body).toMatchObject({ kind: 'announce', customer: 'acme', from: w.from.toISOString(), to: w.to.toISOString(), impact: 'trading paused up to 2 minutes', announceLeadMin: 30 });
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0].subject).toBe(`[tandem acme] planned maintenance ${w.from.toISOString()} - ${w.to.toISOString()}`);
    expect(smtp.mails[0].text).toContain('Impact: trading paused up to 2 minutes');
    expect(smtp.mails[0].to).toEqual(['ops@example.com', 'traders@example.com']);
    expect(smtp.mails[0].user).toBe('tandem');
    expect(readAnnouncements('acme')).toHaveLength(1);
    expect(stdout + stderr).not.toMatch(/pw-8f3k|hook-tok-1/);

    const { topology } = loadTopology(f);
    const inside = new Date(w.from.getTime() + 60_000);
    expect(requireAnnouncement(topology, inside)).toMatchObject({ required: true, ok: true, leadMin: 30 });
    // Outside the window: refused with how to fix it, unless --force.
    const later = new Date(w.to.getTime() + 60_000);
    expect(() => requireAnnouncement(topology, later)).toThrow(
      /must be announced at least 30 min ahead \(notify.announceLeadMin\); no announcement covers .*tandem notify --announce --stack acme --window <from>\/<to>/,
    );
    expect(requireAnnouncement(topology, later, { force: true })).toMatchObject({ ok: false, required: true });
  });

  it('an announcement sent too late does not satisfy the lead time', async () => {
    const f = stack(`      webhooks: ["${hook.url}"]
      announceLeadMin: 90
`);
    const w = window(); // starts in 60 min: 30 min short
    expect(await run('notify', f, '--announce', '--window', w.arg, '--impact', 'none')).toBe(0);
    expect(stdout).toMatch(/^announced .* for acme to webhook http:\/\/127\.0\.0\.1:\d+\/hook\n$/);
    const { topology } = loadTopology(f);
    expect(() => requireAnnouncement(topology, w.from)).toThrow(/went out at .*, less than 90 min ahead/);
  });

  it('without announceLeadMin nothing is required', () => {
    const f = stack(`      webhooks: ["${hook.url}"]
`);
    expect(requireAnnouncement(loadTopology(f).topology, new Date())).toMatchObject({ required: false, ok: true });
  });

  it('bad input is exit 2 with a clear message; nothing is sent', async () => {
    const f = stack(`      webhooks: ["${hook.url}"]
      email: { smtp: "${smtp.url}", from: tandem@example.com, to: [ops@example.com], user: tandem, passwordEnv: T_UNSET_PW }
`);
    const w = window();
    expect(await run('notify', f, '--announce', '--window', `${w.to.toISOString()}/${w.from.toISOString()}`, '--impact', 'x')).toBe(2);
    expect(stderr).toMatch(/ends \(.*\) before or when it starts/);
    expect(await run('notify', f, '--announce', '--window', 'soon', '--impact', 'x')).toBe(2);
    expect(stderr).toMatch(/--window "soon" is not a window/);
    expect(await run('notify', f, '--announce', '--impact', 'x')).toBe(2);
    expect(stderr).toMatch(/--announce needs --window/);
    expect(await run('notify', f, '--announce', '--window', w.arg, '--impact', 'x')).toBe(2);
    expect(stderr).toMatch(/notify.email.passwordEnv names T_UNSET_PW, which is not set in this environment/);
    expect(hook.posts).toHaveLength(0);
    expect(smtp.mails).toHaveLength(0);
  });

  it('an unreachable SMTP relay or webhook is exit 1 naming the channel and the cause', async () => {
    const port = await deadPort();
    const f = stack(`      webhooks: ["${hook.url}", "http://127.0.0.1:${port}/down"]
      email: { smtp: "smtp://127.0.0.1:${port}", from: tandem@example.com, to: [ops@example.com] }
`);
    const w = window();
    expect(await run('notify', f, '--announce', '--window', w.arg, '--impact', 'x', '--timeout', '3')).toBe(1);
    expect(stderr).toContain(`notify: announced on 1 of 3 channels (recorded); failed: webhook http://127.0.0.1:${port}/down: connection refused`);
    expect(stderr).toContain(`email smtp://127.0.0.1:${port}: connection refused`);
    expect(hook.posts).toHaveLength(1);
    // Nothing reachable: nothing recorded.
    const g = stack(`      webhooks: ["http://127.0.0.1:${port}/down"]
`);
    fs.rmSync(path.join(dir, 'state'), { recursive: true, force: true });
    expect(await run('notify', g, '--announce', '--window', w.arg, '--impact', 'x')).toBe(1);
    expect(stderr).toContain('notify: not announced (nothing recorded): every channel failed:');
    expect(readAnnouncements('acme')).toHaveLength(0);
  });
});
