import type { Argv, CommandModule } from 'yargs';
import { withStackInput, type StackInput } from '../../options';
import { moveVip } from '../vip';
import { customerOf, labAction, out } from './common';

interface VipArgs extends StackInput {
  site: string;
}

export const command = 'vip <site> [file]';
export const describe = "Move the lab's service address (VIP) to a site";
export const builder = (y: Argv) =>
  withStackInput(y.positional('site', { type: 'string', demandOption: true, describe: 'site to hold the VIP' })) as unknown as Argv<VipArgs>;

export async function handler(a: VipArgs): Promise<void> {
  const r = await labAction(() => moveVip(customerOf(a), a.site));
  out(`vip ${r.address} moved from ${r.from} to ${r.to}`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, VipArgs>;
