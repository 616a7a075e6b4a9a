import type { Argv, CommandModule } from 'yargs';
import { withStackInput, type StackInput } from '../../options';
import { FAULTS, FAULT_HELP, labFault, type LabFault } from '../fault';
import { customerOf, labAction, out } from './common';

interface FaultArgs extends StackInput {
  site: string;
  fault: LabFault;
}

export const command = 'fault <site> <fault> [file]';
export const describe = 'Inflict a real fault on a lab host (or undo one)';
export const builder = (y: Argv) =>
  withStackInput(
    y
      .positional('site', { type: 'string', demandOption: true, describe: 'site name' })
      .positional('fault', { type: 'string', choices: FAULTS, demandOption: true, describe: 'what to do' })
      .epilogue(FAULTS.map((f) => `${f.padEnd(9)} ${FAULT_HELP[f]}`).join('\n')),
  ) as unknown as Argv<FaultArgs>;

export async function handler(a: FaultArgs): Promise<void> {
  out(await labAction(() => labFault(customerOf(a), a.site, a.fault)));
}

export default { command, describe, builder, handler } satisfies CommandModule<object, FaultArgs>;
