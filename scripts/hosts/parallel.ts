/** Hosts in parallel, a bounded number at a time, with one readable progress line per event. */

export type Progress = (site: string, message: string) => void;

/** Progress on stderr, so stdout stays the result (and `--json` stays parseable). */
export function stderrProgress(out: NodeJS.WritableStream = process.stderr): Progress {
  const t0 = Date.now();
  return (site, message) => {
    const t = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
    out.write(`${t}s  ${site.padEnd(12)} ${message}\n`);
  };
}

export const silentProgress: Progress = () => undefined;

export type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number };

/** Runs `fn` for every item, at most `limit` at once; never rejects: each item settles on its own. */
export async function mapParallel<I, T>(items: readonly I[], limit: number, fn: (item: I) => Promise<T>): Promise<Settled<T>[]> {
  const out: Settled<T>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const t0 = Date.now();
      try {
        out[i] = { ok: true, value: await fn(items[i]), ms: Date.now() - t0 };
      } catch (e) {
        out[i] = { ok: false, error: e instanceof Error ? e : new Error(String(e)), ms: Date.now() - t0 };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
