/**
 * Stack config (YAML) -> validated Topology. One place, one set of error messages: the Pulumi
 * program, the lab and every command read a stack through here.
 *
 * This file reads the stack and runs the rules in order. The rules live beside it: fields.ts,
 * notify-fields.ts and site-fields.ts (each field on its own), cross-site.ts (between sites), on
 * checker.ts; yaml.ts reads the YAML and its line numbers, format.ts writes issues as text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIVE_KEY, parseLive, type LiveLayout } from '../live';
import { Checker, err, isObj } from './checker';
import { crossSiteChecks } from './cross-site';
import { readAdminCidrs, readAdminKeys, readCustomer, readDataDir, readDns, readExclude, readService } from './fields';
import { countIssues } from './format';
import { TANDEM_KEYS, TOP_KEYS, TOPOLOGY_KEYS } from './keys';
import { readNotify } from './notify-fields';
import { readSites } from './site-fields';
import type { Issue, Topology } from './types';
import { readStackYaml } from './yaml';

export { describeIssues, fmtDuration } from './format';

export class TopologyError extends Error {
  constructor(
    readonly source: string,
    readonly issues: readonly Issue[],
  ) {
    super(
      `${source}: ${countIssues(issues)}\n` +
        issues
          .filter((i) => i.severity === 'error')
          .map((i) => `  ${i.message}`)
          .join('\n'),
    );
    this.name = 'TopologyError';
  }
}

export interface ParseResult {
  /** Present only when there is no error (warnings allowed). */
  readonly topology?: Topology;
  /** The live layout (`tandem:live`) when the stack has had a failover; null or absent otherwise. */
  readonly live?: LiveLayout | null;
  readonly issues: readonly Issue[];
}

export const STACKS_DIR = path.resolve(__dirname, '..', '..', 'stacks');

export function stackFile(customer: string, stacksDir = STACKS_DIR): string {
  return path.join(stacksDir, `Pulumi.${customer}.yaml`);
}

/** Reads and validates a stack file; throws TopologyError listing every problem. */
export function loadTopology(file: string): { topology: Topology; issues: readonly Issue[] } {
  const r = parseTopologyFile(file);
  if (!r.topology) throw new TopologyError(file, r.issues);
  return { topology: r.topology, issues: r.issues };
}

export function parseTopologyFile(file: string): ParseResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? `no such file; stack files live in stacks/ as Pulumi.<customer>.yaml` : `cannot read it (${code ?? String(e)})`;
    return { issues: [err('file', `${file}: ${hint}`)] };
  }
  const m = /^Pulumi\.([^.]+)\.yaml$/.exec(path.basename(file));
  return parseTopology(text, m ? m[1] : undefined);
}

/**
 * Parses the text of a stack config. `stackName`, when known from the file name, must agree with
 * `tandem:customer`.
 */
export function parseTopology(text: string, stackName?: string): ParseResult {
  const y = readStackYaml(text);
  if (!y.ok) return { issues: y.issues };
  const check = new Checker(y.line);
  const topology = validate(check, y.root, stackName);
  return withLive(topology, check.all(), y.root);
}

/**
 * Validates stack config values that are already parsed, as the Pulumi program gets them from
 * `pulumi.Config` at `pulumi up` time: `{ 'tandem:customer': ..., 'tandem:topology': ... }`.
 * Same rules and messages as the file path, without line numbers.
 */
export function topologyFromConfig(config: Record<string, unknown>, stackName?: string): ParseResult {
  const check = new Checker(() => '');
  const topology = validate(check, { config }, stackName);
  return withLive(topology, check.all(), { config });
}

/** Adds the validated live layout (`tandem:live`, written by failovers) to a parse result. */
function withLive(topology: Topology | undefined, issues: Issue[], root: unknown): ParseResult {
  if (issues.some((i) => i.severity === 'error') || !topology) return { issues };
  const config = isObj(root) && isObj(root.config) ? root.config : {};
  const r = parseLive(config[LIVE_KEY], topology);
  const all = [...issues, ...r.issues];
  return r.issues.length ? { issues: all } : { topology, live: r.live, issues: all };
}

/** Runs every rule over a parsed stack config, in the order the messages come out; the Topology when no error was found. */
function validate(check: Checker, root: unknown, stackName: string | undefined): Topology | undefined {
  if (!isObj(root)) {
    check.error('config', `the file is not a Pulumi stack config; it must be a mapping with a "config:" key holding tandem:customer and tandem:topology`);
    return undefined;
  }
  check.unknownKeys(root, TOP_KEYS, '', []);
  const config = root.config;
  if (!isObj(config)) {
    check.error('config', `config is missing or not a mapping; a stack file starts with "config:" holding tandem:customer and tandem:topology`);
    return undefined;
  }
  const tandemKeys = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith('tandem:')));
  check.unknownKeys(tandemKeys, TANDEM_KEYS, 'config', ['config']);

  const customer = readCustomer(check, config['tandem:customer'], stackName);
  const t = config['tandem:topology'];
  if (!isObj(t)) {
    check.error('tandem:topology', `tandem:topology is missing or not a mapping; see stacks/Pulumi.lab.yaml for a complete example`);
    return undefined;
  }
  const yp = ['config', 'tandem:topology'];
  check.unknownKeys(t, TOPOLOGY_KEYS, '', yp);

  const dataDir = readDataDir(check, t.dataDir);
  const exclude = readExclude(check, t.exclude);
  const service = readService(check, t.service);
  const allowOpenSsh = check.bool(t, 'allowOpenSsh', false);
  const adminCidrs = readAdminCidrs(check, t.adminCidrs, allowOpenSsh);
  const adminKeys = readAdminKeys(check, t.adminKeys);
  const dns = readDns(check, t.dns);
  const notify = readNotify(check, t.notify);
  const targets = check.targets(t, '');
  const parsed = readSites(check, t.sites, yp);
  if (parsed) crossSiteChecks(check, parsed.sites, parsed.raw, parsed.complete, targets ?? {});
  if (adminKeys && adminKeys.length === 0 && parsed?.sites.some((s) => s.provider !== 'offcloud')) {
    check.warn(
      'adminKeys',
      `adminKeys is empty: nobody could log in to the cloud hosts \`pulumi up\` creates, so it will refuse; add your public key, e.g. adminKeys: ["ssh-ed25519 AAAA... you@laptop"] (the local lab does not need it)`,
    );
  }

  if (customer === undefined || dataDir === undefined || !service || !adminCidrs || !adminKeys || dns === undefined || notify === undefined || !targets || !parsed?.complete) {
    return undefined;
  }
  // `relayVia: <the master>` means the same as no relayVia; one spelling downstream.
  const masterName = parsed.sites.find((x) => x.role === 'master')?.name;
  const sites = parsed.sites.map((x) => (x.role === 'mirror' && x.relayVia === masterName ? { ...x, relayVia: null } : x));
  return { customer, dataDir, exclude, service, adminCidrs, allowOpenSsh, adminKeys, dns, sites, ...(notify ? { notify } : {}), ...targets };
}
