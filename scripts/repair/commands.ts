/**
 * Owns the glue between the command files (`mirror verify|rebuild` in scripts/commands/mirror.ts,
 * `site replace` in scripts/commands/site.ts) and this folder: flags -> RepairContext, errors ->
 * exit codes (2 bad input, nothing done; 1 failed; 3 verify found differences), results on stdout.
 */
import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { outJson, progress, withJson, withOneSite, withSshOptions, withTargetOptions, type JsonOption, type OneSite, type SshOptions, type TargetOptions } from '../options';
import type { MirrorVerify, RepairContext } from './api';

type Args = TargetOptions & SshOptions & OneSite & JsonOption;

export async function repairContext(a: TargetOptions & SshOptions): Promise<RepairContext> {
  const { fleetFrom } = await import('../hosts/run');
  const { target, fleet } = await fleetFrom(a, { progress: () => undefined });
  return {
    inventory: target.inventory,
    topology: target.topology ?? null,
    stackFile: target.stackFile ?? null,
    live: target.live ?? null,
    connect: fleet.connect,
    ssh: fleet.ssh,
    log: progress,
    inventoryFile: a.inventory ?? null,
  };
}

async function run<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const { RepairInputError } = await import('./verify');
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CommandError) throw e;
    if (e instanceof RepairInputError) throw new CommandError(`${what}: ${e.message}; nothing was changed`, EXIT.usage);
    throw new CommandError(`${what}: ${(e as Error).message}`, EXIT.failed);
  }
}

function verdict(v: MirrorVerify, what: string): void {
  if (!v.equal) throw new CommandError(`${what}: ${v.site} differs from ${v.source} (${v.differences.length + v.moreDifferences} entries)`, EXIT.degraded);
}

const builder = (site: string) => (y: Argv) => withJson(withOneSite(withSshOptions(withTargetOptions(y)), site)) as unknown as Argv<Args>;

export const verifyCommand: CommandModule<object, Args> = {
  command: 'verify [file]',
  describe: 'Compare a mirror with its source (checksums on each host), changing nothing; exit 3 when they differ',
  builder: builder('the mirror to verify'),
  handler: async (a) => {
    const { verifyMirror, renderVerify } = await import('./verify');
    const ctx = await repairContext(a);
    const v = await run('mirror verify', () => verifyMirror(ctx, a.site));
    if (a.json) outJson(v);
    else process.stdout.write(`${renderVerify(v)}\n`);
    verdict(v, 'mirror verify');
  },
};

export const rebuildCommand: CommandModule<object, Args> = {
  command: 'rebuild [file]',
  describe: 'Rebuild a broken or corrupted mirror from its source while the master keeps serving; verified equal at the end',
  builder: builder('the mirror to rebuild'),
  handler: async (a) => {
    const { rebuildMirror } = await import('./rebuild');
    const { renderVerify } = await import('./verify');
    const ctx = await repairContext(a);
    const r = await run('mirror rebuild', () => rebuildMirror(ctx, a.site));
    if (a.json) outJson(r);
    else process.stdout.write(`rebuilt ${r.site} from ${r.source}: ${r.bytesSent} bytes sent in ${(r.ms / 1000).toFixed(1)} s\n${renderVerify(r.verify)}\n`);
    verdict(r.verify, 'mirror rebuild');
  },
};

type ReplaceArgs = Args & { snapshot?: string };

export const replaceCommand: CommandModule<object, ReplaceArgs> = {
  command: 'replace [file]',
  describe: 'Replace a mirror host lost for good: a new host (new host key, pinned), the agent, seeded from its feeder, verified',
  builder: (y: Argv) =>
    builder('the mirror site whose host is replaced')(y).option('snapshot', {
      type: 'string',
      requiresArg: true,
      describe: 'cloud: the snapshot to create the new data volume from (default: the newest of the site)',
    }) as unknown as Argv<ReplaceArgs>,
  handler: async (a) => {
    const { replaceSite } = await import('./replace');
    const { renderVerify } = await import('./verify');
    const ctx = await repairContext(a);
    const r = await run('site replace', () => replaceSite(ctx, a.site, { snapshot: a.snapshot }));
    if (a.json) outJson({ ...r, inventory: undefined });
    else {
      process.stdout.write(
        `replaced ${r.site} in ${(r.ms / 1000).toFixed(1)} s: new host key ${r.newHostKey} (was ${r.oldHostKey ?? 'none'}); seeded from ${r.seededFrom}${r.snapshotId ? ` on a volume from ${r.snapshotId}` : ''}\n${renderVerify(r.verify)}\n`,
      );
    }
    verdict(r.verify, 'site replace');
  },
};
