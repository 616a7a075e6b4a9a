import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_CUSTOMERS_FILE } from '../fleet/customers';
import { defaultDeps, fleet, FLEET_ACTIONS, type FleetArgs } from '../fleet/main';

export const command = 'fleet <action>';
export const describe = 'Every customer of the customers file at once: validate, plan (offline), preview|up|refresh|destroy|status (Pulumi Automation API), drill';
export const builder = (y: Argv): Argv<FleetArgs> =>
  y
    .positional('action', { choices: FLEET_ACTIONS, demandOption: true, describe: 'what to do to every customer' })
    .option('customers', { type: 'string', requiresArg: true, default: path.relative(process.cwd(), DEFAULT_CUSTOMERS_FILE) || DEFAULT_CUSTOMERS_FILE, describe: 'the customers file' })
    .option('parallel', { type: 'number', requiresArg: true, describe: 'customers at once (default: every core for plan, 4 for cloud operations)' })
    .option('only', { type: 'string', requiresArg: true, describe: 'comma-separated customer ids: run these only' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
    .option('remote', { type: 'boolean', default: false, describe: "run each customer's update on Pulumi Deployments (the file's remote: section)" })
    .option('yes', { type: 'boolean', default: false, describe: 'destroy without asking for the customer names' })
    .option('fresh', { type: 'boolean', default: false, describe: 'ignore an unfinished run record: run every customer again' })
    .option('records-dir', { type: 'string', requiresArg: true, describe: 'where run records are kept (default $TANDEM_FLEET_RECORDS, else ~/.local/state/tandem/fleet)' })
    .option('scenario', { type: 'string', requiresArg: true, describe: 'drill: the scenario to run' }) as unknown as Argv<FleetArgs>;

/** Exit 0 all done; 1 a customer failed or was not run; 2 bad input (nothing run); 3 plan: policy errors. */
export async function handler(a: FleetArgs): Promise<void> {
  // Ctrl-C once: start no more customers, let running updates finish and record them. Twice: stop now.
  const abort = new AbortController();
  const onInt = () => {
    if (abort.signal.aborted) {
      process.off('SIGINT', onInt);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    process.stderr.write('\ninterrupted: no more customers will start; waiting for the running ones (Ctrl-C again to stop now)\n');
    abort.abort();
  };
  process.on('SIGINT', onInt);
  try {
    await fleet(a, { ...defaultDeps(), signal: abort.signal });
  } finally {
    process.off('SIGINT', onInt);
  }
}

export default { command, describe, builder, handler } satisfies CommandModule<object, FleetArgs>;
