/** Shared by the `tandem lab ...` subcommands (not a command: scripts/commands/lab.ts skips this file). */
import { CommandError, EXIT } from '../../errors';
import { readInventoryFile } from '../../hosts/target';
import { readStack, type TargetOptions } from '../../options';

/**
 * The customer a subcommand acts on, from `[file] | --stack <customer> | --inventory <json>`:
 * --stack needs no file (down/status work after it is gone); an inventory names its customer.
 */
export function customerOf(a: TargetOptions): string {
  if (a.stack) return a.stack;
  if (a.file) return readStack(a).topology.customer;
  if (a.inventory) return readInventoryFile(a.inventory).customer;
  throw new CommandError('give a stack file, --stack <customer> or --inventory <json>; e.g. tandem lab status --stack lab', EXIT.usage);
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

export { out, outJson, progress } from '../../options';
