/** `tandem drill`: a scripted failover drill under load, with RTO/RPO figures and a report (scripts/drill). */
import type { Argv, CommandModule } from 'yargs';
import { withSshOptions, withTargetOptions } from '../options';
import type { DrillArgs } from '../drill/command-glue';

export const command = 'drill [file]';
export const describe = 'Run a failover drill under load (--scenario <name>|all): RTO, RPO, records lost, checked against targets; the original layout is put back';
export const builder = (y: Argv) =>
  withSshOptions(withTargetOptions(y), { timeout: 3 })
    .option('scenario', {
      type: 'string',
      requiresArg: true,
      demandOption: 'name the scenario: --scenario <name>|all',
      describe: 'planned-switchover, master-crash, region-outage, cold-standby, mirror-crash-during-sync, double-fault, stale-master-returns, rebuild-mirror, replace-host, or all',
    })
    .option('report', { type: 'string', requiresArg: true, normalize: true, describe: 'directory for the reports: Markdown, JSON, SVG and PNG per scenario (and a summary with all)' })
    .option('rate', { type: 'number', default: 2000, requiresArg: true, describe: 'records per second the load generator writes on the master' })
    .option('force', { type: 'boolean', default: false, describe: 'drill a DEGRADED stack, or one whose drill was not announced ahead (notify.announceLeadMin)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON (one scenario: the DrillResult; all: every result)' }) as unknown as Argv<DrillArgs>;

export async function handler(a: DrillArgs): Promise<void> {
  const { drillCommand } = await import('../drill/command-glue');
  await drillCommand(a);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, DrillArgs>;
