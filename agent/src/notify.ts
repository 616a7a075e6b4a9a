/**
 * Sends one message to every notify channel: webhooks (JSON POST with node's own http/https) and
 * email (nodemailer). Bundled into agent.js for the master's alerts, and imported by the operator
 * side (scripts/notify) for announcements: one sender, one message shape, one way of reporting a
 * failure. Each channel is tried once with a bounded timeout; whoever calls decides when to try
 * again, so a dead receiver never turns into a storm of retries.
 *
 * A failure names the channel (the URL without credentials or query, the SMTP host) and the cause,
 * never a password or token.
 */
import * as http from 'http';
import * as https from 'https';
import type { AgentNotify, EmailChannel, WebhookChannel } from './contract';

export interface NotifyMessage {
  /** What happened: 'degraded' | 'recovered' | 'reminder' | 'worse' | 'announce'. */
  readonly kind: string;
  readonly subject: string;
  /** Plain text body of the mail; also `text` in the webhook's JSON. */
  readonly text: string;
  /** Structured facts for machines, merged into the webhook's JSON and listed in the mail. */
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface SendResult {
  /** e.g. `webhook https://hooks.example.com/x` or `email smtp://mail.example.com:587`. */
  readonly channel: string;
  readonly ok: boolean;
  readonly error: string | null;
}

export const SEND_TIMEOUT_MS = 10_000;

/** A URL fit to print: no user:password, no query (tokens ride there), no fragment. */
export function safeUrl(u: string): string {
  try {
    const x = new URL(u);
    return `${x.protocol}//${x.host}${x.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

export function channelNames(n: AgentNotify): string[] {
  return [...n.webhooks.map((w) => `webhook ${safeUrl(w.url)}`), ...(n.email ? [`email ${safeUrl(n.email.smtp).replace(/\/$/, '')}`] : [])];
}

/** Sends to every channel at once; resolves when each has answered or timed out (never rejects). */
export async function sendAll(n: AgentNotify, msg: NotifyMessage, timeoutMs = SEND_TIMEOUT_MS): Promise<SendResult[]> {
  const jobs: Promise<SendResult>[] = n.webhooks.map((w) => settle(`webhook ${safeUrl(w.url)}`, () => postWebhook(w, msg, timeoutMs), [w.token]));
  if (n.email) {
    const e = n.email;
    jobs.push(settle(`email ${safeUrl(e.smtp).replace(/\/$/, '')}`, () => sendMail(e, msg, timeoutMs), [e.password]));
  }
  return Promise.all(jobs);
}

/** One line per failed channel, for logs and errors. */
export function describeFailures(rs: readonly SendResult[]): string {
  return rs
    .filter((r) => !r.ok)
    .map((r) => `${r.channel}: ${r.error}`)
    .join('; ');
}

async function settle(channel: string, fn: () => Promise<void>, secrets: readonly (string | null | undefined)[]): Promise<SendResult> {
  try {
    await fn();
    return { channel, ok: true, error: null };
  } catch (e) {
    let m = e instanceof Error ? e.message : String(e);
    // Belt and braces: a library that echoes what it was given must not leak it through us.
    for (const s of secrets) if (s) m = m.split(s).join('***');
    return { channel, ok: false, error: m };
  }
}

function postWebhook(w: WebhookChannel, msg: NotifyMessage, timeoutMs: number): Promise<void> {
  const u = new URL(w.url);
  const body = Buffer.from(JSON.stringify({ ...msg.fields, kind: msg.kind, subject: msg.subject, text: msg.text }));
  const mod = u.protocol === 'https:' ? https : http;
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length, 'user-agent': 'tandem-notify' };
  if (w.token) headers.authorization = `Bearer ${w.token}`;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (e?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    const req = mod.request(u, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('error', (e) => finish(e));
      res.on('end', () => {
        const c = res.statusCode ?? 0;
        finish(c >= 200 && c < 300 ? undefined : new Error(`HTTP ${c}${res.statusMessage ? ' ' + res.statusMessage : ''}; the receiver refused the message`));
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish(new Error(netCause(e))));
    req.end(body);
  });
}

async function sendMail(e: EmailChannel, msg: NotifyMessage, timeoutMs: number): Promise<void> {
  // Loaded on first use: the agent that never mails never pays for nodemailer's start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load, bundled by esbuild
  const nodemailer = require('nodemailer') as typeof import('nodemailer');
  const u = new URL(e.smtp);
  const secure = u.protocol === 'smtps:';
  const transport = nodemailer.createTransport({
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port) || (secure ? 465 : 587),
    secure,
    auth: e.user ? { user: e.user, pass: e.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // Tests and some relays on a private network present certificates for another name; the
    // relay's identity is still the operator's to configure (smtps with a proper certificate).
    tls: { servername: u.hostname },
    logger: false,
    debug: false,
  });
  const facts = Object.entries(msg.fields)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('\n');
  try {
    await transport.sendMail({
      from: e.from,
      to: [...e.to],
      subject: msg.subject,
      text: `${msg.text}\n\n${facts}\n`,
      headers: { 'X-Tandem-Kind': msg.kind },
    });
  } catch (err) {
    const x = err as NodeJS.ErrnoException;
    const code = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.exec(x.message)?.[0];
    throw new Error(code ? netCause({ ...x, code, message: x.message }) : x.message, { cause: err });
  } finally {
    transport.close();
  }
}

function netCause(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `connection refused (${e.message.replace(/^connect ECONNREFUSED /, '')}): nothing listens there; check the host and port`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${e.code}); check the name`;
    case 'ETIMEDOUT':
    case 'ECONNRESET':
      return `${e.code}: the server did not answer in time or closed the connection`;
    default:
      return e.message;
  }
}
