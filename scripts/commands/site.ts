import type { Argv, CommandModule } from 'yargs';
import { replaceCommand } from '../repair/commands';

export const command = 'site <command>';
export const describe = 'Work on one site as a whole: replace a mirror host lost for good';
export const builder = (y: Argv) => y.command(replaceCommand as unknown as CommandModule).demandCommand(1, 'name one: tandem site replace');
export const handler = (): void => undefined;

export default { command, describe, builder, handler } satisfies CommandModule;
