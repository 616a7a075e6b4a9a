import type { Argv, CommandModule } from 'yargs';
import { withJson, withTargetOptions, type JsonOption, type TargetOptions } from '../../options';
import { labDown } from '../down';
import { customerOf, labAction, out, outJson, progress } from './common';

type Args = TargetOptions & JsonOption;

export const command = 'down [file]';
export const describe = 'Remove every process, namespace, link, mount and file the lab made for a stack';
export const builder = (y: Argv) => withJson(withTargetOptions(y), 'print {"customer","removed"} on stdout');

export async function handler(a: Args): Promise<void> {
  const customer = customerOf(a);
  const { removed } = await labAction(() => labDown(customer, { log: (l) => progress(`  ${l}`) }));
  if (a.json) outJson({ customer, removed });
  else out(removed.length ? `lab ${customer} is down (${removed.length} things removed)` : `lab ${customer} was not up; nothing to remove`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
