/**
 * `tandem status --watch`: the status view again every interval. On a terminal the screen is
 * redrawn; otherwise (a pipe, a log file) a block is printed only when something changed, so the
 * output is a log of transitions. What the feeding agents (the master, relays) see is shown as
 * their alerts would say it (faultsOf / protectedBy from scripts/notify/watch), beside the verdict.
 */
import { faultsOf, protectedBy } from '../notify/watch';
import { renderTable } from './render';
import type { HostObservation, Verdict } from './verdict';

export interface WatchRound {
  readonly verdict: Verdict;
  /** Faults as the feeding agents report them (what their alerts name). */
  readonly faults: readonly string[];
  /** Mirrors that still hold a current copy, as the feeding agents see them. */
  readonly protectedBy: readonly string[];
  readonly at: Date;
}

/** The feeding agents' own view: every running host that feeds mirrors, as its alerter decides. */
export function feederView(obs: readonly HostObservation[]): { faults: string[]; protectedBy: string[] } {
  const faults: string[] = [];
  const safe: string[] = [];
  for (const h of obs) {
    const s = h.status;
    if (!h.reachable || !s || !s.running || s.children.length === 0) continue;
    faults.push(...faultsOf(s));
    safe.push(...protectedBy(s));
  }
  return { faults: [...new Set(faults)], protectedBy: [...new Set(safe)] };
}

/** The verdict line and what is still protected, under the table (as `tandem status` prints it). */
export function renderRound(customer: string, r: WatchRound, head: string): string {
  const lines = [head, renderTable(r.verdict)];
  if (r.faults.length) lines.push(`Faults seen by the feeding agents: ${r.faults.join('; ')}`);
  if (!r.verdict.ok || r.faults.length) lines.push(r.protectedBy.length ? `Still protected by: ${r.protectedBy.join(', ')}` : `Nothing is protected: no mirror of ${customer} holds a current copy`);
  return `${lines.join('\n')}\n`;
}

/**
 * What counts as a change for the log: the verdict, its reasons, the faults, each host's state.
 * Numbers are left out (a lag that creeps from 12 s to 13 s is not news; DEGRADED to OK is).
 */
export function changeKey(r: WatchRound): string {
  const strip = (s: string) => s.replace(/\d+(\.\d+)?/g, '#');
  return JSON.stringify([r.verdict.ok, r.verdict.reasons.map(strip), r.faults.map(strip), r.protectedBy, r.verdict.rows.map((x) => [x.site, x.state])]);
}

export interface WatchOptions {
  readonly customer: string;
  readonly intervalMs: number;
  /** Stop after this many rounds; null: until stopped. */
  readonly count: number | null;
  /** Redraw (a terminal) or print one block per change (anything else). */
  readonly tty: boolean;
  readonly json: boolean;
  readonly write: (s: string) => void;
  /** Stops the watch (Ctrl-C, SIGTERM): between rounds at once, during one without waiting for it. */
  readonly signal: AbortSignal;
  readonly round: () => Promise<WatchRound>;
}

const CLEAR = '\x1b[H\x1b[2J';
const ABORTED = Symbol('aborted');

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs the rounds; resolves with the last verdict seen (null: stopped before the first). */
export async function watchStatus(o: WatchOptions): Promise<{ last: Verdict | null; rounds: number; printed: number }> {
  let last: WatchRound | null = null;
  let lastKey: string | null = null;
  let rounds = 0;
  let printed = 0;
  while (!o.signal.aborted && (o.count === null || rounds < o.count)) {
    const t0 = Date.now();
    const r = await abortable(o.round(), o.signal);
    if (r === ABORTED) break;
    rounds++;
    last = r;
    const key = changeKey(r);
    const every = `every ${o.intervalMs / 1000} s`;
    if (o.json) {
      if (key !== lastKey) {
        o.write(
          `${JSON.stringify({ customer: o.customer, at: r.at.toISOString(), verdict: r.verdict.ok ? 'OK' : 'DEGRADED', reasons: r.verdict.reasons, faults: r.faults, protectedBy: r.protectedBy, hosts: r.verdict.rows })}\n`,
        );
        printed++;
      }
    } else if (o.tty) {
      const of = o.count === null ? '' : `/${o.count}`;
      o.write(`${CLEAR}${renderRound(o.customer, r, `tandem status --watch ${o.customer} · ${r.at.toISOString()} · ${every} · round ${rounds}${of} · Ctrl-C to stop\n`)}`);
      printed++;
    } else if (key !== lastKey) {
      o.write(`${printed ? '\n' : ''}${renderRound(o.customer, r, `--- ${r.at.toISOString()} ${o.customer}: ${r.verdict.ok ? 'OK' : 'DEGRADED'}`)}`);
      printed++;
    }
    lastKey = key;
    if (o.count !== null && rounds >= o.count) break;
    await sleepUnlessAborted(o.intervalMs - (Date.now() - t0), o.signal);
  }
  return { last: last?.verdict ?? null, rounds, printed };
}
