/**
 * A bounded feed of events to one subscriber (an RPC stream, a test). The
 * producer offers without ever waiting; a subscriber that falls too far
 * behind — in events, in bytes of its own queue, or as the one furthest
 * behind when all subscribers together hold too much — is closed with an
 * error and its queue freed at once, instead of making the node buffer
 * without bound. Nothing it does slows the producer or other subscribers.
 *
 * The numbers come from the caller (src/rpc/limits.ts for API streams); an
 * in-process subscriber without a byte budget is bounded by events only.
 */
export const SUBSCRIBER_QUEUE_LIMIT = 4096;
/** What an event costs in memory beyond its payload (the object, its queue slot, a pubkey). */
export const EVENT_OVERHEAD_BYTES = 128;

export class SubscriberOverflowError extends Error {
  override readonly name = 'SubscriberOverflowError';
}

interface PoolMember {
  readonly queuedBytes: number;
  fail(e: Error): void;
}

/** A byte budget shared by every subscriber of one node. */
export class SubscriberPool {
  private used = 0;
  private readonly members = new Set<PoolMember>();

  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /**
   * Takes `n` bytes for `s`. When the pool is full, the subscribers furthest
   * behind are closed until `n` fits; false when `s` itself was one of them.
   */
  take(s: PoolMember, n: number): boolean {
    while (this.used + n > this.maxBytes) {
      let worst: PoolMember | undefined;
      for (const m of this.members) if (!worst || m.queuedBytes > worst.queuedBytes) worst = m;
      if (!worst || worst.queuedBytes === 0) return false;
      worst.fail(new SubscriberOverflowError(`subscribers together had ${this.maxBytes} bytes queued and this one was furthest behind (${worst.queuedBytes} bytes); it was closed`));
      if (worst === s) return false;
    }
    this.used += n;
    this.members.add(s);
    return true;
  }

  give(s: PoolMember, n: number, left: number): void {
    this.used -= n;
    if (left === 0) this.members.delete(s);
  }
}

export interface QueueBudget {
  /** Most bytes this subscriber may have queued. */
  maxBytes: number;
  maxEvents?: number;
  pool?: SubscriberPool;
}

/** A budget whose event count is at most `maxEvents` (a test's lowered limit); the budget itself when no limit is given. */
export function withEventLimit(budget: QueueBudget | undefined, maxEvents: number | undefined): QueueBudget | undefined {
  if (maxEvents === undefined) return budget;
  return { ...(budget ?? { maxBytes: Number.POSITIVE_INFINITY }), maxEvents: Math.min(maxEvents, budget?.maxEvents ?? maxEvents) };
}

export interface SubscriptionOptions<T> {
  /** Which events this subscriber wants (all by default). */
  accepts?: (t: T) => boolean;
  /** What an event costs while queued, in bytes (set by the producer, which knows its events). */
  sizeOf?: (t: T) => number;
  budget?: QueueBudget;
}

export class Subscription<T> implements AsyncIterableIterator<T> {
  private queue: { t: T; bytes: number }[] = [];
  private bytes = 0;
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private done = false;
  private accepts: (t: T) => boolean;
  private readonly sizeOf: (t: T) => number;
  private readonly maxEvents: number;

  private readonly budget: QueueBudget | undefined;

  constructor(
    private readonly onClose: (s: Subscription<T>) => void,
    o: SubscriptionOptions<T> = {},
  ) {
    this.accepts = o.accepts ?? (() => true);
    this.sizeOf = o.sizeOf ?? (() => 0);
    this.budget = o.budget;
    this.maxEvents = o.budget?.maxEvents ?? SUBSCRIBER_QUEUE_LIMIT;
  }

  get closed(): boolean {
    return this.done;
  }

  /** Bytes of events queued and not yet taken. */
  get queuedBytes(): number {
    return this.bytes;
  }

  get queuedEvents(): number {
    return this.queue.length;
  }

  /**
   * From now on only events `accepts` takes; those already queued that it
   * does not take are dropped. For a subscription opened before its filter
   * was known (an API stream subscribed on its headers, narrowed once its
   * request is read), so nothing sent in between is lost.
   */
  narrow(accepts: (t: T) => boolean): this {
    this.accepts = accepts;
    const kept = this.queue.filter((q) => accepts(q.t));
    const freed = this.bytes - kept.reduce((n, q) => n + q.bytes, 0);
    this.queue = kept;
    this.bytes -= freed;
    if (freed) this.budget?.pool?.give(this, freed, this.bytes);
    return this;
  }

  /** Called by the producer; never blocks. */
  offer(t: T): void {
    if (this.done || !this.accepts(t)) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: t, done: false });
      return;
    }
    if (this.queue.length >= this.maxEvents) return this.fail(new SubscriberOverflowError(`subscriber fell ${this.maxEvents} events behind and was closed`));
    const bytes = this.sizeOf(t);
    const b = this.budget;
    if (b && this.bytes + bytes > b.maxBytes) {
      return this.fail(new SubscriberOverflowError(`subscriber fell ${this.bytes + bytes} bytes behind (at most ${b.maxBytes} may wait) and was closed`));
    }
    if (b?.pool && !b.pool.take(this, bytes)) {
      if (!this.done) this.fail(new SubscriberOverflowError(`subscribers together had ${b.pool.maxBytes} bytes queued and this one was furthest behind; it was closed`));
      return;
    }
    this.queue.push({ t, bytes });
    this.bytes += bytes;
  }

  next(): Promise<IteratorResult<T>> {
    const head = this.queue.shift();
    if (head) {
      this.bytes -= head.bytes;
      this.budget?.pool?.give(this, head.bytes, this.bytes);
      return Promise.resolve({ value: head.t, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * Ends the subscription with `e`: what was queued is dropped now (not
   * when the subscriber gets round to reading it), and the next read throws.
   */
  fail(e: Error): void {
    if (this.done) return;
    this.failure = e;
    this.close();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.budget?.pool?.give(this, this.bytes, 0);
    this.bytes = 0;
    // A closed subscription keeps nothing: its reader gets the failure (if any) or the end.
    this.queue = [];
    this.onClose(this);
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    if (this.failure) w.reject(this.failure);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
