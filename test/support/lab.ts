/**
 * The one lab test harness: every suite that runs on real lab hosts (test/lab, test/ops,
 * test/agent's lab suites) brings up its OWN stack (its own customer name) with useLab, which takes
 * it down in afterAll and on SIGINT/SIGTERM, so a test that fails half way leaves nothing behind.
 * Whether the suite can run at all is decided by describeLab (./lab-gate): skipped loudly, or
 * failed under TANDEM_REQUIRE_LAB=1, never skipped quietly.
 */
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentStatus } from '../../agent/src/contract';
import type { Inventory } from '../../model/inventory';
import { parseTopology } from '../../model/topology/load';
import type { Topology } from '../../model/topology/types';
import { agentBundle } from '../../scripts/hosts/bundle';
import type { FleetOptions } from '../../scripts/hosts/install';
import { silentProgress } from '../../scripts/hosts/parallel';
import { connectorFor } from '../../scripts/hosts/ssh';
import { hostExec, labDown, labInventoryPath, labUp } from '../../scripts/lab';
import { pidsInNetns } from '../../scripts/lab/sys';
import { sleep, waitFor as poll } from '../../scripts/util/wait';
import { describeLab, isRoot, labRequired, labUnavailable } from './lab-gate';

export { describeLab, isRoot, labRequired, labUnavailable };

const REPO = path.resolve(__dirname, '..', '..');

// ---- topologies ---------------------------------------------------------------------------

/** A stack file's text: `sites` are YAML flow maps (relayVia, failover, syncIntervalS as needed). */
export function stackYaml(customer: string, sites: string[]): string {
  return [
    'config:',
    `  tandem:customer: ${customer}`,
    '  tandem:topology:',
    '    dataDir: /srv/trading',
    '    exclude: ["*.tmp"]',
    '    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }',
    '    adminCidrs: [198.18.0.0/15]',
    '    sites:',
    ...sites.map((s) => `      - ${s}`),
  ].join('\n');
}

export interface SiteSpec {
  name: string;
  region: string;
  role?: 'master' | 'mirror';
  linkMbit?: number;
  diskMb?: number;
}

/** A small valid topology: first site is the master, the others mirrors in their own regions. */
export function labTopology(customer: string, sites: SiteSpec[], dataDir = '/srv/trading'): Topology {
  const yaml = [
    'config:',
    `  tandem:customer: ${customer}`,
    '  tandem:topology:',
    `    dataDir: ${dataDir}`,
    '    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }',
    '    adminCidrs: [198.18.0.0/15]',
    '    sites:',
    ...sites.flatMap((s, i) => {
      const lab = [s.linkMbit ? `linkMbit: ${s.linkMbit}` : '', s.diskMb ? `diskMb: ${s.diskMb}` : ''].filter(Boolean).join(', ');
      return [
        `      - name: ${s.name}`,
        `        role: ${s.role ?? (i === 0 ? 'master' : 'mirror')}`,
        '        provider: aws',
        `        region: ${s.region}`,
        ...(lab ? [`        lab: { ${lab} }`] : []),
      ];
    }),
  ].join('\n');
  return parsed(yaml, customer);
}

function parsed(yaml: string, customer: string): Topology {
  const r = parseTopology(yaml, customer);
  if (!r.topology) throw new Error(`test topology ${customer} is invalid: ${JSON.stringify(r.issues)}`);
  return r.topology;
}

// ---- bringing a lab up and down -----------------------------------------------------------

const downOnSignal = new Set<string>();
let handlersInstalled = false;
const LOCK_DIR = '/run/lock';
const lockFile = (customer: string) => path.join(LOCK_DIR, `tandem-${customer}.lock`);

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...downOnSignal].map((c) => labDown(c))).finally(() => {
        for (const c of downOnSignal) fs.rmSync(lockFile(c), { force: true });
        process.exit(130);
      });
    });
  }
}

/**
 * One run of a test file at a time per customer: another engineer's `npx jest` running the same
 * file would otherwise take this lab down under us (its beforeAll starts with labDown). A lock
 * held by a dead process is taken over. Bounded wait.
 */
async function lockCustomer(customer: string, waitMs: number): Promise<() => void> {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = lockFile(customer);
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.unlinkSync(file);
        } catch {
          /* gone */
        }
      };
    } catch {
      const holder = Number(fs.readFileSync(file, 'utf8') || 0);
      let alive: boolean;
      try {
        if (holder) process.kill(holder, 0);
        alive = !!holder;
      } catch {
        alive = false;
      }
      if (!alive) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > until) throw new Error(`lab ${customer} is in use by another test run (pid ${holder}); waited ${waitMs / 1000} s`);
      await sleep(500);
    }
  }
}

export interface UsedLab {
  /** The lab's inventory (after beforeAll). */
  inv: () => Inventory;
  /** Where the lab's inventory file is: for `--inventory` on the real command line. */
  invFile: string;
}

/**
 * Brings a stack up in beforeAll and down in afterAll (and on signals). Either a Topology (from
 * labTopology), or a customer and its sites as stack-file flow maps (stackYaml); the latter also
 * builds the agent bundle once, before any timed step, as the operations suites need it.
 */
export function useLab(t: Topology, opts?: { agent?: boolean }): UsedLab;
export function useLab(customer: string, sites: string[]): UsedLab;
export function useLab(a: Topology | string, b?: string[] | { agent?: boolean }): UsedLab {
  const customer = typeof a === 'string' ? a : a.customer;
  const agent = typeof a === 'string' ? true : !!(b as { agent?: boolean } | undefined)?.agent;
  let inv: Inventory | undefined;
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    const topology = typeof a === 'string' ? parsed(stackYaml(a, b as string[]), a) : a;
    unlock = await lockCustomer(customer, 240_000);
    installSignalHandlers();
    downOnSignal.add(customer);
    await labDown(customer); // a previous run that died hard
    inv = await labUp(topology);
    if (agent) agentBundle();
  }, 330_000);
  afterAll(async () => {
    try {
      await labDown(customer);
    } finally {
      downOnSignal.delete(customer);
      unlock?.();
    }
  }, 90_000);
  return {
    inv: () => {
      if (!inv) throw new Error(`lab ${customer} did not come up (see beforeAll)`);
      return inv;
    },
    invFile: labInventoryPath(customer),
  };
}

// ---- working on the hosts -----------------------------------------------------------------

export function fleet(inv: Inventory, progress = silentProgress): FleetOptions {
  return { inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress };
}

export function adminKey(inv: Inventory): Buffer {
  return fs.readFileSync(inv.identityFile!);
}

/** Runs a shell script inside a lab host (nsenter, as root; not SSH). */
export async function sh(customer: string, site: string, script: string, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await hostExec(customer, site, ['sh', '-c', script], { timeoutMs });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The agent's own status on a lab host (`agent.js status --json`, inside the host, not SSH). */
export async function agentStatusOn(customer: string, site: string): Promise<AgentStatus> {
  const r = await hostExec(customer, site, ['node', '/var/lib/tandem/agent.js', 'status', '--json']);
  return JSON.parse(r.stdout) as AgentStatus;
}

/** Polls until `fn` returns a value (not undefined); bounded. A poll that throws ends the wait. */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  return poll(what, fn, { timeoutMs, everyMs, done: (v) => v !== undefined, retryErrors: false }) as Promise<T>;
}

/** Polls until `fn` returns something truthy; a poll that throws counts as "not yet". */
export function waitUntil<T>(what: string, fn: () => Promise<T | null | false | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  return poll(what, fn, { timeoutMs, everyMs }) as Promise<T>;
}

/** The real command line (bin/tandem), as a user runs it. */
export function cli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO, 'bin', 'tandem'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

// ---- what a lab leaves on the machine -----------------------------------------------------

/** Everything on the machine that still names a stack: namespaces, links, mounts, its dir. */
export function traces(customer: string, slotLink?: string): string[] {
  const out: string[] = [];
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const l of ns.split('\n')) {
    const n = l.split(' ')[0];
    if (n === `tl.${customer}` || n.startsWith(`tl.${customer}.`)) out.push(`netns ${n}`);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  if (slotLink && links.split('\n').some((l) => l.includes(` ${slotLink}@`) || l.includes(` ${slotLink}:`))) out.push(`link ${slotLink}`);
  for (const l of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    if (l.includes(`/tandem-lab/${customer}/`) || l.includes(`tandem-lab-${customer}-`)) out.push(`mount ${l}`);
  }
  const dir = `${process.env.TANDEM_LAB_DIR || '/var/lib/tandem-lab'}/${customer}`;
  if (fs.existsSync(dir)) out.push(`dir ${dir}`);
  return out;
}

/** Inodes of a stack's network namespaces (to find processes after the names are gone). */
export function netnsInodes(customer: string): number[] {
  const out: number[] = [];
  for (const n of fs.readdirSync('/run/netns')) {
    if (n === `tl.${customer}` || n.startsWith(`tl.${customer}.`)) out.push(fs.statSync(`/run/netns/${n}`).ino);
  }
  return out;
}

/** Pids of processes in any of those network namespaces (the lab's one way: pidsInNetns). */
export function processesIn(inodes: number[]): number[] {
  return pidsInNetns(inodes);
}
