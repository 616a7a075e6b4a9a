import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { outJson, readStack, stackPath, withJson, withStackInput, type JsonOption, type StackInput } from '../options';
import { describeIssues, parseTopologyFile } from '../../model/topology/load';
import { summarize } from '../../model/topology/summary';

type Args = StackInput & JsonOption;

export const command = 'validate [file]';
export const describe = 'Check a stack config and print a summary of its topology (exit 2 on errors)';
export const builder = (y: Argv) => withJson(withStackInput(y), 'print {"ok","file","issues","topology"} instead of the summary');

export async function handler(a: Args): Promise<void> {
  if (a.json) {
    const file = stackPath(a);
    const r = parseTopologyFile(file);
    outJson({ ok: !!r.topology, file: path.relative(process.cwd(), file) || file, issues: r.issues, topology: r.topology ?? null });
    if (!r.topology) throw new CommandError('', EXIT.usage);
    return;
  }
  const { file, topology, warnings } = readStack(a);
  const out = [summarize(topology)];
  if (warnings.length) out.push('', describeIssues(path.relative(process.cwd(), file) || file, warnings));
  out.push('', `OK: ${path.relative(process.cwd(), file) || file} is valid`);
  process.stdout.write(`${out.join('\n')}\n`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
