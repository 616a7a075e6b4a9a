/** The drill's data model (scripts/drill/count.ts): confirmed records vs the new master's file. */
import { countRecords } from '../../scripts/drill/count';
import type { Segment } from '../../scripts/drill/load';

const seg = (tag: string, site: string, firstSeq: number, confirmedSeq: number, t0: number): Segment => ({
  site,
  tag,
  firstSeq,
  confirmedSeq,
  // One report per record, 1 ms apart: record q written at t0 + (q - firstSeq).
  reports: Array.from({ length: confirmedSeq - firstSeq }, (_, i) => [firstSeq + i + 1, t0 + i + 1] as [number, number]),
  startedAt: t0,
  endedAt: null,
  end: 'stopped',
});
const lines = (tag: string, from: number, to: number, t0: number, first: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i} ${t0 + (from + i - first)} ${tag}`);

describe('countRecords', () => {
  it('nothing lost: every confirmed record present, more than confirmed is fine', () => {
    const s1 = seg('s1-ny', 'ny', 0, 100, 1000);
    const c = countRecords([...lines('s1-ny', 1, 105, 1000, 0), ''].join('\n'), [s1]);
    expect(c).toMatchObject({ lost: 0, distinct: 105, holes: 0, torn: 0, duplicates: 0, rpoSeconds: 0, maxSeq: 105 });
  });

  it('a failover: the tail of segment 1 lost, segment 2 reuses its numbers and is told apart by its tag', () => {
    const s1 = seg('s1-ny', 'ny', 0, 100, 1000);
    const s2 = seg('s2-chi', 'chi', 90, 150, 5000);
    const text = [...lines('s1-ny', 1, 90, 1000, 0), ...lines('s2-chi', 91, 150, 5000, 90)].join('\n');
    const c = countRecords(text, [s1, s2]);
    expect(c.lost).toBe(10);
    expect(c.perSegment[0].lostSeqs).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    expect(c.holes).toBe(0);
    // Newest held record of s1 was written at 1090, its last confirmed at 1100.
    expect(c.rpoSeconds).toBeCloseTo(0.01, 5);
  });

  it('torn lines, holes and duplicates are counted', () => {
    const s1 = seg('s1-ny', 'ny', 0, 10, 0);
    const text = ['1 1 s1-ny', '2 2 s1-ny', '2 2 s1-ny', '4 4 s1-ny', '5 5 s1', '6 6 s1-ny', '7 7 s1-ny', '8 8 s1-ny', '9 9 s1-ny', '10 10 s1-ny', '11 1'].join('\n');
    const c = countRecords(text, [s1]);
    expect(c).toMatchObject({ torn: 1, duplicates: 1, holes: 1 });
    // 3 is missing, 5 is under another tag (not this segment's record).
    expect(c.lost).toBe(2);
  });
});
