/**
 * Where the agent keeps things on a host, and how it logs. Every path hangs off one root so
 * tests can run the real agent in a temp dir (TANDEM_AGENT_HOME overrides /var/lib/tandem).
 */
import * as fs from 'fs';
import * as path from 'path';
import { AGENT_HOME, hostLayout, type HomePaths } from './contract';

export const AGENT_VERSION = '0.2.0';
/** Protocol version spoken in HELLO; a receiver refuses a sender with another major. */
export const PROTO_VERSION = 1;
/** Inside dataDir: where the receiver stages files before renaming them into place. */
export const STAGING_DIR = '.tandem-staging';

export type { HomePaths };

/** The host layout under the agent's home (tests set TANDEM_AGENT_HOME to a temp dir). */
export function homePaths(home = process.env.TANDEM_AGENT_HOME || AGENT_HOME): HomePaths {
  return hostLayout(home);
}

/** Test-only: senders spawn `node agent.js receive` locally instead of ssh (see docs/agent.md). */
export function testTransport(): boolean {
  // Refused on a real host: it only works with a non-default home, which tests always set.
  return process.env.TANDEM_TEST_TRANSPORT === 'local' && !!process.env.TANDEM_AGENT_HOME;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';
let logFile: string | null = null;
let logFd: number | null = null;
let logBytes = 0;
/**
 * Every log file the agent writes is capped: past LOG_CAP it is renamed to `<file>.1` (replacing
 * the previous one) and started afresh, so a log costs at most 2 x LOG_CAP on the host. A
 * receiver whose peer vanished once wrote "uncaught exception EPIPE" at ~4.6 MB/s into an
 * uncapped log; whatever loops next, the disk of a mirror is not what it fills.
 */
export const LOG_CAP = 4 * 1024 * 1024;
/** Set once stderr failed (EPIPE: the ssh peer is gone): writing to it again only fails again. */
let stderrGone = false;

/** Also append log lines to this file (the receiver's stderr goes back to its sender). */
export function logToFile(file: string): void {
  if (logFd !== null && file !== logFile) {
    try {
      fs.closeSync(logFd);
    } catch {
      /* already closed */
    }
    logFd = null;
  }
  logFile = file;
}

/** Stop writing to stderr (its reader is gone); the log file still gets every line. */
export function stderrClosed(): void {
  stderrGone = true;
}

export function log(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (level === 'debug' && !process.env.TANDEM_DEBUG) return;
  const line = `${new Date().toISOString()} ${level} ${msg}` + (fields ? ' ' + safeJson(fields) : '') + '\n';
  try {
    if (!process.env.TANDEM_QUIET && !stderrGone && !process.stderr.destroyed) process.stderr.write(line);
  } catch {
    /* stderr gone (peer closed): the file below still gets it */
  }
  if (logFile) appendCapped(logFile, line);
}

function appendCapped(file: string, line: string): void {
  try {
    if (logFd === null) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      logFd = fs.openSync(file, 'a');
      logBytes = fs.fstatSync(logFd).size;
    }
    const buf = Buffer.from(line);
    if (logBytes > 0 && logBytes + buf.length > LOG_CAP) {
      // Checked on every write, not only at open: a long-lived process must not outgrow it.
      fs.closeSync(logFd);
      logFd = null;
      fs.renameSync(file, `${file}.1`);
      logFd = fs.openSync(file, 'a');
      logBytes = fs.fstatSync(logFd).size;
    }
    // One line never exceeds the cap on its own.
    const out = buf.length > LOG_CAP ? buf.subarray(0, LOG_CAP) : buf;
    fs.writeSync(logFd, out);
    logBytes += out.length;
  } catch {
    /* logging must never take the agent down */
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function errMsg(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message;
  return String(e);
}

/** Write a small file so readers see the old or the new content, never half. */
export function writeFileAtomic(file: string, data: string | Buffer, fsync = false): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (fsync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
