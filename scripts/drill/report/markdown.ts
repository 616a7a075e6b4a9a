/**
 * The drill report for people (Markdown): the verdict first, then where the time went. Every
 * figure comes from the DrillResult (itself from the journal and the records counted); nothing is
 * recomputed here but offsets and the lag summary.
 */
import type { DrillResult, LagSample } from '../types';
import { escapeMd, failures, fmtMs, fmtOffset, fmtS, ms, origin, verdictWord } from './format';

function within(v: number | null, target: number): string {
  if (v === null) return 'n/a';
  return v <= target ? 'ok' : 'OVER TARGET';
}

function rtoCell(r: DrillResult): string {
  return r.rtoSeconds === null ? 'n/a (no failover measured)' : fmtS(r.rtoSeconds);
}

function rpoCell(r: DrillResult): string {
  if (r.rpoSeconds === null) return 'n/a';
  return `${fmtS(r.rpoSeconds)} (${r.recordsLost.toLocaleString('en-US')} record${r.recordsLost === 1 ? '' : 's'})`;
}

interface LagRow {
  site: string;
  samples: number;
  maxS: number | null;
  lastS: number | null;
  unknown: number;
  downMs: number;
}

/** Per mirror: the worst and last lag, and how long it was down (null lag) over the drill. */
export function lagSummary(lag: readonly LagSample[], endIso: string): LagRow[] {
  const bySite = new Map<string, LagSample[]>();
  for (const s of lag) bySite.set(s.site, [...(bySite.get(s.site) ?? []), s]);
  const end = ms(endIso);
  return [...bySite.entries()].map(([site, raw]) => {
    const xs = [...raw].sort((a, b) => ms(a.at) - ms(b.at));
    const known = xs.filter((s) => s.lagSeconds !== null).map((s) => s.lagSeconds!);
    let downMs = 0;
    xs.forEach((s, i) => {
      if (s.lagSeconds !== null) return;
      const next = i + 1 < xs.length ? ms(xs[i + 1].at) : end;
      downMs += Math.max(0, next - ms(s.at));
    });
    const last = xs[xs.length - 1];
    return { site, samples: xs.length, maxS: known.length ? Math.max(...known) : null, lastS: last.lagSeconds, unknown: xs.length - known.length, downMs };
  });
}

export function renderMarkdown(r: DrillResult): string {
  const o = origin(r);
  const fails = failures(r);
  const out: string[] = [];
  const word = verdictWord(r);
  out.push(`# Drill ${escapeMd(r.scenario)} on ${escapeMd(r.customer)}: ${word}`, '');
  out.push(r.passed ? `**${word}**: all ${r.checks.length} check${r.checks.length === 1 ? '' : 's'} passed; the original layout is restored.` : `**${word}**: ${fails.map(escapeMd).join('; ')}.`);
  out.push('');
  out.push(`RTO ${rtoCell(r)} (target ${fmtS(r.targets.rtoTargetS)}) · RPO ${rpoCell(r)} (target ${fmtS(r.targets.rpoTargetS)}) · ${r.recordsLost.toLocaleString('en-US')} records lost`);
  out.push('');
  out.push(`Started ${r.startedAt}, finished ${r.finishedAt} (${fmtMs(ms(r.finishedAt) - ms(r.startedAt))}).`);
  out.push(`Master before: ${escapeMd(r.from)}; serving after: ${r.to === null ? 'no failover' : escapeMd(r.to)}. Load: ${r.rate.toLocaleString('en-US')} records/s.`);
  out.push('');

  out.push('## Against the targets', '');
  out.push('| | measured | target | result |', '|---|---|---|---|');
  out.push(`| RTO | ${rtoCell(r)} | ${fmtS(r.targets.rtoTargetS)} | ${within(r.rtoSeconds, r.targets.rtoTargetS)} |`);
  out.push(`| RPO | ${rpoCell(r)} | ${fmtS(r.targets.rpoTargetS)} | ${within(r.rpoSeconds, r.targets.rpoTargetS)} |`);
  out.push('', `Targets: ${escapeMd(r.targets.basis)}.`, '');

  out.push('## Records', '');
  out.push('| written | found on the master | lost |', '|---|---|---|');
  out.push(`| ${r.recordsWritten.toLocaleString('en-US')} | ${r.recordsFound.toLocaleString('en-US')} | ${r.recordsLost.toLocaleString('en-US')} |`, '');

  out.push('## Checks', '');
  if (r.checks.length === 0) out.push('No checks were run.');
  for (const c of r.checks) out.push(`- ${c.ok ? '[x]' : '[ ] **FAILED**'} ${escapeMd(c.name)}${c.detail ? `: ${escapeMd(c.detail)}` : ''}`);
  out.push('');

  out.push('## Steps', '');
  out.push(`Start is the offset from the ${o.what === 'fault' ? 'fault' : "drill's start (no fault was injected)"}.`, '');
  out.push('| # | step | start | duration | ok | detail |', '|---|---|---|---|---|---|');
  r.steps.forEach((s, i) => out.push(`| ${i + 1} | ${escapeMd(s.name)} | ${fmtOffset(ms(s.at) - o.t)} | ${fmtMs(s.ms)} | ${s.ok ? 'ok' : 'FAILED'} | ${escapeMd(s.detail)} |`));
  out.push('');

  if (r.events.length) {
    out.push('## Timeline', '');
    out.push('| at | event | |', '|---|---|---|');
    for (const e of [...r.events].sort((a, b) => ms(a.at) - ms(b.at))) out.push(`| ${fmtOffset(ms(e.at) - o.t)} | ${e.kind} | ${escapeMd(e.label)} |`);
    out.push('');
  }

  out.push("## Mirrors' lag", '');
  const lag = lagSummary(r.lag, r.finishedAt);
  if (lag.length === 0) out.push('No lag samples were taken.');
  else {
    out.push('| mirror | samples | max lag | last lag | down (lag unknown) |', '|---|---|---|---|---|');
    for (const l of lag) {
      const down = l.unknown ? `${fmtMs(l.downMs)} (${l.unknown} sample${l.unknown === 1 ? '' : 's'})` : 'never';
      out.push(`| ${escapeMd(l.site)} | ${l.samples} | ${l.maxS === null ? 'unknown' : fmtS(l.maxS)} | ${l.lastS === null ? 'unknown' : fmtS(l.lastS)} | ${down} |`);
    }
  }
  out.push('');

  out.push('## Layout', '');
  out.push(
    r.restored ? 'The original layout is restored (master, roles, every mirror in sync).' : `**Not restored.** ${r.leftState ? escapeMd(r.leftState) : 'The drill did not say what state it left.'}`,
  );
  if (r.error) out.push('', `The drill could not run to the end: ${escapeMd(r.error)}`);
  out.push('');

  out.push('## Picture', '');
  out.push(`![timeline of ${escapeMd(r.scenario)}](${encodeURIComponent(r.scenario)}.svg)`, '');
  out.push(`[SVG](${encodeURIComponent(r.scenario)}.svg) · [PNG](${encodeURIComponent(r.scenario)}.png) · [JSON](${encodeURIComponent(r.scenario)}.json)`);
  if (r.journalFiles.length) {
    out.push('', 'Journal:', '');
    for (const j of r.journalFiles) out.push(`- \`${j.replace(/`/g, "'")}\``);
  }
  return `${out.join('\n')}\n`;
}

/** `--scenario all`: one row per drill, and the totals. */
export function renderSummary(results: readonly DrillResult[]): string {
  const passed = results.filter((r) => r.passed);
  const failed = results.filter((r) => !r.passed);
  const out: string[] = [];
  out.push(`# Drills${results[0] ? ` on ${escapeMd(results[0].customer)}` : ''}: ${failed.length === 0 ? 'ALL PASSED' : `${failed.length} of ${results.length} FAILED`}`, '');
  if (failed.length) out.push(`Failed: ${failed.map((r) => `${escapeMd(r.scenario)} (${failures(r).map(escapeMd).join('; ')})`).join('; ')}.`, '');
  out.push('| scenario | verdict | RTO s | RPO s | records lost | restored |', '|---|---|---|---|---|---|');
  const num = (v: number | null) => (v === null ? 'n/a' : String(Number(v.toFixed(3))));
  for (const r of results) {
    out.push(`| [${escapeMd(r.scenario)}](${encodeURIComponent(r.scenario)}.md) | ${verdictWord(r)} | ${num(r.rtoSeconds)} | ${num(r.rpoSeconds)} | ${r.recordsLost} | ${r.restored ? 'yes' : 'NO'} |`);
  }
  const rtos = results.map((r) => r.rtoSeconds).filter((v): v is number => v !== null);
  const rpos = results.map((r) => r.rpoSeconds).filter((v): v is number => v !== null);
  const lost = results.reduce((n, r) => n + r.recordsLost, 0);
  const restored = results.filter((r) => r.restored).length;
  out.push(
    `| **total: ${results.length}** | ${passed.length} passed, ${failed.length} failed | max ${rtos.length ? num(Math.max(...rtos)) : 'n/a'} | max ${rpos.length ? num(Math.max(...rpos)) : 'n/a'} | ${lost} | ${restored} of ${results.length} |`,
  );
  return `${out.join('\n')}\n`;
}
