/**
 * Shared by the failover suites on real lab hosts: a stack whose service is the record writer
 * (test/failover/writer.js: sequence-numbered records at 2,000/s into the data dir, answering on
 * the health port), written to a TEMPORARY stack file (the live layout is recorded there; the
 * repository's stacks/ are never touched), agents installed and mirroring started.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTopology, parseTopologyFile } from '../../model/topology/load';
import type { LiveLayout } from '../../model/live';
import { agentBundle } from '../../scripts/hosts/bundle';
import { installFleet } from '../../scripts/hosts/install';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { readState } from '../../scripts/lab/state';
import { agentStatusOn, cli, fleet, sh, useLab, waitFor, type UsedLab } from '../support/lab';

export { cli, sh, waitFor };
/**
 * The writer as lab hosts can run it. A lab host has its own /tmp (and /run), so a checkout under
 * /tmp (as CI clones it) is not visible there: the script goes to /var/tmp, named by its content.
 */
export function hostVisibleWriter(src = path.join(__dirname, 'writer.js')): string {
  const text = fs.readFileSync(src);
  const dst = path.join('/var/tmp', `tandem-test-writer-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.js`);
  if (!fs.existsSync(dst)) {
    fs.writeFileSync(`${dst}.${process.pid}`, text, { mode: 0o644 });
    fs.renameSync(`${dst}.${process.pid}`, dst);
  }
  return dst;
}
export const WRITER = hostVisibleWriter();
export const DATA = '/srv/trading';
export const PORT = 8443;

export function foYaml(customer: string, sites: string[]): string {
  return [
    `# failover test stack ${customer} (a temporary copy; tandem:live is written here)`,
    'config:',
    `  tandem:customer: ${customer}`,
    '  tandem:topology:',
    `    dataDir: ${DATA}`,
    '    exclude: ["*.tmp"]',
    `    service: { start: "node ${WRITER} start ${DATA} ${PORT}", stop: "node ${WRITER} stop", healthPort: ${PORT} }`,
    '    adminCidrs: [198.18.0.0/15]',
    '    sites:',
    ...sites.map((s) => `      - ${s}`),
    '',
  ].join('\n');
}

export interface FoLab extends UsedLab {
  /** The temporary stack file. */
  file: () => string;
  customer: string;
}

/** Brings the stack up, installs agents, starts mirroring and waits until the continuous mirrors are in sync. */
export function useFoLab(customer: string, sites: string[], opts: { coldOff?: string[] } = {}): FoLab {
  const yaml = foYaml(customer, sites);
  const r = parseTopology(yaml, customer);
  if (!r.topology) throw new Error(`test stack ${customer}: ${JSON.stringify(r.issues)}`);
  const lab = useLab(r.topology, { agent: true });
  let dir = '';
  let file = '';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `tandem-${customer}-`));
    file = path.join(dir, `Pulumi.${customer}.yaml`);
    fs.writeFileSync(file, yaml);
    const f = fleet(lab.inv());
    const inst = await installFleet(f, 'install', agentBundle());
    const bad = inst.filter((x) => x.outcome === 'failed');
    if (bad.length) throw new Error(`agent install failed: ${JSON.stringify(bad)}`);
    const m = await mirrorFleet(f, 'start', []);
    if (m.some((x) => x.outcome === 'failed')) throw new Error(`mirror start failed: ${JSON.stringify(m)}`);
    const mirrors = lab.inv().hosts.filter((h) => h.role === 'mirror');
    await Promise.all(mirrors.map((h) => waitFor(`${h.site} in sync`, async () => ((await agentStatusOn(customer, h.site).catch(() => null))?.inSync ? true : undefined), 90_000, 250)));
    for (const s of opts.coldOff ?? []) {
      const { labFault } = await import('../../scripts/lab/fault');
      await labFault(customer, s, 'poweroff');
    }
  }, 300_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { ...lab, file: () => file, customer };
}

export function liveOf(file: string): LiveLayout | null {
  return parseTopologyFile(file).live ?? null;
}

export function vipHolder(customer: string): string | undefined {
  return readState(customer)?.vipHolder;
}

/** The records on a site: sequence numbers and write times, in file order. */
export async function records(customer: string, site: string): Promise<{ seq: number[]; ms: number[] }> {
  const r = await sh(customer, site, `cat ${DATA}/records.log 2>/dev/null || true`, 60_000);
  const seq: number[] = [];
  const ms: number[] = [];
  for (const l of r.stdout.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(l);
    if (!m) continue;
    seq.push(Number(m[1]));
    ms.push(Number(m[2]));
  }
  return { seq, ms };
}

/** First break in 1..n (a gap or a repeat), or null when the sequence is exactly 1..n. */
export function firstBreak(seq: readonly number[]): string | null {
  for (let i = 0; i < seq.length; i++) if (seq[i] !== i + 1) return `record #${i + 1} is seq ${seq[i]} (previous ${seq[i - 1] ?? '-'})`;
  return null;
}

export async function lastSeq(customer: string, site: string): Promise<number> {
  const r = await sh(customer, site, `tail -n 1 ${DATA}/records.log 2>/dev/null || true`);
  const m = /^(\d+) /.exec(r.stdout.trim());
  return m ? Number(m[1]) : 0;
}

/** Runs a command and parses its JSON stdout; fails with everything it printed otherwise. */
export async function cliJson<T>(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; json: T; stderr: string; ms: number }> {
  const r = await cli(args, timeoutMs);
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as T, stderr: r.stderr, ms: r.ms };
  } catch {
    throw new Error(`tandem ${args.join(' ')} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** Epochs in every reachable host's config. */
export async function configEpochs(customer: string, sites: string[]): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const s of sites) {
    const r = await sh(customer, s, 'cat /var/lib/tandem/config.json 2>/dev/null || true');
    try {
      out[s] = (JSON.parse(r.stdout) as { epoch: number }).epoch;
    } catch {
      out[s] = null;
    }
  }
  return out;
}
