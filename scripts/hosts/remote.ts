/**
 * What operations need from an SSH session to a host, and errors that say which host, which
 * step, the exit code and the tail of stderr. The real sessions come from ./ssh.ts (the lab
 * engineer's ssh2 wrapper); tests can hand in fakes.
 */
import type { InventoryHost } from '../../model/inventory';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: string | null;
}

export interface ExecOptions {
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface Remote {
  readonly site: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void> | void;
}

export interface SshSettings {
  /** Private key file; else the inventory's identityFile; else the SSH agent. */
  readonly identity?: string;
  /** Connect timeout. */
  readonly timeoutMs: number;
  /** Further connect attempts after a failure (never after a host key mismatch). @default 1 */
  readonly retries?: number;
}

export type Connector = (host: InventoryHost, ssh: SshSettings) => Promise<Remote>;

export function tail(s: string, lines = 8): string {
  const t = s.trimEnd().split('\n');
  return t.slice(-lines).join('\n');
}

export class RemoteStepError extends Error {
  constructor(
    readonly site: string,
    readonly step: string,
    readonly command: string,
    readonly code: number | null,
    readonly stderrTail: string,
  ) {
    super(`${site}: ${step} failed (exit ${code ?? 'none'})${stderrTail ? `:\n    ${stderrTail.split('\n').join('\n    ')}` : ''}`);
    this.name = 'RemoteStepError';
  }
}

/** Runs a step; a non-zero exit becomes a RemoteStepError naming the host and step. */
export async function step(r: Remote, what: string, command: string, opts?: ExecOptions): Promise<ExecResult> {
  const res = await r.exec(command, opts);
  if (res.code !== 0) {
    throw new RemoteStepError(r.site, what, command.length > 200 ? `${command.slice(0, 200)}...` : command, res.code, tail(res.stderr || res.stdout));
  }
  return res;
}
