/**
 * Rules for `notify:`, the channels that tell people about failovers: webhooks and email. Secrets
 * are taken only by the name of an environment variable; one written in clear is refused without
 * echoing it.
 */
import { type Checker, isObj, show, type Obj } from './checker';
import { EMAIL_KEYS, NOTIFY_KEYS, WEBHOOK_KEYS } from './keys';
import type { EmailSpec, NotifySpec, WebhookSpec } from './types';

/** `notify:` channels. Secrets only by the name of an environment variable, never in clear. */
export function readNotify(check: Checker, v: unknown): NotifySpec | null | undefined {
  if (v === undefined || v === null) return null;
  const yp = ['config', 'tandem:topology', 'notify'];
  if (!isObj(v)) {
    check.error(
      'notify',
      `notify ${show(v)} is not a mapping; write it as { webhooks: [https://hooks.example.com/tandem], email: { smtp: "smtps://mail.example.com:465", from: tandem@example.com, to: [ops@example.com] } }`,
    );
    return undefined;
  }
  check.unknownKeys(v, NOTIFY_KEYS, 'notify', yp);
  let ok = true;
  const webhooks: WebhookSpec[] = [];
  if (v.webhooks !== undefined && v.webhooks !== null) {
    if (!Array.isArray(v.webhooks)) {
      check.error('notify.webhooks', `notify.webhooks ${show(v.webhooks)} is not a list; write it as a list of URLs, e.g. [https://hooks.example.com/tandem]`);
      ok = false;
    } else {
      v.webhooks.forEach((w, i) => {
        const r = readWebhook(check, w, `notify.webhooks[${i}]`, [...yp, 'webhooks', i]);
        if (r) webhooks.push(r);
        else ok = false;
      });
    }
  }
  const email = v.email === undefined || v.email === null ? null : readEmail(check, v.email, [...yp, 'email']);
  if (email === undefined) ok = false;
  const reminderMin = check.num(v, 'reminderMin', 'notify', { min: 1, max: 10080, integer: true, what: 'the minutes between reminders while DEGRADED' });
  const lead = check.num(v, 'announceLeadMin', 'notify', { min: 0, max: 10080, integer: true, what: 'the minutes a planned switchover must be announced ahead' });
  if ((v.reminderMin !== undefined && v.reminderMin !== null && reminderMin === undefined) || (v.announceLeadMin !== undefined && v.announceLeadMin !== null && lead === undefined)) ok = false;
  if (ok && webhooks.length === 0 && !email) {
    check.error('notify', `notify has no channel; give webhooks: [<url>] or email: { smtp, from, to }, or remove notify`);
    ok = false;
  }
  if (!ok) return undefined;
  return { webhooks, email: email ?? null, reminderMin: reminderMin ?? 60, announceLeadMin: lead ?? null };
}

function secretEnv(check: Checker, obj: Obj, key: string, p: string): string | null | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
    check.error(`${p}.${key}`, `${p}.${key} ${show(v)} is not an environment variable name; use letters, digits and '_', e.g. TANDEM_SMTP_PASSWORD`);
    return undefined;
  }
  return v;
}

/** A clear-text secret in the stack file: refused by name, without echoing the value. */
function clearSecret(check: Checker, obj: Obj, keys: readonly string[], p: string, fix: string): boolean {
  let found = false;
  for (const k of keys) {
    if (obj[k] === undefined) continue;
    check.error(`${p}.${k}`, `${p}.${k}: a secret must not be written in the stack file in clear; ${fix}`);
    delete obj[k];
    found = true;
  }
  return found;
}

function httpUrl(check: Checker, v: unknown, p: string): string | undefined {
  let u: URL | null;
  try {
    u = typeof v === 'string' ? new URL(v) : null;
  } catch {
    u = null;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    check.error(p, `${p} ${typeof v === 'string' ? JSON.stringify(v.replace(/\/\/[^/@]*@/, '//***@')) : show(v)} is not an http(s) URL; write it like https://hooks.example.com/tandem`);
    return undefined;
  }
  if (u.username || u.password) {
    check.error(p, `${p} carries credentials (user:password@) in clear; remove them from the URL and put a token in an environment variable named by tokenEnv`);
    return undefined;
  }
  const secretParam = [...u.searchParams.keys()].find((k) => /token|secret|password|passwd|key|sig/i.test(k));
  if (secretParam) {
    check.error(p, `${p} carries a secret in its query ("${secretParam}=...") in clear; put it in an environment variable and name that variable in tokenEnv`);
    return undefined;
  }
  return typeof v === 'string' ? v : undefined;
}

function readWebhook(check: Checker, w: unknown, p: string, yp: (string | number)[]): WebhookSpec | undefined {
  if (typeof w === 'string') {
    const url = httpUrl(check, w, p);
    return url ? { url, tokenEnv: null } : undefined;
  }
  if (!isObj(w)) {
    check.error(p, `${p} ${show(w)} is neither a URL nor a mapping; write a URL, or { url: https://..., tokenEnv: TANDEM_WEBHOOK_TOKEN }`);
    return undefined;
  }
  const o = { ...w };
  const bad = clearSecret(check, o, ['token', 'password', 'secret'], p, 'set tokenEnv to the name of an environment variable holding it');
  check.unknownKeys(o, WEBHOOK_KEYS, p, yp);
  if (o.url === undefined || o.url === null) {
    check.error(`${p}.url`, `${p}.url is missing; give the receiver's http(s) URL`);
    return undefined;
  }
  const url = httpUrl(check, o.url, `${p}.url`);
  const tokenEnv = secretEnv(check, o, 'tokenEnv', p);
  if (!url || tokenEnv === undefined || bad) return undefined;
  return { url, tokenEnv };
}

function readEmail(check: Checker, v: unknown, yp: (string | number)[]): EmailSpec | undefined {
  const p = 'notify.email';
  if (!isObj(v)) {
    check.error(p, `${p} ${show(v)} is not a mapping; write it as { smtp: "smtps://mail.example.com:465", from: tandem@example.com, to: [ops@example.com] }`);
    return undefined;
  }
  const o = { ...v };
  let ok = !clearSecret(check, o, ['password', 'pass', 'secret'], p, 'set passwordEnv to the name of an environment variable holding it, e.g. passwordEnv: TANDEM_SMTP_PASSWORD');
  check.unknownKeys(o, EMAIL_KEYS, p, yp);
  const ADDR_RE = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
  const smtp = check.str(o, 'smtp', p, { required: true, hint: 'give the relay as smtp://host:port or smtps://host:port, e.g. "smtps://mail.example.com:465"' });
  if (smtp !== undefined) {
    const m = /^(smtps?):\/\/([^\s/:@[\]]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(smtp);
    if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
      const shown = smtp.includes('@') ? 'given with credentials' : JSON.stringify(smtp);
      check.error(
        `${p}.smtp`,
        `${p}.smtp ${shown} is not allowed; write smtp://host:port (STARTTLS) or smtps://host:port (TLS), e.g. "smtps://mail.example.com:465"${smtp.includes('@') ? '; the password goes in an environment variable named by passwordEnv' : ''}`,
      );
      ok = false;
    }
  } else ok = false;
  const from = check.str(o, 'from', p, { required: true, hint: 'give the sender address, e.g. tandem@example.com' });
  if (from !== undefined && !ADDR_RE.test(from)) {
    check.error(`${p}.from`, `${p}.from ${JSON.stringify(from)} is not a mail address; write it like tandem@example.com`);
    ok = false;
  } else if (from === undefined) ok = false;
  const to: string[] = [];
  if (!Array.isArray(o.to) || o.to.length === 0) {
    check.error(`${p}.to`, `${p}.to ${show(o.to)} is not allowed; list at least one recipient, e.g. [ops@example.com]`);
    ok = false;
  } else {
    o.to.forEach((a, i) => {
      if (typeof a !== 'string' || !ADDR_RE.test(a)) {
        check.error(`${p}.to[${i}]`, `${p}.to[${i}] ${show(a)} is not a mail address; write it like ops@example.com`);
        ok = false;
      } else to.push(a);
    });
  }
  const user = o.user === undefined || o.user === null ? null : check.str(o, 'user', p, { required: false, hint: 'give the SMTP login name' });
  const passwordEnv = secretEnv(check, o, 'passwordEnv', p);
  if (user === undefined || passwordEnv === undefined) ok = false;
  if (user && !passwordEnv) {
    check.error(`${p}.passwordEnv`, `${p}.passwordEnv is missing while user is set; name the environment variable holding the SMTP password, e.g. passwordEnv: TANDEM_SMTP_PASSWORD`);
    ok = false;
  }
  if (passwordEnv && !user) {
    check.error(`${p}.user`, `${p}.user is missing while passwordEnv is set; give the SMTP login name`);
    ok = false;
  }
  if (!ok) return undefined;
  return { smtp: smtp!, from: from!, to, user: user ?? null, passwordEnv: passwordEnv ?? null };
}
