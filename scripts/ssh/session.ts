/**
 * One small SSH session wrapper over ssh2, after steelbrain/node-ssh: typed results, pinned host
 * keys (ssh2 accepts any key unless told otherwise), listeners removed after use, channels closed
 * in `finally`, capped retries with backoff, errors that carry host, command, exit code and the
 * tail of stderr.
 */
import * as fs from 'node:fs';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { checkHostKey, fingerprint } from '../../model/topology/hostkey';

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** Pinned host key, `"ssh-ed25519 AAAA..."`; the server must present exactly this key. */
  readonly hostKey: string;
  /** Site name, for messages. */
  readonly site?: string;
}

export interface SshAuth {
  readonly privateKey?: string | Buffer;
  /** Path of an SSH agent socket (e.g. process.env.SSH_AUTH_SOCK). */
  readonly agent?: string;
}

export interface ConnectOptions {
  /** Time allowed for TCP connect + handshake + auth, per attempt. @default 10000 */
  readonly readyTimeoutMs?: number;
  /** Further attempts after a failed connect (not after a host key mismatch). Capped at 10. @default 2 */
  readonly retries?: number;
  /** First backoff delay; doubles per attempt, capped at 5 s. @default 200 */
  readonly backoffMs?: number;
}

export interface ExecOptions {
  readonly stdin?: string | Buffer;
  /** Kill the channel (and fail) after this long. @default no limit */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; null when the command died of a signal or the channel closed without one. */
  readonly code: number | null;
  readonly signal: string | null;
}

/** Last `n` lines of a text, for error messages. */
export function tail(text: string, n = 8): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

function label(t: SshTarget): string {
  return `${t.site ? `${t.site} ` : ''}(${t.username}@${t.host}:${t.port})`;
}

/** A remote command exited non-zero (or by a signal). */
export class SshCommandError extends Error {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly result: ExecResult,
  ) {
    const how = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal ?? 'unknown (channel closed)'}`;
    const err = tail(result.stderr);
    super(`on ${host}: \`${command}\` failed with ${how}${err ? `; stderr:\n${err}` : ' (no stderr)'}`);
    this.name = 'SshCommandError';
  }
  get code(): number | null {
    return this.result.code;
  }
  get stderrTail(): string {
    return tail(this.result.stderr);
  }
}

/** The server presented a host key other than the pinned one: never retried. */
export class HostKeyMismatchError extends Error {
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly presented: string,
  ) {
    super(
      `host key of ${host} does not match the pinned key: expected ${expected}, server presented ${presented}. ` +
        'Someone may be intercepting the connection, or the host was rebuilt; if it was rebuilt, update the pinned key in the inventory.',
    );
    this.name = 'HostKeyMismatchError';
  }
}

/** Connecting or authenticating failed (after retries). */
export class SshConnectError extends Error {
  constructor(
    readonly host: string,
    message: string,
    readonly cause?: unknown,
  ) {
    super(`cannot connect to ${host}: ${message}`);
    this.name = 'SshConnectError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SshSession {
  private closed = false;

  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  /** Human label: `site (user@host:port)`. */
  get label(): string {
    return label(this.target);
  }

  static async connect(target: SshTarget, auth: SshAuth, opts: ConnectOptions = {}): Promise<SshSession> {
    const pinned = checkHostKey(target.hostKey);
    if (!pinned.ok) throw new SshConnectError(label(target), `the pinned host key ${pinned.why}`);
    if (!auth.privateKey && !auth.agent) throw new SshConnectError(label(target), 'no private key and no SSH agent given');
    const retries = Math.max(0, Math.min(10, opts.retries ?? 2));
    let delay = opts.backoffMs ?? 200;
    let last: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
      try {
        // A fresh Client per attempt: handlers are registered once per client, never piled up.
        const client = await connectOnce(target, auth, pinned.type, pinned.blob, opts.readyTimeoutMs ?? 10000);
        return new SshSession(client, target);
      } catch (e) {
        if (e instanceof HostKeyMismatchError) throw e;
        last = e;
        // Authentication failures will not heal by retrying.
        if (/authentication methods failed/i.test((e as Error)?.message ?? '')) break;
      }
    }
    const msg = (last as Error)?.message ?? String(last);
    throw new SshConnectError(label(target), `${msg}${retries ? ` (after ${retries + 1} attempts)` : ''}`, last);
  }

  /** Runs a shell command; resolves whatever its exit code. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertOpen();
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let code: number | null = null;
    let signal: string | null = null;
    let ch: ClientChannel | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.client.exec(command, (err, stream) => {
          if (err) return reject(this.wrapErr(err, command));
          ch = stream;
          // Listeners go on in this callback, synchronously: the exit status (and the close)
          // of a quick command can arrive in the same TCP read as the exec reply, and an 'exit'
          // emitted before a listener exists is lost.
          stream.on('data', (d: Buffer) => out.push(d));
          stream.stderr.on('data', (d: Buffer) => errb.push(d));
          stream.on('exit', (c: number | null, sig?: string) => {
            if (typeof c === 'number') code = c;
            if (sig) signal = sig;
          });
          stream.once('close', () => resolve());
          stream.once('error', (e: Error) => reject(this.wrapErr(e, command)));
          if (opts.timeoutMs) {
            timer = setTimeout(() => {
              reject(new SshCommandError(this.label, command, { stdout: '', stderr: `timed out after ${opts.timeoutMs} ms`, code: null, signal: 'TIMEOUT' }));
            }, opts.timeoutMs);
          }
          if (opts.stdin !== undefined) stream.end(opts.stdin);
          else stream.end();
        });
      });
    } finally {
      if (timer) clearTimeout(timer);
      if (ch) {
        ch.removeAllListeners('data');
        ch.stderr.removeAllListeners('data');
        ch.removeAllListeners('exit');
        ch.removeAllListeners('close');
        ch.removeAllListeners('error');
        ch.on('error', () => undefined); // a late error after close must not crash the process
        ch.close();
      }
    }
    return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errb).toString('utf8'), code, signal };
  }

  /**
   * Starts a long-running command whose output is wanted line by line while it runs (exec only
   * returns output when the command ends). Resolves once the channel is open: write to or end
   * `channel` to talk to the command; `closed` resolves with its exit code (null: none given).
   */
  stream(command: string, onLine: (line: string) => void): Promise<{ channel: ClientChannel; closed: Promise<number | null> }> {
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(this.wrapErr(err, command));
        // Listeners go on synchronously here, as in exec: an early exit must not be missed.
        let buf = '';
        ch.on('data', (d: Buffer) => {
          buf += d.toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            onLine(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
        ch.stderr.on('data', () => undefined);
        let code: number | null = null;
        ch.on('exit', (c: number | null) => (code = c));
        const closed = new Promise<number | null>((r) => ch.once('close', () => r(code)));
        ch.on('error', () => undefined);
        resolve({ channel: ch, closed });
      });
    });
  }

  /** Like exec, but throws SshCommandError unless the command exits 0. */
  async execChecked(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) throw new SshCommandError(this.label, command, r);
    return r;
  }

  /** Writes `data` to `remotePath` over SFTP (atomically: a temp file renamed into place). */
  async upload(data: Buffer | string, remotePath: string, mode = 0o644): Promise<void> {
    this.assertOpen();
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => this.client.sftp((err, s) => (err ? reject(this.wrapErr(err, `sftp ${remotePath}`)) : resolve(s))));
    const tmp = `${remotePath}.tandem-upload-${process.pid}`;
    try {
      await new Promise<void>((resolve, reject) => sftp.writeFile(tmp, data, { mode }, (err) => (err ? reject(this.wrapErr(err, `write ${tmp}`)) : resolve())));
      await new Promise<void>((resolve, reject) => sftp.chmod(tmp, mode, (err) => (err ? reject(this.wrapErr(err, `chmod ${tmp}`)) : resolve())));
      // posix-rename@openssh.com replaces an existing file; plain SFTP rename would refuse.
      await new Promise<void>((resolve, reject) => sftp.ext_openssh_rename(tmp, remotePath, (err) => (err ? reject(this.wrapErr(err, `rename ${tmp} -> ${remotePath}`)) : resolve())));
    } catch (e) {
      await new Promise<void>((resolve) => sftp.unlink(tmp, () => resolve()));
      throw e;
    } finally {
      sftp.end();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`SSH session to ${this.label} is closed`);
  }

  private wrapErr(e: Error, what: string): Error {
    return new Error(`on ${this.label}: ${what}: ${e.message}`);
  }
}

function connectOnce(target: SshTarget, auth: SshAuth, keyType: string, pinnedBlob: Buffer, readyTimeout: number): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    const client = new Client();
    let mismatch: HostKeyMismatchError | null = null;
    const cleanup = () => {
      client.removeListener('ready', onReady);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
    };
    const onReady = () => {
      cleanup();
      // Errors after ready (e.g. the host dies) surface through the next exec; never crash.
      client.on('error', () => undefined);
      resolve(client);
    };
    const onError = (e: Error) => {
      cleanup();
      client.on('error', () => undefined);
      client.end();
      reject(mismatch ?? e);
    };
    const onClose = () => {
      cleanup();
      reject(mismatch ?? new Error('connection closed before it was ready'));
    };
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('close', onClose);
    const cfg: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      // Ask for the pinned key's type so a host with several keys presents the pinned one.
      algorithms: { serverHostKey: [keyType as never] },
      hostVerifier: (key: Buffer) => {
        if (key.equals(pinnedBlob)) return true;
        mismatch = new HostKeyMismatchError(label(target), fingerprint(`${keyType} ${pinnedBlob.toString('base64')}`), fingerprint(`x ${key.toString('base64')}`));
        return false;
      },
    };
    if (auth.privateKey) cfg.privateKey = auth.privateKey;
    if (auth.agent) cfg.agent = auth.agent;
    client.connect(cfg);
  });
}

/** Target of an inventory host. Throws if its host key is not known yet. */
export function targetOf(h: InventoryHost): SshTarget {
  if (!h.hostKey) throw new SshConnectError(`${h.site} (${h.user}@${h.address}:${h.sshPort})`, 'its host key is not known yet (the host has not booted); run pulumi up again once it is up');
  return { host: h.address, port: h.sshPort, username: h.user, hostKey: h.hostKey, site: h.site };
}

/**
 * Opens a session to one site of an inventory, logging in with the inventory's identity file
 * (the lab's admin key), else `identityFile` given, else the SSH agent.
 */
export async function openSession(inv: Inventory, site: string, opts: ConnectOptions & { identityFile?: string; agent?: string } = {}): Promise<SshSession> {
  const h = inv.hosts.find((x) => x.site === site);
  if (!h) throw new Error(`no site "${site}" in the inventory of "${inv.customer}"; sites: ${inv.hosts.map((x) => x.site).join(', ')}`);
  const keyFile = opts.identityFile ?? inv.identityFile;
  const auth: SshAuth = keyFile ? { privateKey: fs.readFileSync(keyFile) } : { agent: opts.agent ?? process.env.SSH_AUTH_SOCK };
  if (!auth.privateKey && !auth.agent) {
    throw new SshConnectError(`${site} (${h.address})`, 'no identity file in the inventory, no --identity and no SSH agent (SSH_AUTH_SOCK)');
  }
  return SshSession.connect(targetOf(h), auth, opts);
}
