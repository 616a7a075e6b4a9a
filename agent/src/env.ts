/**
 * Where the agent keeps things on a host, and how it logs. Every path hangs off one root so
 * tests can run the real agent in a temp dir (TANDEM_AGENT_HOME overrides /var/lib/tandem).
 */
import * as fs from 'fs';
import * as path from 'path';
import { AGENT_HOME } from './contract';

export const AGENT_VERSION = '0.1.0';
/** Protocol version spoken in HELLO; a receiver refuses a sender with another major. */
export const PROTO_VERSION = 1;
/** Inside dataDir: where the receiver stages files before renaming them into place. */
export const STAGING_DIR = '.tandem-staging';

export interface HomePaths {
  readonly home: string;
  readonly config: string;
  readonly status: string;
  readonly stateDir: string;
  readonly receiverState: string;
  readonly journal: string;
  readonly knownHosts: string;
  readonly key: string;
  readonly logDir: string;
  readonly agentJs: string;
}

export function homePaths(home = process.env.TANDEM_AGENT_HOME || AGENT_HOME): HomePaths {
  const stateDir = path.join(home, 'state');
  return {
    home,
    config: path.join(home, 'config.json'),
    status: path.join(stateDir, 'status.json'),
    stateDir,
    receiverState: path.join(stateDir, 'receiver.json'),
    journal: path.join(stateDir, 'journal.json'),
    knownHosts: path.join(stateDir, 'known_hosts'),
    key: path.join(home, '.ssh', 'id_ed25519'),
    logDir: path.join(home, 'log'),
    agentJs: path.join(home, 'agent.js'),
  };
}

/** Test-only: senders spawn `node agent.js receive` locally instead of ssh (see docs/agent.md). */
export function testTransport(): boolean {
  // Refused on a real host: it only works with a non-default home, which tests always set.
  return process.env.TANDEM_TEST_TRANSPORT === 'local' && !!process.env.TANDEM_AGENT_HOME;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';
let logFile: string | null = null;
let logFd: number | null = null;
const LOG_CAP = 10 * 1024 * 1024;

/** Also append log lines to this file (the receiver's stderr goes back to its sender). */
export function logToFile(file: string): void {
  logFile = file;
}

export function log(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (level === 'debug' && !process.env.TANDEM_DEBUG) return;
  const line =
    `${new Date().toISOString()} ${level} ${msg}` + (fields ? ' ' + safeJson(fields) : '') + '\n';
  try {
    if (!process.env.TANDEM_QUIET) process.stderr.write(line);
  } catch {
    /* stderr gone (peer closed): the file below still gets it */
  }
  if (!logFile) return;
  try {
    if (logFd === null) {
      fs.mkdirSync(path.dirname(logFile), { recursive: true });
      try {
        if (fs.statSync(logFile).size > LOG_CAP) fs.renameSync(logFile, logFile + '.1');
      } catch {
        /* no log yet */
      }
      logFd = fs.openSync(logFile, 'a');
    }
    fs.writeSync(logFd, line);
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
