/**
 * Shared by the lab integration tests. Each test file brings up its OWN stack (its own customer
 * name) from a small in-test topology, and takes it down in afterAll and on SIGINT/SIGTERM, so a
 * test that fails half way leaves nothing behind.
 */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { Inventory } from '../../model/inventory';
import { labDown, labUp } from '../../scripts/lab';
import { parseTopology } from '../../model/topology';
import type { Topology } from '../../model/topology/types';
export { describeLab, isRoot } from '../support/lab-gate';

/** Lab tests need root (namespaces, mounts, sshd): see test/support/lab-gate.ts (skipped loudly, or failed under TANDEM_REQUIRE_LAB=1). */

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
  const r = parseTopology(yaml, customer);
  if (!r.topology) throw new Error(`test topology ${customer} is invalid: ${JSON.stringify(r.issues)}`);
  return r.topology;
}

const downOnSignal = new Set<string>();
let handlersInstalled = false;
function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...downOnSignal].map((c) => labDown(c))).finally(() => process.exit(130));
    });
  }
}

/** Brings a stack up in beforeAll and down in afterAll (and on signals). */
export function useLab(t: Topology): { inv: () => Inventory } {
  let inv: Inventory | undefined;
  beforeAll(async () => {
    installSignalHandlers();
    downOnSignal.add(t.customer);
    await labDown(t.customer); // a previous run that died hard
    inv = await labUp(t);
  }, 60000);
  afterAll(async () => {
    await labDown(t.customer);
    downOnSignal.delete(t.customer);
  }, 60000);
  return {
    inv: () => {
      if (!inv) throw new Error(`lab ${t.customer} did not come up (see beforeAll)`);
      return inv;
    },
  };
}

export function adminKey(inv: Inventory): Buffer {
  return fs.readFileSync(inv.identityFile!);
}

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

/** Pids of processes in any of those network namespaces. */
export function processesIn(inodes: number[]): number[] {
  const want = new Set(inodes.map((i) => `net:[${i}]`));
  const pids: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (want.has(fs.readlinkSync(`/proc/${p}/ns/net`))) pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}
