/**
 * Runs the real bundled agent in temp dirs. The daemon uses the test-only local transport
 * (TANDEM_TEST_TRANSPORT=local): it spawns `node agent.js receive` (and rsync through
 * `agent.js test-rsh`) instead of ssh, with child.address = the child's agent home.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AgentChild, AgentConfig, AgentStatus } from '../../agent/src/contract';
import { homePaths } from '../../agent/src/env';
import { currentStatus } from '../../agent/src/status';
import { waitFor as poll } from '../../scripts/util/wait';

const { buildAgent } = require('../../scripts/build-agent.js') as { buildAgent: (out: string) => string };

let bundle: string | null = null;
/** Builds a fresh bundle for this test file (never a stale dist/agent.js). */
export function agentBundle(): string {
  // A bench may run an agent built elsewhere (bench/differential-local.ts --agent-ref=REF).
  if (!bundle && process.env.TANDEM_TEST_AGENT_BUNDLE) bundle = process.env.TANDEM_TEST_AGENT_BUNDLE;
  if (!bundle) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-agent-bundle-'));
    bundle = buildAgent(path.join(dir, 'agent.js'));
  }
  return bundle;
}

export interface Host {
  site: string;
  home: string;
  dataDir: string;
}

export function tempRoot(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tandem-${prefix}-`));
}

export function makeHost(root: string, site: string, dataDir?: string): Host {
  const home = path.join(root, site, 'home');
  const d = dataDir ?? path.join(root, site, 'data');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(d, { recursive: true });
  return { site, home, dataDir: fs.realpathSync(d) };
}

export function child(h: Host, over: Partial<AgentChild> = {}): AgentChild {
  return { site: h.site, address: h.home, sshPort: 22, hostKey: 'ssh-ed25519 AAAAtest', syncIntervalS: 0, bandwidthMbit: null, failover: 'hot', ...over };
}

export function writeConfig(h: Host, over: Partial<AgentConfig> & Pick<AgentConfig, 'role'>): AgentConfig {
  const c: AgentConfig = {
    version: 1,
    customer: 'acme',
    site: h.site,
    epoch: 1,
    dataDir: h.dataDir,
    exclude: [],
    feedFrom: null,
    feedFromAddress: null,
    children: [],
    paused: false,
    pausedChildren: [],
    ...over,
  };
  const tmp = path.join(h.home, 'config.json.tmp');
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2));
  fs.renameSync(tmp, path.join(h.home, 'config.json'));
  return c;
}

const started: ChildProcess[] = [];

export function startDaemon(h: Host, env: Record<string, string> = {}, nodeArgs: string[] = []): ChildProcess {
  const p = spawn(process.execPath, [...nodeArgs, agentBundle(), 'daemon'], {
    env: { ...process.env, TANDEM_AGENT_HOME: h.home, TANDEM_TEST_TRANSPORT: 'local', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (d: string) => {
    err = (err + d).slice(-20000);
    if (process.env.TANDEM_TEST_VERBOSE) process.stderr.write(`[${h.site}] ${d}`);
  });
  (p as ChildProcess & { log: () => string }).log = () => err;
  started.push(p);
  return p;
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => {
            p.kill('SIGKILL');
            resolve();
          }, 3000).unref();
        }),
    ),
  );
}

/** Status as `agent.js status --json` computes it, in-process (polling a CLI is slow). */
export function status(h: Host): AgentStatus {
  return currentStatus(homePaths(h.home));
}

/** The real CLI: `agent.js status --json`. */
export function statusCli(h: Host): AgentStatus {
  const r = spawnSync(process.execPath, [agentBundle(), 'status', '--json'], { env: { ...process.env, TANDEM_AGENT_HOME: h.home }, encoding: 'utf8' });
  return JSON.parse(r.stdout) as AgentStatus;
}

export function waitFor<T>(what: string, fn: () => T | null | undefined | false, timeoutMs = 15000, everyMs = 20): Promise<T> {
  return poll(what, fn, { timeoutMs, everyMs }) as Promise<T>;
}

/** All regular files under dir (relative path -> content), staging dir excluded. */
export function tree(dir: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (r === '.tandem-staging') continue;
    if (e.isDirectory()) for (const [k, v] of tree(dir, r)) out.set(k, v);
    else if (e.isSymbolicLink()) out.set(r, `-> ${fs.readlinkSync(path.join(dir, r))}`);
    else out.set(r, fs.readFileSync(path.join(dir, r), 'latin1'));
  }
  return out;
}

export function sameTree(a: string, b: string): boolean {
  const x = tree(a);
  const y = tree(b);
  if (x.size !== y.size) return false;
  for (const [k, v] of x) if (y.get(k) !== v) return false;
  return true;
}

export function diffTree(a: string, b: string): string {
  const x = tree(a);
  const y = tree(b);
  const out: string[] = [];
  for (const [k, v] of x) if (y.get(k) !== v) out.push(`${k}: ${y.has(k) ? `differs (${v.length} vs ${y.get(k)!.length} bytes)` : 'missing'}`);
  for (const k of y.keys()) if (!x.has(k)) out.push(`${k}: extra`);
  return out.slice(0, 10).join('; ');
}

/** "<n>:<n times one letter>": a torn copy has the wrong length or mixed letters. */
export function content(n: number, letter: string): string {
  return `${n}:${letter.repeat(n)}`;
}

export function torn(s: string): boolean {
  const i = s.indexOf(':');
  const n = Number(s.slice(0, i));
  const body = s.slice(i + 1);
  return !(Number.isInteger(n) && body.length === n && (n === 0 || body === body[0].repeat(n)));
}

/** Pids of the processes named comm whose parent is pid (e.g. the inotifywait a daemon started). */
export function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && name === comm) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
