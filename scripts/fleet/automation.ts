/**
 * FleetWorkspace on the Pulumi Automation API (`@pulumi/pulumi/automation`): LocalWorkspace runs
 * the project's own program (Pulumi.yaml, stacks/index.ts) with the Pulumi CLI on this machine;
 * RemoteWorkspace runs it on Pulumi Deployments from a Git repository. Both need the Pulumi CLI
 * installed where tandem runs (the SDK drives the binary) — there is none on the machines this
 * project is built on, so this file is type-checked against the SDK but has never run here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import type * as auto from '@pulumi/pulumi/automation';
import { PROJECT, type RemoteSettings } from './customers';
import type { FleetStack, FleetWorkspace, StackConfig, StackStatus, UpdateOp, UpdateOutcome } from './workspace';

type Api = typeof auto;
/** The SDK is loaded on first use: it takes seconds, and tests never need it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (above)
const api = (): Api => require('@pulumi/pulumi/automation') as Api;

/** The header of a stack config file the fleet wrote. */
const GENERATED = '# Written by `tandem fleet` from the customers file; edit the customers file, not this one.\n';

/**
 * The stack config file's text for `config` (plain values only; secrets are set through the
 * API, which encrypts them with the stack's secrets provider).
 */
export function stackConfigYaml(config: StackConfig): string {
  return GENERATED + stringify({ config: config.values }, { lineWidth: 0 });
}

/**
 * Writes `stacks/Pulumi.<customer>.yaml` when its plain config differs from what the customers
 * file says. Objects stay YAML mappings (so `tandem validate --stack <customer>` reads the file),
 * comments elsewhere in the file and secrets already set in it are kept.
 */
export function writeStackConfig(file: string, config: StackConfig): boolean {
  let text: string | null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = null;
  }
  if (text === null) {
    fs.writeFileSync(file, stackConfigYaml(config));
    return true;
  }
  const doc = parseDocument(text);
  let changed = false;
  for (const [k, v] of Object.entries(config.values)) {
    const cur = doc.getIn(['config', k]);
    const curJs = cur && typeof cur === 'object' && 'toJSON' in cur ? (cur as { toJSON(): unknown }).toJSON() : cur;
    if (JSON.stringify(curJs) === JSON.stringify(v)) continue;
    doc.setIn(['config', k], v);
    changed = true;
  }
  if (changed) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, doc.toString({ lineWidth: 0 }));
    fs.renameSync(tmp, file);
  }
  return changed;
}

function changesOf(m: Record<string, number | undefined> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(m ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0));
}

type AnyStack = auto.Stack | auto.RemoteStack;

/** The Pulumi CLI, found once: without it the Automation API can do nothing. */
async function checkCli(): Promise<void> {
  try {
    await api().PulumiCommand.get();
  } catch (e) {
    const why = /ENOENT/.test(String((e as Error)?.message ?? e)) ? 'no "pulumi" on PATH' : String((e as Error)?.message ?? e).split('\n')[0];
    throw new Error(
      `the Pulumi CLI is needed for fleet preview/up/refresh/destroy/status (the Automation API drives it, also for --remote) and cannot be run here (${why}); ` +
        `install it (curl -fsSL https://get.pulumi.com | sh, or your package manager), log in to a backend (pulumi login), and run again. ` +
        `tandem fleet plan works without it`,
      { cause: e },
    );
  }
}

class SdkStack implements FleetStack {
  constructor(private readonly stack: AnyStack) {}

  get name(): string {
    return this.stack.name;
  }

  async run(op: UpdateOp, onOutput: (text: string) => void, signal?: AbortSignal): Promise<UpdateOutcome> {
    // `signal` reaches local runs only; a remote deployment is cancelled with `pulumi cancel`.
    const opts = { onOutput, ...(signal ? { signal } : {}) };
    switch (op) {
      case 'preview': {
        const r = await this.stack.preview(opts);
        return { changes: changesOf(r.changeSummary) };
      }
      case 'up':
        return { changes: changesOf((await this.stack.up(opts)).summary.resourceChanges) };
      case 'refresh':
        return { changes: changesOf((await this.stack.refresh(opts)).summary.resourceChanges) };
      case 'destroy':
        return { changes: changesOf((await this.stack.destroy(opts)).summary.resourceChanges) };
    }
  }

  async status(): Promise<StackStatus> {
    const [last] = await this.stack.history(1);
    const outputs = await this.stack.outputs();
    return {
      lastUpdate: last ? { kind: last.kind, result: last.result, endTime: last.endTime ? new Date(last.endTime).toISOString() : null, changes: changesOf(last.resourceChanges) } : null,
      outputs: Object.keys(outputs).length,
    };
  }
}

export interface LocalOptions {
  /** The folder with Pulumi.yaml (this repository). */
  readonly projectDir: string;
  /** The folder stack config files live in (Pulumi.yaml's stackConfigDir). @default <projectDir>/stacks */
  readonly stackConfigDir?: string;
}

/** The Automation API on this machine: LocalWorkspace over the project's own program. */
export class LocalAutomationWorkspace implements FleetWorkspace {
  readonly kind = 'local';

  constructor(private readonly o: LocalOptions) {}

  preflight(): Promise<void> {
    return checkCli();
  }

  async open(customer: string, config: StackConfig | null): Promise<FleetStack> {
    if (config) writeStackConfig(path.join(this.o.stackConfigDir ?? path.join(this.o.projectDir, 'stacks'), `Pulumi.${customer}.yaml`), config);
    const stack = await api().LocalWorkspace.createOrSelectStack({ stackName: customer, workDir: this.o.projectDir });
    if (config && Object.keys(config.secrets).length) {
      await stack.setAllConfig(Object.fromEntries(Object.entries(config.secrets).map(([k, value]) => [k, { value, secret: true }])));
    }
    return new SdkStack(stack);
  }
}

/** The arguments a remote stack is opened with: what `--remote` hands to RemoteWorkspace. */
export function remoteArgs(customer: string, config: StackConfig | null, r: RemoteSettings): { args: auto.RemoteGitProgramArgs; opts: auto.RemoteWorkspaceOptions } {
  const args: auto.RemoteGitProgramArgs = {
    stackName: `${r.org}/${PROJECT}/${customer}`,
    url: r.url,
    ...(r.commit ? { commitHash: r.commit } : { branch: r.branch ?? 'main' }),
    ...(r.projectPath ? { projectPath: r.projectPath } : {}),
  };
  if (!config) return { args, opts: {} };
  // The deployment clones the repository, so the customer's config travels with the request:
  // the plain stack file as one variable, each secret as a secret variable (Pulumi Deployments
  // keeps those encrypted and out of its logs), written and set before the update runs.
  const envVars: Record<string, string | { secret: string }> = { TANDEM_STACK_CONFIG: stackConfigYaml(config) };
  const preRunCommands = [`printf '%s' "$TANDEM_STACK_CONFIG" > stacks/Pulumi.${customer}.yaml`];
  Object.entries(config.secrets).forEach(([key, value], i) => {
    envVars[`TANDEM_SECRET_${i}`] = { secret: value };
    preRunCommands.push(`pulumi config set --secret --stack ${r.org}/${PROJECT}/${customer} '${key}' "$TANDEM_SECRET_${i}"`);
  });
  return { args, opts: { envVars, preRunCommands } };
}

/** The Automation API on Pulumi Deployments: RemoteWorkspace, one deployment per customer. */
export class RemoteAutomationWorkspace implements FleetWorkspace {
  readonly kind = 'remote';

  constructor(private readonly r: RemoteSettings) {}

  preflight(): Promise<void> {
    return checkCli();
  }

  async open(customer: string, config: StackConfig | null): Promise<FleetStack> {
    const { args, opts } = remoteArgs(customer, config, this.r);
    return new SdkStack(await api().RemoteWorkspace.createOrSelectStack(args, opts));
  }
}

/**
 * One customer's stack for `tandem site replace` (scripts/repair/replace.ts ReplaceStack): sets
 * `tandem:restore.<site>.snapshotId` (the site's data volume from that snapshot) and runs
 * `pulumi up --replace <urn>...` through LocalWorkspace, then reads the `inventory` output.
 */
export async function openReplaceStack(
  projectDir: string,
  customer: string,
): Promise<{
  project: string;
  stack: string;
  setRestore(site: string, snapshotId: string): Promise<void>;
  up(replace: readonly string[], onOutput: (t: string) => void): Promise<void>;
  inventory(): Promise<unknown>;
}> {
  await checkCli();
  const stack = await api().LocalWorkspace.selectStack({ stackName: customer, workDir: projectDir });
  return {
    project: PROJECT,
    stack: customer,
    async setRestore(site, snapshotId) {
      await stack.setConfig(`tandem:restore.${site}.snapshotId`, { value: snapshotId }, true);
    },
    async up(replace, onOutput) {
      await stack.up({ replace: [...replace], onOutput });
    },
    async inventory() {
      return (await stack.outputs()).inventory?.value;
    },
  };
}
