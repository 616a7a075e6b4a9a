/** Flags shared by the agent, mirror and status commands, as typed yargs builders. */
import type { Argv } from 'yargs';

export interface TargetOptions {
  file?: string;
  stack?: string;
  /** A Pulumi stack output file: `pulumi stack output inventory --json > inventory.json`. */
  inventory?: string;
}

export interface SshOptions {
  identity?: string;
  parallel: number;
  /** Seconds. */
  timeout: number;
}

/** `[file] | --stack <customer> | --inventory <json>`: which hosts a command works on. */
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
      describe: 'private key to log in with (default: the inventory\'s identityFile, else your SSH agent)',
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
