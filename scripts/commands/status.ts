import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { withJson, withSshOptions, withTargetOptions, type JsonOption, type SshOptions, type TargetOptions } from '../options';

type Args = TargetOptions & SshOptions & JsonOption;

export const command = 'status [file]';
export const describe = 'Per-host mirroring status and the redundancy verdict (exit 0 OK, 3 DEGRADED)';
export const builder = (y: Argv) => withJson(withSshOptions(withTargetOptions(y), { timeout: 5 }), 'print JSON instead of a table');

export async function handler(a: Args): Promise<void> {
  const t0 = Date.now();
  // Loaded here, not at the top: every tandem command loads every command file.
  const { fleetFrom } = await import('../hosts/run');
  const { observe } = await import('../status/collect');
  const { renderJson, renderTable } = await import('../status/render');
  const { assess } = await import('../status/verdict');
  const { target, fleet } = await fleetFrom(a, { progress: () => undefined });
  // One attempt per host: a monitor wants the answer within the timeout, not after retries.
  const obs = await observe(target.inventory, fleet.connect, { ...fleet.ssh, retries: 0 }, fleet.parallel);
  const v = assess(obs);
  process.stdout.write(`${a.json ? renderJson(target.inventory.customer, v, Date.now() - t0) : renderTable(v)}\n`);
  if (!v.ok) throw new CommandError('', EXIT.degraded);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
