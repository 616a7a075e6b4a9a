import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../../errors';
import { withJson, withOneSite, withTargetOptions, type JsonOption, type OneSite, type TargetOptions } from '../../options';
import { hostExec } from '../fault';
import { customerOf, labAction, outJson } from './common';

type Args = TargetOptions & OneSite & JsonOption & { _: (string | number)[] };

// The command goes after --, so a stack-file positional cannot be mistaken for it.
export const command = 'exec [file]';
export const describe = 'Run a command inside a lab host (its namespaces, not SSH: works while it is isolated or hung)';
export const builder = (y: Argv) =>
  withJson(withOneSite(withTargetOptions(y), 'site of the host'), 'print {"site","argv","code","stdout","stderr"}').example(
    'tandem lab exec --site ny --stack lab -- ls -l /srv/trading',
    '',
  ) as unknown as Argv<Args>;

/**
 * The child's output is passed through; its exit code is not (it would collide with tandem's own
 * 2 and 3): a child that fails is reported on stderr and tandem exits 1.
 */
export async function handler(a: Args): Promise<void> {
  // yargs leaves what follows -- in _ (after "lab exec").
  const argv = a._.slice(2).map(String);
  if (!argv.length) throw new CommandError('give the command to run after --, e.g. tandem lab exec --site ny --stack lab -- hostname', EXIT.usage);
  const r = await labAction(() => hostExec(customerOf(a), a.site, argv));
  if (a.json) {
    outJson({ site: a.site, argv, code: r.code, stdout: r.stdout, stderr: r.stderr });
    if (r.code !== 0) throw new CommandError('', EXIT.failed);
    return;
  }
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new CommandError(`tandem lab exec: the command exited with ${r.code ?? 'a signal'} on ${a.site}`, EXIT.failed);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
