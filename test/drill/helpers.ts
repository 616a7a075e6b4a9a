/**
 * The drill suites' lab (customer dr1): a master, a hot mirror, a warm mirror in another cloud and
 * a cold mirror (powered off), with the lab's stand-in platform as the service. The stack file is a
 * temporary copy (the live layout is written there) that also names a webhook: a real HTTP
 * receiver started by the test on the operator end of the lab's own link (lab hosts cannot reach
 * this machine's loopback; that address is the root namespace, reached through the lab router).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseTopology } from '../../model/topology/load';
import { installFleet } from '../../scripts/hosts/install';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { fleetFrom } from '../../scripts/hosts/run';
import { agentBundle } from '../../scripts/hosts/bundle';
import { labFault } from '../../scripts/lab/fault';
import { readState } from '../../scripts/lab/state';
import { agentStatusOn, cli, sh, useLab, waitFor, type UsedLab } from '../support/lab';

export { cli, sh, waitFor };

export const SITES = [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, failover: warm }',
  '{ name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: cold }',
];

export function drYaml(customer: string, webhook: string | null): string {
  return [
    `# drill test stack ${customer} (a temporary copy; tandem:live is written here)`,
    'config:',
    `  tandem:customer: ${customer}`,
    '  tandem:topology:',
    '    dataDir: /srv/trading',
    '    exclude: ["*.tmp"]',
    '    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }',
    '    adminCidrs: [198.18.0.0/15]',
    ...(webhook ? [`    notify: { webhooks: [${webhook}] }`] : []),
    // The lab's figures on a 2-core machine shared with other suites (BENCHMARKS.md): planned ~4-6 s, unplanned ~4-6 s, cold ~10-15 s.
    '    rtoTargetS: 20',
    '    sites:',
    ...SITES.map((s) => `      - ${s}`),
    '',
  ].join('\n');
}

export interface Hook {
  url: string;
  posts: { at: number; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

export async function startHook(host: string): Promise<Hook> {
  const posts: Hook['posts'] = [];
  const srv = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      try {
        posts.push({ at: Date.now(), body: JSON.parse(b) as Record<string, unknown> });
      } catch {
        posts.push({ at: Date.now(), body: { unparsed: b } });
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as AddressInfo).port;
  return { url: `http://${host}:${port}/tandem`, posts, close: () => new Promise((r) => srv.close(() => r())) };
}

export interface DrLab extends UsedLab {
  file: () => string;
  hook: () => Hook;
  customer: string;
}

export function useDrLab(customer: string): DrLab {
  const r = parseTopology(drYaml(customer, null), customer);
  if (!r.topology) throw new Error(`test stack ${customer}: ${JSON.stringify(r.issues)}`);
  const lab = useLab(r.topology, { agent: true });
  let dir = '';
  let file = '';
  let hook: Hook | null = null;
  beforeAll(async () => {
    const st = readState(customer)!;
    hook = await startHook(st.plan.operatorAddress);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `tandem-${customer}-`));
    file = path.join(dir, `Pulumi.${customer}.yaml`);
    fs.writeFileSync(file, drYaml(customer, hook.url));
    process.env.TANDEM_JOURNAL_DIR = path.join(dir, 'journal');
    const { fleet } = await fleetFrom({ file, parallel: 8, timeout: 10 }, { progress: () => undefined });
    const inst = await installFleet(fleet, 'install', agentBundle());
    if (inst.some((x) => x.outcome === 'failed')) throw new Error(`agent install failed: ${JSON.stringify(inst)}`);
    const m = await mirrorFleet(fleet, 'start', []);
    if (m.some((x) => x.outcome === 'failed')) throw new Error(`mirror start failed: ${JSON.stringify(m)}`);
    for (const h of lab.inv().hosts.filter((x) => x.role === 'mirror')) {
      await waitFor(`${h.site} in sync`, async () => ((await agentStatusOn(customer, h.site).catch(() => null))?.inSync ? true : undefined), 90_000, 250);
    }
    await labFault(customer, 'ldn', 'poweroff');
    const s = await cli(['service', 'start', file]);
    if (s.code !== 0) throw new Error(`service start: ${s.stderr}`);
  }, 300_000);
  afterAll(async () => {
    await hook?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { ...lab, file: () => file, hook: () => hook!, customer };
}

/** The records of the drill's file on a site, counted by the test itself: (tag, seq) -> write ms. */
export async function recordsOn(customer: string, site: string, file: string): Promise<{ byTag: Map<string, Map<number, number>>; seqs: number[]; bad: number }> {
  const r = await sh(customer, site, `cat ${file} 2>/dev/null || true`, 60_000);
  const byTag = new Map<string, Map<number, number>>();
  const seqs: number[] = [];
  let bad = 0;
  for (const l of r.stdout.split('\n')) {
    if (!l) continue;
    const m = /^(\d+) (\d+) (\S+)$/.exec(l);
    if (!m) {
      bad++;
      continue;
    }
    seqs.push(Number(m[1]));
    let t = byTag.get(m[3]);
    if (!t) byTag.set(m[3], (t = new Map()));
    t.set(Number(m[1]), Number(m[2]));
  }
  return { byTag, seqs, bad };
}
