/** `tandem timeline`: the last failovers of a stack from the journal: steps, durations, RTO, data at risk. */
import * as fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { readStack, withStackInput, type StackInput } from '../options';

type Args = StackInput & { json: boolean; last: number; inventory?: string };

export const command = 'timeline [file]';
export const describe = 'The last failovers of a stack, step by step, with RTO and data at risk (from the journal)';
export const builder = (y: Argv) =>
  withStackInput(y)
    .option('inventory', { type: 'string', requiresArg: true, normalize: true, describe: 'inventory JSON of a provisioned stack' })
    .option('last', { type: 'number', default: 5, requiresArg: true, describe: 'how many runs to show' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .check((a) => {
      if (!a.file && !a.stack && !a.inventory) throw new Error('name the stack: a stack file, --stack <customer> or --inventory <json>');
      if (!Number.isInteger(a.last) || (a.last as number) < 1) throw new Error(`--last ${a.last}: give a whole number >= 1`);
      return true;
    }) as unknown as Argv<Args>;

export async function handler(a: Args): Promise<void> {
  const { journalDir, readRecords, renderTimeline } = await import('../failover/journal');
  let customer: string;
  let source: 'lab' | 'pulumi' = 'pulumi';
  if (a.inventory) {
    const { readInventoryFile } = await import('../hosts/target');
    const inv = readInventoryFile(a.inventory);
    customer = inv.customer;
    source = inv.source;
  } else {
    customer = readStack(a).topology.customer;
    if (fs.existsSync(journalDir(customer, 'lab'))) source = 'lab';
  }
  const recs = readRecords(journalDir(customer, source), a.last);
  if (a.json) process.stdout.write(`${JSON.stringify(recs, null, 2)}\n`);
  else process.stdout.write(`${renderTimeline(recs)}\n`);
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
