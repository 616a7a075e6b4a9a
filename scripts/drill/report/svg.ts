/**
 * The drill's timeline picture, self-contained SVG (no external fonts, images or scripts), so it
 * renders the same in a browser, in a Markdown viewer and through resvg (./png.ts):
 *
 *   banner: PASSED/FAILED (green/red) with RTO, RPO and records lost against the targets
 *   marks:  fault, detected, promoted, service back, restored (and alerts, notes) as labelled
 *           vertical lines over the whole plot, labels in rows so none overlaps another
 *           (placeLabels); the RTO span shaded from the fault
 *   steps:  one Gantt bar per step, at its start, as long as it took (red when it failed)
 *   lag:    each mirror's lag over the drill, a line per mirror, broken where the lag is unknown
 *           (the mirror was down), with that stretch marked under the chart
 *   axis:   seconds from the drill's start
 *
 * Every x is linear in time between the axis ends (timeScale), which test/report checks by
 * parsing the coordinates back. All text from the result goes through escapeXml.
 */
import type { DrillEvent, DrillResult, LagSample } from '../types';
import { escapeXml, failures, fmtS, ms, verdictWord } from './format';

export const WIDTH = 1000;
export const PLOT_LEFT = 170;
export const PLOT_RIGHT = WIDTH - 30;
export const BANNER_HEIGHT = 44;
export const PASS_COLOR = '#1a7f37';
export const FAIL_COLOR = '#cf222e';
export const FONT_FAMILY = "'DejaVu Sans', sans-serif";

const STEP_LANE = 18;
const LAG_HEIGHT = 140;
const MARK_COLORS: Readonly<Record<DrillEvent['kind'], string>> = {
  fault: '#cf222e',
  detected: '#9a6700',
  promoted: '#8250df',
  'service-back': '#1a7f37',
  restored: '#0969da',
  alert: '#bc4c00',
  note: '#6e7781',
};
const MARK_NAMES: Readonly<Record<DrillEvent['kind'], string>> = {
  fault: 'fault',
  detected: 'detected',
  promoted: 'promoted',
  'service-back': 'service back',
  restored: 'restored',
  alert: 'alert',
  note: 'note',
};
const SITE_COLORS = ['#0969da', '#8250df', '#bf3989', '#9a6700', '#0a7e8c', '#cf5a00', '#57606a', '#6639ba'];

/** Drill start to end, widened to take in anything timed outside it (a step that ran over). */
export function timeScale(r: DrillResult): { t0: number; t1: number; x: (t: number) => number } {
  const times = [ms(r.startedAt), ms(r.finishedAt), ...r.steps.flatMap((s) => [ms(s.at), ms(s.at) + s.ms]), ...r.events.map((e) => ms(e.at)), ...r.lag.map((l) => ms(l.at))].filter(Number.isFinite);
  const t0 = times.length ? Math.min(...times) : 0;
  let t1 = times.length ? Math.max(...times) : 1000;
  if (t1 <= t0) t1 = t0 + 1000;
  return { t0, t1, x: (t: number) => PLOT_LEFT + ((t - t0) / (t1 - t0)) * (PLOT_RIGHT - PLOT_LEFT) };
}

const n = (v: number): string => String(Math.round(v * 100) / 100);

/** Cuts text to about `px` pixels at `size` (DejaVu Sans averages ~0.6 em a character). */
function fit(text: string, px: number, size: number): string {
  const max = Math.max(1, Math.floor(px / (size * 0.6)));
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Estimated width of `s` in pixels at `size` (the same ~0.6 em a character as fit). */
const textWidth = (s: string, size: number): number => s.length * size * 0.6;

export const LABEL_ROW = 14;
const LABEL_GAP = 1;

/**
 * Rows and sides for the marks' labels, in time order, so that no two overlap: each label goes
 * right of its line (left of it near the picture's right edge), else on its other side, in the
 * first row where it fits, else in a new row (a drill has a handful of marks; the picture grows
 * a row rather than print one label over another).
 */
export function placeLabels(items: readonly { x: number; width: number }[]): { row: number; left: boolean; x0: number; x1: number }[] {
  const rows: { x0: number; x1: number }[][] = [];
  const fits = (row: number, x0: number, x1: number) => (rows[row] ?? []).every((b) => x1 + LABEL_GAP <= b.x0 || x0 >= b.x1 + LABEL_GAP);
  return items.map(({ x, width }) => {
    const prefersLeft = x + 3 + width > WIDTH - 4;
    const box = (left: boolean) => (left ? { x0: x - 3 - width, x1: x - 3 } : { x0: x + 3, x1: x + 3 + width });
    const inside = (left: boolean) => {
      const b = box(left);
      return b.x0 >= 0 && b.x1 <= WIDTH;
    };
    const sides = (prefersLeft ? [true, false] : [false, true]).filter(inside);
    if (sides.length === 0) sides.push(prefersLeft);
    let pick: { row: number; left: boolean } | null = null;
    for (let row = 0; !pick; row++) {
      const left = sides.find((l) => fits(row, box(l).x0, box(l).x1));
      if (left !== undefined) pick = { row, left };
    }
    const b = box(pick.left);
    (rows[pick.row] ??= []).push(b);
    return { ...pick, ...b };
  });
}

function tickStep(spanS: number): number {
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
  return steps.find((s) => spanS / s <= 10) ?? 86400 * Math.ceil(spanS / 86400 / 10);
}

function fmtTick(s: number): string {
  if (Math.abs(s) >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${Number(s.toFixed(1))} s`;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`;
}

function bannerText(r: DrillResult): string {
  const rto = r.rtoSeconds === null ? 'RTO n/a' : `RTO ${fmtS(r.rtoSeconds)}`;
  const rpo = r.rpoSeconds === null ? 'RPO n/a' : `RPO ${fmtS(r.rpoSeconds)}`;
  const head = `${verdictWord(r)}  ${r.scenario} on ${r.customer}: ${rto} (target ${fmtS(r.targets.rtoTargetS)}) · ${rpo} (target ${fmtS(r.targets.rpoTargetS)}) · ${r.recordsLost} lost`;
  return r.passed ? head : `${head} · failed: ${failures(r).join('; ')}`;
}

/** Consecutive samples of one site with a known lag; nulls split the runs. */
function runs(samples: readonly LagSample[]): { known: LagSample[][]; down: { from: number; to: number }[] } {
  const known: LagSample[][] = [];
  const down: { from: number; to: number }[] = [];
  let cur: LagSample[] = [];
  samples.forEach((s, i) => {
    if (s.lagSeconds === null) {
      if (cur.length) known.push(cur);
      cur = [];
      const next = samples[i + 1];
      down.push({ from: ms(s.at), to: next ? ms(next.at) : ms(s.at) });
    } else cur.push(s);
  });
  if (cur.length) known.push(cur);
  return { known, down };
}

export function renderSvg(r: DrillResult): string {
  const sc = timeScale(r);
  const start = ms(r.startedAt);
  const sites = [...new Set(r.lag.map((l) => l.site))];
  const color = (site: string) => SITE_COLORS[sites.indexOf(site) % SITE_COLORS.length];

  const marksTop = 74;
  const events = [...r.events].sort((a, b) => ms(a.at) - ms(b.at));
  const markLabels = events.map((e) => fit(`${MARK_NAMES[e.kind]}${e.label ? `: ${e.label}` : ''}`, 200, 11));
  const placed = placeLabels(events.map((e, i) => ({ x: sc.x(ms(e.at)), width: textWidth(markLabels[i], 11) })));
  const labelRows = Math.max(3, ...placed.map((p) => p.row + 1));
  const plotTop = marksTop + 10 + labelRows * LABEL_ROW;
  const stepsTop = plotTop + 8;
  const lagTop = stepsTop + Math.max(1, r.steps.length) * STEP_LANE + 28;
  const axisY = lagTop + LAG_HEIGHT + 12;
  const legendTop = axisY + 36;
  const perRow = 5;
  const legendRows = Math.max(1, Math.ceil(sites.length / perRow));
  const height = legendTop + legendRows * 18 + 10;
  const banner = r.passed ? PASS_COLOR : FAIL_COLOR;
  const o: string[] = [];

  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${escapeXml(FONT_FAMILY)}" font-size="11">`,
    `<title>${escapeXml(`Drill ${r.scenario} on ${r.customer}: ${verdictWord(r)}`)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<rect class="banner" data-verdict="${verdictWord(r)}" x="0" y="0" width="${WIDTH}" height="${BANNER_HEIGHT}" fill="${banner}"/>`,
    text(16, 28, fit(bannerText(r), WIDTH - 32, 15), 'font-size="15" font-weight="bold" fill="#ffffff"'),
    text(
      16,
      62,
      fit(
        `${r.customer} · master ${r.from}${r.to ? ` → ${r.to}` : ''} · ${r.startedAt} → ${r.finishedAt} · ${r.recordsWritten} written, ${r.recordsFound} found · targets: ${r.targets.basis}`,
        WIDTH - 32,
        11,
      ),
      'fill="#57606a"',
    ),
  );

  // The RTO span, under everything else.
  const fault = r.events.find((e) => e.kind === 'fault');
  if (fault && r.rtoSeconds !== null) {
    const a = sc.x(ms(fault.at));
    const b = sc.x(Math.min(ms(fault.at) + r.rtoSeconds * 1000, sc.t1));
    const over = r.rtoSeconds > r.targets.rtoTargetS;
    o.push(`<rect class="rto" x="${n(a)}" y="${plotTop}" width="${n(Math.max(1, b - a))}" height="${axisY - plotTop}" fill="${over ? '#ffebe9' : '#fff8c5'}" stroke="none"/>`);
    o.push(text(a + 3, lagTop - 8, `RTO ${fmtS(r.rtoSeconds)}${over ? ` > target ${fmtS(r.targets.rtoTargetS)}` : ''}`, `font-weight="bold" fill="${over ? FAIL_COLOR : '#9a6700'}"`));
  }

  // Axis and grid.
  o.push(`<line class="axis" x1="${PLOT_LEFT}" y1="${axisY}" x2="${PLOT_RIGHT}" y2="${axisY}" stroke="#24292f" stroke-width="1"/>`);
  const spanS = (sc.t1 - sc.t0) / 1000;
  const step = tickStep(spanS);
  for (let s = Math.ceil((sc.t0 - start) / 1000 / step) * step; start + s * 1000 <= sc.t1 + 1e-6; s = Number((s + step).toFixed(6))) {
    const x = sc.x(start + s * 1000);
    o.push(`<line class="grid" x1="${n(x)}" y1="${plotTop}" x2="${n(x)}" y2="${axisY + 4}" stroke="#d0d7de" stroke-width="0.5"/>`);
    o.push(text(x, axisY + 16, fmtTick(s), 'text-anchor="middle" fill="#57606a"'));
  }
  o.push(text(PLOT_LEFT - 24, axisY + 16, 'from start', 'text-anchor="end" fill="#57606a"'));

  // Steps, one lane each.
  o.push(text(8, stepsTop - 2, 'steps', 'font-weight="bold" fill="#24292f"'));
  r.steps.forEach((s, i) => {
    const y = stepsTop + i * STEP_LANE;
    const a = sc.x(ms(s.at));
    const b = sc.x(ms(s.at) + s.ms);
    const w = Math.max(1.5, b - a);
    o.push(text(8, y + 12, fit(s.name, PLOT_LEFT - 16, 11), 'fill="#24292f"'));
    o.push(
      `<rect class="step" data-i="${i}" x="${n(a)}" y="${y + 2}" width="${n(w)}" height="${STEP_LANE - 5}" fill="${s.ok ? '#54aeff' : FAIL_COLOR}"><title>${escapeXml(`${s.name}: ${(s.ms / 1000).toFixed(3)} s${s.detail ? ` (${s.detail})` : ''}`)}</title></rect>`,
    );
    const label = `${(s.ms / 1000).toFixed(3)} s`;
    const inRoom = a + w + 4 + label.length * 6.6 <= PLOT_RIGHT;
    o.push(text(inRoom ? a + w + 4 : a - 4, y + 12, label, `fill="#57606a"${inRoom ? '' : ' text-anchor="end"'}`));
  });

  // Lag chart.
  const known = r.lag.map((l) => l.lagSeconds).filter((v): v is number => v !== null);
  const maxLag = Math.max(1, ...known) * 1.1;
  const y = (v: number) => lagTop + LAG_HEIGHT - (v / maxLag) * LAG_HEIGHT;
  o.push(text(8, lagTop + 10, "mirrors' lag", 'font-weight="bold" fill="#24292f"'));
  o.push(`<rect class="lag-frame" x="${PLOT_LEFT}" y="${lagTop}" width="${PLOT_RIGHT - PLOT_LEFT}" height="${LAG_HEIGHT}" fill="none" stroke="#d0d7de"/>`);
  o.push(text(PLOT_LEFT - 4, lagTop + 4, fmtS(Number((maxLag / 1.1).toFixed(3))), 'text-anchor="end" fill="#57606a"'));
  o.push(text(PLOT_LEFT - 4, lagTop + LAG_HEIGHT, '0 s', 'text-anchor="end" fill="#57606a"'));
  if (sites.length === 0) o.push(text(PLOT_LEFT + 8, lagTop + LAG_HEIGHT / 2, 'no lag samples', 'fill="#57606a"'));
  sites.forEach((site, si) => {
    const xs = r.lag.filter((l) => l.site === site).sort((a, b) => ms(a.at) - ms(b.at));
    const { known: parts, down } = runs(xs);
    const c = color(site);
    for (const p of parts) {
      if (p.length === 1) o.push(`<circle class="lag" data-site="${escapeXml(site)}" cx="${n(sc.x(ms(p[0].at)))}" cy="${n(y(p[0].lagSeconds!))}" r="2" fill="${c}"/>`);
      else
        o.push(`<polyline class="lag" data-site="${escapeXml(site)}" points="${p.map((s) => `${n(sc.x(ms(s.at)))},${n(y(s.lagSeconds!))}`).join(' ')}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    }
    for (const d of down) {
      const a = sc.x(d.from);
      const b = sc.x(d.to);
      const dy = lagTop + LAG_HEIGHT + 3 + (si % 3) * 3;
      o.push(`<line class="down" data-site="${escapeXml(site)}" x1="${n(a)}" y1="${dy}" x2="${n(Math.max(a + 2, b))}" y2="${dy}" stroke="${c}" stroke-width="2.5" stroke-dasharray="4 2"/>`);
    }
  });

  // Marks over everything, each label in a row where it overlaps no other (placeLabels).
  events.forEach((e, i) => {
    const x = sc.x(ms(e.at));
    const c = MARK_COLORS[e.kind];
    const minor = e.kind === 'alert' || e.kind === 'note';
    const ly = marksTop + 12 + placed[i].row * LABEL_ROW;
    const full = `${MARK_NAMES[e.kind]}${e.label ? `: ${e.label}` : ''}`;
    o.push(
      `<line class="mark" data-kind="${e.kind}" x1="${n(x)}" y1="${ly + 2}" x2="${n(x)}" y2="${axisY}" stroke="${c}" stroke-width="${minor ? 1 : 2}"${minor ? ' stroke-dasharray="3 3"' : ''}><title>${escapeXml(full)}</title></line>`,
    );
    const left = placed[i].left;
    o.push(text(left ? x - 3 : x + 3, ly, markLabels[i], `class="mark-label" fill="${c}"${left ? ' text-anchor="end"' : ''}`));
  });

  // Legend.
  sites.forEach((site, i) => {
    const lx = PLOT_LEFT + (i % perRow) * 160;
    const ly = legendTop + Math.floor(i / perRow) * 18;
    o.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${color(site)}" stroke-width="2"/>`);
    o.push(text(lx + 22, ly, fit(site, 130, 11), 'fill="#24292f"'));
  });
  if (sites.length) o.push(text(8, legendTop, 'lag by mirror', 'fill="#57606a"'));

  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
