import type { Argv, CommandModule } from 'yargs';
import { readStack, withStackInput, type StackInput } from '../options';
import { runDemo } from './run';
import { labAction, out } from '../lab/commands/common';

export const command = 'demo [file]';
export const describe = 'Quick start: bring the stack up as a lab and show every host working (npm run lab)';
export const builder = (y: Argv) => withStackInput(y);

export async function handler(a: StackInput): Promise<void> {
  const { file, topology } = readStack(a.file || a.stack ? a : { stack: 'lab' });
  await labAction(() => runDemo(topology, out, file));
}

export default { command, describe, builder, handler } satisfies CommandModule<object, StackInput>;
