/** `tandem service start|stop|status`: the trading service on whichever host is master now. */
import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { withSshOptions, withTargetOptions, type SshOptions, type TargetOptions } from '../options';

type Args = TargetOptions & SshOptions & { json: boolean; site?: string };
type Verb = 'start' | 'stop' | 'status';

const VERBS: Record<Verb, string> = {
  start: "Run the topology's service.start on the current master; report whether it answers on the master and the service address",
  stop: "Run the topology's service.stop on the current master",
  status: 'Whether the service answers on its health port, on the master and on the service address (exit 3 when not on the master)',
};

function verbCommand(verb: Verb): CommandModule<object, Args> {
  return {
    command: `${verb} [file]`,
    describe: VERBS[verb],
    builder: (y: Argv) =>
      withSshOptions(withTargetOptions(y), { timeout: 10 })
        .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
        .option('site', { type: 'string', requiresArg: true, describe: 'refuse unless this site is the master now (a guard for scripts)' }) as unknown as Argv<Args>,
    handler: async (a) => {
      const { fleetFrom } = await import('../hosts/run');
      const { serviceAction, renderService, ServiceInputError } = await import('../service/index');
      const { target, fleet } = await fleetFrom(a, { progress: () => undefined });
      let r;
      try {
        r = await serviceAction(target.inventory, verb, { connect: fleet.connect, ssh: fleet.ssh, site: a.site });
      } catch (e) {
        if (e instanceof ServiceInputError) throw new CommandError(e.message, EXIT.usage);
        throw new CommandError(`service ${verb}: ${(e as Error).message}`, EXIT.failed);
      }
      process.stdout.write(`${a.json ? JSON.stringify(r, null, 2) : renderService(r)}\n`);
      if (verb === 'start' && !r.answersOnMaster) throw new CommandError(`service start: ${r.master} ran the start command but nothing answers on ${r.masterAddress}:${r.healthPort}`, EXIT.failed);
      if (verb === 'status' && !r.answersOnMaster) throw new CommandError('', EXIT.degraded);
    },
  };
}

export const command = 'service <command>';
export const describe = 'Start, stop or check the trading service on the current master';
export const builder = (y: Argv) =>
  (Object.keys(VERBS) as Verb[]).reduce((acc, v) => acc.command(verbCommand(v) as unknown as CommandModule), y).demandCommand(1, 'name one: tandem service start | stop | status');
export const handler = (): void => undefined;

export default { command, describe, builder, handler } satisfies CommandModule;
