/**
 * Stack config (YAML) -> validated Topology. One place, one set of error messages: the Pulumi
 * program, the lab and every command read a stack through here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { LIVE_KEY, parseLive, type LiveLayout } from '../live';
import { checkCidr } from './cidr';
import { closest } from './suggest';
import { checkHostKey } from './hostkey';
import { metroOf, REGIONS } from './regions';
// Value rules shared with the inventory check (scripts/hosts/inventory-check.ts).
import { checkAddress, checkDataDir, checkExclude, checkRpoTargetS, checkRtoTargetS, CUSTOMER_RE, SITE_NAME_RE, USER_RE, type RuleResult } from './rules';
import {
  COLD_REFRESH_MAX_H,
  DEFAULT_SIZES,
  DEFAULT_USERS,
  FAILOVER_MODES,
  PROVIDERS,
  ROLES,
  type DnsSpec,
  type FailoverMode,
  type Issue,
  type LabSiteSpec,
  type EmailSpec,
  type NotifySpec,
  type WebhookSpec,
  type Provider,
  type ServiceSpec,
  type Site,
  type Topology,
} from './types';

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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
        const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return err('yaml', `YAML syntax error at ${where}: ${first}; fix the file's indentation or quoting there`);
      }),
    };
  }
  const root: unknown = doc.toJS();
  const v = new Validator(
    (node) => {
      const range = node?.range;
      return range ? lineCounter.linePos(range[0]).line : undefined;
    },
    doc.contents as YamlNode | null,
  );
  const topology = v.run(root, stackName);
  return withLive(topology, v.sorted(), root);
}

/**
 * Validates stack config values that are already parsed, as the Pulumi program gets them from
 * `pulumi.Config` at `pulumi up` time: `{ 'tandem:customer': ..., 'tandem:topology': ... }`.
 * Same rules and messages as the file path, without line numbers.
 */
export function topologyFromConfig(config: Record<string, unknown>, stackName?: string): ParseResult {
  const v = new Validator(() => undefined, null);
  const topology = v.run({ config }, stackName);
  return withLive(topology, v.sorted(), { config });
}

/** Adds the validated live layout (`tandem:live`, written by failovers) to a parse result. */
function withLive(topology: Topology | undefined, issues: Issue[], root: unknown): ParseResult {
  if (issues.some((i) => i.severity === 'error') || !topology) return { issues };
  const config = isObj(root) && isObj(root.config) ? root.config : {};
  const r = parseLive(config[LIVE_KEY], topology);
  const all = [...issues, ...r.issues];
  return r.issues.length ? { issues: all } : { topology, live: r.live, issues: all };
}

function countIssues(issues: readonly Issue[]): string {
  const e = issues.filter((i) => i.severity === 'error').length;
  const w = issues.length - e;
  const parts = [`${e} error${e === 1 ? '' : 's'}`];
  if (w) parts.push(`${w} warning${w === 1 ? '' : 's'}`);
  return parts.join(', ');
}

export function describeIssues(source: string, issues: readonly Issue[]): string {
  const lines = [`${source}: ${countIssues(issues)}`];
  for (const i of issues) lines.push(`  ${i.severity === 'error' ? 'error  ' : 'warning'} ${i.message}`);
  return lines.join('\n');
}

function err(p: string, message: string): Issue {
  return { severity: 'error', path: p, message };
}

const TOP_KEYS = ['config', 'encryptionsalt', 'secretsprovider', 'encryptedkey'];
const TANDEM_KEYS = ['tandem:customer', 'tandem:topology', LIVE_KEY];
const TOPOLOGY_KEYS = ['dataDir', 'exclude', 'service', 'adminCidrs', 'allowOpenSsh', 'adminKeys', 'dns', 'sites', 'notify', 'rtoTargetS', 'rpoTargetS'];
const NOTIFY_KEYS = ['webhooks', 'email', 'reminderMin', 'announceLeadMin'];
const WEBHOOK_KEYS = ['url', 'tokenEnv'];
const EMAIL_KEYS = ['smtp', 'from', 'to', 'user', 'passwordEnv'];
const SERVICE_KEYS = ['start', 'stop', 'healthPort'];
const DNS_KEYS = ['zone', 'name', 'ttl'];
const SITE_KEYS = [
  'name',
  'role',
  'provider',
  'region',
  'size',
  'diskGb',
  'failover',
  'syncIntervalS',
  'relayVia',
  'bandwidthMbit',
  'coldRefreshH',
  'rtoTargetS',
  'rpoTargetS',
  'address',
  'hostKey',
  'user',
  'sshPort',
  'lab',
];
const TARGET_KEYS = ['rtoTargetS', 'rpoTargetS'] as const;
const MIRROR_ONLY = ['failover', 'syncIntervalS', 'relayVia', 'bandwidthMbit', 'coldRefreshH'];

const LAB_KEYS = ['linkMbit', 'diskMb'];
/** Below this cap a continuous mirror cannot keep a sub-second lag through a burst. */
const SLOW_LINK_MBIT = 10;

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

class Validator {
  private readonly issues: Issue[] = [];

  constructor(
    private readonly lineOf: (node: YamlNode | null | undefined) => number | undefined,
    private readonly docRoot: YamlNode | null,
  ) {}

  sorted(): Issue[] {
    return this.issues;
  }

  private error(p: string, message: string): void {
    this.issues.push({ severity: 'error', path: p, message });
  }

  private warn(p: string, message: string): void {
    this.issues.push({ severity: 'warning', path: p, message });
  }

  /** Line of a YAML node at a config path like ['config', 'tandem:topology', 'sites', 2]. */
  private line(keys: (string | number)[]): string {
    let node: unknown = this.docRoot;
    for (const k of keys) {
      if (isMap(node)) node = node.get(k, true);
      else if (isSeq(node)) node = node.get(k as number, true);
      else return '';
    }
    const l = node && (isScalar(node) || isMap(node) || isSeq(node)) ? this.lineOf(node) : undefined;
    return l ? ` (line ${l})` : '';
  }

  private unknownKeys(obj: Obj, allowed: readonly string[], prefix: string, yamlPath: (string | number)[]): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const p = prefix ? `${prefix}.${k}` : k;
      const guess = closest(k, allowed);
      const fix = guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`;
      this.error(p, `${p}: unknown key${this.line([...yamlPath, k])}; ${fix}`);
    }
  }

  private str(obj: Obj, key: string, p: string, opts: { required: boolean; hint: string }): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (opts.required) this.error(`${p}.${key}`.replace(/^\./, ''), `${`${p}.${key}`.replace(/^\./, '')} is missing; ${opts.hint}`);
      return undefined;
    }
    if (typeof v !== 'string' || v.trim() === '') {
      const fp = `${p}.${key}`.replace(/^\./, '');
      this.error(fp, `${fp} ${show(v)} is not a non-empty string; ${opts.hint}`);
      return undefined;
    }
    return v;
  }

  /** Integer (or number with `integer: false`) within bounds; undefined when absent or bad. */
  private num(obj: Obj, key: string, p: string, o: { min: number; max?: number; integer: boolean; what: string }): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    const fp = `${p}.${key}`.replace(/^\./, '');
    const ok = typeof v === 'number' && Number.isFinite(v) && (!o.integer || Number.isInteger(v)) && v >= o.min && (o.max === undefined || v <= o.max);
    if (!ok) {
      const kind = o.integer ? 'a whole number' : 'a number';
      const range = o.max === undefined ? `${o.min} or more` : `from ${o.min} to ${o.max}`;
      this.error(fp, `${fp} ${show(v)} is not allowed; ${o.what} must be ${kind} ${range}`);
      return undefined;
    }
    return v;
  }

  /** rtoTargetS / rpoTargetS of a site or of the topology: absent, or valid, or an error (returned as null). */
  private targets(obj: Obj, p: string): { rtoTargetS?: number; rpoTargetS?: number } | null {
    const out: { rtoTargetS?: number; rpoTargetS?: number } = {};
    let ok = true;
    for (const k of TARGET_KEYS) {
      const v = obj[k];
      if (v === undefined || v === null) continue;
      const r: RuleResult<number> = k === 'rtoTargetS' ? checkRtoTargetS(v) : checkRpoTargetS(v);
      const fp = `${p}.${k}`.replace(/^\./, '');
      if (!r.ok) {
        this.error(fp, `${fp} ${show(v)} ${r.why}`);
        ok = false;
      } else out[k] = r.value;
    }
    return ok ? out : null;
  }

  run(root: unknown, stackName: string | undefined): Topology | undefined {
    if (!isObj(root)) {
      this.error('config', `the file is not a Pulumi stack config; it must be a mapping with a "config:" key holding tandem:customer and tandem:topology`);
      return undefined;
    }
    this.unknownKeys(root, TOP_KEYS, '', []);
    const config = root.config;
    if (!isObj(config)) {
      this.error('config', `config is missing or not a mapping; a stack file starts with "config:" holding tandem:customer and tandem:topology`);
      return undefined;
    }
    const tandemKeys = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith('tandem:')));
    this.unknownKeys(tandemKeys, TANDEM_KEYS, 'config', ['config']);

    const customer = this.customer(config['tandem:customer'], stackName);
    const t = config['tandem:topology'];
    if (!isObj(t)) {
      this.error('tandem:topology', `tandem:topology is missing or not a mapping; see stacks/Pulumi.lab.yaml for a complete example`);
      return undefined;
    }
    const yp = ['config', 'tandem:topology'];
    this.unknownKeys(t, TOPOLOGY_KEYS, '', yp);

    const dataDir = this.dataDir(t.dataDir);
    const exclude = this.exclude(t.exclude);
    const service = this.service(t.service);
    const allowOpenSsh = this.bool(t, 'allowOpenSsh', false);
    const adminCidrs = this.adminCidrs(t.adminCidrs, allowOpenSsh);
    const adminKeys = this.adminKeys(t.adminKeys);
    const dns = this.dns(t.dns);
    const notify = this.notify(t.notify);
    const targets = this.targets(t, '');
    const parsed = this.sites(t.sites, yp);
    if (parsed) this.crossChecks(parsed.sites, parsed.raw, parsed.complete, targets ?? {});
    if (adminKeys && adminKeys.length === 0 && parsed?.sites.some((s) => s.provider !== 'offcloud')) {
      this.warn(
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

  private customer(v: unknown, stackName: string | undefined): string | undefined {
    if (typeof v !== 'string' || !CUSTOMER_RE.test(v)) {
      this.error('tandem:customer', `tandem:customer ${show(v)} is not allowed; use lowercase letters, digits and '-', starting with a letter or digit, at most 40 characters`);
      return undefined;
    }
    if (stackName !== undefined && stackName !== v) {
      this.error('tandem:customer', `tandem:customer "${v}" differs from the stack file's name Pulumi.${stackName}.yaml; rename the file to Pulumi.${v}.yaml or set tandem:customer to "${stackName}"`);
      return undefined;
    }
    return v;
  }

  private bool(obj: Obj, key: string, dflt: boolean): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') {
      this.error(key, `${key} ${show(v)} is not allowed; use true or false`);
      return dflt;
    }
    return v;
  }

  private dataDir(v: unknown): string | undefined {
    if (v === undefined || v === null) {
      this.error('dataDir', `dataDir is missing; set it to the absolute path of the data to mirror, e.g. /srv/trading`);
      return undefined;
    }
    const r = checkDataDir(v);
    if (!r.ok) {
      this.error('dataDir', `dataDir ${show(v)} ${r.why}`);
      return undefined;
    }
    return r.value;
  }

  private exclude(v: unknown): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.error('exclude', `exclude ${show(v)} is not a list; write it as a list of patterns, e.g. ["*.tmp", "logs/**"]`);
      return [];
    }
    const out: string[] = [];
    v.forEach((p, i) => {
      const r = checkExclude(p);
      if (!r.ok) this.error(`exclude[${i}]`, `exclude[${i}] ${show(p)} ${r.why}`);
      else out.push(r.value);
    });
    return out;
  }

  private service(v: unknown): ServiceSpec | undefined {
    if (!isObj(v)) {
      this.error('service', `service is missing or not a mapping; give start, stop and healthPort, e.g. { start: "systemctl start trader", stop: "systemctl stop trader", healthPort: 8443 }`);
      return undefined;
    }
    this.unknownKeys(v, SERVICE_KEYS, 'service', ['config', 'tandem:topology', 'service']);
    const start = this.str(v, 'start', 'service', { required: true, hint: 'give the shell command that starts the trading platform, e.g. "systemctl start trader"' });
    const stop = this.str(v, 'stop', 'service', { required: true, hint: 'give the shell command that stops the trading platform, e.g. "systemctl stop trader"' });
    const healthPort = this.num(v, 'healthPort', 'service', { min: 1, max: 65535, integer: true, what: 'a TCP port' });
    if (v.healthPort === undefined || v.healthPort === null) {
      this.error('service.healthPort', `service.healthPort is missing; give the TCP port that answers when the platform is up, e.g. 8443`);
    }
    if (start === undefined || stop === undefined || healthPort === undefined) return undefined;
    return { start, stop, healthPort };
  }

  private adminCidrs(v: unknown, allowOpenSsh: boolean): string[] | undefined {
    if (!Array.isArray(v) || v.length === 0) {
      this.error('adminCidrs', `adminCidrs ${show(v)} is not allowed; list the networks that may SSH in, e.g. [203.0.113.0/24]`);
      return undefined;
    }
    const out: string[] = [];
    let bad = false;
    v.forEach((c, i) => {
      const p = `adminCidrs[${i}]`;
      const r = typeof c === 'string' ? checkCidr(c) : { ok: false as const, why: 'is not a string' };
      if (!r.ok) {
        bad = true;
        this.error(p, `${p} ${show(c)} ${r.why}; write a CIDR such as 203.0.113.0/24 or 2001:db8::/32`);
        return;
      }
      if (r.prefix === 0 && !allowOpenSsh) {
        bad = true;
        this.error(p, `${p} "${c}" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it`);
        return;
      }
      out.push(c);
    });
    return bad ? undefined : out;
  }

  private adminKeys(v: unknown): string[] | undefined {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.error('adminKeys', `adminKeys ${show(v)} is not a list; write it as a list of public key lines, e.g. ["ssh-ed25519 AAAA... you@laptop"]`);
      return undefined;
    }
    const out: string[] = [];
    let bad = false;
    v.forEach((k, i) => {
      const r = typeof k === 'string' ? checkHostKey(k) : { ok: false as const, why: `${show(k)} is not a key line` };
      if (!r.ok) {
        bad = true;
        this.error(`adminKeys[${i}]`, `adminKeys[${i}] ${r.why}; paste a whole public key line, e.g. the contents of ~/.ssh/id_ed25519.pub`);
      } else out.push((k as string).trim());
    });
    return bad ? undefined : out;
  }

  private dns(v: unknown): DnsSpec | null | undefined {
    if (v === undefined || v === null) return null;
    if (!isObj(v)) {
      this.error('dns', `dns ${show(v)} is not a mapping; write it as { zone: example.com, name: trade.acme.example.com }`);
      return undefined;
    }
    this.unknownKeys(v, DNS_KEYS, 'dns', ['config', 'tandem:topology', 'dns']);
    const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
    const zone = this.str(v, 'zone', 'dns', { required: true, hint: 'give the hosted zone, e.g. example.com' });
    const name = this.str(v, 'name', 'dns', { required: true, hint: 'give the record users connect to, e.g. trade.acme.example.com' });
    const ttl = this.num(v, 'ttl', 'dns', { min: 5, max: 86400, integer: true, what: 'the TTL in seconds' }) ?? 30;
    let ok = zone !== undefined && name !== undefined;
    if (zone !== undefined && !HOST_RE.test(zone.replace(/\.$/, ''))) {
      this.error('dns.zone', `dns.zone "${zone}" is not a domain name; write it like example.com`);
      ok = false;
    }
    if (name !== undefined && !HOST_RE.test(name.replace(/\.$/, ''))) {
      this.error('dns.name', `dns.name "${name}" is not a domain name; write it like trade.acme.example.com`);
      ok = false;
    } else if (zone !== undefined && name !== undefined && !name.replace(/\.$/, '').endsWith(`.${zone.replace(/\.$/, '')}`)) {
      this.error('dns.name', `dns.name "${name}" is not inside dns.zone "${zone}"; use a name ending in .${zone}`);
      ok = false;
    }
    return ok ? { zone: zone!.replace(/\.$/, ''), name: name!.replace(/\.$/, ''), ttl } : undefined;
  }

  /** `notify:` channels. Secrets only by the name of an environment variable, never in clear. */
  private notify(v: unknown): NotifySpec | null | undefined {
    if (v === undefined || v === null) return null;
    const yp = ['config', 'tandem:topology', 'notify'];
    if (!isObj(v)) {
      this.error(
        'notify',
        `notify ${show(v)} is not a mapping; write it as { webhooks: [https://hooks.example.com/tandem], email: { smtp: "smtps://mail.example.com:465", from: tandem@example.com, to: [ops@example.com] } }`,
      );
      return undefined;
    }
    this.unknownKeys(v, NOTIFY_KEYS, 'notify', yp);
    let ok = true;
    const webhooks: WebhookSpec[] = [];
    if (v.webhooks !== undefined && v.webhooks !== null) {
      if (!Array.isArray(v.webhooks)) {
        this.error('notify.webhooks', `notify.webhooks ${show(v.webhooks)} is not a list; write it as a list of URLs, e.g. [https://hooks.example.com/tandem]`);
        ok = false;
      } else {
        v.webhooks.forEach((w, i) => {
          const r = this.webhook(w, `notify.webhooks[${i}]`, [...yp, 'webhooks', i]);
          if (r) webhooks.push(r);
          else ok = false;
        });
      }
    }
    const email = v.email === undefined || v.email === null ? null : this.email(v.email, [...yp, 'email']);
    if (email === undefined) ok = false;
    const reminderMin = this.num(v, 'reminderMin', 'notify', { min: 1, max: 10080, integer: true, what: 'the minutes between reminders while DEGRADED' });
    const lead = this.num(v, 'announceLeadMin', 'notify', { min: 0, max: 10080, integer: true, what: 'the minutes a planned switchover must be announced ahead' });
    if ((v.reminderMin !== undefined && v.reminderMin !== null && reminderMin === undefined) || (v.announceLeadMin !== undefined && v.announceLeadMin !== null && lead === undefined)) ok = false;
    if (ok && webhooks.length === 0 && !email) {
      this.error('notify', `notify has no channel; give webhooks: [<url>] or email: { smtp, from, to }, or remove notify`);
      ok = false;
    }
    if (!ok) return undefined;
    return { webhooks, email: email ?? null, reminderMin: reminderMin ?? 60, announceLeadMin: lead ?? null };
  }

  private secretEnv(obj: Obj, key: string, p: string): string | null | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
      this.error(`${p}.${key}`, `${p}.${key} ${show(v)} is not an environment variable name; use letters, digits and '_', e.g. TANDEM_SMTP_PASSWORD`);
      return undefined;
    }
    return v;
  }

  /** A clear-text secret in the stack file: refused by name, without echoing the value. */
  private clearSecret(obj: Obj, keys: readonly string[], p: string, fix: string): boolean {
    let found = false;
    for (const k of keys) {
      if (obj[k] === undefined) continue;
      this.error(`${p}.${k}`, `${p}.${k}: a secret must not be written in the stack file in clear; ${fix}`);
      delete obj[k];
      found = true;
    }
    return found;
  }

  private httpUrl(v: unknown, p: string): string | undefined {
    let u: URL | null;
    try {
      u = typeof v === 'string' ? new URL(v) : null;
    } catch {
      u = null;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
      this.error(p, `${p} ${typeof v === 'string' ? JSON.stringify(v.replace(/\/\/[^/@]*@/, '//***@')) : show(v)} is not an http(s) URL; write it like https://hooks.example.com/tandem`);
      return undefined;
    }
    if (u.username || u.password) {
      this.error(p, `${p} carries credentials (user:password@) in clear; remove them from the URL and put a token in an environment variable named by tokenEnv`);
      return undefined;
    }
    const secretParam = [...u.searchParams.keys()].find((k) => /token|secret|password|passwd|key|sig/i.test(k));
    if (secretParam) {
      this.error(p, `${p} carries a secret in its query ("${secretParam}=...") in clear; put it in an environment variable and name that variable in tokenEnv`);
      return undefined;
    }
    return typeof v === 'string' ? v : undefined;
  }

  private webhook(w: unknown, p: string, yp: (string | number)[]): WebhookSpec | undefined {
    if (typeof w === 'string') {
      const url = this.httpUrl(w, p);
      return url ? { url, tokenEnv: null } : undefined;
    }
    if (!isObj(w)) {
      this.error(p, `${p} ${show(w)} is neither a URL nor a mapping; write a URL, or { url: https://..., tokenEnv: TANDEM_WEBHOOK_TOKEN }`);
      return undefined;
    }
    const o = { ...w };
    const bad = this.clearSecret(o, ['token', 'password', 'secret'], p, 'set tokenEnv to the name of an environment variable holding it');
    this.unknownKeys(o, WEBHOOK_KEYS, p, yp);
    if (o.url === undefined || o.url === null) {
      this.error(`${p}.url`, `${p}.url is missing; give the receiver's http(s) URL`);
      return undefined;
    }
    const url = this.httpUrl(o.url, `${p}.url`);
    const tokenEnv = this.secretEnv(o, 'tokenEnv', p);
    if (!url || tokenEnv === undefined || bad) return undefined;
    return { url, tokenEnv };
  }

  private email(v: unknown, yp: (string | number)[]): EmailSpec | undefined {
    const p = 'notify.email';
    if (!isObj(v)) {
      this.error(p, `${p} ${show(v)} is not a mapping; write it as { smtp: "smtps://mail.example.com:465", from: tandem@example.com, to: [ops@example.com] }`);
      return undefined;
    }
    const o = { ...v };
    let ok = !this.clearSecret(o, ['password', 'pass', 'secret'], p, 'set passwordEnv to the name of an environment variable holding it, e.g. passwordEnv: TANDEM_SMTP_PASSWORD');
    this.unknownKeys(o, EMAIL_KEYS, p, yp);
    const ADDR_RE = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
    const smtp = this.str(o, 'smtp', p, { required: true, hint: 'give the relay as smtp://host:port or smtps://host:port, e.g. "smtps://mail.example.com:465"' });
    if (smtp !== undefined) {
      const m = /^(smtps?):\/\/([^\s/:@[\]]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(smtp);
      if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
        const shown = smtp.includes('@') ? 'given with credentials' : JSON.stringify(smtp);
        this.error(
          `${p}.smtp`,
          `${p}.smtp ${shown} is not allowed; write smtp://host:port (STARTTLS) or smtps://host:port (TLS), e.g. "smtps://mail.example.com:465"${smtp.includes('@') ? '; the password goes in an environment variable named by passwordEnv' : ''}`,
        );
        ok = false;
      }
    } else ok = false;
    const from = this.str(o, 'from', p, { required: true, hint: 'give the sender address, e.g. tandem@example.com' });
    if (from !== undefined && !ADDR_RE.test(from)) {
      this.error(`${p}.from`, `${p}.from ${JSON.stringify(from)} is not a mail address; write it like tandem@example.com`);
      ok = false;
    } else if (from === undefined) ok = false;
    const to: string[] = [];
    if (!Array.isArray(o.to) || o.to.length === 0) {
      this.error(`${p}.to`, `${p}.to ${show(o.to)} is not allowed; list at least one recipient, e.g. [ops@example.com]`);
      ok = false;
    } else {
      o.to.forEach((a, i) => {
        if (typeof a !== 'string' || !ADDR_RE.test(a)) {
          this.error(`${p}.to[${i}]`, `${p}.to[${i}] ${show(a)} is not a mail address; write it like ops@example.com`);
          ok = false;
        } else to.push(a);
      });
    }
    const user = o.user === undefined || o.user === null ? null : this.str(o, 'user', p, { required: false, hint: 'give the SMTP login name' });
    const passwordEnv = this.secretEnv(o, 'passwordEnv', p);
    if (user === undefined || passwordEnv === undefined) ok = false;
    if (user && !passwordEnv) {
      this.error(`${p}.passwordEnv`, `${p}.passwordEnv is missing while user is set; name the environment variable holding the SMTP password, e.g. passwordEnv: TANDEM_SMTP_PASSWORD`);
      ok = false;
    }
    if (passwordEnv && !user) {
      this.error(`${p}.user`, `${p}.user is missing while passwordEnv is set; give the SMTP login name`);
      ok = false;
    }
    if (!ok) return undefined;
    return { smtp: smtp!, from: from!, to, user: user ?? null, passwordEnv: passwordEnv ?? null };
  }

  /** Every site that parsed, the raw entries, and whether all of them parsed. */
  private sites(v: unknown, yp: (string | number)[]): { sites: Site[]; raw: Obj[]; complete: boolean } | undefined {
    if (!Array.isArray(v) || v.length === 0) {
      this.error('sites', `sites ${show(v)} is not allowed; list one master and at least one mirror`);
      return undefined;
    }
    const out: Site[] = [];
    v.forEach((raw, i) => {
      const s = this.site(raw, i, [...yp, 'sites', i]);
      if (s) out.push(s);
    });
    return { sites: out, raw: v.filter(isObj), complete: out.length === v.length };
  }

  private site(raw: unknown, i: number, yp: (string | number)[]): Site | undefined {
    const p = `sites[${i}]`;
    if (!isObj(raw)) {
      this.error(p, `${p} ${show(raw)} is not a mapping; each site has at least name, role and provider`);
      return undefined;
    }
    const errorsBefore = this.issues.filter((x) => x.severity === 'error').length;
    this.unknownKeys(raw, SITE_KEYS, p, yp);

    const name = raw.name;
    if (typeof name !== 'string' || !SITE_NAME_RE.test(name)) {
      this.error(`${p}.name`, `${p}.name ${show(name)} is not allowed; use lowercase letters, digits and '-', starting with a letter, at most 20 characters`);
    }
    const role = raw.role;
    if (!ROLES.includes(role as never)) {
      this.error(`${p}.role`, `${p}.role ${show(role)} is not allowed; use one of: ${ROLES.join(', ')}`);
    }
    const provider = raw.provider;
    if (!PROVIDERS.includes(provider as never)) {
      const guess = typeof provider === 'string' ? closest(provider, PROVIDERS) : undefined;
      this.error(`${p}.provider`, `${p}.provider ${show(provider)} is not allowed; use one of: ${PROVIDERS.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`);
    }
    const prov = provider as Provider;

    let region: string | null = null;
    if (prov === 'aws' || prov === 'azure') {
      const r = raw.region;
      const table = REGIONS[prov];
      const word = prov === 'aws' ? 'AWS region' : 'Azure location';
      if (r === undefined || r === null) {
        this.error(`${p}.region`, `${p}.region is missing; an ${prov} site needs an ${word}, e.g. ${prov === 'aws' ? 'us-east-1' : 'westeurope'}`);
      } else if (typeof r !== 'string' || !(r in table)) {
        const guess = typeof r === 'string' ? closest(r, Object.keys(table)) : undefined;
        const other = prov === 'aws' ? AZURE_NOTE(r) : AWS_NOTE(r);
        this.error(`${p}.region`, `${p}.region ${show(r)} is not an ${word}${other}; ${guess ? `did you mean "${guess}"?` : `see the ${word}s list in docs/topology.md`}`);
      } else region = r;
      for (const k of ['address', 'hostKey']) {
        if (raw[k] !== undefined) {
          this.error(`${p}.${k}`, `${p}.${k} is only for offcloud sites; ${prov} gives the host its ${k === 'address' ? 'address' : 'host key'} — remove it`);
        }
      }
    } else if (prov === 'offcloud') {
      if (raw.region !== undefined) {
        this.error(`${p}.region`, `${p}.region is not for offcloud sites; remove it (an off-cloud box is reached by its address)`);
      }
      if (raw.address === undefined || raw.address === null) {
        this.error(`${p}.address`, `${p}.address is missing; an offcloud site needs the address tandem reaches it at, e.g. 198.51.100.7 or home.example.net`);
      } else if (typeof raw.address !== 'string' || !checkAddress(raw.address).ok) {
        this.error(`${p}.address`, `${p}.address ${show(raw.address)} is not an IP address or host name; write it like 198.51.100.7 or home.example.net`);
      }
      if (raw.hostKey === undefined || raw.hostKey === null) {
        this.error(
          `${p}.hostKey`,
          `${p}.hostKey is missing; pin the box's SSH host key: run "ssh-keyscan -t ed25519 <address>" on a trusted network, or "cat /etc/ssh/ssh_host_ed25519_key.pub" on the box, and paste the "ssh-ed25519 AAAA..." part`,
        );
      } else {
        const hk = typeof raw.hostKey === 'string' ? checkHostKey(raw.hostKey) : { ok: false as const, why: 'is not a string' };
        if (!hk.ok) {
          this.error(`${p}.hostKey`, `${p}.hostKey ${hk.why}; paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`);
        }
      }
      if (raw.user === undefined || raw.user === null) {
        this.error(`${p}.user`, `${p}.user is missing; an offcloud site needs the SSH user with sudo rights on the box, e.g. trader`);
      }
      for (const k of ['size', 'diskGb']) {
        if (raw[k] !== undefined) this.error(`${p}.${k}`, `${p}.${k} is not for offcloud sites; tandem does not size an off-cloud box — remove it`);
      }
    }
    if (raw.user !== undefined && raw.user !== null && (typeof raw.user !== 'string' || !USER_RE.test(raw.user))) {
      this.error(`${p}.user`, `${p}.user ${show(raw.user)} is not a Unix user name; use lowercase letters, digits, '_' and '-', e.g. trader`);
    }
    if (raw.size !== undefined && prov !== 'offcloud' && (typeof raw.size !== 'string' || !/^[A-Za-z0-9._-]+$/.test(raw.size))) {
      this.error(`${p}.size`, `${p}.size ${show(raw.size)} is not an instance size; write it like c6i.xlarge (AWS) or Standard_D4s_v5 (Azure)`);
    }
    const diskGb = this.num(raw, 'diskGb', p, { min: 8, max: 65536, integer: true, what: 'the data volume size in GiB' });
    const sshPort = this.num(raw, 'sshPort', p, { min: 1, max: 65535, integer: true, what: 'the SSH port' });

    if (role === 'master') {
      for (const k of MIRROR_ONLY) {
        if (raw[k] !== undefined) this.error(`${p}.${k}`, `${p}.${k} is only for mirrors; the master feeds the others — remove it from ${typeof name === 'string' ? `"${name}"` : p}`);
      }
      for (const k of TARGET_KEYS) {
        if (raw[k] !== undefined) {
          this.error(
            `${p}.${k}`,
            `${p}.${k} is only for mirrors (a failover's target is judged by it, and the master is not one); set it on the mirrors, or once for all of them at tandem:topology.${k}`,
          );
        }
      }
    }
    const siteTargets = role === 'master' ? {} : this.targets(raw, p);
    let failover: FailoverMode = 'warm';
    if (raw.failover !== undefined && raw.failover !== null) {
      if (!FAILOVER_MODES.includes(raw.failover as never)) {
        this.error(`${p}.failover`, `${p}.failover ${show(raw.failover)} is not allowed; use one of: ${FAILOVER_MODES.join(', ')} (default warm)`);
      } else failover = raw.failover as FailoverMode;
    }
    const syncIntervalS = this.num(raw, 'syncIntervalS', p, { min: 0, max: 86400, integer: true, what: 'syncIntervalS (0 = continuous, else seconds)' }) ?? 0;
    const bandwidthMbit = this.num(raw, 'bandwidthMbit', p, { min: 0.1, max: 100000, integer: false, what: 'bandwidthMbit (Mbit/s)' }) ?? null;
    const coldRefreshH = this.num(raw, 'coldRefreshH', p, { min: 1, max: COLD_REFRESH_MAX_H, integer: true, what: 'coldRefreshH (hours between refreshes of a cold mirror)' });
    if (coldRefreshH !== undefined && role === 'mirror' && failover !== 'cold') {
      this.error(
        `${p}.coldRefreshH`,
        `${p}.coldRefreshH is only for cold mirrors; ${typeof name === 'string' ? `"${name}"` : p} is ${failover} (running, kept current by the agent) — remove coldRefreshH, or set failover: cold`,
      );
    } else if (coldRefreshH !== undefined && prov === 'offcloud') {
      this.warn(
        `${p}.coldRefreshH`,
        `${p}.coldRefreshH: tandem cannot power an off-cloud box on, so pulumi up creates no schedule for ${typeof name === 'string' ? `"${name}"` : p}; run "tandem mirror refresh ${typeof name === 'string' ? name : '<site>'}" from cron on the operator's machine instead`,
      );
    }
    let relayVia: string | null = null;
    if (raw.relayVia !== undefined && raw.relayVia !== null) {
      if (typeof raw.relayVia !== 'string') this.error(`${p}.relayVia`, `${p}.relayVia ${show(raw.relayVia)} is not a site name; name the mirror this one receives from`);
      else relayVia = raw.relayVia;
    }
    let lab: LabSiteSpec = {};
    if (raw.lab !== undefined && raw.lab !== null) {
      if (!isObj(raw.lab)) this.error(`${p}.lab`, `${p}.lab ${show(raw.lab)} is not a mapping; write it as { linkMbit: 50 }`);
      else {
        this.unknownKeys(raw.lab, LAB_KEYS, `${p}.lab`, [...yp, 'lab']);
        const linkMbit = this.num(raw.lab, 'linkMbit', `${p}.lab`, { min: 0.1, max: 10000, integer: false, what: 'the lab link cap in Mbit/s' });
        const diskMb = this.num(raw.lab, 'diskMb', `${p}.lab`, { min: 16, max: 65536, integer: true, what: 'the lab data directory size in MiB' });
        lab = { ...(linkMbit !== undefined ? { linkMbit } : {}), ...(diskMb !== undefined ? { diskMb } : {}) };
      }
    }

    const errorsAfter = this.issues.filter((x) => x.severity === 'error').length;
    if (errorsAfter > errorsBefore) return undefined;

    const base = {
      name: name as string,
      provider: prov,
      index: i,
      size: prov === 'offcloud' ? DEFAULT_SIZES.offcloud : ((raw.size as string | undefined) ?? DEFAULT_SIZES[prov]),
      diskGb: diskGb ?? 100,
      region,
      address: prov === 'offcloud' ? (raw.address as string) : null,
      hostKey: prov === 'offcloud' ? (raw.hostKey as string).trim().split(/\s+/).slice(0, 2).join(' ') : null,
      user: (raw.user as string | undefined) ?? (prov === 'offcloud' ? '' : DEFAULT_USERS[prov]),
      sshPort: sshPort ?? 22,
      lab,
    };
    if (role === 'master') return { ...base, role: 'master' };
    return { ...base, role: 'mirror', failover, syncIntervalS, relayVia, bandwidthMbit, ...(coldRefreshH !== undefined ? { coldRefreshH } : {}), ...siteTargets };
  }

  /**
   * Checks across sites. Runs even when some sites have errors of their own (so every problem
   * shows at once); counts and names then come from the raw entries, so a master with a typo
   * in its region is not also reported as "no master".
   */
  private crossChecks(sites: readonly Site[], raw: readonly Obj[], complete: boolean, topTargets: { rtoTargetS?: number; rpoTargetS?: number }): void {
    const byName = new Map<string, Site>();
    const rawNames = raw.map((r) => r.name).filter((n): n is string => typeof n === 'string');
    for (const s of sites) {
      const prev = byName.get(s.name);
      if (prev) {
        this.error(`sites[${s.index}].name`, `sites[${s.index}].name "${s.name}" is already used by sites[${prev.index}]; give every site its own name`);
      } else byName.set(s.name, s);
    }
    const rawMasters = raw.filter((r) => r.role === 'master');
    if (rawMasters.length === 0) {
      this.error('sites', `sites has no master; mark exactly one site with role: master`);
    } else if (rawMasters.length > 1) {
      this.error('sites', `sites has ${rawMasters.length} masters (${rawMasters.map((m) => show(m.name)).join(', ')}); exactly one site may have role: master — make the others role: mirror`);
    }
    if (!raw.some((r) => r.role === 'mirror')) {
      this.error('sites', `sites has no mirror; add at least one site with role: mirror in another region`);
    }
    const masters = sites.filter((s) => s.role === 'master');
    const mirrors = sites.filter((s): s is Extract<Site, { role: 'mirror' }> => s.role === 'mirror');
    const addrs = new Map<string, Site>();
    for (const s of sites) {
      if (!s.address) continue;
      const prev = addrs.get(s.address);
      if (prev)
        this.error(`sites[${s.index}].address`, `sites[${s.index}].address "${s.address}" is also the address of "${prev.name}"; two sites on one box are no redundancy — give each its own box`);
      else addrs.set(s.address, s);
    }
    // Relays.
    for (const m of mirrors) {
      if (m.relayVia === null) continue;
      const p = `sites[${m.index}].relayVia`;
      if (m.relayVia === m.name) {
        this.error(p, `${p} "${m.relayVia}" is the site itself; name another mirror to receive from, or remove relayVia to receive from the master`);
        continue;
      }
      const target = byName.get(m.relayVia);
      if (!target) {
        if (rawNames.includes(m.relayVia)) continue; // that site has errors of its own
        const guess = closest(m.relayVia, rawNames);
        this.error(p, `${p} "${m.relayVia}" is not a site in this stack; ${guess ? `did you mean "${guess}"?` : `use one of: ${rawNames.join(', ')}`}`);
        continue;
      }
      if (target.role === 'mirror' && target.failover === 'cold') {
        this.error(p, `${p} "${m.relayVia}" is a cold mirror, powered off between syncs, so it cannot relay; relay through a hot or warm mirror, or remove relayVia`);
      }
      if (target.role === 'mirror' && target.syncIntervalS > m.syncIntervalS) {
        this.warn(
          p,
          `${p} "${m.relayVia}" syncs every ${target.syncIntervalS} s, so "${m.name}" will lag by up to that much whatever its own syncIntervalS; relay through a continuous mirror for less lag`,
        );
      }
    }
    for (const m of mirrors) {
      const seen: string[] = [m.name];
      let cur: Site | undefined = m;
      while (cur && cur.role === 'mirror' && cur.relayVia !== null && cur.relayVia !== cur.name) {
        const next = byName.get(cur.relayVia);
        if (!next) break;
        if (seen.includes(next.name)) {
          if (next.name === m.name) {
            this.error(
              `sites[${m.index}].relayVia`,
              `sites[${m.index}].relayVia forms a cycle (${[...seen, next.name].join(' -> ')}) that never reaches the master; make one of them receive from the master (remove its relayVia)`,
            );
          }
          break;
        }
        seen.push(next.name);
        cur = next;
      }
    }

    if (rawMasters.length !== 1 || masters.length !== 1) return;
    const master = masters[0];

    // Geographic separation: the point of a mirror is to survive what takes the master's site down.
    const place = (s: Site): string | null => (s.provider === 'offcloud' ? null : (metroOf(s.provider, s.region!) ?? `${s.provider}:${s.region}`));
    const masterPlace = place(master);
    const near = (s: Site): boolean => masterPlace !== null && place(s) === masterPlace;
    if (complete && mirrors.length > 0 && mirrors.every(near)) {
      for (const m of mirrors) {
        const same = m.provider === master.provider && m.region === master.region;
        const why = same ? `is the master's region` : `is in ${masterPlace}, the same metro as the master's ${master.provider} ${master.region}`;
        this.error(`sites[${m.index}].region`, `sites[${m.index}].region "${m.region}" ${why}; a mirror must be in another region (one in the master's region is allowed only beside one that is not)`);
      }
    }

    // Slow links: the expected lag of a continuous or near-continuous mirror on a thin pipe.
    for (const m of mirrors) {
      const cap = effectiveCap(m, byName);
      if (cap === null || cap >= SLOW_LINK_MBIT || m.syncIntervalS >= 60) continue;
      const secPerMiB = (8 * 1.048576) / cap;
      const mode = m.syncIntervalS === 0 ? 'continuous' : `every ${m.syncIntervalS} s`;
      this.warn(
        `sites[${m.index}].bandwidthMbit`,
        `sites[${m.index}] "${m.name}" syncs ${mode} over a ${cap} Mbit/s cap: expect about ${secPerMiB.toFixed(1)} s of lag for every MiB changed in a burst (a 100 MiB burst: about ${fmtDuration(secPerMiB * 100)}); raise bandwidthMbit to ${SLOW_LINK_MBIT} or more, or set syncIntervalS to 60 or more to batch`,
      );
    }
    // An RPO target the mirror's own schedule cannot meet: a drill would fail it every time.
    for (const m of mirrors) {
      const rpo = m.rpoTargetS ?? topTargets.rpoTargetS;
      if (rpo === undefined) continue;
      const from = m.rpoTargetS !== undefined ? `sites[${m.index}].rpoTargetS` : 'rpoTargetS';
      const stale = m.failover === 'cold' && m.coldRefreshH !== undefined ? m.coldRefreshH * 3600 : m.syncIntervalS;
      if (stale <= rpo) continue;
      const how = m.failover === 'cold' && m.coldRefreshH !== undefined ? `is a cold mirror refreshed every ${m.coldRefreshH} h` : `syncs every ${m.syncIntervalS} s`;
      const fix = m.failover === 'cold' && m.coldRefreshH !== undefined ? 'refresh it more often (coldRefreshH)' : `set syncIntervalS to ${Math.floor(rpo)} or less`;
      this.warn(
        `sites[${m.index}].rpoTargetS`,
        `sites[${m.index}] "${m.name}" ${how}, so an unplanned failover to it can lose up to ${fmtDuration(stale)} of writes: ${from} ${rpo} s cannot be met; ${fix}, or raise the target to ${stale} s or more`,
      );
    }
    for (const m of mirrors) {
      if (m.failover === 'hot' && m.syncIntervalS > 0) {
        this.warn(
          `sites[${m.index}].syncIntervalS`,
          `sites[${m.index}] "${m.name}" is a hot mirror that syncs every ${m.syncIntervalS} s: a failover can lose up to ${fmtDuration(m.syncIntervalS)} of data; hot mirrors are normally continuous (syncIntervalS: 0)`,
        );
      }
    }
  }
}

/** The tightest bandwidth cap on the path from the master to this mirror. */
function effectiveCap(m: Site, byName: Map<string, Site>): number | null {
  let cap: number | null = null;
  const seen = new Set<string>();
  let cur: Site | undefined = m;
  while (cur && cur.role === 'mirror' && !seen.has(cur.name)) {
    seen.add(cur.name);
    if (cur.bandwidthMbit !== null) cap = cap === null ? cur.bandwidthMbit : Math.min(cap, cur.bandwidthMbit);
    cur = cur.relayVia ? byName.get(cur.relayVia) : undefined;
  }
  return cap;
}

export function fmtDuration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function AZURE_NOTE(r: unknown): string {
  return typeof r === 'string' && r in REGIONS.azure ? ` (it is an Azure location; set provider: azure for it)` : '';
}
function AWS_NOTE(r: unknown): string {
  return typeof r === 'string' && r in REGIONS.aws ? ` (it is an AWS region; set provider: aws for it)` : '';
}
