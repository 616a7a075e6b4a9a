/**
 * Helpers of the operations integration tests on real lab hosts. Each test file brings up its
 * own stack (its own customer name, `optest-*`) in beforeAll and takes it down in afterAll and on
 * SIGINT/SIGTERM. Without root (namespaces, mounts, sshd) they are skipped, loudly.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Inventory } from '../../model/inventory';
import { hostExec, labDown, labInventoryPath, labUp } from '../../scripts/lab';
import { parseTopology } from '../../model/topology/load';
import { agentBundle } from '../../scripts/hosts/bundle';
import type { FleetOptions } from '../../scripts/hosts/install';
import { silentProgress } from '../../scripts/hosts/parallel';
import { connectorFor } from '../../scripts/hosts/ssh';

import { describeLab, isRoot } from '../support/lab-gate';
export { describeLab, isRoot };

const REPO = path.resolve(__dirname, '..', '..');

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

const downOnSignal = new Set<string>();
let handlers = false;

const LOCK_DIR = '/run/lock';

/**
 * One run of a test file at a time per customer: another engineer's `npx jest` running the same
 * file would otherwise take this lab down under us (its beforeAll starts with labDown). A lock
 * held by a dead process is taken over. Bounded wait.
 */
async function lockCustomer(customer: string, waitMs: number): Promise<() => void> {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = path.join(LOCK_DIR, `tandem-${customer}.lock`);
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
      let alive = false;
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
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export function useLab(customer: string, sites: string[]): { inv: () => Inventory; invFile: string } {
  let inv: Inventory | undefined;
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await lockCustomer(customer, 240_000);
    const r = parseTopology(stackYaml(customer, sites), customer);
    if (!r.topology) throw new Error(`test topology ${customer}: ${JSON.stringify(r.issues)}`);
    if (!handlers) {
      handlers = true;
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () =>
          void Promise.allSettled([...downOnSignal].map((c) => labDown(c))).finally(() => {
            for (const c of downOnSignal) fs.rmSync(path.join(LOCK_DIR, `tandem-${c}.lock`), { force: true });
            process.exit(130);
          }),
        );
      }
    }
    downOnSignal.add(customer);
    await labDown(customer); // a run that died hard
    inv = await labUp(r.topology);
    agentBundle(); // build once, before any timed step
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

export function fleet(inv: Inventory, progress = silentProgress): FleetOptions {
  return { inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress };
}

/** Runs a shell script inside a lab host (nsenter, as root; not SSH). */
export async function sh(customer: string, site: string, script: string, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await hostExec(customer, site, ['sh', '-c', script], { timeoutMs });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Polls until `fn` returns a value (not undefined); bounded. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
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
