/**
 * Waiting, the one way: sleep, and poll a condition until it holds or a deadline passes, with a
 * timeout message that names what was awaited and the last error seen. Used by the lab, the
 * operations and the tests (the agent keeps its own: it imports nothing from the repo).
 */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions<T> {
  /** Give up after this long (the last poll may end a little later). */
  readonly timeoutMs: number;
  /** Pause between polls. @default 50 */
  readonly everyMs?: number;
  /** When the value is the answer. @default truthy */
  readonly done?: (v: T) => boolean;
  /** A poll that throws counts as "not yet" (its error is named on timeout). false: it ends the wait. @default true */
  readonly retryErrors?: boolean;
}

export class WaitTimeout extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastError: unknown,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    this.name = 'WaitTimeout';
  }
}

/** Polls `fn` until `done(value)`; resolves to that value, or rejects with a WaitTimeout. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, o: WaitOptions<T>): Promise<T> {
  const until = Date.now() + o.timeoutMs;
  const done = o.done ?? ((v: T) => !!v);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (done(v)) return v;
    } catch (e) {
      if (o.retryErrors === false) throw e;
      last = e;
    }
    if (Date.now() > until) throw new WaitTimeout(what, o.timeoutMs, last);
    await sleep(o.everyMs ?? 50);
  }
}

/** As waitFor, but a timeout resolves to null: for callers that build their own error (with a log tail, say). */
export async function waitForOrNull<T>(what: string, fn: () => T | Promise<T>, o: WaitOptions<T>): Promise<T | null> {
  try {
    return await waitFor(what, fn, o);
  } catch (e) {
    if (e instanceof WaitTimeout) return null;
    throw e;
  }
}
