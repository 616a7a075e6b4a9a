/**
 * The sync benchmark's workload on a master's data dir, shared by bench/sync-bench.ts (the lab,
 * side by side with lsyncd) and bench/daemon-cpu.ts (the daemon alone): 2,000 ticks/s over the
 * given append-only files, 20 every 10 ms, each appended in its own write(); and a heartbeat
 * file `hb` rewritten (write + rename) every 100 ms, holding its write time in ms. `rate` scales
 * the ticks (20,000/s: 200 every 10 ms); the heartbeat stays at 100 ms.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface WorkloadHooks {
  /** A tick line of `bytes` was appended. */
  tick?: (bytes: number) => void;
  /** A heartbeat holding `t` (also its write time) was renamed into place. */
  heartbeat?: (t: number, bytes: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs until stop() returns true (checked every 10 ms). Resolves to the number of ticks written. */
export async function tickWorkload(dir: string, files: readonly string[], stop: () => boolean, on: WorkloadHooks = {}, rate = 2000): Promise<number> {
  const perStep = Math.max(1, Math.round(rate / 100));
  let n = 0;
  let next = performance.now();
  let hbNext = next;
  while (!stop()) {
    for (let i = 0; i < perStep; i++) {
      const line = `${Date.now()},SYM${n % files.length},${(100 + Math.random()).toFixed(5)},${1 + (n % 500)}\n`;
      fs.appendFileSync(files[n++ % files.length], line);
      on.tick?.(line.length);
    }
    if (performance.now() >= hbNext) {
      const t = Date.now();
      const body = String(t);
      fs.writeFileSync(path.join(dir, 'hb.tmp'), body);
      fs.renameSync(path.join(dir, 'hb.tmp'), path.join(dir, 'hb'));
      on.heartbeat?.(t, body.length);
      hbNext += 100;
    }
    next += 10;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return n;
}
