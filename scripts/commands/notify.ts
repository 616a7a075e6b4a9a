/**
 * `tandem notify --announce`: tells every notify channel of the stack about a maintenance or drill
 * window ahead of time, and records it so a planned switchover can check it was announced
 * `notify.announceLeadMin` minutes ahead (scripts/notify/announce.ts requireAnnouncement).
 */
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { out, outJson, readStack, withStackInput, type StackInput } from '../options';

type Args = StackInput & { announce: boolean; window?: string; impact?: string; inventory?: string; json: boolean; timeout: number };

export const command = 'notify [file]';
export const describe = 'Announce a maintenance or drill window to every notify channel of a stack (webhooks, email)';
export const builder = (y: Argv) =>
  withStackInput(y)
    .option('inventory', { type: 'string', requiresArg: true, normalize: true, describe: 'inventory JSON of a provisioned stack (its stack file gives the channels)' })
    .option('announce', { type: 'boolean', default: false, describe: 'send an advance notice of a window' })
    .option('window', { type: 'string', requiresArg: true, describe: '<from>/<to>, ISO 8601 with a zone: 2026-12-03T02:00Z/2026-12-03T03:00Z (or <from>/+90m)' })
    .option('impact', { type: 'string', requiresArg: true, describe: 'what users will see, e.g. "trading paused up to 2 minutes"' })
    .option('timeout', { type: 'number', default: 10, requiresArg: true, describe: 'seconds to wait for each channel' })
    .option('json', { type: 'boolean', default: false, describe: 'print the announcement record as JSON' })
    .conflicts('inventory', ['file', 'stack'])
    .check((a) => {
      if (!a.announce) throw new Error('say what to send: --announce (with --window and --impact)');
      if (!a.window) throw new Error('--announce needs --window <from>/<to>, e.g. --window 2026-12-03T02:00Z/2026-12-03T03:00Z');
      if (!a.impact || !String(a.impact).trim()) throw new Error('--announce needs --impact "<what users will see>"');
      if (!a.file && !a.stack && !a.inventory) throw new Error('name the stack: a stack file, --stack <customer> or --inventory <json>');
      if (!(Number(a.timeout) > 0)) throw new Error(`--timeout ${a.timeout}: give a number of seconds > 0`);
      return true;
    }) as unknown as Argv<Args>;

export async function handler(a: Args): Promise<void> {
  const { agentNotify, NotifyConfigError } = await import('../notify/channels');
  const { announce, parseWindow, WindowError } = await import('../notify/announce');
  const { channelNames } = await import('../../agent/src/notify');
  let stack: StackInput = a;
  if (a.inventory) {
    const { readInventoryFile } = await import('../hosts/target');
    const { stackFile } = await import('../../model/topology/load');
    // Channels live in the stack config, not in the inventory.
    stack = { file: stackFile(readInventoryFile(a.inventory).customer) };
  }
  const { topology, file } = readStack(stack);
  const rel = path.relative(process.cwd(), file) || file;
  if (!topology.notify) throw new CommandError(`${rel}: no notify channels; add notify: { webhooks: [<url>], email: { smtp, from, to } } under tandem:topology`, EXIT.usage);
  let w;
  try {
    w = parseWindow(a.window!);
  } catch (e) {
    if (e instanceof WindowError) throw new CommandError(e.message, EXIT.usage);
    throw e;
  }
  let channels;
  try {
    channels = agentNotify(topology.notify);
  } catch (e) {
    if (e instanceof NotifyConfigError) throw new CommandError(`${rel}: ${e.message}`, EXIT.usage);
    throw e;
  }
  const rec = await announce(topology, channels, w, a.impact!.trim(), new Date(), a.timeout * 1000);
  if (a.json) outJson(rec);
  else out(`announced ${rec.from} - ${rec.to} for ${topology.customer} to ${channelNames(channels).join(', ')}`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
