/**
 * The drill report writers on random DrillResults (seeded): the Markdown's verdict and steps, the
 * SVG well-formed with every mark, bar and lag point where its time puts it, the PNG a real PNG of
 * the SVG's size with a green or red banner, the summary's totals, and the report directory checks.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkReportDir, escapeMd, rasterize, renderMarkdown, renderPng, renderSummary, renderSvg, writeReports } from '../../scripts/drill/report';
import { failures } from '../../scripts/drill/report/format';
import { PLOT_LEFT, PLOT_RIGHT } from '../../scripts/drill/report/svg';
import type { DrillResult } from '../../scripts/drill/types';
import { randomResult } from './gen';
import { all, parseXml, textOf, type XmlElement } from './xml';

const SEEDS = Array.from({ length: 30 }, (_, i) => 1000 + i * 7919);
const t = (iso: string) => Date.parse(iso);

/** Cells of a Markdown table row, split on pipes that are not escaped. */
function cells(line: string): string[] {
  return line
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe('renderMarkdown', () => {
  it.each(SEEDS)('seed %i: verdict first, matching passed; every step with its start and duration', (seed) => {
    const r = randomResult(seed);
    const md = renderMarkdown(r);
    const lines = md.split('\n');
    expect(lines[0]).toBe(`# Drill ${r.scenario} on ${r.customer}: ${r.passed ? 'PASSED' : 'FAILED'}`);
    expect(lines[2].startsWith(`**${r.passed ? 'PASSED' : 'FAILED'}**`)).toBe(true);
    if (!r.passed) for (const c of r.checks.filter((x) => !x.ok)) expect(lines[2]).toContain(escapeMd(c.name));
    if (!r.restored) {
      expect(lines[2]).toContain('original layout not restored');
      expect(md).toContain(`**Not restored.** ${escapeMd(r.leftState!)}`);
    }
    // RTO and RPO against the targets, in the line under the verdict.
    expect(lines[4]).toContain(r.rtoSeconds === null ? 'RTO n/a' : `RTO ${Number(r.rtoSeconds.toFixed(3))} s (target ${r.targets.rtoTargetS} s)`);
    expect(lines[4]).toContain(`(target ${r.targets.rpoTargetS} s)`);
    expect(md).toContain(`| ${r.recordsWritten.toLocaleString('en-US')} | ${r.recordsFound.toLocaleString('en-US')} | ${r.recordsLost.toLocaleString('en-US')} |`);

    const fault = t(r.events.find((e) => e.kind === 'fault')!.at);
    const head = lines.indexOf('| # | step | start | duration | ok | detail |');
    expect(head).toBeGreaterThan(0);
    const rows = lines.slice(head + 2, head + 2 + r.steps.length).map(cells);
    expect(rows).toHaveLength(r.steps.length);
    r.steps.forEach((s, i) => {
      const [num, name, start, dur, ok] = rows[i];
      expect(num).toBe(String(i + 1));
      expect(name).toBe(escapeMd(s.name));
      expect(Number(/^([+-]\d+\.\d{3}) s$/.exec(start)![1])).toBeCloseTo((t(s.at) - fault) / 1000, 3);
      expect(Number(/^(\d+\.\d{3}) s$/.exec(dur)![1])).toBeCloseTo(s.ms / 1000, 3);
      expect(ok).toBe(s.ok ? 'ok' : 'FAILED');
    });
    // Names full of markup stay text: no raw tag, no unescaped pipe breaking a row.
    expect(md).not.toMatch(/<script|<b|<</);
    expect(md).toContain(`[PNG](${r.scenario}.png)`);
    expect(md).toContain(`](${r.scenario}.svg)`);
  });

  it("each mirror's worst lag and its time down", () => {
    const r = randomResult(5, {
      startedAt: '2025-01-01T00:00:00.000Z',
      finishedAt: '2025-01-01T00:00:10.000Z',
      lag: [
        { at: '2025-01-01T00:00:00.000Z', site: 'chi', lagSeconds: 0.2, state: 'in-sync' },
        { at: '2025-01-01T00:00:02.000Z', site: 'chi', lagSeconds: null, state: 'unreachable' },
        { at: '2025-01-01T00:00:05.500Z', site: 'chi', lagSeconds: 3.25, state: 'catching-up' },
        { at: '2025-01-01T00:00:07.000Z', site: 'chi', lagSeconds: 0.1, state: 'in-sync' },
      ],
    });
    expect(renderMarkdown(r)).toContain('| chi | 4 | 3.25 s | 0.1 s | 3.500 s (1 sample) |');
  });

  it('a drill that could not run says so in the verdict', () => {
    const r = randomResult(9, { passed: false, checks: [], restored: true, error: 'lab acme is not up' });
    expect(renderMarkdown(r).split('\n')[2]).toBe('**FAILED**: did not run: lab acme is not up.');
  });
});

/** The SVG's plot: its axis ends, as drawn. */
function axis(root: XmlElement): { left: number; right: number } {
  const a = all(root).find((e) => e.name === 'line' && e.attrs.class === 'axis')!;
  return { left: Number(a.attrs.x1), right: Number(a.attrs.x2) };
}

describe('renderSvg', () => {
  it.each(SEEDS)('seed %i: well-formed; marks, steps and lag points where their times put them', (seed) => {
    const r = randomResult(seed);
    const svg = renderSvg(r);
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(root.attrs['font-family']).toBe("'DejaVu Sans', sans-serif");
    expect(svg).not.toMatch(/<script/);
    const els = all(root);
    const { left, right } = axis(root);
    expect([left, right]).toEqual([PLOT_LEFT, PLOT_RIGHT]);
    const t0 = t(r.startedAt);
    const t1 = t(r.finishedAt);
    // Within the drill's span every x is (time - start) / (end - start) of the axis; 0.01 px rounding.
    const frac = (x: number) => (x - left) / (right - left);
    const tol = 0.011 / (right - left);

    const marks = els.filter((e) => e.name === 'line' && e.attrs.class === 'mark');
    const events = [...r.events].sort((a, b) => t(a.at) - t(b.at));
    expect(marks.map((m) => m.attrs['data-kind'])).toEqual(events.map((e) => e.kind));
    marks.forEach((m, i) => {
      expect(m.attrs.x1).toBe(m.attrs.x2);
      expect(Math.abs(frac(Number(m.attrs.x1)) - (t(events[i].at) - t0) / (t1 - t0))).toBeLessThanOrEqual(tol);
      expect(textOf(m.children.find((c) => c.name === 'title')!)).toContain(events[i].label);
    });

    const bars = els.filter((e) => e.name === 'rect' && e.attrs.class === 'step');
    expect(bars).toHaveLength(r.steps.length);
    bars.forEach((b, i) => {
      const s = r.steps[i];
      expect(Math.abs(frac(Number(b.attrs.x)) - (t(s.at) - t0) / (t1 - t0))).toBeLessThanOrEqual(tol);
      const w = Number(b.attrs.width);
      const want = (s.ms / (t1 - t0)) * (right - left);
      expect(w).toBeCloseTo(Math.max(1.5, want), 1);
      expect(textOf(b)).toContain(s.name);
    });

    // Lag: one point per known sample at its time; a null sample breaks the line.
    for (const site of new Set(r.lag.map((l) => l.site))) {
      const samples = r.lag.filter((l) => l.site === site).sort((a, b) => t(a.at) - t(b.at));
      const drawn = els.filter((e) => e.attrs.class === 'lag' && e.attrs['data-site'] === site);
      const xs = drawn.flatMap((e) => (e.name === 'circle' ? [Number(e.attrs.cx)] : e.attrs.points.split(' ').map((p) => Number(p.split(',')[0]))));
      const known = samples.filter((s) => s.lagSeconds !== null);
      expect(xs).toHaveLength(known.length);
      xs.forEach((x, i) => expect(Math.abs(frac(x) - (t(known[i].at) - t0) / (t1 - t0))).toBeLessThanOrEqual(tol));
      let segments = 0;
      samples.forEach((s, i) => s.lagSeconds !== null && (i === 0 || samples[i - 1].lagSeconds === null) && segments++);
      expect(drawn).toHaveLength(segments);
      expect(els.filter((e) => e.attrs.class === 'down' && e.attrs['data-site'] === site)).toHaveLength(samples.filter((s) => s.lagSeconds === null).length);
    }

    const banner = els.find((e) => e.attrs.class === 'banner')!;
    expect(banner.attrs.fill).toBe(r.passed ? '#1a7f37' : '#cf222e');
    expect(textOf(els.find((e) => e.name === 'title')!)).toBe(`Drill ${r.scenario} on ${r.customer}: ${r.passed ? 'PASSED' : 'FAILED'}`);
  });

  it('the RTO span runs from the fault for rtoSeconds, and says when it is over target', () => {
    const r = randomResult(77, {
      startedAt: '2025-01-01T00:00:00.000Z',
      finishedAt: '2025-01-01T00:01:40.000Z',
      steps: [{ name: 'crash ny', at: '2025-01-01T00:00:10.000Z', ms: 50, ok: true, detail: '' }],
      events: [
        { kind: 'fault', at: '2025-01-01T00:00:20.000Z', label: 'ny <killed>' },
        { kind: 'service-back', at: '2025-01-01T00:00:32.500Z', label: 'on chi' },
      ],
      lag: [],
      rtoSeconds: 12.5,
      targets: { rtoTargetS: 10, rpoTargetS: 1, basis: 'x' },
    });
    const root = parseXml(renderSvg(r));
    const span = all(root).find((e) => e.attrs.class === 'rto')!;
    const { left, right } = axis(root);
    expect(Number(span.attrs.x)).toBeCloseTo(left + 0.2 * (right - left), 1);
    expect(Number(span.attrs.width)).toBeCloseTo(0.125 * (right - left), 1);
    const svg = renderSvg(r);
    expect(svg).toContain('RTO 12.5 s &gt; target 10 s');
    expect(svg).toContain('fault: ny &lt;killed&gt;');
  });
});

/** Columns [x0, x1] a piece of text inks when resvg renders it alone with the report's font. */
function inkOf(el: XmlElement): [number, number] | null {
  const anchor = el.attrs['text-anchor'] ? ` text-anchor="${el.attrs['text-anchor']}"` : '';
  const esc = textOf(el).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const img = rasterize(
    `<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="20" font-family="'DejaVu Sans', sans-serif" font-size="11"><rect width="1000" height="20" fill="#fff"/><text x="${el.attrs.x}" y="14"${anchor}>${esc}</text></svg>`,
  );
  let x0 = -1;
  let x1 = -1;
  for (let x = 0; x < img.width; x++) {
    for (let y = 0; y < img.height; y++) {
      const i = (y * img.width + x) * 4;
      if (img.pixels[i] < 200 || img.pixels[i + 1] < 200 || img.pixels[i + 2] < 200) {
        if (x0 < 0) x0 = x;
        x1 = x;
        break;
      }
    }
  }
  return x0 < 0 ? null : [x0, x1];
}

describe('mark labels', () => {
  // Fourteen marks within 3 % of a drill, with long labels: the old three staggered rows overlapped.
  const crowded = randomResult(31, {
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    events: Array.from({ length: 14 }, (_, i) => ({
      kind: (['fault', 'detected', 'alert', 'note', 'promoted', 'service-back', 'restored'] as const)[i % 7],
      at: new Date(Date.parse('2025-01-01T00:00:30.000Z') + i * 120).toISOString(),
      label: `${['ny', 'chi', 'ams', 'ldn'][i % 4]} event number ${i} with a longer label`,
    })),
    steps: [{ name: 'crash ny', at: '2025-01-01T00:00:29.000Z', ms: 1000, ok: true, detail: '' }],
    lag: [],
  });
  const atEnd = randomResult(32, {
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:10.000Z',
    events: [
      { kind: 'fault', at: '2025-01-01T00:00:09.800Z', label: 'kill ny at the very end of the drill' },
      { kind: 'detected', at: '2025-01-01T00:00:09.900Z', label: 'probe says ny is down' },
      { kind: 'restored', at: '2025-01-01T00:00:10.000Z', label: 'back to the original layout' },
    ],
    steps: [{ name: 'crash ny', at: '2025-01-01T00:00:09.000Z', ms: 800, ok: true, detail: '' }],
    lag: [],
  });
  // Twelve marks at the very start of a long drill: no room on the left of their lines.
  const atStart = randomResult(33, {
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T01:00:00.000Z',
    events: Array.from({ length: 12 }, (_, i) => ({ kind: 'alert' as const, at: new Date(Date.parse('2025-01-01T00:00:00.000Z') + i * 1000).toISOString(), label: `chi down ${i}` })),
    steps: [{ name: 'crash ny', at: '2025-01-01T00:00:00.000Z', ms: 100, ok: true, detail: '' }],
    lag: [],
  });
  it.each([...SEEDS.map((seed) => [`seed ${seed}`, randomResult(seed)] as const), ['crowded', crowded] as const, ['at the end', atEnd] as const, ['at the start', atStart] as const])(
    '%s: no label overlaps another (ink measured by resvg), all inside the picture and above the plot',
    (_name, r) => {
      const els = all(parseXml(renderSvg(r)));
      const labels = els.filter((e) => e.name === 'text' && e.attrs.class === 'mark-label');
      expect(labels).toHaveLength(r.events.length);
      const firstStep = Math.min(...els.filter((e) => e.attrs.class === 'step').map((e) => Number(e.attrs.y)));
      const rows = new Map<string, [number, number][]>();
      for (const l of labels) {
        const ink = inkOf(l);
        expect(ink).not.toBeNull();
        expect(ink![0]).toBeGreaterThanOrEqual(0);
        expect(ink![1]).toBeLessThan(1000);
        expect(Number(l.attrs.y)).toBeLessThan(firstStep - 8);
        rows.set(l.attrs.y, [...(rows.get(l.attrs.y) ?? []), ink!]);
      }
      for (const [y, inks] of rows) {
        inks.sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < inks.length; i++) expect({ y, starts: inks[i][0] > inks[i - 1][1] }).toEqual({ y, starts: true });
      }
    },
  );
});

/** Width and height from a PNG's IHDR. */
function pngSize(b: Buffer): { width: number; height: number } {
  expect(b.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(b.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('renderPng', () => {
  it.each([
    ['pass', true, (p: number[]) => p[1] > p[0] + 60 && p[1] > p[2] + 40],
    ['fail', false, (p: number[]) => p[0] > p[1] + 120 && p[0] > p[2] + 120],
  ])('%s: a real PNG of the SVG size; the banner is green for a pass, red for a fail', (_n, passed, isColour) => {
    const r = randomResult(passed ? 11 : 12, { passed });
    const svg = renderSvg(r);
    const root = parseXml(svg);
    const png = renderPng(svg);
    expect(pngSize(png)).toEqual({ width: Number(root.attrs.width), height: Number(root.attrs.height) });
    const img = rasterize(svg);
    expect([img.width, img.height]).toEqual([Number(root.attrs.width), Number(root.attrs.height)]);
    const px = (x: number, y: number) => Array.from(img.pixels.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
    for (const [x, y] of [
      [3, 3],
      [img.width - 4, 40],
      [img.width / 2, 2],
    ]) {
      expect(isColour(px(x, y))).toBe(true);
      expect(px(x, y)[3]).toBe(255);
    }
    // Below the banner the page is white: the colour is the banner's, not the whole picture's.
    expect(px(3, 50)).toEqual([255, 255, 255, 255]);
    // The banner's text was drawn with the font (white pixels inside the banner).
    let white = 0;
    for (let x = 16; x < 400; x++)
      for (let y = 12; y < 32; y++)
        if (
          px(x, y)
            .slice(0, 3)
            .every((c) => c > 230)
        )
          white++;
    expect(white).toBeGreaterThan(100);
  });

  it('names the missing font and the package that has it', () => {
    expect(() => renderPng(renderSvg(randomResult(1)), { fontFile: '/nonexistent/DejaVuSans.ttf' })).toThrow(
      'cannot render the drill picture as PNG: the font /nonexistent/DejaVuSans.ttf is missing; install the Debian package fonts-dejavu-core',
    );
  });
});

describe('renderSummary', () => {
  it('one row per drill, and the totals', () => {
    const rs = SEEDS.slice(0, 9).map((s) => randomResult(s));
    const md = renderSummary(rs);
    const lines = md.split('\n');
    const failed = rs.filter((r) => !r.passed);
    expect(lines[0]).toBe(`# Drills on ${rs[0].customer}: ${failed.length ? `${failed.length} of 9 FAILED` : 'ALL PASSED'}`);
    const head = lines.indexOf('| scenario | verdict | RTO s | RPO s | records lost | restored |');
    const rows = lines.slice(head + 2, head + 2 + 9).map(cells);
    rs.forEach((r, i) => {
      expect(rows[i][0]).toBe(`[${r.scenario}](${r.scenario}.md)`);
      expect(rows[i][1]).toBe(r.passed ? 'PASSED' : 'FAILED');
      expect(rows[i][2]).toBe(r.rtoSeconds === null ? 'n/a' : String(Number(r.rtoSeconds.toFixed(3))));
      expect(rows[i][4]).toBe(String(r.recordsLost));
      expect(rows[i][5]).toBe(r.restored ? 'yes' : 'NO');
    });
    const total = cells(lines[head + 11]);
    expect(total[0]).toBe('**total: 9**');
    expect(total[1]).toBe(`${9 - failed.length} passed, ${failed.length} failed`);
    expect(total[4]).toBe(String(rs.reduce((n, r) => n + r.recordsLost, 0)));
    expect(total[5]).toBe(`${rs.filter((r) => r.restored).length} of 9`);
    for (const f of failed) expect(lines[2]).toContain(`${f.scenario} (${failures(f).map(escapeMd).join('; ')})`);
  });
});

describe('report directory', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-report-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('creates a missing directory (parents too) and leaves no probe behind', () => {
    const dir = path.join(tmp, 'a', 'b', 'reports');
    checkReportDir(dir);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('under a regular file: the path, what is wrong, and the fix', () => {
    fs.writeFileSync(path.join(tmp, 'file'), 'x');
    const dir = path.join(tmp, 'file', 'reports');
    expect(() => checkReportDir(dir)).toThrow(
      `report directory ${JSON.stringify(dir)} cannot be written: a part of the path is a file, not a directory (ENOTDIR); pass --report a directory you can write to, or fix that path and its permissions`,
    );
  });

  it('a regular file where the directory should be', () => {
    fs.writeFileSync(path.join(tmp, 'reports'), 'x');
    expect(() => checkReportDir(path.join(tmp, 'reports'))).toThrow(/cannot be written: it exists and is not a directory \(EEXIST\)/);
  });

  it('under /proc (where even root cannot make a directory), quickly', () => {
    const t0 = Date.now();
    expect(() => checkReportDir('/proc/tandem-reports/x')).toThrow(/^report directory "\/proc\/tandem-reports\/x" cannot be written: .*\((ENOENT|EACCES|EPERM)\); pass --report/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an empty path', () => {
    expect(() => checkReportDir('')).toThrow('--report needs a directory, e.g. --report reports/drills');
  });

  it('writeReports: .md .json .svg .png per scenario, summary.md for more than one, nothing half-written', () => {
    const a = randomResult(21, { scenario: 'master-crash' });
    const b = randomResult(22, { scenario: 'planned-switchover' });
    const c = randomResult(23, { scenario: 'master-crash' });
    const dir = path.join(tmp, 'out');
    const w = writeReports(dir, [a, b, c]);
    expect(w.files.map((f) => path.basename(f.markdown))).toEqual(['master-crash.md', 'planned-switchover.md', 'master-crash-2.md']);
    expect(w.summary).toBe(path.join(dir, 'summary.md'));
    expect(fs.readdirSync(dir).sort()).toEqual(
      ['master-crash', 'planned-switchover', 'master-crash-2']
        .flatMap((s) => ['md', 'json', 'svg', 'png'].map((e) => `${s}.${e}`))
        .concat('summary.md')
        .sort(),
    );
    const json = JSON.parse(fs.readFileSync(w.files[0].json, 'utf8')) as DrillResult;
    expect(json).toEqual(a);
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['rtoSeconds', 'rpoSeconds', 'recordsLost']));
    expect(fs.readFileSync(w.files[1].markdown, 'utf8')).toBe(renderMarkdown(b));
    expect(fs.readFileSync(w.files[2].markdown, 'utf8')).toContain('](master-crash-2.svg)');
    parseXml(fs.readFileSync(w.files[1].svg, 'utf8'));
    expect(pngSize(fs.readFileSync(w.files[1].png)).width).toBe(1000);
    expect(fs.readFileSync(w.summary!, 'utf8')).toBe(renderSummary([a, b, c]));

    const one = writeReports(path.join(tmp, 'one'), [b]);
    expect(one.summary).toBeNull();
    expect(fs.readdirSync(path.join(tmp, 'one')).sort()).toEqual(['planned-switchover.json', 'planned-switchover.md', 'planned-switchover.png', 'planned-switchover.svg']);
  });
});
