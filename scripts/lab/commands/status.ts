import type { Argv, CommandModule } from 'yargs';
import { withStackInput, type StackInput } from '../../options';
import { formatStatus, labStatus } from '../status';
import { customerOf, labAction, out } from './common';

export const command = 'status [file]';
export const describe = 'List the lab hosts of a stack: addresses, sshd, power, link, disk, and any leftovers';
export const builder = (y: Argv) => withStackInput(y).option('json', { type: 'boolean', default: false, describe: 'print JSON' });

export async function handler(a: StackInput & { json?: boolean }): Promise<void> {
  const s = await labAction(() => labStatus(customerOf(a)));
  out(a.json ? JSON.stringify(s, null, 2) : formatStatus(s));
}

export default { command, describe, builder, handler } satisfies CommandModule<object, StackInput & { json?: boolean }>;
