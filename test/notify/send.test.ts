/** agent/src/notify.ts against a real SMTP server and a real HTTP receiver on loopback. */
import { sendAll, safeUrl, type NotifyMessage } from '../../agent/src/notify';
import { deadPort, startHook, startSmtp, type Hook, type Smtp } from './servers';

jest.setTimeout(30_000);

const msg: NotifyMessage = {
  kind: 'degraded',
  subject: '[tandem acme] redundancy DEGRADED: mirror chi: down',
  text: 'Redundancy of acme is DEGRADED.\nCause: mirror chi: down.\nStill protected by: ams (in-sync).',
  fields: { customer: 'acme', faults: ['mirror chi: down'], protectedBy: ['ams (in-sync)'] },
};

describe('notify: sending', () => {
  let smtp: Smtp;
  let hook: Hook;
  beforeEach(async () => {
    smtp = await startSmtp({ users: { tandem: 's3cret-pw' } });
    hook = await startHook();
  });
  afterEach(async () => {
    await smtp.close();
    await hook.close();
  });

  it('one webhook POST (JSON, bearer token) and one mail (subject, body, recipients, login) arrive', async () => {
    const rs = await sendAll(
      { webhooks: [{ url: hook.url, token: 'tok-123' }], email: { smtp: smtp.url, from: 'tandem@example.com', to: ['ops@example.com', 'desk@example.com'], user: 'tandem', password: 's3cret-pw' } },
      msg,
    );
    expect(rs).toEqual([
      { channel: `webhook ${hook.url}`, ok: true, error: null },
      { channel: `email smtp://127.0.0.1:${smtp.port}`, ok: true, error: null },
    ]);
    expect(hook.posts).toHaveLength(1);
    expect(hook.posts[0].headers['content-type']).toBe('application/json');
    expect(hook.posts[0].headers.authorization).toBe('Bearer tok-123');
    expect(hook.posts[0].body).toEqual({ ...msg.fields, kind: 'degraded', subject: msg.subject, text: msg.text });
    expect(smtp.mails).toHaveLength(1);
    const m = smtp.mails[0];
    expect(m.subject).toBe(msg.subject);
    expect(m.from).toBe('tandem@example.com');
    expect(m.to).toEqual(['ops@example.com', 'desk@example.com']);
    expect(m.user).toBe('tandem');
    expect(m.headers['x-tandem-kind']).toBe('degraded');
    expect(m.text).toContain('Cause: mirror chi: down.');
    expect(m.text).toContain('protectedBy: ["ams (in-sync)"]');
  });

  it('an unreachable SMTP relay and webhook: each failure names the channel and the cause', async () => {
    const port = await deadPort();
    const rs = await sendAll(
      {
        webhooks: [{ url: `http://127.0.0.1:${port}/x?sig=abc`, token: 'tok-123' }],
        email: { smtp: `smtp://127.0.0.1:${port}`, from: 'a@example.com', to: ['b@example.com'], user: 'u', password: 'pw-secret' },
      },
      msg,
      3000,
    );
    expect(rs[0]).toEqual({ channel: `webhook http://127.0.0.1:${port}/x`, ok: false, error: expect.stringMatching(/^connection refused \(127\.0\.0\.1:\d+\): nothing listens there/) });
    expect(rs[1].channel).toBe(`email smtp://127.0.0.1:${port}`);
    expect(rs[1].error).toMatch(/connection refused/);
    expect(JSON.stringify(rs)).not.toMatch(/pw-secret|tok-123|sig=abc/);
  });

  it('a refusing or silent webhook, and a wrong SMTP password, are failures with their cause', async () => {
    hook.reply = 500;
    let rs = await sendAll({ webhooks: [{ url: hook.url }], email: { smtp: smtp.url, from: 'a@example.com', to: ['b@example.com'], user: 'tandem', password: 'wrong-pw' } }, msg, 2000);
    expect(rs[0].error).toMatch(/^HTTP 500/);
    expect(rs[1].ok).toBe(false);
    expect(rs[1].error).toMatch(/Invalid username or password/);
    expect(rs[1].error).not.toContain('wrong-pw');
    expect(smtp.mails).toHaveLength(0);
    hook.reply = 'hang';
    const t0 = Date.now();
    rs = await sendAll({ webhooks: [{ url: hook.url }], email: null }, msg, 800);
    expect(rs[0].error).toBe('no answer within 0.8 s');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('safeUrl drops credentials, query and fragment', () => {
    expect(safeUrl('https://u:p@hooks.example.com/a/b?token=x#f')).toBe('https://hooks.example.com/a/b');
  });
});
