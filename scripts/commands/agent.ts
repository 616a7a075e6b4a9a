import type { Argv, CommandModule } from 'yargs';
import type { HostResult } from '../hosts/install';
import { outJson, progress, withJson, withSshOptions, withTargetOptions, type JsonOption, type SshOptions, type TargetOptions } from '../options';

// Every tandem command loads every command file: the SSH and install code loads only when used.
const lib = async () => ({ ...(await import('../hosts/bundle')), ...(await import('../hosts/install')), ...(await import('../hosts/run')) });

type Args = TargetOptions & SshOptions & JsonOption;

const builder1 = (y: Argv) => withJson(withSshOptions(withTargetOptions(y)), 'print the per-host results as JSON on stdout');

/** Per-host results on stdout (text or JSON); exit 1 when any host failed. */
async function report(verb: string, results: HostResult[], json: boolean): Promise<void> {
  const { summarizeResults, failIfAny } = await lib();
  if (json) outJson({ command: verb, ok: results.every((r) => r.outcome !== 'failed' && r.outcome !== 'skipped'), hosts: results });
  else process.stdout.write(`${summarizeResults(verb, results)}\n`);
  failIfAny(results);
}

async function install(a: Args, mode: 'install' | 'upgrade'): Promise<void> {
  const { agentBundle, installFleet, fleetFrom } = await lib();
  const { target, fleet } = await fleetFrom(a);
  const agentJs = agentBundle(progress);
  progress(`${mode === 'install' ? 'Installing' : 'Upgrading'} the tandem agent on ${target.inventory.hosts.length} hosts of "${target.inventory.customer}" (from ${target.from})`);
  await report(`agent ${mode}`, await installFleet(fleet, mode, agentJs), a.json);
}

const installCmd: CommandModule<object, Args> = {
  command: 'install [file]',
  describe: 'Install the sync agent on every host (idempotent: a second run changes nothing)',
  builder: builder1,
  handler: (a) => install(a, 'install'),
};

const upgradeCmd: CommandModule<object, Args> = {
  command: 'upgrade [file]',
  describe: 'Replace the agent on every host and restart it; mirror state is kept',
  builder: builder1,
  handler: (a) => install(a, 'upgrade'),
};

const uninstallCmd: CommandModule<object, Args & { keepState: boolean }> = {
  command: 'uninstall [file]',
  describe: 'Stop and remove the agent, its supervision and its keys; the data directory is not touched',
  builder: (y: Argv) =>
    builder1(y).option('keep-state', {
      type: 'boolean',
      default: false,
      describe: 'keep /var/lib/tandem/state (mirror positions) for a later install',
    }) as unknown as Argv<Args & { keepState: boolean }>,
  handler: async (a) => {
    const { uninstallFleet, fleetFrom } = await lib();
    const { target, fleet } = await fleetFrom(a);
    progress(`Uninstalling the tandem agent from ${target.inventory.hosts.length} hosts of "${target.inventory.customer}"; data directories stay as they are`);
    await report('agent uninstall', await uninstallFleet(fleet, { keepState: a.keepState }), a.json);
  },
};

export const command = 'agent <command>';
export const describe = 'Install, upgrade or uninstall the sync agent on the hosts of a stack';
export const builder = (y: Argv) =>
  y
    .command(installCmd as unknown as CommandModule)
    .command(upgradeCmd as unknown as CommandModule)
    .command(uninstallCmd as unknown as CommandModule)
    .demandCommand(1, 'name one: tandem agent install | upgrade | uninstall');
export const handler = (): void => undefined;

export default { command, describe, builder, handler } satisfies CommandModule;
