/** Flags shared by several commands, as typed yargs builders. */
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { CommandError, EXIT } from './errors';
import { describeIssues, parseTopologyFile, stackFile } from '../model/topology/load';
import type { Issue, Topology } from '../model/topology/types';

export interface StackInput {
  file?: string;
  stack?: string;
}

/** `<file>` or `--stack <customer>`: where a stack config comes from. */
export function withStackInput<T>(y: Argv<T>): Argv<T & StackInput> {
  return y
    .positional('file', { type: 'string', describe: 'stack config file (stacks/Pulumi.<customer>.yaml)' })
    .option('stack', { type: 'string', requiresArg: true, describe: 'customer name: reads stacks/Pulumi.<customer>.yaml' })
    .conflicts('file', 'stack') as Argv<T & StackInput>;
}

export function stackPath(a: StackInput): string {
  if (a.file) return path.resolve(a.file);
  if (a.stack) return stackFile(a.stack);
  throw new CommandError('give a stack file or --stack <customer>; e.g. tandem validate --stack lab', EXIT.usage);
}

/**
 * Loads and validates the stack the user named. On errors it throws a CommandError (exit 2) with
 * every problem listed; warnings are returned for the caller to show.
 */
export function readStack(a: StackInput): { file: string; topology: Topology; warnings: readonly Issue[] } {
  const file = stackPath(a);
  const r = parseTopologyFile(file);
  if (!r.topology) throw new CommandError(describeIssues(path.relative(process.cwd(), file) || file, r.issues), EXIT.usage);
  return { file, topology: r.topology, warnings: r.issues };
}
