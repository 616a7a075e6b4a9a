import type { Argv, CommandModule } from 'yargs';
import demo from '../demo/command';
import down from '../lab/commands/down';
import exec from '../lab/commands/exec';
import fault from '../lab/commands/fault';
import status from '../lab/commands/status';
import up from '../lab/commands/up';
import vip from '../lab/commands/vip';

export const command = 'lab <command>';
export const describe = 'The local lab: every site of a stack as a real host on this machine (needs root)';
export const builder = (y: Argv) =>
  y
    .command(up)
    .command(down)
    .command(status)
    .command(fault as unknown as CommandModule)
    .command(vip as unknown as CommandModule)
    .command(exec as unknown as CommandModule)
    .command(demo)
    .demandCommand(1, 'name a lab command: up, down, status, fault, vip, exec, demo');

export async function handler(): Promise<void> {
  /* the subcommands handle everything */
}

export default { command, describe, builder, handler } satisfies CommandModule;
