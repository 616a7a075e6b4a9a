/** Random DrillResults from a seed (mulberry32): scenarios, steps, events, lag with gaps, and names full of XML's special characters. */
import { SCENARIOS, type DrillEvent, type DrillResult, type DrillStep, type LagSample } from '../../scripts/drill/types';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD = ['ny', 'chi', 'a<b', 'x&y', 'q"uote', "it's", 'pipe|site', 'tag<script>alert(1)</script>', 'amp&amp;', '<<>>', 'ü-ß', 'back\\slash', 'star*_under_'];
const KINDS: DrillEvent['kind'][] = ['fault', 'detected', 'promoted', 'service-back', 'restored', 'alert', 'note'];

export function randomResult(seed: number, over: Partial<DrillResult> = {}): DrillResult {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  const start = Date.UTC(2025, 0, 1, 12, 0, 0) + int(0, 86_400_000);
  const durMs = int(2_000, 600_000);
  const end = start + durMs;
  const iso = (t: number) => new Date(t).toISOString();
  const within = (a: number, b: number) => Math.round(a + r() * (b - a));

  const nSteps = int(1, 14);
  const steps: DrillStep[] = [];
  let t = start;
  for (let i = 0; i < nSteps; i++) {
    const at = Math.min(end - 1, t + int(0, Math.floor(durMs / nSteps / 3)));
    const ms = Math.max(0, Math.min(end - at, int(0, Math.floor((durMs / nSteps) * 0.6))));
    steps.push({
      name: `${pick(['crash', 'failover to', 'start load', 'failback', 'count records'])} ${pick(WEIRD)} #${i}`,
      at: iso(at),
      ms,
      ok: r() > 0.15,
      detail: r() > 0.5 ? `detail ${pick(WEIRD)} | ${int(0, 99)}` : '',
    });
    t = at + ms;
  }
  const fault = within(start, start + durMs / 2);
  const events: DrillEvent[] = [{ kind: 'fault', at: iso(fault), label: `kill ${pick(WEIRD)}` }];
  for (const k of KINDS.slice(1)) if (r() > 0.25) events.push({ kind: k, at: iso(within(fault, end)), label: r() > 0.3 ? `${k} ${pick(WEIRD)}` : '' });
  const sites = [...new Set(Array.from({ length: int(1, 5) }, () => pick(WEIRD)))];
  const lag: LagSample[] = [];
  for (const site of sites) {
    const nSamples = int(1, 40);
    for (let i = 0; i < nSamples; i++) {
      const down = r() < 0.2;
      lag.push({ at: iso(start + Math.round((durMs * i) / nSamples)), site, lagSeconds: down ? null : Math.round(r() * 5000) / 1000, state: down ? 'unreachable' : 'in-sync' });
    }
  }
  const passed = r() > 0.5;
  const restored = passed || r() > 0.5;
  const rto = r() > 0.2 ? Math.round(r() * 20_000) / 1000 : null;
  const written = int(0, 1_000_000);
  const lost = r() > 0.5 ? 0 : int(1, Math.max(1, Math.floor(written / 10)));
  return {
    version: 1,
    scenario: pick(SCENARIOS),
    customer: pick(['acme', 'lab', 'globex']),
    startedAt: iso(start),
    finishedAt: iso(end),
    passed,
    rtoSeconds: rto,
    rpoSeconds: lost ? Math.round(r() * 3000) / 1000 : r() > 0.3 ? 0 : null,
    recordsLost: lost,
    recordsWritten: written,
    recordsFound: written - lost,
    rate: 2000,
    from: pick(WEIRD),
    to: rto === null ? null : pick(WEIRD),
    targets: { rtoTargetS: pick([5, 10, 60]), rpoTargetS: pick([0, 1, 5]), basis: `default for a ${pick(['hot', 'warm', 'cold'])} mirror <&>` },
    checks: passed
      ? [{ name: `RTO within target`, ok: true, detail: 'ok' }]
      : [
          { name: `RTO within target`, ok: r() > 0.5, detail: 'RTO 12 s > 10 s' },
          { name: `no record lost on ${pick(WEIRD)}`, ok: false, detail: `${lost} lost <x>` },
        ],
    steps,
    events,
    lag,
    restored,
    leftState: restored ? null : `master is ${pick(WEIRD)}; run tandem failback`,
    journalFiles: ['/var/lib/tandem-lab/x/journal-1.json'],
    error: null,
    ...over,
  };
}
