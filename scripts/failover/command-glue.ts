/**
 * Owns the glue between the failover/failback command files and ./run.ts: flags -> request,
 * the prompt (only on a terminal), errors -> exit codes, the report on stdout.
 */
import * as readline from 'node:readline';
import { CommandError, EXIT } from '../errors';
import type { SshOptions, TargetOptions } from '../options';
import { fleetFrom } from '../hosts/run';
import { driverFor } from './drivers/index';
import { renderTimeline } from './journal';
import { FailoverInputError } from './plan';
import { runFailover, type FailoverResult } from './run';

export interface FailoverArgs extends TargetOptions, SshOptions {
  to?: string;
  planned: boolean;
  yes: boolean;
  json: boolean;
  faultAt?: string;
}

async function ask(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await new Promise<string>((r) => rl.question(`${question}\nProceed? [y/N] `, r));
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

function parseFaultAt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new CommandError(`--fault-at ${v}: give an ISO 8601 time or milliseconds since 1970`, EXIT.usage);
  return n;
}

export async function failoverCommand(a: FailoverArgs, mode: 'failover' | 'failback'): Promise<void> {
  const faultAt = parseFaultAt(a.faultAt);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let target;
  try {
    ({ target } = await fleetFrom(a, { progress: () => undefined }));
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw new CommandError(`${mode}: ${(e as Error).message}`, EXIT.usage);
  }
  if (!target.stackFile || !target.topology) {
    throw new CommandError(
      `${mode} records the live layout (tandem:live) in the stack file: name it too, e.g. --stack ${target.inventory.customer} or stacks/Pulumi.${target.inventory.customer}.yaml (with --inventory ${a.inventory ?? 'inventory.json'})`,
      EXIT.usage,
    );
  }
  let to = a.to;
  let planned = a.planned;
  if (mode === 'failback') {
    const original = target.topology.sites.find((s) => s.role === 'master')!.name;
    const now = target.inventory.hosts.find((h) => h.role === 'master')!.site;
    if (now === original) throw new CommandError(`failback: ${original} is already the master (stack file and live layout agree); nothing to do`, EXIT.usage);
    // A site fenced at the failover (it was down) may have rejoined since (its boot fence demoted
    // it); the planned switchover's drain-and-verify proves it holds the data before it is promoted.
    to = original;
    planned = true;
  }
  const interactive = !!process.stdin.isTTY && !a.yes;
  let res: FailoverResult;
  try {
    res = await runFailover({
      inventory: target.inventory,
      topology: target.topology,
      stackFile: target.stackFile,
      live: target.live ?? null,
      to,
      planned,
      kind: mode === 'failback' ? 'failback' : undefined,
      connect: (await import('../hosts/ssh')).connectorFor(target.inventory),
      ssh: { identity: a.identity, timeoutMs: a.timeout * 1000 },
      driver: () => driverFor(target.inventory),
      log,
      confirm: interactive ? ask : undefined,
      faultAt,
      // The RTO counts from when the operator ran the command, process start included.
      commandAt: Math.round(performance.timeOrigin),
    });
  } catch (e) {
    if (e instanceof FailoverInputError) throw new CommandError(`${mode}: ${e.message}; nothing was changed`, EXIT.usage);
    if (/aborted at the prompt/.test((e as Error).message)) throw new CommandError(`${mode}: aborted; nothing was changed`, EXIT.failed);
    throw new CommandError(`${mode}: ${(e as Error).message}`, EXIT.failed);
  }
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ ...res.record, journalFile: res.journalFile, live: res.live }, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderTimeline([res.record])}\njournal: ${res.journalFile}\n`);
  }
  if (res.liveHint) log(res.liveHint);
  if (!res.ok) throw new CommandError(`${mode} FAILED: ${res.record.error}\nsee the journal above; tandem status shows where every host stands`, EXIT.failed);
}
