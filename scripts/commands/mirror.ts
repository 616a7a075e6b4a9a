import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import type { MirrorVerb } from '../hosts/mirror';
import { refreshCommand } from '../failover/refresh';
import { rebuildCommand, verifyCommand } from '../repair/commands';
import { outJson, withJson, withSiteOption, withSshOptions, withTargetOptions, type JsonOption, type SiteOption, type SshOptions, type TargetOptions } from '../options';

// Every tandem command loads every command file: the SSH code loads only when used.
const lib = async () => ({ ...(await import('../hosts/install')), ...(await import('../hosts/mirror')), ...(await import('../hosts/run')) });

type Args = TargetOptions & SshOptions & SiteOption & JsonOption;

const VERBS: Record<MirrorVerb, { describe: string; siteRequired: boolean }> = {
  start: { describe: 'Start mirroring (all, or --site X and the path to it): feeders seed, then stream', siteRequired: false },
  stop: { describe: 'Stop mirroring (all, or --site X and what X relays to)', siteRequired: false },
  pause: { describe: 'Pause feeding a mirror (--site X); it keeps its position', siteRequired: true },
  resume: { describe: 'Resume feeding a paused mirror (--site X)', siteRequired: true },
};

function verbCommand(verb: MirrorVerb): CommandModule<object, Args> {
  return {
    command: `${verb} [file]`,
    describe: VERBS[verb].describe,
    builder: (y: Argv) => withJson(withSiteOption(withSshOptions(withTargetOptions(y)), VERBS[verb].siteRequired), 'print the per-host results as JSON on stdout') as unknown as Argv<Args>,
    handler: async (a) => {
      const { summarizeResults, mirrorFleet, MirrorUsageError, failIfAny, fleetFrom } = await lib();
      const { fleet } = await fleetFrom(a);
      let results;
      try {
        results = await mirrorFleet(fleet, verb, a.site ?? []);
      } catch (e) {
        if (e instanceof MirrorUsageError) throw new CommandError(e.message, EXIT.usage);
        throw new CommandError(`mirror ${verb}: ${(e as Error).message}`, EXIT.failed);
      }
      if (a.json) outJson({ command: `mirror ${verb}`, ok: results.every((r) => r.outcome !== 'failed' && r.outcome !== 'skipped'), hosts: results });
      else process.stdout.write(`${summarizeResults(`mirror ${verb}`, results)}\n`);
      failIfAny(results);
    },
  };
}

export const command = 'mirror <command>';
export const describe = 'Start, stop, pause or resume mirroring; refresh a cold mirror; verify or rebuild a mirror';
export const builder = (y: Argv) =>
  (Object.keys(VERBS) as MirrorVerb[])
    .reduce((acc, v) => acc.command(verbCommand(v) as unknown as CommandModule), y)
    .command(refreshCommand as unknown as CommandModule)
    .command(verifyCommand as unknown as CommandModule)
    .command(rebuildCommand as unknown as CommandModule)
    .demandCommand(1, 'name one: tandem mirror start | stop | pause | resume | refresh | verify | rebuild');
export const handler = (): void => undefined;

export default { command, describe, builder, handler } satisfies CommandModule;
