/** Running system commands for the lab, with errors that name the command, exit code and stderr. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

export class LabCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
    readonly context?: string,
  ) {
    const err = result.stderr.trimEnd().split('\n').slice(-6).join('\n');
    super(`${context ? `${context}: ` : ''}\`${argv.join(' ')}\` failed with exit code ${result.code}${err ? `: ${err}` : ''}`);
    this.name = 'LabCommandError';
  }
}

export interface RunOptions {
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
  /** Resolve instead of throwing on a non-zero exit. */
  readonly allowFail?: boolean;
  readonly context?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${opts.context ? `${opts.context}: ` : ''}cannot run ${argv[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const r = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal}${opts.timeoutMs ? `, timeout ${opts.timeoutMs} ms` : ''})` : ''),
        code,
      };
      if (code !== 0 && !opts.allowFail) reject(new LabCommandError(argv, r, opts.context));
      else resolve(r);
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** `ip` in a namespace (or the root namespace when ns is null). */
export function ip(ns: string | null, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['ip', ...(ns ? ['-n', ns] : []), ...args], opts);
}

export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((x) => x.name);
}

/** Inode of a named network namespace (/run/netns/<name>); null when there is none. */
export function netnsInode(ns: string): number | null {
  try {
    return fs.statSync(`/run/netns/${ns}`).ino;
  } catch {
    return null;
  }
}

/**
 * The one way to list a network namespace's processes: pids (as this machine sees them) of every
 * process whose network namespace is one of these, named or by inode (an inode still finds the
 * processes after the name is gone). This process is never listed. Reads /proc directly, as
 * `ip netns pids` does, without a child process per call.
 */
export function pidsInNetns(namespaces: readonly (string | number)[]): number[] {
  const want = new Set(
    namespaces
      .map((n) => (typeof n === 'number' ? n : netnsInode(n)))
      .filter((n): n is number => n !== null)
      .map((i) => `net:[${i}]`),
  );
  if (!want.size) return [];
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (want.has(fs.readlinkSync(`/proc/${p}/ns/net`))) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Pids of every process in a named network namespace (see pidsInNetns). */
export async function netnsPids(ns: string): Promise<number[]> {
  return pidsInNetns([ns]);
}

export function killPids(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    // Never 0 or negative (a process group, or every process), never this process.
    if (!Number.isInteger(p) || p <= 1 || p === process.pid) continue;
    try {
      process.kill(p, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Mount points (from this process's mountinfo) at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

export function isMountPoint(p: string): boolean {
  return mountsUnder(p).includes(p);
}

/** Process state letter from /proc (R, S, T = stopped, Z...), or null if gone. */
export function procState(pid: number): string | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

export { sleep } from '../util/wait';

export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(
      `${what} needs root: the lab creates network namespaces, veth links, bridges and mounts, and starts sshd, which only root can do. Run it as root (e.g. sudo -E npx tandem lab up --stack lab).`,
    );
  }
}
