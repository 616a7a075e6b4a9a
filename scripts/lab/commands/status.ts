import type { Argv, CommandModule } from 'yargs';
import { withJson, withTargetOptions, type JsonOption, type TargetOptions } from '../../options';
import { formatStatus, labStatus } from '../status';
import { customerOf, labAction, out, outJson } from './common';

type Args = TargetOptions & JsonOption;

export const command = 'status [file]';
export const describe = 'List the lab hosts of a stack: addresses, sshd, power, link, disk, and any leftovers';
export const builder = (y: Argv) => withJson(withTargetOptions(y), 'print JSON');

export async function handler(a: Args): Promise<void> {
  const s = await labAction(() => labStatus(customerOf(a)));
  if (a.json) outJson(s);
  else out(formatStatus(s));
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
