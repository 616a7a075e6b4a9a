/** The fleet's summary tables: one row per customer, failures spelled out below. */
import type { FleetRun, CustomerOutcome } from './orchestrate';
import type { CustomerPlan } from './plan-pool';

import { table, UNKNOWN } from '../util/table';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function describeChanges(changes: Readonly<Record<string, number>> | null): string {
  if (!changes) return '';
  const e = Object.entries(changes).filter(([, n]) => n > 0);
  return e.length ? e.map(([k, n]) => `${n} ${k}`).join(', ') : 'no changes';
}

function detail(o: CustomerOutcome): string {
  switch (o.status) {
    case 'failed':
      return o.error!.split('\n')[0].slice(0, 100);
    case 'skipped':
      return 'done in the run this one resumed';
    case 'not-run':
      return 'interrupted before it started; run again to resume';
    case 'ok':
      if (o.stackStatus) {
        const u = o.stackStatus.lastUpdate;
        return u ? `last ${u.kind} ${u.result}${u.endTime ? ` at ${u.endTime}` : ''} (${describeChanges(u.changes)}), ${o.stackStatus.outputs} output(s)` : 'never updated';
      }
      return describeChanges(o.changes);
  }
}

export function counts(outcomes: readonly CustomerOutcome[]): Record<CustomerOutcome['status'], number> {
  const c = { ok: 0, failed: 0, skipped: 0, 'not-run': 0 };
  for (const o of outcomes) c[o.status]++;
  return c;
}

export function formatRun(run: FleetRun): string {
  const rows = run.outcomes.map((o) => [o.customer, o.status.toUpperCase(), o.status === 'ok' || o.status === 'failed' ? secs(o.ms) : UNKNOWN, detail(o)]);
  const c = counts(run.outcomes);
  const out = [
    `FLEET ${run.op.toUpperCase()} (${run.workspace} workspace)${run.resumedFrom ? `, resuming the run started ${run.resumedFrom}` : ''}`,
    ...table(['CUSTOMER', 'RESULT', 'TIME', 'DETAIL'], rows),
    '',
    `${run.outcomes.length} customer(s): ${c.ok} ok, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped (already done)` : ''}${c['not-run'] ? `, ${c['not-run']} not run` : ''}`,
  ];
  const failed = run.outcomes.filter((o) => o.status === 'failed');
  if (failed.length) {
    out.push('', 'FAILED:');
    for (const o of failed) out.push(`  ${o.customer}: ${o.error!.replace(/\n/g, '\n    ')}`);
    if (run.op !== 'status') out.push('', 'Run the same command again to retry only the customers that did not finish.');
  }
  return out.join('\n');
}

export function runJson(run: FleetRun): unknown {
  return {
    op: run.op,
    workspace: run.workspace,
    resumedFrom: run.resumedFrom,
    customers: run.outcomes.map((o) => ({ customer: o.customer, status: o.status, ms: o.ms, changes: o.changes, ...(o.stackStatus ? { stack: o.stackStatus } : {}), error: o.error })),
    counts: counts(run.outcomes),
  };
}

export function formatPlans(plans: readonly CustomerPlan[], ms: number, workers: number): string {
  const rows = plans.map((p) => {
    const e = p.plan?.findings.filter((f) => f.severity === 'error').length ?? 0;
    const w = p.plan?.findings.filter((f) => f.severity === 'warning').length ?? 0;
    return [
      p.customer,
      p.plan ? String(p.plan.resources.length) : UNKNOWN,
      p.plan ? String(e) : UNKNOWN,
      p.plan ? String(w) : UNKNOWN,
      p.error ? `PLAN FAILED: ${p.error.split('\n')[0].slice(0, 100)}` : e ? 'policy errors' : 'ok',
    ];
  });
  const failed = plans.filter((p) => p.error);
  const withErrors = plans.filter((p) => p.plan?.findings.some((f) => f.severity === 'error'));
  const out = [
    `OFFLINE FLEET PLAN: each customer's stack program on Pulumi's mock runtime (no Pulumi CLI,`,
    `no credentials, no network); ${plans.length} customer(s) in ${secs(ms)} on ${workers} worker process(es).`,
    '',
    ...table(['CUSTOMER', 'RESOURCES', 'ERRORS', 'WARNINGS', 'RESULT'], rows),
  ];
  const findings = plans.flatMap((p) => (p.plan?.findings ?? []).filter((f) => f.severity !== 'info').map((f) => `  ${p.customer}  ${f.severity.padEnd(7)} ${f.rule}  ${f.resource}: ${f.message}`));
  if (findings.length) out.push('', 'FINDINGS (errors and warnings):', ...findings);
  if (failed.length) out.push('', 'PLANS THAT FAILED:', ...failed.map((p) => `  ${p.customer}: ${p.error}`));
  out.push('', `${plans.length - failed.length} planned, ${failed.length} failed to plan, ${withErrors.length} with policy errors`);
  return out.join('\n');
}
