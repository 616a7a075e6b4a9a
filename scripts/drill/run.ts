/**
 * Owns running drills: one scenario (or all, back to back on one stack) from the checks before
 * anything changes to the DrillResult, with the original layout put back at the end whatever
 * happened in between (bring every faulted host back, wait for the old master to demote itself,
 * fail back, power cold mirrors off again, stop a service the drill started). When it cannot,
 * the result says exactly what state it left and what to run.
 */
import { drillTargets } from '../../model/topology/targets';
import type { Inventory } from '../../model/inventory';
import { serviceAction } from '../service/index';
import { sleep } from '../util/wait';
import { Drill, NotApplicable, type EngineOptions, type StackState } from './engine';
import { FaultDriver } from './faults';
import { scenario } from './scenarios';
import type { DrillResult, DrillTargets, ScenarioName } from './types';

export interface DrillRunOptions extends Omit<EngineOptions, 'scenario' | 'faults'> {
  /** Go on with a DEGRADED stack (and without the required announcement: checked by the caller). */
  readonly force: boolean;
}

export class DrillInputError extends Error {}

/** Checked before any drill starts: the stack is up, reachable and (unless --force) not DEGRADED. */
export async function preflight(o: DrillRunOptions): Promise<StackState> {
  const s = await o.current();
  const faults = new FaultDriver(s.inventory, o.log);
  const probe = new Drill({ ...o, scenario: 'planned-switchover', faults }, s);
  const v = await probe.verdict(s.inventory);
  const unreachable = v.rows.filter((r) => r.state === 'unreachable' && !(r.role === 'mirror' && faults.offAtStart.has(r.site)));
  if (unreachable.length && v.rows.find((r) => r.role === 'master')?.state === 'unreachable') {
    throw new DrillInputError(
      `the master of "${s.inventory.customer}" is unreachable (${unreachable.map((r) => r.site).join(', ')}); ${s.inventory.source === 'lab' ? `is the lab up? tandem lab status --stack ${s.inventory.customer}` : 'check the hosts'}`,
    );
  }
  if (!v.ok && !o.force) {
    throw new DrillInputError(
      `"${s.inventory.customer}" is DEGRADED already: ${v.reasons.join('; ')}. A drill on a degraded stack can lose data for real; fix it first (tandem status shows the cause), or pass --force`,
    );
  }
  return s;
}

function noTargets(): DrillTargets {
  return { rtoTargetS: 0, rpoTargetS: 0, basis: 'not run' };
}

/** Puts the original layout back. Returns null when restored, else what was left and what to run. */
async function restore(d: Drill, f: FaultDriver): Promise<string | null> {
  const c = d.customer;
  const problems: string[] = [];
  if (d.load.running) await d.load.stop().catch(() => d.load.abandon());
  for (const site of [...f.applied.keys()]) {
    await d
      .step(
        `bring ${site} back (power cycle; its boot fence checks the epoch)`,
        () => f.bringBack(site),
        (x) => x,
      )
      .catch((e) => problems.push(`${site} not brought back: ${(e as Error).message}`));
  }
  // A failover re-roots only the hosts it reaches: a cold mirror that stayed off missed the new
  // epoch and layout, and its feeder no longer knows when it last held the data. It is powered on
  // for the failback to reconfigure, synced, and powered off again below.
  if (d.journals.length) {
    for (const site of f.offAtStart) {
      if (f.poweredOff(site))
        await d
          .step(
            `power ${site} on (cold: it missed the failover's new layout)`,
            () => f.powerOn(site),
            (x) => x,
          )
          .catch((e) => problems.push(`${site} not powered on: ${(e as Error).message}`));
    }
  }
  const original = d.originalMaster();
  const now = d.master((await d.o.current()).inventory).site;
  if (now !== original) {
    await d
      .step(
        `wait for ${original} to rejoin as an in-sync mirror of ${now}`,
        async () => {
          const until = Date.now() + 90_000;
          for (;;) {
            const cfg = await d.roleOf(original);
            if (cfg?.role === 'mirror') {
              const v = await d.verdict().catch(() => null);
              const row = v?.rows.find((r) => r.site === original);
              if (row?.state === 'in-sync') return `mirror of ${cfg.feedFrom}, in sync`;
            }
            if (Date.now() > until) throw new Error(`${original} is ${cfg ? `${cfg.role} at epoch ${cfg.epoch}` : 'unreadable'}, not an in-sync mirror, after 90 s`);
            await sleep(500);
          }
        },
        (x) => x,
      )
      .catch((e) => problems.push((e as Error).message));
    await d
      .step(
        `fail back to ${original} (tandem failback)`,
        () => d.failover({ planned: true, to: original, failback: true, commandAt: Date.now() }),
        (r) => `epoch ${r.record.epoch}`,
      )
      .catch((e) => problems.push(`failback to ${original} failed: ${(e as Error).message}`));
  }
  await d
    .step(
      'wait until every mirror is in sync',
      () => d.waitInSync('the original layout', 120_000),
      () => 'status OK',
    )
    .catch((e) => problems.push((e as Error).message));
  for (const site of f.offAtStart) {
    if (!f.poweredOff(site))
      await d
        .step(
          `power ${site} off again (cold standby)`,
          () => f.powerOff(site),
          (x) => x,
        )
        .catch((e) => problems.push(`${site} left on: ${(e as Error).message}`));
    f.applied.delete(site);
  }
  if (!d.serviceWasUp) {
    const { inventory: inv } = await d.o.current();
    await d
      .step(
        'stop the service (it was not running before the drill)',
        () => serviceAction(inv, 'stop', { connect: d.o.connect(inv), ssh: d.o.ssh }),
        () => '',
      )
      .catch(() => undefined);
  }
  const s = await d.o.current();
  const master = d.master(s.inventory).site;
  const v = await d.verdict(s.inventory).catch(() => null);
  if (master !== original) problems.push(`${master} is master, not ${original}`);
  if (!v?.ok) problems.push(`status is ${v ? `DEGRADED: ${v.reasons.join('; ')}` : 'unreadable'}`);
  if (!problems.length) {
    d.event('restored', `original layout back: ${original} master, every mirror in sync`);
    return null;
  }
  const lab = f.lab ? ` tandem lab status --stack ${c};` : '';
  return (
    `${problems.join('; ')}. Now: ${master} is master${[...f.applied].map(([site, st]) => `, ${site} ${st}`).join('')}.` +
    ` To finish by hand:${lab} tandem status --stack ${c}; bring back any host still down (tandem lab fault poweron --site <site> --stack ${c}); ` +
    `once ${original} is an in-sync mirror: tandem failback --stack ${c}`
  );
}

/** Runs one scenario and puts the layout back. Never throws for what happens on the hosts: the result says it. */
export async function runScenario(name: ScenarioName, o: DrillRunOptions): Promise<DrillResult> {
  const start = await o.current();
  const faults = new FaultDriver(start.inventory, o.log);
  const d = new Drill({ ...o, scenario: name, faults }, start);
  const sc = scenario(name);
  const startedAt = new Date().toISOString();
  let error: string | null = null;
  let notApplicable: string | null = sc.applicable(start, faults.why());
  let leftState: string | null = null;
  let restored = true;
  if (!notApplicable) {
    d.log(`drill ${name} on "${d.customer}": ${sc.what}`);
    try {
      const inv: Inventory = start.inventory;
      d.serviceWasUp = await d.serviceAnswers(inv);
      if (!d.serviceWasUp)
        await d.step(
          `start the service on ${d.master(inv).site} (not running before the drill)`,
          () => serviceAction(inv, 'start', { connect: o.connect(inv), ssh: o.ssh }),
          (r) => r.output ?? '',
        );
      d.startSampling();
      await sc.run(d);
    } catch (e) {
      if (e instanceof NotApplicable) notApplicable = e.message;
      else error = (e as Error).message;
    }
    try {
      leftState = await restore(d, faults);
    } catch (e) {
      leftState = `restoring failed: ${(e as Error).message}. Run tandem status --stack ${d.customer} to see where every host stands`;
    }
    restored = leftState === null;
    await d.stopSampling();
  }
  const c = d.count;
  const to = d.to;
  let targets: DrillTargets = noTargets();
  try {
    targets = drillTargets(start.topology, to ?? d.originalMaster(), name);
  } catch {
    /* a site not in the stack file: no targets */
  }
  if (!notApplicable && !error) {
    if (to !== null) {
      const rto = d.rtoSeconds;
      d.check(
        'RTO within target',
        rto !== null && rto <= targets.rtoTargetS,
        rto === null ? 'the service never answered on the service address' : `RTO ${rto.toFixed(2)} s <= target ${targets.rtoTargetS} s (${targets.basis})`,
      );
    }
    if (c) {
      if (targets.rpoTargetS === 0) d.check('no record lost', c.lost === 0, `${c.lost} of ${d.load.confirmed()} confirmed records missing on ${to ?? d.master((await o.current()).inventory).site}`);
      else d.check('RPO within target', c.rpoSeconds <= targets.rpoTargetS, `RPO ${c.rpoSeconds.toFixed(3)} s (${c.lost} records) <= target ${targets.rpoTargetS} s (${targets.basis})`);
    }
    d.check('original layout restored', restored, restored ? `${d.originalMaster()} is master, every mirror in sync` : (leftState ?? ''));
  }
  const result: DrillResult = {
    version: 1,
    scenario: name,
    customer: d.customer,
    startedAt,
    finishedAt: new Date().toISOString(),
    passed: !notApplicable && !error && restored && d.checks.every((x) => x.ok),
    rtoSeconds: d.rtoSeconds,
    rpoSeconds: c && to !== null ? c.rpoSeconds : c ? 0 : null,
    recordsLost: c?.lost ?? 0,
    recordsWritten: d.load.confirmed(),
    recordsFound: c?.distinct ?? 0,
    rate: o.rate,
    from: d.originalMaster(),
    to,
    targets,
    checks: d.checks,
    steps: d.steps,
    events: [...d.events].sort((a, b) => a.at.localeCompare(b.at)),
    lag: d.lag,
    restored,
    leftState,
    journalFiles: d.journalFiles,
    error: notApplicable ? `not applicable: ${notApplicable}` : error,
    notApplicable,
    recordsFile: d.recordsFile,
    segments: d.load.segments.map((s) => ({ site: s.site, tag: s.tag, firstSeq: s.firstSeq, confirmedSeq: s.confirmedSeq, end: s.end })),
  };
  o.log(`drill ${name}: ${notApplicable ? `NOT APPLICABLE (${notApplicable})` : result.passed ? 'PASSED' : `FAILED${error ? `: ${error}` : ''}`}`);
  return result;
}

/** Runs scenarios back to back; stops early only when one could not put the layout back. */
export async function runDrills(names: readonly ScenarioName[], o: DrillRunOptions): Promise<DrillResult[]> {
  const out: DrillResult[] = [];
  for (const n of names) {
    const r = await runScenario(n, o);
    out.push(r);
    if (!r.restored) {
      o.log(`stopping: ${n} left the stack as it is (${r.leftState}); the remaining scenarios were not run`);
      break;
    }
  }
  return out;
}
