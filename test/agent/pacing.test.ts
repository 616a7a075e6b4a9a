/**
 * Under a steady stream of small appends (tick data), a continuous link sends at most one
 * batch per shared tick (COALESCE_MS), not one per ACK: the batch rate, not the data, was
 * most of the master's CPU. Counted through the receivers' own sequence numbers, so this
 * checks what went over the link, not a timing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { homePaths } from '../../agent/src/env';
import { COALESCE_MS } from '../../agent/src/link';
import type { ReceiverState } from '../../agent/src/receiver';
import { Host, agentBundle, child, makeHost, sameTree, startDaemon, status, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

const lastSeq = (h: Host): number => (JSON.parse(fs.readFileSync(homePaths(h.home).receiverState, 'utf8')) as ReceiverState).lastSeq;

describe('batch pacing on a busy master', () => {
  const roots: string[] = [];
  beforeAll(() => agentBundle());
  afterAll(async () => {
    await stopAll();
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  /** Appends for 3 s; returns the batches each mirror got and the most one per tick allows. */
  async function paced(tickMs?: number): Promise<{ batches: number[]; ceiling: number }> {
    const root = tempRoot('pacing');
    roots.push(root);
    const m = makeHost(root, 'master');
    const mirrors = ['a', 'b'].map((s) => makeHost(root, s));
    for (const h of mirrors) writeConfig(h, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: mirrors.map((h) => child(h)), ...(tickMs ? { tickMs } : {}) });
    const files = Array.from({ length: 20 }, (_, i) => path.join(m.dataDir, `sym${i}.csv`));
    for (const f of files) fs.writeFileSync(f, '');
    startDaemon(m);
    await waitFor('in sync', () => status(m).children.every((c) => c.state === 'in-sync'), 20000);
    // The watcher's FIFO is unlinked once both ends are open.
    expect(fs.readdirSync(homePaths(m.home).stateDir).filter((n) => n.endsWith('.fifo'))).toEqual([]);

    const before = mirrors.map(lastSeq);
    const t0 = Date.now();
    let n = 0;
    // ~1,000 appends/s for 3 s, one write() each, spread over 20 files.
    while (Date.now() - t0 < 3000) {
      for (let i = 0; i < 4; i++) fs.appendFileSync(files[n++ % files.length], `${Date.now()},${n}\n`);
      await new Promise((r) => setTimeout(r, 4));
    }
    await waitFor('mirrors current', () => mirrors.every((h) => sameTree(m.dataDir, h.dataDir)), 15000);
    const batches = mirrors.map((h, i) => lastSeq(h) - before[i]);
    // Everything sent from the first append to the mirrors being current: at most one batch
    // per tick (plus the tick already under way).
    const seconds = (Date.now() - t0) / 1000;
    const ceiling = Math.floor((seconds * 1000) / (tickMs ?? COALESCE_MS)) + 2;
    process.stderr.write(`pacing (tick ${tickMs ?? COALESCE_MS} ms): ${n} appends in ${seconds.toFixed(1)} s -> batches per mirror ${batches.join(', ')} (ceiling ${ceiling})\n`);
    await stopAll();
    return { batches, ceiling };
  }

  it('one batch per tick at most while appends stream in; everything arrives; no FIFO left on disk', async () => {
    const { batches, ceiling } = await paced();
    for (const b of batches) {
      expect(b).toBeGreaterThan(0);
      expect(b).toBeLessThanOrEqual(ceiling);
    }
  });

  it("the master's config sets the tick (tickMs 400: a quarter of the default's batches at most)", async () => {
    const { batches, ceiling } = await paced(400);
    for (const b of batches) {
      expect(b).toBeGreaterThan(0);
      expect(b).toBeLessThanOrEqual(ceiling);
    }
  });
});
