import type { Argv, CommandModule } from 'yargs';
import { readStack, withStackInput, type StackInput } from '../options';
import { describeIssues } from '../../model/topology/load';
import { summarize } from '../../model/topology/summary';
import * as path from 'node:path';

export const command = 'validate [file]';
export const describe = 'Check a stack config and print a summary of its topology (exit 2 on errors)';
export const builder = (y: Argv) => withStackInput(y);

export async function handler(a: StackInput): Promise<void> {
  const { file, topology, warnings } = readStack(a);
  const out = [summarize(topology)];
  if (warnings.length) out.push('', describeIssues(path.relative(process.cwd(), file) || file, warnings));
  out.push('', `OK: ${path.relative(process.cwd(), file) || file} is valid`);
  process.stdout.write(`${out.join('\n')}\n`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, StackInput>;
