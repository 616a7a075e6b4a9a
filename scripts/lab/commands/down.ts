import type { Argv, CommandModule } from 'yargs';
import { withStackInput, type StackInput } from '../../options';
import { labDown } from '../down';
import { customerOf, labAction, out } from './common';

export const command = 'down [file]';
export const describe = 'Remove every process, namespace, link, mount and file the lab made for a stack';
export const builder = (y: Argv) => withStackInput(y);

export async function handler(a: StackInput): Promise<void> {
  const customer = customerOf(a);
  const { removed } = await labAction(() => labDown(customer, { log: (l) => out(`  ${l}`) }));
  out(removed.length ? `lab ${customer} is down (${removed.length} things removed)` : `lab ${customer} was not up; nothing to remove`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, StackInput>;
