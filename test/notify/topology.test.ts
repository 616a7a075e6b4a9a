/** The `notify:` field of tandem:topology: accepted shapes, and every refusal by its message. */
import { parseTopology, topologyFromConfig } from '../../model/topology';
import { agentNotify, NotifyConfigError } from '../../scripts/notify/channels';

type Obj = Record<string, unknown>;

function config(notify: unknown): Obj {
  return {
    'tandem:customer': 'acme',
    'tandem:topology': {
      dataDir: '/srv/trading',
      service: { start: 'start', stop: 'stop', healthPort: 8443 },
      adminCidrs: ['203.0.113.0/24'],
      sites: [
        { name: 'ny', role: 'master', provider: 'offcloud', address: '198.51.100.1', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXzmpEDzbSOvRwmOP/N9WW0mlfWbLQuztrXZ+JpBpbu', user: 'ops' },
        { name: 'chi', role: 'mirror', provider: 'offcloud', address: '198.51.100.2', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXzmpEDzbSOvRwmOP/N9WW0mlfWbLQuztrXZ+JpBpbu', user: 'ops' },
      ],
      ...(notify === undefined ? {} : { notify }),
    },
  };
}
const errors = (notify: unknown) =>
  topologyFromConfig(config(notify))
    .issues.filter((i) => i.severity === 'error')
    .map((i) => i.message);

describe('notify in the topology', () => {
  it('is optional: a stack without it has no notify', () => {
    const r = topologyFromConfig(config(undefined));
    expect(r.topology).toBeDefined();
    expect(r.topology!.notify).toBeUndefined();
  });

  it('parses webhooks (plain or with tokenEnv), email with a login, and defaults', () => {
    const r = topologyFromConfig(
      config({
        webhooks: ['https://hooks.example.com/tandem', { url: 'http://10.0.0.5:8080/alert', tokenEnv: 'TANDEM_HOOK_TOKEN' }],
        email: { smtp: 'smtps://mail.example.com:465', from: 'tandem@example.com', to: ['ops@example.com'], user: 'tandem', passwordEnv: 'TANDEM_SMTP_PASSWORD' },
        announceLeadMin: 30,
      }),
    );
    expect(r.issues).toEqual([]);
    expect(r.topology!.notify).toEqual({
      webhooks: [
        { url: 'https://hooks.example.com/tandem', tokenEnv: null },
        { url: 'http://10.0.0.5:8080/alert', tokenEnv: 'TANDEM_HOOK_TOKEN' },
      ],
      email: { smtp: 'smtps://mail.example.com:465', from: 'tandem@example.com', to: ['ops@example.com'], user: 'tandem', passwordEnv: 'TANDEM_SMTP_PASSWORD' },
      reminderMin: 60,
      announceLeadMin: 30,
    });
  });

  it('reads from a stack file with the same rules (line numbers on unknown keys)', () => {
    const yaml = `config:
  tandem:customer: acme
  tandem:topology:
    dataDir: /srv/trading
    service: { start: a, stop: b, healthPort: 1 }
    adminCidrs: [203.0.113.0/24]
    sites:
      - { name: ny, role: master, provider: aws, region: us-east-1 }
      - { name: chi, role: mirror, provider: aws, region: us-east-2 }
    notify:
      webhooks: [https://hooks.example.com/x]
      reminderMn: 5
`;
    const r = parseTopology(yaml, 'acme');
    expect(r.issues.filter((i) => i.severity === 'error').map((i) => i.message)).toEqual(['notify.reminderMn: unknown key (line 12); did you mean "reminderMin"?']);
  });

  it.each<[string, unknown, string]>([
    ['not a mapping', 'ops@example.com', 'notify "ops@example.com" is not a mapping'],
    ['no channel', { reminderMin: 5 }, 'notify has no channel; give webhooks: [<url>] or email: { smtp, from, to }, or remove notify'],
    ['webhooks not a list', { webhooks: 'https://x.example.com' }, 'notify.webhooks "https://x.example.com" is not a list'],
    ['ftp URL', { webhooks: ['ftp://x.example.com/a'] }, 'notify.webhooks[0] "ftp://x.example.com/a" is not an http(s) URL; write it like https://hooks.example.com/tandem'],
    ['not a URL', { webhooks: ['hooks'] }, 'notify.webhooks[0] "hooks" is not an http(s) URL'],
    [
      'credentials in the URL',
      { webhooks: ['https://bob:hunter2@x.example.com/a'] },
      'notify.webhooks[0] carries credentials (user:password@) in clear; remove them from the URL and put a token in an environment variable named by tokenEnv',
    ],
    ['token in the query', { webhooks: ['https://x.example.com/a?token=hunter2'] }, 'notify.webhooks[0] carries a secret in its query ("token=...") in clear'],
    [
      'token in clear',
      { webhooks: [{ url: 'https://x.example.com/a', token: 'hunter2' }] },
      'notify.webhooks[0].token: a secret must not be written in the stack file in clear; set tokenEnv to the name of an environment variable holding it',
    ],
    ['bad tokenEnv', { webhooks: [{ url: 'https://x.example.com/a', tokenEnv: 'my token' }] }, 'notify.webhooks[0].tokenEnv "my token" is not an environment variable name'],
    ['webhook without url', { webhooks: [{ tokenEnv: 'T' }] }, "notify.webhooks[0].url is missing; give the receiver's http(s) URL"],
    [
      'smtp without port',
      { email: { smtp: 'smtp://mail.example.com', from: 'a@example.com', to: ['b@example.com'] } },
      'notify.email.smtp "smtp://mail.example.com" is not allowed; write smtp://host:port (STARTTLS) or smtps://host:port (TLS)',
    ],
    ['smtp as http', { email: { smtp: 'http://mail.example.com:25', from: 'a@example.com', to: ['b@example.com'] } }, 'notify.email.smtp "http://mail.example.com:25" is not allowed'],
    ['smtp port out of range', { email: { smtp: 'smtp://mail.example.com:70000', from: 'a@example.com', to: ['b@example.com'] } }, 'notify.email.smtp "smtp://mail.example.com:70000" is not allowed'],
    ['smtp with a password', { email: { smtp: 'smtp://u:hunter2@mail.example.com:25', from: 'a@example.com', to: ['b@example.com'] } }, 'notify.email.smtp given with credentials is not allowed'],
    [
      'password in clear',
      { email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['b@example.com'], user: 'u', password: 'hunter2' } },
      'notify.email.password: a secret must not be written in the stack file in clear; set passwordEnv to the name of an environment variable holding it, e.g. passwordEnv: TANDEM_SMTP_PASSWORD',
    ],
    ['user without passwordEnv', { email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['b@example.com'], user: 'u' } }, 'notify.email.passwordEnv is missing while user is set'],
    [
      'passwordEnv without user',
      { email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['b@example.com'], passwordEnv: 'P' } },
      'notify.email.user is missing while passwordEnv is set',
    ],
    ['bad from', { email: { smtp: 'smtp://m.example.com:25', from: 'tandem', to: ['b@example.com'] } }, 'notify.email.from "tandem" is not a mail address; write it like tandem@example.com'],
    ['no recipients', { email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: [] } }, 'notify.email.to [] is not allowed; list at least one recipient'],
    ['bad recipient', { email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['ops'] } }, 'notify.email.to[0] "ops" is not a mail address'],
    ['missing smtp', { email: { from: 'a@example.com', to: ['b@example.com'] } }, 'notify.email.smtp is missing; give the relay as smtp://host:port or smtps://host:port'],
    [
      'reminder of 0',
      { webhooks: ['https://x.example.com/a'], reminderMin: 0 },
      'notify.reminderMin 0 is not allowed; the minutes between reminders while DEGRADED must be a whole number from 1 to 10080',
    ],
    ['lead negative', { webhooks: ['https://x.example.com/a'], announceLeadMin: -5 }, 'notify.announceLeadMin -5 is not allowed'],
  ])('%s is refused with how to fix it', (_what, notify, message) => {
    const errs = errors(notify);
    expect(errs.some((e) => e.startsWith(message))).toBe(true);
    // Whatever was refused, a secret value is never echoed back.
    expect(errs.join('\n')).not.toContain('hunter2');
  });
});

describe('agentNotify: secrets from the environment', () => {
  const spec = {
    webhooks: [{ url: 'https://x.example.com/a', tokenEnv: 'T_HOOK' }],
    email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['b@example.com'], user: 'u', passwordEnv: 'T_SMTP' },
    reminderMin: 15,
    announceLeadMin: null,
  };
  it('resolves them', () => {
    expect(agentNotify(spec, { T_HOOK: 'tok', T_SMTP: 'pw' })).toEqual({
      webhooks: [{ url: 'https://x.example.com/a', token: 'tok' }],
      email: { smtp: 'smtp://m.example.com:25', from: 'a@example.com', to: ['b@example.com'], user: 'u', password: 'pw' },
      reminderMin: 15,
    });
  });
  it('names every unset variable', () => {
    expect(() => agentNotify(spec, {})).toThrow(NotifyConfigError);
    expect(() => agentNotify(spec, {})).toThrow(
      'notify.webhooks[0].tokenEnv names T_HOOK, which is not set in this environment; export T_HOOK=<secret> before running tandem\n' +
        'notify.email.passwordEnv names T_SMTP, which is not set in this environment; export T_SMTP=<secret> before running tandem',
    );
  });
});
