/** `tandem failback`: a planned switchover back to the stack file's master once it is an in-sync mirror. */
import type { Argv, CommandModule } from 'yargs';
import { withSshOptions, withTargetOptions } from '../options';
import type { FailoverArgs } from '../failover/command-glue';

export const command = 'failback [file]';
export const describe = "Switch back to the stack file's master (planned: verified equal data, zero loss) and restore the original tree";
export const builder = (y: Argv) =>
  withSshOptions(withTargetOptions(y), { timeout: 3 })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask (there is never a prompt when stdin is not a terminal)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the journal record as JSON' }) as unknown as Argv<FailoverArgs>;

export async function handler(a: FailoverArgs): Promise<void> {
  const { failoverCommand } = await import('../failover/command-glue');
  await failoverCommand({ ...a, planned: true }, 'failback');
}

export default { command, describe, builder, handler } satisfies CommandModule<object, FailoverArgs>;
