/**
 * A bounded feed of events to one subscriber (an RPC stream, a test). The
 * producer offers without ever waiting; a subscriber that falls `limit`
 * events behind is closed with an error instead of making the node buffer
 * without bound, and nothing it does slows the producer or other subscribers.
 */
export const SUBSCRIBER_QUEUE_LIMIT = 4096;

export class SubscriberOverflowError extends Error {
  override readonly name = 'SubscriberOverflowError';
}

export class Subscription<T> implements AsyncIterableIterator<T> {
  private queue: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private done = false;

  constructor(
    private readonly onClose: (s: Subscription<T>) => void,
    private readonly accepts: (t: T) => boolean = () => true,
    private readonly limit = SUBSCRIBER_QUEUE_LIMIT,
  ) {}

  get closed(): boolean {
    return this.done;
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
    if (this.queue.length >= this.limit) {
      this.failure = new SubscriberOverflowError(`subscriber fell ${this.limit} events behind and was closed`);
      this.close();
      return;
    }
    this.queue.push(t);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.done) return;
    this.done = true;
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
