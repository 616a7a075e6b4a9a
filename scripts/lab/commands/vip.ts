import type { Argv, CommandModule } from 'yargs';
import { withJson, withOneSite, withTargetOptions, type JsonOption, type OneSite, type TargetOptions } from '../../options';
import { moveVip } from '../vip';
import { customerOf, labAction, out, outJson } from './common';

type Args = TargetOptions & OneSite & JsonOption;

export const command = 'vip [file]';
export const describe = "Move the lab's service address (VIP) to a site (--site)";
export const builder = (y: Argv) => withJson(withOneSite(withTargetOptions(y), 'site to hold the VIP'), 'print {"address","from","to"}') as unknown as Argv<Args>;

export async function handler(a: Args): Promise<void> {
  const r = await labAction(() => moveVip(customerOf(a), a.site));
  if (a.json) outJson(r);
  else out(`vip ${r.address} moved from ${r.from} to ${r.to}`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
