/** `tandem failover`: a planned switchover or an unplanned failover to a mirror (scripts/failover). */
import type { Argv, CommandModule } from 'yargs';
import { withSshOptions, withTargetOptions } from '../options';
import type { FailoverArgs } from '../failover/command-glue';

export const command = 'failover [file]';
export const describe = 'Move the master role to a mirror: --planned (verified, zero loss) or unplanned (master down; best mirror unless --to)';
export const builder = (y: Argv) =>
  withSshOptions(withTargetOptions(y), { timeout: 3 })
    .option('to', { type: 'string', requiresArg: true, describe: 'the mirror that becomes master (default: the reachable mirror with the newest data)' })
    .option('planned', { type: 'boolean', default: false, describe: 'maintenance switchover: stop the service, drain, verify equal data, then promote' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask (there is never a prompt when stdin is not a terminal)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the journal record as JSON' })
    .option('fault-at', { type: 'string', requiresArg: true, hidden: true, describe: 'when the fault happened (drills): RTO counted from it' }) as unknown as Argv<FailoverArgs>;

export async function handler(a: FailoverArgs): Promise<void> {
  const { failoverCommand } = await import('../failover/command-glue');
  await failoverCommand(a, 'failover');
}

export default { command, describe, builder, handler } satisfies CommandModule<object, FailoverArgs>;
