import type { Argv, CommandModule } from 'yargs';
import { readStack, withStackInput, type StackInput } from '../../options';
import { labUp } from '../up';
import { labAction, out } from './common';

export const command = 'up [file]';
export const describe = 'Bring a stack up as lab hosts on this machine (idempotent; repairs a half-made lab)';
export const builder = (y: Argv) => withStackInput(y);

export async function handler(a: StackInput): Promise<void> {
  const { topology } = readStack(a);
  await labAction(() => labUp(topology, { log: out }));
  out(`lab ${topology.customer} is up; tandem lab status --stack ${topology.customer} shows it, tandem lab down --stack ${topology.customer} removes it`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, StackInput>;
