/**
 * A node subscription served as an RPC stream: the stream ends when the
 * client goes away (freeing the subscription), and a subscriber that fell
 * too far behind ends with ResourceExhausted.
 */
import { type HandlerContext } from '@connectrpc/connect';
import { type Subscription } from '../node/subscription.ts';
import { toConnectError } from './errors.ts';

/** Ends a stream when its client goes away, and maps an overflowed subscriber to ResourceExhausted. */
export async function* feed<T, R>(sub: Subscription<T>, ctx: HandlerContext, map: (t: T) => R): AsyncGenerator<R> {
  const stop = (): void => sub.close();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const t of sub) yield map(t);
  } catch (e) {
    throw toConnectError(e);
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    sub.close();
  }
}
