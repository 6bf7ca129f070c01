/**
 * Time for the node layer, passed in so tests can move it: the wall clock
 * (invoice timestamps and expiry, payment records) and one-shot timers
 * (how long a payment waits for a channel, or for its HTLC).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `f` once after `ms` milliseconds; the returned function cancels it. */
  after(ms: number, f: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, f) => {
    const t = setTimeout(f, ms);
    return () => clearTimeout(t);
  },
};

/** Whole seconds since the epoch, as BOLT 11 timestamps and the stored records count them. */
export const unixSeconds = (c: Clock): number => Math.floor(c.now() / 1000);
