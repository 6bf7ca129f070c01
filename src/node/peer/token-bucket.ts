/**
 * A token bucket: up to `capacity` tokens, refilled at `perMs` tokens per
 * millisecond. Pure: the caller passes the time, so tests drive it without
 * a clock. Used for pongs (tokens = pings) and for a peer's custom-message
 * budget (tokens = bytes); numbers in limits.ts.
 */
export class TokenBucket {
  private tokens: number;
  private at: number | undefined;

  constructor(
    readonly capacity: number,
    readonly perMs: number,
  ) {
    if (!(capacity > 0) || !(perMs > 0)) throw new RangeError(`token bucket needs a positive capacity and rate, got ${capacity} and ${perMs}`);
    this.tokens = capacity;
  }

  private refill(now: number): void {
    if (this.at !== undefined && now > this.at) this.tokens = Math.min(this.capacity, this.tokens + (now - this.at) * this.perMs);
    if (this.at === undefined || now > this.at) this.at = now;
  }

  /** Takes `n` tokens if that many are there; returns whether it did. */
  take(now: number, n = 1): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Takes `n` tokens even when fewer are there (the balance goes negative:
   * a debt paid back by later refills). For costs known only after the fact,
   * such as a message larger than the whole bucket.
   */
  charge(now: number, n: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** Whether at least one token is there (a charge can be made). */
  ready(now: number): boolean {
    this.refill(now);
    return this.tokens > 0;
  }

  /** Milliseconds from `now` until at least one token is there (0 if ready). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens > 0 ? 0 : Math.floor(-this.tokens / this.perMs) + 1;
  }
}
