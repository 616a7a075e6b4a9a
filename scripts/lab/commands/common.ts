/** Shared by the `tandem lab ...` subcommands. */
import { CommandError, EXIT } from '../../errors';
import { readStack, type StackInput } from '../../options';

/** The customer a subcommand acts on: --stack needs no file (down/status work after it is gone). */
export function customerOf(a: StackInput): string {
  if (a.stack) return a.stack;
  if (a.file) return readStack(a).topology.customer;
  throw new CommandError('give a stack file or --stack <customer>; e.g. tandem lab status --stack lab', EXIT.usage);
}

/** Runs lab library code, turning its errors into a CommandError (exit 1) with the message only. */
export async function labAction<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw new CommandError(`tandem lab: ${(e as Error)?.message ?? String(e)}`, EXIT.failed);
  }
}

export const out = (line: string) => process.stdout.write(`${line}\n`);
