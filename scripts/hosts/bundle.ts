/**
 * The agent as one file (dist/agent.js), rebuilt when any agent source is newer than it, and
 * beside it koffi.node (dist/koffi.node), the agent's optional in-process inotify binary.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandError } from '../errors';

export const REPO = path.resolve(__dirname, '..', '..');
export const BUNDLE = path.join(REPO, 'dist', 'agent.js');
/** What scripts/build-agent.js copies beside the bundle: koffi's prebuilt binary for this machine. */
export const FFI_BUNDLE = path.join(REPO, 'dist', 'koffi.node');
const SOURCES = path.join(REPO, 'agent');
const BUILDER = path.join(REPO, 'scripts', 'build-agent.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (/\.(ts|js|json)$/.test(e.name)) t = Math.max(t, fs.statSync(p).mtimeMs);
  }
  return t;
}

export function agentBundle(log: (m: string) => void = () => undefined): Buffer {
  const stale = !fs.existsSync(BUNDLE) || (fs.existsSync(SOURCES) && newestMtime(SOURCES) > fs.statSync(BUNDLE).mtimeMs);
  if (stale) {
    if (!fs.existsSync(BUILDER)) throw new CommandError(`the agent is not built (${path.relative(REPO, BUNDLE)}) and ${path.relative(REPO, BUILDER)} is missing; build the agent first`);
    log(`building the agent: node ${path.relative(REPO, BUILDER)}`);
    try {
      execFileSync(process.execPath, [BUILDER], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer; status?: number };
      throw new CommandError(`building the agent failed (exit ${err.status ?? '?'}):\n${err.stderr?.toString().trim().split('\n').slice(-8).join('\n') ?? ''}`);
    }
  }
  return fs.readFileSync(BUNDLE);
}

/**
 * koffi.node as a build of the agent left it beside dist/agent.js (call agentBundle() first), with
 * the platform it runs on: the operator's own (build-agent.js copies koffi's linux_<arch> build,
 * which is linked against glibc). Null when there is none (an operator that is not Linux, or
 * koffi's package for this CPU is not installed): hosts then watch with inotifywait.
 */
export interface FfiBinary {
  readonly content: Buffer;
  readonly os: 'linux';
  /** Node's name of the CPU (process.arch): x64, arm64, ... */
  readonly arch: string;
  readonly libc: 'glibc';
}

export function agentFfi(): FfiBinary | null {
  if (process.platform !== 'linux' || !fs.existsSync(FFI_BUNDLE)) return null;
  return { content: fs.readFileSync(FFI_BUNDLE), os: 'linux', arch: process.arch, libc: 'glibc' };
}
