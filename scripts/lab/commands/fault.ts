import type { Argv, CommandModule } from 'yargs';
import { deprecatedSite, withJson, withOneSite, withTargetOptions, type JsonOption, type OneSite, type TargetOptions } from '../../options';
import { FAULTS, FAULT_HELP, labFault, type LabFault } from '../fault';
import { customerOf, labAction, out, outJson } from './common';

type Args = TargetOptions & OneSite & JsonOption & { fault: LabFault };

export const command = 'fault <fault> [file]';
export const describe = 'Inflict a real fault on a lab host (or undo one): tandem lab fault poweroff --site ldn --stack lab';
export const builder = (y: Argv) =>
  withJson(
    withOneSite(
      withTargetOptions(
        y
          .positional('fault', { type: 'string', choices: FAULTS, demandOption: true, describe: 'what to do' })
          // The spelling before the grammar was made one, `fault <site> <fault>`: the first word is
          // then no fault, the second is. Runs before yargs' checks, so `choices` judges the fault.
          .middleware((a) => {
            const x = a as Record<string, unknown>;
            if (x.site !== undefined || typeof x.fault !== 'string' || (FAULTS as readonly string[]).includes(x.fault) || typeof x.file !== 'string') return;
            deprecatedSite(x, x.fault);
            x.fault = x.file;
            x.file = undefined;
          }, true)
          .epilogue(FAULTS.map((f) => `${f.padEnd(9)} ${FAULT_HELP[f]}`).join('\n')),
      ),
      'site of the host',
    ),
    'print {"site","fault","result"}',
  ) as unknown as Argv<Args>;

export async function handler(a: Args): Promise<void> {
  const result = await labAction(() => labFault(customerOf(a), a.site, a.fault));
  if (a.json) outJson({ site: a.site, fault: a.fault, result });
  else out(result);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
