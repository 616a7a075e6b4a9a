/**
 * `tandem fleet ...` below the argument parsing: loads and checks the customers file, then plans
 * (worker processes, offline) or runs an operation through a FleetWorkspace. Everything the
 * outside world provides (workspace, prompt, streams, environment) comes in through `FleetDeps`,
 * so tests drive the whole command with a fake workspace.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CommandError, EXIT } from '../errors';
import { describeIssues } from '../../model/topology/load';
import { loadCustomersFile, resolveSecrets, selectCustomers, type RemoteSettings } from './customers';
import { runFleet, stackConfigOf, type Reporter } from './orchestrate';
import { LineReporter, ListrReporter } from './progress';
import { defaultRecordsDir, RunRecords } from './records';
import { formatPlans, formatRun, runJson } from './summary';
import type { FleetOp, FleetWorkspace } from './workspace';

export const FLEET_ACTIONS = ['validate', 'plan', 'preview', 'up', 'refresh', 'destroy', 'status', 'drill'] as const;
export type FleetAction = (typeof FLEET_ACTIONS)[number];

export interface FleetArgs {
  action: FleetAction;
  customers: string;
  parallel?: number;
  only?: string;
  json?: boolean;
  remote?: boolean;
  yes?: boolean;
  fresh?: boolean;
  recordsDir?: string;
  scenario?: string;
}

export interface FleetDeps {
  /** The workspace a run goes through: local Automation API, or remote with the file's settings. */
  workspace(kind: 'local' | 'remote', remote: RemoteSettings | null): FleetWorkspace;
  /** Asks a question on the terminal; null when there is no terminal to ask on. */
  prompt(question: string): Promise<string | null>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** A terminal that can show live progress. */
  readonly tty: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C: no new customers start. */
  readonly signal?: AbortSignal;
}

const ROOT = path.resolve(__dirname, '..', '..');

export const defaultDeps = (): FleetDeps => ({
  workspace(kind, remote) {
    // Loaded on use: the Automation API is only needed for real runs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the Automation API and listr2 load only when a command needs them
    const { LocalAutomationWorkspace, RemoteAutomationWorkspace } = require('./automation') as typeof import('./automation');
    return kind === 'remote' ? new RemoteAutomationWorkspace(remote!) : new LocalAutomationWorkspace({ projectDir: ROOT });
  },
  prompt(question) {
    if (!process.stdin.isTTY) return Promise.resolve(null);
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    return new Promise((resolve) =>
      rl.question(question, (a) => {
        rl.close();
        resolve(a);
      }),
    );
  },
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  tty: Boolean(process.stdout.isTTY),
  env: process.env,
});

/** Default `--parallel`: every core for offline plans; for cloud updates, which mostly wait, 4. */
export function defaultParallel(action: FleetAction): number {
  return action === 'plan' ? os.availableParallelism() : 4;
}

export async function fleet(a: FleetArgs, deps: FleetDeps = defaultDeps()): Promise<void> {
  if (a.action === 'drill') {
    throw new CommandError(
      `fleet drill needs drills, which are not built yet (tandem has no failover or drill command so far); nothing was run. ` +
        `Until then: tandem fleet status --customers ${a.customers} shows each stack's last update`,
      EXIT.usage,
    );
  }
  if (a.parallel !== undefined && (!Number.isInteger(a.parallel) || a.parallel < 1)) {
    throw new CommandError(`--parallel ${JSON.stringify(a.parallel)} is not allowed; give a whole number of customers to run at once, 1 or more (e.g. --parallel 4)`, EXIT.usage);
  }
  const file = path.resolve(a.customers);
  const rel = path.relative(process.cwd(), file) || file;
  const loaded = loadCustomersFile(file);
  if (loaded.issues.some((i) => i.severity === 'error')) throw new CommandError(`${describeIssues(rel, loaded.issues)}\nnothing was run`, EXIT.usage);
  const warnings = loaded.issues.length ? `${describeIssues(rel, loaded.issues)}\n` : '';
  if (warnings && !a.json) deps.stderr(warnings);

  const only = a.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const sel = selectCustomers(loaded.customers, only);
  if (sel.errors.length) throw new CommandError(sel.errors.join('\n'), EXIT.usage);
  const customers = sel.customers;
  const parallel = a.parallel ?? defaultParallel(a.action);

  if (a.action === 'validate') {
    const lines = customers.map(
      (c) =>
        `  ${c.id.padEnd(20)} ${c.topology.sites.length} sites (${c.topology.sites.map((s) => `${s.name}:${s.provider === 'offcloud' ? 'offcloud' : `${s.provider} ${s.region}`}`).join(', ')})  from ${c.source === 'inline' ? 'inline topology' : path.relative(path.dirname(file), c.source)}`,
    );
    deps.stdout(`${[`${customers.length} customer(s) in ${rel}:`, ...lines, '', `OK: ${rel} is valid`].join('\n')}\n`);
    return;
  }

  if (a.action === 'plan') {
    const { planFleet } = await import('./plan-pool');
    const t0 = Date.now();
    const workers = Math.min(parallel, customers.length);
    const plans = await planFleet(customers, {
      parallel,
      onDone: a.json
        ? undefined
        : (p) => deps.stderr(`${p.customer}: ${p.error ? `plan FAILED: ${p.error.split('\n')[0]}` : `planned (${p.plan!.resources.length} resources) in ${(p.ms / 1000).toFixed(1)} s`}\n`),
    });
    const ms = Date.now() - t0;
    if (a.json) {
      deps.stdout(
        `${JSON.stringify({ customers: plans.map((p) => ({ customer: p.customer, resources: p.plan?.resources ?? null, findings: p.plan?.findings ?? null, error: p.error })) }, null, 2)}\n`,
      );
    } else deps.stdout(`${formatPlans(plans, ms, workers)}\n`);
    if (plans.some((p) => p.error)) throw new CommandError(a.json ? '' : `fleet plan: ${plans.filter((p) => p.error).length} customer(s) could not be planned; see above`, EXIT.failed);
    const bad = plans.filter((p) => p.plan!.findings.some((f) => f.severity === 'error'));
    if (bad.length) throw new CommandError(a.json ? '' : `fleet plan: policy errors in ${bad.map((p) => p.customer).join(', ')}; see FINDINGS above`, EXIT.degraded);
    return;
  }

  const op: FleetOp = a.action;
  if (a.remote && !loaded.remote) {
    throw new CommandError(
      `--remote needs a remote: section in ${rel}, e.g.\nremote:\n  org: my-org\n  url: https://github.com/me/tandem.git\n  branch: main\n(Pulumi Deployments clones that repository and runs each customer's update there)`,
      EXIT.usage,
    );
  }
  const secrets = resolveSecrets(op === 'status' ? [] : customers, deps.env);
  if (secrets.errors.length) throw new CommandError(`${secrets.errors.join('\n')}\nnothing was run`, EXIT.usage);

  if (op === 'destroy' && !a.yes) {
    const want = customers.map((c) => c.id);
    const answer = await deps.prompt(`This destroys every resource of ${want.length} customer stack(s): ${want.join(', ')}.\nType their names (space-separated) to confirm: `);
    if (answer === null)
      throw new CommandError(
        `fleet destroy asks for the customer names to be typed back, and there is no terminal to ask on; nothing was destroyed. Pass --yes to destroy ${want.join(', ')} without asking`,
        EXIT.usage,
      );
    const got = answer
      .split(/[\s,]+/)
      .filter(Boolean)
      .sort();
    if (got.join(' ') !== [...want].sort().join(' ')) {
      throw new CommandError(`the names typed (${got.join(' ') || 'none'}) are not the customers to destroy (${want.join(' ')}); nothing was destroyed`, EXIT.usage);
    }
  }

  const workspace = deps.workspace(a.remote ? 'remote' : 'local', loaded.remote);
  if (workspace.preflight) {
    try {
      await workspace.preflight();
    } catch (e) {
      throw new CommandError(`fleet ${op}: ${(e as Error).message}; nothing was run`, EXIT.failed);
    }
  }
  const records = op === 'status' ? null : new RunRecords(a.recordsDir ?? defaultRecordsDir(deps.env), op, file, { fresh: a.fresh });
  if (records?.resumed && !a.json) {
    const done = Object.values(records.resumed.customers).filter((r) => r.status === 'ok').length;
    deps.stderr(`resuming the ${op} run started ${records.resumed.startedAt}: ${done} customer(s) already done are skipped (--fresh runs them all)\n`);
  }
  const reporter: Reporter = a.json ? new LineReporter(() => undefined, op) : deps.tty ? new ListrReporter(op) : new LineReporter((l) => deps.stderr(`${l}\n`), op);
  const run = await runFleet({
    op,
    customers,
    workspace,
    parallel,
    configOf: (c) => stackConfigOf(c, secrets.values.get(c.id) ?? {}),
    records,
    reporter,
    signal: deps.signal,
    allIds: loaded.customers.map((c) => c.id),
  });
  deps.stdout(a.json ? `${JSON.stringify(runJson(run), null, 2)}\n` : `${formatRun(run)}\n`);
  const failed = run.outcomes.filter((o) => o.status === 'failed' || o.status === 'not-run');
  if (failed.length) {
    throw new CommandError(a.json ? '' : `fleet ${op}: ${failed.length} customer(s) did not finish: ${failed.map((o) => o.customer).join(', ')}`, EXIT.failed);
  }
}
