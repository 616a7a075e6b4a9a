/**
 * The drill's model of the data, trivially correct: every record the load generator CONFIRMED is
 * (segment tag, sequence) with firstSeq < seq <= confirmedSeq of its segment; the new master's
 * records file is read whole; lost = confirmed and absent. Pure (table-tested in
 * test/drill/count.test.ts).
 */
import { writeTimeOf, type Segment } from './load';

export interface RecordCount {
  /** Lines that are well-formed records, and distinct (tag, seq) among them. */
  readonly lines: number;
  readonly distinct: number;
  /** Distinct sequence numbers (the file's own numbering, across tags). */
  readonly distinctSeqs: number;
  /** Lines that are not "<seq> <ms> <tag>" (a torn write). */
  readonly torn: number;
  /** Sequence numbers missing between 1 and the highest one found. */
  readonly holes: number;
  readonly duplicates: number;
  readonly maxSeq: number;
  /** Confirmed records absent from the file. */
  readonly lost: number;
  /** Per segment: confirmed, found of those, and the first few lost sequence numbers. */
  readonly perSegment: readonly { tag: string; site: string; confirmed: number; found: number; lostSeqs: readonly number[] }[];
  /** Seconds of confirmed writes the file lacks: from the newest record it holds of the segment that lost some to that segment's last confirmed write. 0 when nothing is lost. */
  readonly rpoSeconds: number;
}

export function parseRecords(text: string): { recs: Map<string, Set<number>>; times: Map<string, Map<number, number>>; lines: number; torn: number; seqs: number[] } {
  const recs = new Map<string, Set<number>>();
  const times = new Map<string, Map<number, number>>();
  const seqs: number[] = [];
  let lines = 0;
  let torn = 0;
  for (const l of text.split('\n')) {
    if (l === '') continue;
    const m = /^(\d+) (\d+) (\S+)$/.exec(l);
    if (!m) {
      torn++;
      continue;
    }
    lines++;
    const seq = Number(m[1]);
    seqs.push(seq);
    let s = recs.get(m[3]);
    if (!s) recs.set(m[3], (s = new Set()));
    s.add(seq);
    let t = times.get(m[3]);
    if (!t) times.set(m[3], (t = new Map()));
    t.set(seq, Number(m[2]));
  }
  return { recs, times, lines, torn, seqs };
}

export function countRecords(text: string, segments: readonly Segment[]): RecordCount {
  const p = parseRecords(text);
  const all = new Set(p.seqs);
  let maxSeq = 0;
  for (const s of p.seqs) if (s > maxSeq) maxSeq = s;
  let distinct = 0;
  for (const s of p.recs.values()) distinct += s.size;
  let lost = 0;
  let rpoMs = 0;
  const perSegment = segments.map((seg) => {
    const have = p.recs.get(seg.tag) ?? new Set<number>();
    const lostSeqs: number[] = [];
    let found = 0;
    let lastHeld: number | null = null;
    for (let q = seg.firstSeq + 1; q <= seg.confirmedSeq; q++) {
      if (have.has(q)) {
        found++;
        if (!lostSeqs.length) lastHeld = q;
      } else lostSeqs.push(q);
    }
    lost += lostSeqs.length;
    if (lostSeqs.length) {
      const lastLostAt = writeTimeOf(seg, lostSeqs[lostSeqs.length - 1]);
      const heldAt = lastHeld !== null ? (p.times.get(seg.tag)?.get(lastHeld) ?? null) : writeTimeOf(seg, lostSeqs[0]);
      if (lastLostAt !== null && heldAt !== null) rpoMs = Math.max(rpoMs, lastLostAt - heldAt);
    }
    return { tag: seg.tag, site: seg.site, confirmed: seg.confirmedSeq - seg.firstSeq, found, lostSeqs: lostSeqs.slice(0, 20) };
  });
  return {
    lines: p.lines,
    distinct,
    distinctSeqs: all.size,
    torn: p.torn,
    holes: maxSeq - all.size,
    duplicates: p.lines - distinct,
    maxSeq,
    lost,
    perSegment,
    rpoSeconds: rpoMs / 1000,
  };
}
