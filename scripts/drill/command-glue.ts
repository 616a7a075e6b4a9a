/**
 * Owns `tandem drill`: flags -> checks before anything changes (scenario name, rate, report
 * directory, the stack and its hosts, the announcement, a DEGRADED stack) -> the drills -> the
 * reports and what is printed. Exit: 0 every scenario passed; 3 a check failed or the layout was
 * not restored; 2 bad input (nothing was done); 1 a drill could not run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closest } from '../../model/topology/suggest';
import { CommandError, EXIT } from '../errors';
import { FailoverInputError } from '../failover/plan';
import { fleetFrom } from '../hosts/run';
import { connectorFor } from '../hosts/ssh';
import { resolveTarget } from '../hosts/target';
import { requireAnnouncement } from '../notify/announce';
import type { SshOptions, TargetOptions } from '../options';
import type { StackState } from './engine';
import { DrillInputError, preflight, runDrills, type DrillRunOptions } from './run';
import { SCENARIOS, type DrillResult, type ReportFiles, type ScenarioName } from './types';

export interface DrillArgs extends TargetOptions, SshOptions {
  scenario: string;
  report?: string;
  rate: number;
  force: boolean;
  json: boolean;
}

/** The report writers (scripts/drill/report), loaded when used. */
export interface ReportModule {
  renderMarkdown(r: DrillResult): string;
  renderSummary(results: readonly DrillResult[]): string;
  checkReportDir(dir: string): void;
  writeReports(dir: string, results: readonly DrillResult[]): { files: ReportFiles[]; summary: string | null };
}

export async function reportModule(): Promise<ReportModule> {
  const p = './report/index';
  return (await import(p)) as ReportModule;
}

/** `--scenario` -> the scenarios to run, or a usage error naming them all and the closest. */
export function scenariosOf(v: string): ScenarioName[] {
  if (v === 'all') return [...SCENARIOS];
  if ((SCENARIOS as readonly string[]).includes(v)) return [v as ScenarioName];
  const near = closest(v, [...SCENARIOS, 'all']);
  throw new CommandError(`--scenario ${JSON.stringify(v)} is not a scenario${near ? ` (did you mean ${near}?)` : ''}; scenarios: ${SCENARIOS.join(', ')}, or all`, EXIT.usage);
}

export function checkRate(rate: number): void {
  if (!Number.isInteger(rate) || rate < 1 || rate > 50_000) throw new CommandError(`--rate ${rate}: give records per second as a whole number 1..50000 (default 2000)`, EXIT.usage);
}

/** A directory the reports can be written to, checked before the drill starts. */
export async function checkReportDir(dir: string): Promise<void> {
  const rep: ReportModule | null = await reportModule().catch(() => null);
  try {
    if (rep) return rep.checkReportDir(dir);
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.tandem-drill-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    const msg = (e as Error).message;
    throw new CommandError(`--report ${dir}: cannot write reports there (${msg.replace(/^--report \S+: /, '')}); give a directory you can write to`, EXIT.usage);
  }
}

export function renderText(results: readonly DrillResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    const verdict = r.notApplicable ? 'NOT APPLICABLE' : r.passed ? 'PASSED' : 'FAILED';
    out.push(`${r.scenario}: ${verdict}${r.notApplicable ? ` (${r.notApplicable})` : ''}`);
    if (r.notApplicable) continue;
    out.push(
      `  ${r.from} -> ${r.to ?? '(no failover)'}; RTO ${r.rtoSeconds === null ? '-' : `${r.rtoSeconds.toFixed(2)} s`} (target ${r.targets.rtoTargetS} s); ` +
        `RPO ${r.rpoSeconds === null ? '-' : `${r.rpoSeconds.toFixed(3)} s`}, ${r.recordsLost} records lost of ${r.recordsWritten} confirmed (target ${r.targets.rpoTargetS} s)`,
    );
    for (const c of r.checks) out.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    if (r.error) out.push(`  error: ${r.error}`);
    if (!r.restored) out.push(`  NOT RESTORED: ${r.leftState}`);
  }
  return out.join('\n');
}

/** Writes to stdout and waits until it is flushed: the entry file exits right after a failing handler, and a pipe takes large output in pieces. */
function emit(text: string): Promise<void> {
  return new Promise((r) => process.stdout.write(text, () => r()));
}

export async function drillCommand(a: DrillArgs): Promise<void> {
  const names = scenariosOf(a.scenario);
  checkRate(a.rate);
  if (a.report) await checkReportDir(a.report);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let target;
  try {
    ({ target } = await fleetFrom(a, { progress: () => undefined }));
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw new CommandError(`drill: ${(e as Error).message}`, EXIT.usage);
  }
  if (!target.stackFile || !target.topology) {
    throw new CommandError(
      `drill fails over and back, and the failover records the live layout in the stack file: name it too, e.g. --stack ${target.inventory.customer} (with --inventory ${a.inventory ?? 'inventory.json'})`,
      EXIT.usage,
    );
  }
  const topology = target.topology;
  const stackFile = target.stackFile;
  const check = requireAnnouncement(topology, new Date(), { force: a.force });
  if (!check.ok) log(`drill: going ahead unannounced (--force): ${check.reason}`);
  const current = async (): Promise<StackState> => {
    const t = await resolveTarget({ file: stackFile, inventory: a.inventory });
    return { inventory: t.inventory, topology: t.topology ?? topology, stackFile, live: t.live ?? null };
  };
  const o: DrillRunOptions = {
    current,
    connect: (inv) => connectorFor(inv),
    ssh: { identity: a.identity, timeoutMs: a.timeout * 1000 },
    rate: a.rate,
    log,
    force: a.force,
  };
  try {
    await preflight(o);
  } catch (e) {
    if (e instanceof DrillInputError) throw new CommandError(`drill: ${e.message}; nothing was done`, EXIT.usage);
    throw new CommandError(`drill: ${(e as Error).message}; nothing was done`, EXIT.failed);
  }
  if (names.length === 1) {
    const { scenario } = await import('./scenarios');
    const { FaultDriver } = await import('./faults');
    const s = await current();
    const na = scenario(names[0]).applicable(s, new FaultDriver(s.inventory, () => undefined).why());
    if (na) throw new CommandError(`drill: ${names[0]} cannot run on "${s.inventory.customer}": ${na}; nothing was done`, EXIT.usage);
  }
  let results: DrillResult[];
  try {
    results = await runDrills(names, o);
  } catch (e) {
    if (e instanceof FailoverInputError) throw new CommandError(`drill: ${e.message}`, EXIT.failed);
    throw new CommandError(`drill: ${(e as Error).message}`, EXIT.failed);
  }
  let written: { files: ReportFiles[]; summary: string | null } | null = null;
  if (a.report) {
    try {
      written = (await reportModule()).writeReports(a.report, results);
    } catch (e) {
      log(`drill: the reports could not be written to ${a.report}: ${(e as Error).message}`);
    }
  }
  if (a.json) {
    const doc =
      names.length === 1
        ? { ...results[0], reports: written?.files[0] ?? null }
        : { customer: topology.customer, passed: results.every((r) => r.passed || !!r.notApplicable), results, reports: written };
    await emit(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    const lines = [renderText(results)];
    for (const f of written?.files ?? []) lines.push(`report: ${f.markdown}\n  json: ${f.json}\n  picture: ${f.svg} and ${f.png}`);
    if (written?.summary) lines.push(`summary: ${written.summary}`);
    await emit(`${lines.join('\n')}\n`);
  }
  const ran = results.filter((r) => !r.notApplicable);
  if (ran.some((r) => r.error && !r.checks.length)) throw new CommandError('', EXIT.failed);
  if (ran.some((r) => !r.passed) || results.length < names.length) throw new CommandError('', EXIT.degraded);
}
