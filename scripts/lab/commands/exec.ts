import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../../errors';
import { hostExec } from '../fault';
import { labAction } from './common';

interface ExecArgs {
  site: string;
  stack: string;
  cmd?: string[];
  _: (string | number)[];
}

// The stack comes from --stack only: a stack-file positional could not be told from the command.
export const command = 'exec <site> [cmd..]';
export const describe = 'Run a command inside a lab host (its namespaces, not SSH: works while it is isolated or hung)';
export const builder = (y: Argv) =>
  y
    .positional('site', { type: 'string', demandOption: true, describe: 'site name' })
    .positional('cmd', { type: 'string', array: true, describe: 'the command, after --' })
    .option('stack', { type: 'string', demandOption: true, requiresArg: true, describe: 'customer name of the lab stack' })
    .example('tandem lab exec ny --stack lab -- ls -l /srv/trading', '') as unknown as Argv<ExecArgs>;

export async function handler(a: ExecArgs): Promise<void> {
  // yargs leaves what follows -- in _ (after "lab exec").
  const argv = [...(a.cmd ?? []), ...a._.slice(2)].map(String);
  if (!argv.length) throw new CommandError('give the command to run after --, e.g. tandem lab exec ny --stack lab -- hostname', EXIT.usage);
  const r = await labAction(() => hostExec(a.stack, a.site, argv));
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new CommandError('', r.code ?? EXIT.failed);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, ExecArgs>;
