/**
 * The command grammar, as typed yargs builders every command shares:
 *   [file] | --stack <customer> | --inventory <json>   which stack (and hosts) a command acts on
 *   --site <name>                                       which site(s); never positional
 *   --json                                              the result as JSON on stdout
 *   --identity, --parallel, --timeout                   how hosts are reached over SSH
 * Results go to stdout, progress to stderr; exit codes are EXIT in ./errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { CommandError, EXIT } from './errors';
import type { LiveLayout } from '../model/live';
import { describeIssues, parseTopologyFile, stackFile } from '../model/topology/load';
import type { Issue, Topology } from '../model/topology/types';

export interface StackInput {
  file?: string;
  stack?: string;
}

export interface TargetOptions extends StackInput {
  /** A Pulumi stack output file: `pulumi stack output inventory --json > inventory.json`. */
  inventory?: string;
}

export interface SshOptions {
  identity?: string;
  parallel: number;
  /** Seconds. */
  timeout: number;
}

export interface JsonOption {
  json: boolean;
}

/** `[file] | --stack <customer>`: where a stack config comes from (commands that need the config itself). */
export function withStackInput<T>(y: Argv<T>): Argv<T & StackInput> {
  return y
    .positional('file', { type: 'string', describe: 'stack config file (stacks/Pulumi.<customer>.yaml)' })
    .option('stack', { type: 'string', requiresArg: true, describe: 'customer name: reads stacks/Pulumi.<customer>.yaml' })
    .conflicts('file', 'stack') as Argv<T & StackInput>;
}

/** `[file] | --stack <customer> | --inventory <json>`: which stack, and so which hosts, a command works on. */
export function withTargetOptions<T>(y: Argv<T>): Argv<T & TargetOptions> {
  return y
    .positional('file', { type: 'string', describe: 'stack config file (stacks/Pulumi.<customer>.yaml); its lab, when one is up' })
    .option('stack', { type: 'string', requiresArg: true, describe: 'customer name: the lab of stacks/Pulumi.<customer>.yaml, when one is up' })
    .option('inventory', {
      type: 'string',
      requiresArg: true,
      normalize: true,
      describe: 'inventory JSON of a provisioned stack: pulumi stack output inventory --json > inventory.json',
    })
    .conflicts('file', 'stack')
    .check((a) => {
      const x = a as unknown as TargetOptions;
      if (!x.file && !x.stack && !x.inventory) throw new Error('name the hosts: give a stack file, --stack <customer> (a lab that is up) or --inventory <json>');
      return true;
    }) as unknown as Argv<T & TargetOptions>;
}

export function withSshOptions<T>(y: Argv<T>, defaults: { timeout?: number } = {}): Argv<T & SshOptions> {
  return y
    .option('identity', {
      alias: 'i',
      type: 'string',
      requiresArg: true,
      normalize: true,
      describe: "private key to log in with (default: the inventory's identityFile, else your SSH agent)",
    })
    .option('parallel', { type: 'number', default: 8, requiresArg: true, describe: 'hosts worked on at once' })
    .option('timeout', { type: 'number', default: defaults.timeout ?? 20, requiresArg: true, describe: 'seconds to wait for a host to answer' })
    .check((a) => {
      const x = a as unknown as SshOptions;
      if (!Number.isInteger(x.parallel) || x.parallel < 1 || x.parallel > 256) throw new Error(`--parallel ${x.parallel}: give a whole number 1..256`);
      if (!(x.timeout > 0 && x.timeout <= 3600)) throw new Error(`--timeout ${x.timeout}: give seconds, more than 0 and at most 3600`);
      return true;
    }) as unknown as Argv<T & SshOptions>;
}

/** `--json`: the command's result as JSON on stdout instead of text. */
export function withJson<T>(y: Argv<T>, describe = 'print the result as JSON on stdout'): Argv<T & JsonOption> {
  return y.option('json', { type: 'boolean', default: false, describe }) as unknown as Argv<T & JsonOption>;
}

export interface SiteOption {
  site?: string[];
}

/** `--site <name>` (repeatable). `required` for commands that act on one mirror. */
export function withSiteOption<T>(y: Argv<T>, required: boolean): Argv<T & SiteOption> {
  return y.option('site', {
    type: 'string',
    array: true,
    requiresArg: true,
    demandOption: required ? 'name the mirror: --site <name>' : false,
    describe: required ? 'mirror site to act on (repeatable)' : 'only these mirror sites (repeatable; default: all)',
  }) as unknown as Argv<T & SiteOption>;
}

export interface OneSite {
  site: string;
}

/**
 * `--site <name>`, exactly one, required. Before the grammar was made one, some lab commands took
 * the site as their first positional (`tandem lab vip chi --stack lab`); that spelling still works,
 * with a warning on stderr: a first positional that is not an existing file is read as the site.
 */
export function withOneSite<T>(y: Argv<T>, what = 'site to act on'): Argv<T & OneSite> {
  return y.option('site', { type: 'string', requiresArg: true, demandOption: 'name the site: --site <name>', describe: what }).middleware((a) => {
    const x = a as Record<string, unknown>;
    if (x.site !== undefined || typeof x.file !== 'string' || looksLikeFile(x.file)) return;
    deprecatedSite(x, x.file);
    x.file = undefined;
  }, true) as unknown as Argv<T & OneSite>;
}

const looksLikeFile = (p: string) => /\.ya?ml$/i.test(p) || p.includes('/') || fs.existsSync(p);

/** Moves a positional site into --site, warning once that the spelling is deprecated. */
export function deprecatedSite(a: Record<string, unknown>, site: string): void {
  a.site = site;
  process.stderr.write(`tandem: the site as a positional argument is deprecated; write --site ${site}\n`);
}

export function stackPath(a: StackInput): string {
  if (a.file) return path.resolve(a.file);
  if (a.stack) return stackFile(a.stack);
  throw new CommandError('give a stack file or --stack <customer>; e.g. tandem validate --stack lab', EXIT.usage);
}

/**
 * Loads and validates the stack the user named. On errors it throws a CommandError (exit 2) with
 * every problem listed; warnings are returned for the caller to show.
 */
export function readStack(a: StackInput): { file: string; topology: Topology; live: LiveLayout | null; warnings: readonly Issue[] } {
  const file = stackPath(a);
  const r = parseTopologyFile(file);
  if (!r.topology) throw new CommandError(describeIssues(path.relative(process.cwd(), file) || file, r.issues), EXIT.usage);
  return { file, topology: r.topology, live: r.live ?? null, warnings: r.issues };
}

/** One line of a result on stdout. */
export const out = (line: string): void => void process.stdout.write(`${line}\n`);
/** One line of progress on stderr. */
export const progress = (line: string): void => void process.stderr.write(`${line}\n`);
/** A result as JSON on stdout. */
export const outJson = (v: unknown): void => out(JSON.stringify(v, null, 2));
