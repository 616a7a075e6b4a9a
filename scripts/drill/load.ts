/**
 * Owns the drill's load generator: a small node program shipped over the SSH session (as the
 * argument of `node -e`; every host runs node for the agent) that appends sequence-numbered
 * records "<seq> <ms> <tag>\n" to one file in the CURRENT master's dataDir at a steady rate and
 * reports the highest sequence it has written on its stdout every tick (5 ms). The drill keeps the
 * highest CONFIRMED sequence: what it heard back, never what it hoped was written. Closing stdin
 * (or losing the SSH channel) stops it; a clean stop reports the last sequence. Restarted on a new
 * master it continues from the last sequence present there, under a new tag (one per segment), so
 * a record lost at the failover is still told apart from the one that took its number.
 */
import type { ClientChannel } from 'ssh2';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { asRoot } from '../hosts/hostfiles';
import { openSession, type SshSession } from '../ssh';
import { sq } from '../ssh/quote';

/** The generator, as plain CommonJS for `node -e` on the host. */
export const LOAD_SCRIPT = String.raw`'use strict';
const fs = require('fs'), path = require('path');
const file = process.env.TD_FILE, rate = Number(process.env.TD_RATE), tag = process.env.TD_TAG;
fs.mkdirSync(path.dirname(file), { recursive: true });
function lastSeq() {
  let fd; try { fd = fs.openSync(file, 'r'); } catch { return 0; }
  try {
    const size = fs.fstatSync(fd).size, n = Math.min(size, 8192), b = Buffer.alloc(n);
    fs.readSync(fd, b, 0, n, size - n);
    const ls = b.toString('utf8').split('\n').filter((l) => /^\d+ \d+ \S+$/.test(l));
    return ls.length ? Number(ls[ls.length - 1].split(' ')[0]) : 0;
  } finally { fs.closeSync(fd); }
}
let seq = lastSeq();
const fd = fs.openSync(file, 'a');
const say = (l) => { try { process.stdout.write(l + '\n'); } catch { stop(); } };
process.stdout.on('error', () => stop());
say('start ' + seq + ' ' + Date.now());
const t0 = Date.now(); let written = 0; let stopped = false;
const timer = setInterval(() => {
  const now = Date.now(), want = Math.floor(((now - t0) / 1000) * rate) - written;
  if (want <= 0) return;
  let chunk = '';
  for (let i = 0; i < want; i++) chunk += (++seq) + ' ' + now + ' ' + tag + '\n';
  fs.writeSync(fd, chunk);
  written += want;
  say('w ' + seq + ' ' + now);
}, 5);
function stop() {
  if (stopped) return; stopped = true;
  clearInterval(timer);
  try { fs.fsyncSync(fd); fs.closeSync(fd); } catch {}
  try { process.stdout.write('end ' + seq + ' ' + Date.now() + '\n', () => process.exit(0)); } catch { process.exit(0); }
  setTimeout(() => process.exit(0), 500).unref();
}
process.stdin.on('data', () => {});
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.on('SIGTERM', stop);
process.on('SIGHUP', stop);
`;

/** One run of the generator on one master: the records it confirmed. */
export interface Segment {
  readonly site: string;
  readonly tag: string;
  /** The sequence present before it started (it writes from firstSeq + 1). */
  readonly firstSeq: number;
  /** Highest sequence the host reported written. */
  confirmedSeq: number;
  /** Write time (host clock, ms) of each report: [seq, ms], in order; for the RPO of lost records. */
  readonly reports: [number, number][];
  startedAt: number;
  endedAt: number | null;
  /** How it ended: 'stopped' (clean), 'lost' (the channel died: host down or cut off). */
  end: 'running' | 'stopped' | 'lost';
}

/** Write time of record `seq` of a segment: the first report that covered it. */
export function writeTimeOf(seg: Segment, seq: number): number | null {
  for (const [s, ms] of seg.reports) if (s >= seq) return ms;
  return null;
}

export interface LoadOptions {
  readonly rate: number;
  /** Path of the records file on the host (inside dataDir). */
  readonly file: string;
  readonly ssh: { identity?: string; timeoutMs: number };
  readonly log: (line: string) => void;
}

/** The load generator across the drill: one segment per master it ran on. */
export class LoadGenerator {
  readonly segments: Segment[] = [];
  private stopping = false;
  private cur: { seg: Segment; session: SshSession; channel: ClientChannel; closed: Promise<number | null> } | null = null;

  constructor(private readonly o: LoadOptions) {}

  get running(): boolean {
    return !!this.cur && this.cur.seg.end === 'running';
  }

  /** Starts it on `h` (the master now); resolves once the host said where it starts from. */
  async start(inv: Inventory, h: InventoryHost): Promise<Segment> {
    if (this.cur) throw new Error('internal: the load generator is already running');
    const session = await openSession(inv, h.site, { identityFile: this.o.ssh.identity, readyTimeoutMs: this.o.ssh.timeoutMs, retries: 2 });
    const tag = `s${this.segments.length + 1}-${h.site}`;
    const env = `TD_FILE=${sq(this.o.file)} TD_RATE=${this.o.rate} TD_TAG=${sq(tag)}`;
    let started: (v: number) => void = () => undefined;
    const first = new Promise<number>((r) => (started = r));
    const seg: Segment = { site: h.site, tag, firstSeq: 0, confirmedSeq: 0, reports: [], startedAt: Date.now(), endedAt: null, end: 'running' };
    let base = -1;
    const onLine = (l: string) => {
      const m = /^(start|w|end) (\d+) (\d+)$/.exec(l);
      if (!m) return;
      const n = Number(m[2]);
      // Once abandoned (its host crashed or was cut off) nothing more counts as confirmed: reports
      // a healed link delivers late were not known when the fault struck.
      if (seg.end !== 'running') return;
      if (m[1] === 'start') {
        base = n;
        started(n);
        return;
      }
      if (n > seg.confirmedSeq) {
        seg.confirmedSeq = n;
        seg.reports.push([n, Number(m[3])]);
      }
    };
    const { channel, closed } = await session.stream(asRoot(h.user, `${env} exec node -e ${sq(LOAD_SCRIPT)}`), onLine);
    const t = setTimeout(() => started(-1), 15_000);
    const from = await Promise.race([first, closed.then(() => -1)]);
    clearTimeout(t);
    if (from < 0 || base < 0) {
      session.close();
      throw new Error(`${h.site}: the load generator did not start (node on the host, write access to ${this.o.file})`);
    }
    (seg as { firstSeq: number }).firstSeq = from;
    seg.confirmedSeq = from;
    this.segments.push(seg);
    this.cur = { seg, session, channel, closed };
    void closed.then(() => {
      if (seg.end === 'running') {
        seg.end = this.stopping ? 'stopped' : 'lost';
        seg.endedAt = Date.now();
      }
    });
    this.o.log(`load: ${this.o.rate} records/s into ${h.site}:${this.o.file}, continuing after seq ${from} (segment ${tag})`);
    return seg;
  }

  /**
   * Stops it: closes its stdin and waits for its last report. A host that no longer answers (it
   * crashed, it is cut off) ends the segment as 'lost'; what was confirmed stays confirmed.
   */
  async stop(timeoutMs = 5000): Promise<Segment | null> {
    const c = this.cur;
    if (!c) return null;
    this.cur = null;
    if (c.seg.end === 'running') {
      this.stopping = true;
      try {
        c.channel.end();
      } catch {
        /* channel gone */
      }
      const t = await Promise.race([c.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('timeout'), timeoutMs))]);
      if (c.seg.end === 'running') {
        c.seg.end = t === 'closed' ? 'stopped' : 'lost';
        c.seg.endedAt = Date.now();
      }
    }
    this.stopping = false;
    try {
      c.channel.close();
    } catch {
      /* gone */
    }
    c.session.close();
    this.o.log(`load: segment ${c.seg.tag} on ${c.seg.site} ${c.seg.end}; confirmed through seq ${c.seg.confirmedSeq} (${c.seg.confirmedSeq - c.seg.firstSeq} records)`);
    return c.seg;
  }

  /** Marks the running segment lost without waiting (its host was just killed or cut off). */
  abandon(): void {
    const c = this.cur;
    if (!c) return;
    this.cur = null;
    if (c.seg.end === 'running') {
      c.seg.end = 'lost';
      c.seg.endedAt = Date.now();
    }
    c.session.close();
  }

  confirmed(): number {
    return this.segments.reduce((n, s) => n + (s.confirmedSeq - s.firstSeq), 0);
  }
}
