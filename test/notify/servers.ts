/**
 * Real receivers on 127.0.0.1 with ephemeral ports, for the notify tests: an SMTP server
 * (smtp-server) and an HTTP webhook receiver. Each records exactly what arrived.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  headers: Record<string, string>;
  user: string | null;
}

export interface Smtp {
  url: string;
  port: number;
  mails: Mail[];
  /** AUTH attempts: user and password as received. */
  logins: { user: string; pass: string }[];
  close(): Promise<void>;
}

/** Decodes quoted-printable (what nodemailer uses for long text lines). */
function qp(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeWord(s: string): string {
  return s.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_, enc: string, t: string) => (enc.toUpperCase() === 'B' ? Buffer.from(t, 'base64').toString('utf8') : qp(t.replace(/_/g, ' '))));
}

export function parseMail(raw: string): { headers: Record<string, string>; text: string } {
  const i = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, i).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const l of head.split('\r\n')) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).toLowerCase()] = decodeWord(l.slice(c + 1).trim());
  }
  let body = raw.slice(i + 4);
  const cte = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  if (cte === 'quoted-printable') body = qp(body);
  else if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { headers, text: body.replace(/\r\n/g, '\n') };
}

export async function startSmtp(opts: { users?: Record<string, string> } = {}): Promise<Smtp> {
  const mails: Mail[] = [];
  const logins: { user: string; pass: string }[] = [];
  const server = new SMTPServer({
    authOptional: !opts.users,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push({ user: auth.username ?? '', pass: auth.password ?? '' });
      if (opts.users && auth.username && opts.users[auth.username] === auth.password) return cb(null, { user: auth.username });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const m = parseMail(Buffer.concat(chunks).toString('latin1'));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: m.headers.subject ?? '',
          text: m.text,
          headers: m.headers,
          user: (session.user as string | undefined) ?? null,
        });
        cb();
      });
    },
  });
  // A client killed mid-session (a daemon stopped by a test) resets its socket: not a test failure.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, port, mails, logins, close: () => new Promise((r) => server.close(() => r())) };
}

export interface Hook {
  url: string;
  port: number;
  posts: { path: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
  /** Status code to answer with (200 unless set); 'hang' never answers. */
  reply: number | 'hang';
  close(): Promise<void>;
}

export async function startHook(): Promise<Hook> {
  const hook: Hook = { url: '', port: 0, posts: [], reply: 200, close: async () => undefined };
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsable: Buffer.concat(chunks).toString('utf8') };
      }
      hook.posts.push({ path: req.url ?? '', headers: req.headers, body });
      if (hook.reply === 'hang') return void hanging.push(res);
      res.writeHead(hook.reply).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  hook.port = (server.address() as AddressInfo).port;
  hook.url = `http://127.0.0.1:${hook.port}/hook`;
  hook.close = () =>
    new Promise((r) => {
      for (const h of hanging) h.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return hook;
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}
