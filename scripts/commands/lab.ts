import type { Argv, CommandModule } from 'yargs';

export const command = 'lab <command>';
export const describe = 'The local lab: every site of a stack as a real host on this machine (needs root)';
// One registry: every file in ../lab/commands is a subcommand, as every file here is a command.
export const builder = (y: Argv) =>
  y.commandDir('../lab/commands', { extensions: ['ts', 'js'], exclude: /(^|\/)common\.[tj]s$|\.(d|test)\.ts$/ }).demandCommand(1, 'name a lab command: up, down, status, fault, vip, exec, demo');

export async function handler(): Promise<void> {
  /* the subcommands handle everything */
}

export default { command, describe, builder, handler } satisfies CommandModule;
