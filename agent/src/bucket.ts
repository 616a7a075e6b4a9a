/**
 * Token bucket capping a link's frame stream to bandwidthMbit. Frames larger than the burst
 * are let through on credit and the debt is paid by waiting before the next one, so the
 * average rate holds without splitting frames.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rateBytesPerS: number,
    readonly burst = Math.max(64 * 1024, rateBytesPerS / 20),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes n bytes; returns how many ms the caller must wait before sending more. */
  take(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rateBytesPerS);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rateBytesPerS) * 1000;
  }
}

export const mbitToBytesPerS = (mbit: number): number => (mbit * 1_000_000) / 8;
