import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../../errors';
import { readStack, withJson, withTargetOptions, type JsonOption, type TargetOptions } from '../../options';
import { labUp } from '../up';
import { labAction, out, outJson, progress } from './common';

type Args = TargetOptions & JsonOption;

export const command = 'up [file]';
export const describe = 'Bring a stack up as lab hosts on this machine (idempotent; repairs a half-made lab)';
export const builder = (y: Argv) => withJson(withTargetOptions(y), "print the lab's inventory as JSON on stdout");

export async function handler(a: Args): Promise<void> {
  if (!a.file && !a.stack) throw new CommandError('lab up makes hosts from a stack config, which an inventory does not hold: give a stack file or --stack <customer>', EXIT.usage);
  const { topology } = readStack(a);
  const inventory = await labAction(() => labUp(topology, { log: progress }));
  if (a.json) outJson(inventory);
  else out(`lab ${topology.customer} is up; tandem lab status --stack ${topology.customer} shows it, tandem lab down --stack ${topology.customer} removes it`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
