/**
 * A node subscription served as an RPC stream: the stream ends when the
 * client goes away (freeing the subscription); a subscriber that fell too
 * far behind (src/rpc/limits.ts: bytes per stream, bytes for all streams of
 * the node, events) ends with ResourceExhausted and its queue is freed at
 * once; an event the client does not take within writeStallMs ends the
 * stream too, so a client that stops reading pins nothing.
 */
import { Code, ConnectError, createContextKey, type HandlerContext } from '@connectrpc/connect';
import { type QueueBudget, SubscriberPool, type Subscription } from '../node/subscription.ts';
import { toConnectError } from './errors.ts';
import { DEFAULT_API_LIMITS, type StreamLimits } from './limits.ts';

/**
 * Set by the server for each request: resets the request's HTTP/2 stream
 * (RST_STREAM ENHANCE_YOUR_CALM, which gRPC clients read as
 * ResourceExhausted) when a write to it cannot complete.
 */
export const RESET_STREAM = createContextKey<() => void>(() => {}, { description: 'reset the HTTP/2 stream of this call' });

/** How one node's API streams are bounded: a queue budget each, one pool for all. */
export interface Streams {
  budget: QueueBudget;
  writeStallMs: number;
}

// One pool per node, shared by both APIs' streams.
const pools = new WeakMap<object, SubscriberPool>();
/** The subscriptions being fed to a stream now, by their node's pool: what endStreams ends. */
const feeding = new WeakMap<SubscriberPool, Set<Subscription<unknown>>>();

/**
 * Ends every subscription stream of the node's APIs with Unavailable and
 * `reason` (the daemon is stopping): clients see the stream end with a
 * status instead of a connection that is cut later.
 */
export function endStreams(node: object, reason: string): void {
  const pool = pools.get(node);
  const subs = pool && feeding.get(pool);
  for (const s of [...(subs ?? [])]) s.fail(new ConnectError(reason, Code.Unavailable));
}

export function streamsOf(node: object, limits: StreamLimits = DEFAULT_API_LIMITS.streams): Streams {
  let pool = pools.get(node);
  if (!pool) pools.set(node, (pool = new SubscriberPool(limits.totalSubscriberBytes)));
  return { budget: { maxBytes: limits.subscriberBytes, maxEvents: limits.subscriberEvents, pool }, writeStallMs: limits.writeStallMs };
}

/** Ends a stream when its client goes away or stops taking events, and maps an overflowed subscriber to ResourceExhausted. */
export async function* feed<T, R>(sub: Subscription<T>, ctx: HandlerContext, map: (t: T) => R, streams: Streams): AsyncGenerator<R> {
  const stop = (): void => sub.close();
  ctx.signal.addEventListener('abort', stop, { once: true });
  const pool = streams.budget.pool;
  let live: Set<Subscription<unknown>> | undefined;
  if (pool) {
    live = feeding.get(pool) ?? new Set();
    feeding.set(pool, live);
    live.add(sub as Subscription<unknown>);
  }
  let stall: ReturnType<typeof setTimeout> | undefined;
  try {
    for await (const t of sub) {
      // The generator stays at this yield until the event is written out: that is where a client that does not read shows.
      stall = setTimeout(() => {
        sub.fail(new ConnectError(`the client took no event for ${streams.writeStallMs / 1000} s; stream closed`, Code.ResourceExhausted));
        ctx.values.get(RESET_STREAM)();
      }, streams.writeStallMs);
      yield map(t);
      clearTimeout(stall);
    }
  } catch (e) {
    throw toConnectError(e);
  } finally {
    clearTimeout(stall);
    ctx.signal.removeEventListener('abort', stop);
    live?.delete(sub as Subscription<unknown>);
    sub.close();
  }
}
