/**
 * The customers file (stacks/customers.yaml): one entry per customer, each naming its topology (a
 * stack file used as a template, or inline) plus overrides, notify channels and secrets. Every
 * topology goes through the same validator as `tandem validate`; its messages come back with the
 * customer's field path in front: `customers[3].topology.sites[1].region "..." ...`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { closest } from '../../model/topology/suggest';
import { stackFile, topologyFromConfig } from '../../model/topology/load';
import type { Issue, Topology } from '../../model/topology/types';

/** A channel alerts go to. Carried into each stack's config (`fleet:notify`); nothing sends yet. */
export type NotifyChannel = { readonly webhook: string } | { readonly email: string };

/** A secret config value, read from the operator's environment at run time, never from the file. */
export interface SecretRef {
  /** Pulumi config key, `namespace:name`. */
  readonly key: string;
  /** Environment variable holding the value. */
  readonly env: string;
}

export interface FleetCustomer {
  /** Stack name and `tandem:customer`. */
  readonly id: string;
  /** Index in the file's `customers` list, for messages. */
  readonly index: number;
  /** The validated topology (after overrides). */
  readonly topology: Topology;
  /** The topology as config (after overrides): what `tandem:topology` is set to. */
  readonly topologyConfig: Record<string, unknown>;
  readonly notify: readonly NotifyChannel[];
  readonly secrets: readonly SecretRef[];
  /** `inline` or the stack file the topology came from. */
  readonly source: string;
}

/** Where `--remote` runs get the program: a Git repository Pulumi Deployments can clone. */
export interface RemoteSettings {
  /** Pulumi organization the stacks live in (stack names become `org/tandem/<id>`). */
  readonly org: string;
  readonly url: string;
  /** @default "main" when commit is not given */
  readonly branch?: string;
  readonly commit?: string;
  /** Folder of Pulumi.yaml inside the repository. @default the repository root */
  readonly projectPath?: string;
}

export interface CustomersFile {
  readonly file: string;
  readonly customers: readonly FleetCustomer[];
  readonly remote: RemoteSettings | null;
  /** Errors and warnings, every one of them; `customers` is empty when there is any error. */
  readonly issues: readonly Issue[];
}

export const PROJECT = 'tandem';
export const DEFAULT_CUSTOMERS_FILE = path.resolve(__dirname, '..', '..', 'stacks', 'customers.yaml');

const TOP_KEYS = ['customers', 'remote'];
const CUSTOMER_KEYS = ['id', 'stack', 'topology', 'overrides', 'notify', 'secrets'];
const OVERRIDE_KEYS = ['sites', 'adminCidrs', 'adminKeys', 'dataDir'];
const SITE_OVERRIDE_KEYS = ['region', 'size', 'diskGb', 'failover', 'bandwidthMbit', 'syncIntervalS'];
const REMOTE_KEYS = ['org', 'url', 'branch', 'commit', 'projectPath'];
const ID_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const CONFIG_KEY_RE = /^[A-Za-z][A-Za-z0-9_-]*:[A-Za-z][A-Za-z0-9_.-]*$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (v: unknown): string => (v === undefined ? 'nothing' : typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)));

export function loadCustomersFile(file: string): CustomersFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file; the example is stacks/customers.yaml' : `cannot read it (${code ?? String(e)})`;
    return { file, customers: [], remote: null, issues: [{ severity: 'error', path: 'file', message: `${file}: ${why}` }] };
  }
  return parseCustomers(text, path.dirname(path.resolve(file)), file);
}

/** Parses a customers file's text; `stack:` paths are relative to `baseDir`. */
export function parseCustomers(text: string, baseDir: string, file = 'customers.yaml'): CustomersFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const issues = doc.errors.map((e): Issue => {
      const pos = e.linePos?.[0];
      const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { severity: 'error', path: 'yaml', message: `YAML syntax error at ${pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position'}: ${first}; fix the indentation or quoting there` };
    });
    return { file, customers: [], remote: null, issues };
  }
  const v = new CustomersValidator(baseDir, (keys) => {
    let node: unknown = doc.contents;
    for (const k of keys) {
      if (isMap(node)) node = node.get(k, true);
      else if (isSeq(node)) node = node.get(k as number, true);
      else return '';
    }
    const range = (node as YamlNode | undefined)?.range;
    return range ? ` (line ${lc.linePos(range[0]).line})` : '';
  });
  const r = v.run(doc.toJS());
  const hasError = v.issues.some((i) => i.severity === 'error');
  return { file, customers: hasError ? [] : r.customers, remote: hasError ? null : r.remote, issues: v.issues };
}

/**
 * A topology issue re-rooted under `customers[i].topology`. The validator's messages start with
 * their own field path; the prefix keeps the message word for word after it.
 */
export function reroot(prefix: string, issue: Issue, overridden: ReadonlyMap<string, string>): Issue {
  const p = issue.path === 'tandem:topology' ? prefix.replace(/\.$/, '') : `${prefix}${issue.path}`;
  let message = issue.message.startsWith(issue.path) ? `${p}${issue.message.slice(issue.path.length)}` : `${prefix.replace(/\.$/, '')}: ${issue.message}`;
  const from = overridden.get(issue.path);
  if (from) message += ` (the value comes from ${from}; fix it there)`;
  return { severity: issue.severity, path: p, message };
}

class CustomersValidator {
  readonly issues: Issue[] = [];

  constructor(
    private readonly baseDir: string,
    private readonly line: (keys: (string | number)[]) => string,
  ) {}

  private error(p: string, message: string): void {
    this.issues.push({ severity: 'error', path: p, message });
  }

  private unknownKeys(obj: Obj, allowed: readonly string[], p: string, yp: (string | number)[]): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const guess = closest(k, allowed);
      this.error(
        `${p}.${k}`.replace(/^\./, ''),
        `${`${p}.${k}`.replace(/^\./, '')}: unknown key${this.line([...yp, k])}; ${guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`}`,
      );
    }
  }

  run(root: unknown): { customers: FleetCustomer[]; remote: RemoteSettings | null } {
    if (!isObj(root)) {
      this.error('customers', `the file is not a customers file; it must be a mapping with a "customers:" list (see stacks/customers.yaml)`);
      return { customers: [], remote: null };
    }
    this.unknownKeys(root, TOP_KEYS, '', []);
    const remote = this.remote(root.remote);
    const list = root.customers;
    if (!Array.isArray(list) || list.length === 0) {
      this.error('customers', `customers ${show(list)} is not allowed; list at least one customer, e.g. - { id: acme, stack: Pulumi.acme.yaml }`);
      return { customers: [], remote };
    }
    const out: FleetCustomer[] = [];
    const seen = new Map<string, number>();
    list.forEach((raw, i) => {
      const c = this.customer(raw, i);
      if (!c) return;
      const prev = seen.get(c.id);
      if (prev !== undefined) {
        this.error(`customers[${i}].id`, `customers[${i}].id "${c.id}" is already used by customers[${prev}]; every customer is its own stack and needs its own id`);
        return;
      }
      seen.set(c.id, i);
      out.push(c);
    });
    this.templateClashes(out);
    return { customers: out, remote };
  }

  /** Customers whose config came with overrides (or inline), by index. */
  private readonly changed = new Set<number>();

  /**
   * A deployment writes each customer's config to stacks/Pulumi.<id>.yaml (Pulumi's stack config
   * file). That must never overwrite a stack file another customer uses as its template, nor the
   * template a customer overrides.
   */
  private templateClashes(customers: readonly FleetCustomer[]): void {
    const users = new Map<string, FleetCustomer[]>();
    for (const c of customers) if (c.source !== 'inline') users.set(c.source, [...(users.get(c.source) ?? []), c]);
    for (const c of customers) {
      const target = stackFile(c.id);
      const readers = (users.get(target) ?? []).filter((u) => u !== c || this.changed.has(c.index));
      // Its own file, unchanged: the write leaves tandem:topology as it is.
      if (c.source === target && !this.changed.has(c.index)) continue;
      if (readers.length === 0) continue;
      const who = readers.map((u) => (u === c ? `customers[${u.index}] itself (with overrides)` : `customers[${u.index}] ("${u.id}")`)).join(', ');
      this.error(
        `customers[${c.index}].id`,
        `customers[${c.index}].id "${c.id}": a deployment writes this customer's config to stacks/Pulumi.${c.id}.yaml, which ${who} reads as a template; keep templates under names no customer has (e.g. stacks/templates/Pulumi.${c.id}.yaml) or give this customer another id`,
      );
    }
  }

  private remote(v: unknown): RemoteSettings | null {
    if (v === undefined || v === null) return null;
    if (!isObj(v)) {
      this.error('remote', `remote ${show(v)} is not a mapping; write it as { org: my-org, url: https://github.com/me/tandem.git, branch: main }`);
      return null;
    }
    this.unknownKeys(v, REMOTE_KEYS, 'remote', ['remote']);
    let ok = true;
    for (const k of ['org', 'url'] as const) {
      if (typeof v[k] !== 'string' || (v[k] as string).trim() === '') {
        this.error(
          `remote.${k}`,
          `remote.${k} ${show(v[k])} is not allowed; give ${k === 'org' ? 'the Pulumi organization the stacks live in, e.g. my-org' : 'the Git URL Pulumi Deployments clones, e.g. https://github.com/me/tandem.git'}`,
        );
        ok = false;
      }
    }
    for (const k of ['branch', 'commit', 'projectPath'] as const) {
      if (v[k] !== undefined && (typeof v[k] !== 'string' || (v[k] as string).trim() === '')) {
        this.error(`remote.${k}`, `remote.${k} ${show(v[k])} is not a non-empty string; remove it or give a value`);
        ok = false;
      }
    }
    if (v.branch !== undefined && v.commit !== undefined) {
      this.error('remote.commit', `remote.commit and remote.branch are both set; Pulumi Deployments takes one of them — remove one`);
      ok = false;
    }
    if (!ok) return null;
    return {
      org: v.org as string,
      url: v.url as string,
      ...(v.commit === undefined ? { branch: (v.branch as string | undefined) ?? 'main' } : { commit: v.commit as string }),
      ...(v.projectPath !== undefined ? { projectPath: v.projectPath as string } : {}),
    };
  }

  private customer(raw: unknown, i: number): FleetCustomer | undefined {
    const p = `customers[${i}]`;
    const yp = ['customers', i];
    if (!isObj(raw)) {
      this.error(p, `${p} ${show(raw)} is not a mapping; each customer has an id and a stack file or an inline topology`);
      return undefined;
    }
    const before = this.errorCount();
    this.unknownKeys(raw, CUSTOMER_KEYS, p, yp);
    const id = raw.id;
    if (typeof id !== 'string' || !ID_RE.test(id)) {
      this.error(`${p}.id`, `${p}.id ${show(id)} is not allowed; use lowercase letters, digits and '-', starting with a letter or digit, at most 40 characters (it is the stack name)`);
    }
    const base = this.baseTopology(raw, p);
    const overridden = new Map<string, string>();
    const topologyConfig = base === undefined ? undefined : this.applyOverrides(base, raw.overrides, p, yp, overridden);
    if (raw.overrides !== undefined && raw.overrides !== null) this.changed.add(i);
    const notify = this.notify(raw.notify, p);
    const secrets = this.secrets(raw.secrets, p, yp);
    if (typeof id !== 'string' || !ID_RE.test(id) || topologyConfig === undefined) return undefined;

    const r = topologyFromConfig({ 'tandem:customer': id, 'tandem:topology': topologyConfig });
    const prefix = `${p}.topology.`;
    for (const issue of r.issues) this.issues.push(reroot(prefix, issue, overridden));
    if (!r.topology || this.errorCount() > before || !notify || !secrets) return undefined;
    const source = typeof raw.stack === 'string' ? path.resolve(this.baseDir, raw.stack) : 'inline';
    return { id, index: i, topology: r.topology, topologyConfig, notify, secrets, source };
  }

  private errorCount(): number {
    return this.issues.filter((x) => x.severity === 'error').length;
  }

  /** The topology before overrides: from the stack file (`stack:`) or inline (`topology:`). */
  private baseTopology(raw: Obj, p: string): Obj | undefined {
    const hasStack = raw.stack !== undefined;
    const hasInline = raw.topology !== undefined;
    if (hasStack === hasInline) {
      this.error(
        `${p}.stack`,
        `${p} ${hasStack ? 'has both stack and topology' : 'has neither stack nor topology'}; give exactly one: stack: Pulumi.<customer>.yaml (a path relative to this file) or an inline topology: mapping`,
      );
      return undefined;
    }
    if (hasInline) {
      if (!isObj(raw.topology)) {
        this.error(`${p}.topology`, `${p}.topology ${show(raw.topology)} is not a mapping; write the same keys as tandem:topology in a stack file (docs/topology.md)`);
        return undefined;
      }
      return raw.topology;
    }
    if (typeof raw.stack !== 'string' || raw.stack.trim() === '') {
      this.error(`${p}.stack`, `${p}.stack ${show(raw.stack)} is not a path; give a stack file relative to this file, e.g. Pulumi.acme.yaml`);
      return undefined;
    }
    const file = path.resolve(this.baseDir, raw.stack);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.error(
        `${p}.stack`,
        `${p}.stack "${raw.stack}" cannot be read (${code === 'ENOENT' ? `no such file: ${file}` : (code ?? String(e))}); give a stack file relative to this file, e.g. Pulumi.acme.yaml`,
      );
      return undefined;
    }
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length) {
      this.error(`${p}.stack`, `${p}.stack "${raw.stack}" has YAML errors; run tandem validate ${path.relative(process.cwd(), file) || file} to see them`);
      return undefined;
    }
    const t = (doc.toJS() as Obj | null)?.config;
    const topo = isObj(t) ? t['tandem:topology'] : undefined;
    if (!isObj(topo)) {
      this.error(`${p}.stack`, `${p}.stack "${raw.stack}" has no tandem:topology mapping under config:; point it at a tandem stack file such as Pulumi.acme.yaml`);
      return undefined;
    }
    return topo;
  }

  /**
   * Overrides on a copy of the topology: `sites.<name>.<key>` and a few top-level keys. Records
   * which topology path each override set, so a bad value is traced back to where it was written.
   */
  private applyOverrides(base: Obj, v: unknown, p: string, yp: (string | number)[], overridden: Map<string, string>): Obj | undefined {
    const t = structuredClone(base);
    if (v === undefined || v === null) return t;
    const op = `${p}.overrides`;
    if (!isObj(v)) {
      this.error(op, `${op} ${show(v)} is not a mapping; write it as { sites: { chi: { region: us-west-2 } } }`);
      return undefined;
    }
    this.unknownKeys(v, OVERRIDE_KEYS, op, [...yp, 'overrides']);
    let ok = true;
    for (const k of OVERRIDE_KEYS) {
      if (k === 'sites' || v[k] === undefined) continue;
      t[k] = v[k];
      overridden.set(k, `${op}.${k}`);
    }
    if (v.sites !== undefined) {
      const sites = Array.isArray(t.sites) ? t.sites : [];
      const names = sites.map((s) => (isObj(s) ? s.name : undefined)).filter((n): n is string => typeof n === 'string');
      if (!isObj(v.sites)) {
        this.error(`${op}.sites`, `${op}.sites ${show(v.sites)} is not a mapping; key it by site name, e.g. { chi: { region: us-west-2 } }`);
        return undefined;
      }
      for (const [name, o] of Object.entries(v.sites)) {
        const sp = `${op}.sites.${name}`;
        const idx = sites.findIndex((s) => isObj(s) && s.name === name);
        if (idx < 0) {
          const guess = closest(name, names);
          this.error(
            sp,
            `${sp}: "${name}" is not a site of this topology${this.line([...yp, 'overrides', 'sites', name])}; ${guess ? `did you mean "${guess}"?` : `its sites are: ${names.join(', ') || 'none'}`}`,
          );
          ok = false;
          continue;
        }
        if (!isObj(o)) {
          this.error(sp, `${sp} ${show(o)} is not a mapping; write it as { region: us-west-2, size: c6i.xlarge }`);
          ok = false;
          continue;
        }
        this.unknownKeys(o, SITE_OVERRIDE_KEYS, sp, [...yp, 'overrides', 'sites', name]);
        for (const [k, x] of Object.entries(o)) {
          if (!SITE_OVERRIDE_KEYS.includes(k)) continue;
          (sites[idx] as Obj)[k] = x;
          overridden.set(`sites[${idx}].${k}`, `${sp}.${k}`);
        }
      }
    }
    return ok ? t : undefined;
  }

  private notify(v: unknown, p: string): NotifyChannel[] | undefined {
    if (v === undefined || v === null) return [];
    const np = `${p}.notify`;
    if (!Array.isArray(v)) {
      this.error(np, `${np} ${show(v)} is not a list; write it as [{ webhook: "https://hooks.example.com/acme" }, { email: ops@acme.example }]`);
      return undefined;
    }
    const out: NotifyChannel[] = [];
    let ok = true;
    v.forEach((c, j) => {
      const cp = `${np}[${j}]`;
      const keys = isObj(c) ? Object.keys(c) : [];
      if (!isObj(c) || keys.length !== 1 || !['webhook', 'email'].includes(keys[0])) {
        this.error(cp, `${cp} ${show(c)} is not a channel; each entry is one of { webhook: "https://..." } or { email: "ops@example.com" }`);
        ok = false;
      } else if (keys[0] === 'webhook') {
        let url: URL | undefined;
        try {
          url = new URL(String(c.webhook));
        } catch {
          url = undefined;
        }
        if (typeof c.webhook !== 'string' || !url || url.protocol !== 'https:') {
          this.error(`${cp}.webhook`, `${cp}.webhook ${show(c.webhook)} is not an https URL; write it like "https://hooks.example.com/acme" (put tokens in secrets, not in the URL)`);
          ok = false;
        } else out.push({ webhook: c.webhook });
      } else if (typeof c.email !== 'string' || !EMAIL_RE.test(c.email)) {
        this.error(`${cp}.email`, `${cp}.email ${show(c.email)} is not an email address; write it like ops@acme.example`);
        ok = false;
      } else out.push({ email: c.email });
    });
    return ok ? out : undefined;
  }

  private secrets(v: unknown, p: string, yp: (string | number)[]): SecretRef[] | undefined {
    if (v === undefined || v === null) return [];
    const sp = `${p}.secrets`;
    if (!isObj(v)) {
      this.error(sp, `${sp} ${show(v)} is not a mapping; write it as { "fleet:notifyToken": { env: ACME_NOTIFY_TOKEN } }`);
      return undefined;
    }
    const out: SecretRef[] = [];
    let ok = true;
    for (const [key, ref] of Object.entries(v)) {
      const kp = `${sp}.${key}`;
      if (!CONFIG_KEY_RE.test(key) || key.startsWith('tandem:')) {
        this.error(
          kp,
          `${kp}: "${key}" is not allowed as a secret's config key${this.line([...yp, 'secrets', key])}; use namespace:name outside "tandem:" (the topology holds no secrets), e.g. fleet:notifyToken`,
        );
        ok = false;
        continue;
      }
      if (!isObj(ref) || Object.keys(ref).length !== 1 || typeof ref.env !== 'string' || !ENV_RE.test(ref.env)) {
        // Never echo the value: it may be the secret itself, pasted in by mistake.
        this.error(kp, `${kp} is not allowed: a secret is read from the environment, never written in this file; write it as { env: ACME_NOTIFY_TOKEN } and export that variable before the run`);
        ok = false;
        continue;
      }
      out.push({ key, env: ref.env });
    }
    return ok ? out : undefined;
  }
}

/** Customers by `--only`: every name must exist (a typo must not silently run nothing). */
export function selectCustomers(all: readonly FleetCustomer[], only: readonly string[] | undefined): { customers: FleetCustomer[]; errors: string[] } {
  if (!only || only.length === 0) return { customers: [...all], errors: [] };
  const ids = all.map((c) => c.id);
  const errors: string[] = [];
  for (const o of only) {
    if (!ids.includes(o)) {
      const guess = closest(o, ids);
      errors.push(`--only "${o}" is not a customer in the customers file; ${guess ? `did you mean "${guess}"?` : `customers are: ${ids.join(', ')}`}`);
    }
  }
  return { customers: all.filter((c) => only.includes(c.id)), errors };
}

/**
 * The secret values a run needs, from the environment. Missing variables are errors naming the
 * customer, the key and the variable (never a value).
 */
export function resolveSecrets(customers: readonly FleetCustomer[], env: NodeJS.ProcessEnv): { values: Map<string, Record<string, string>>; errors: string[] } {
  const values = new Map<string, Record<string, string>>();
  const errors: string[] = [];
  for (const c of customers) {
    const mine: Record<string, string> = {};
    for (const s of c.secrets) {
      const x = env[s.env];
      if (x === undefined || x === '')
        errors.push(`customers[${c.index}].secrets.${s.key}: the environment variable ${s.env} is not set; export it before the run (the value is never read from the file)`);
      else mine[s.key] = x;
    }
    values.set(c.id, mine);
  }
  return { values, errors };
}
