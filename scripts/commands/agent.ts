import type { Argv, CommandModule } from 'yargs';
import { withSshOptions, withTargetOptions, type SshOptions, type TargetOptions } from '../hosts/options';

// Every tandem command loads every command file: the SSH and install code loads only when used.
const lib = async () => ({ ...(await import('../hosts/bundle')), ...(await import('../hosts/install')), ...(await import('../hosts/run')) });

type Args = TargetOptions & SshOptions;

async function install(a: Args, mode: 'install' | 'upgrade'): Promise<void> {
  const { agentBundle, installFleet, summarizeResults, failIfAny, fleetFrom } = await lib();
  const { target, fleet } = await fleetFrom(a);
  const agentJs = agentBundle((m) => process.stderr.write(`${m}\n`));
  process.stderr.write(`${mode === 'install' ? 'Installing' : 'Upgrading'} the tandem agent on ${target.inventory.hosts.length} hosts of "${target.inventory.customer}" (from ${target.from})\n`);
  const results = await installFleet(fleet, mode, agentJs);
  process.stdout.write(`${summarizeResults(`agent ${mode}`, results)}\n`);
  failIfAny(results);
}

const installCmd: CommandModule<object, Args> = {
  command: 'install [file]',
  describe: 'Install the sync agent on every host (idempotent: a second run changes nothing)',
  builder: (y: Argv) => withSshOptions(withTargetOptions(y)),
  handler: (a) => install(a, 'install'),
};

const upgradeCmd: CommandModule<object, Args> = {
  command: 'upgrade [file]',
  describe: 'Replace the agent on every host and restart it; mirror state is kept',
  builder: (y: Argv) => withSshOptions(withTargetOptions(y)),
  handler: (a) => install(a, 'upgrade'),
};

const uninstallCmd: CommandModule<object, Args & { keepState: boolean }> = {
  command: 'uninstall [file]',
  describe: 'Stop and remove the agent, its supervision and its keys; the data directory is not touched',
  builder: (y: Argv) =>
    withSshOptions(withTargetOptions(y)).option('keep-state', {
      type: 'boolean',
      default: false,
      describe: 'keep /var/lib/tandem/state (mirror positions) for a later install',
    }) as unknown as Argv<Args & { keepState: boolean }>,
  handler: async (a) => {
    const { uninstallFleet, summarizeResults, failIfAny, fleetFrom } = await lib();
    const { target, fleet } = await fleetFrom(a);
    process.stderr.write(`Uninstalling the tandem agent from ${target.inventory.hosts.length} hosts of "${target.inventory.customer}"; data directories stay as they are\n`);
    const results = await uninstallFleet(fleet, { keepState: a.keepState });
    process.stdout.write(`${summarizeResults('agent uninstall', results)}\n`);
    failIfAny(results);
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
