/**
 * Custom-message streams subscribed on their request's headers. A client
 * that opens SubscribeCustomMessages and at once asks a peer for something
 * (an LCP daemon sending its manifest request) must get the answer on that
 * stream. Subscribing only when the handler runs, after the request body was
 * read and decoded, left a gap of a millisecond or two in which a fast
 * peer's answer reached nobody; lnd has no such gap. So the server opens the
 * subscription for every type as soon as an authorized call to the stream's
 * path arrives, and the handler narrows it to the types asked for: what came
 * in between is kept if it matches. A call that never reaches its handler (a
 * bad body) closes the subscription with its response.
 */
import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import { type DescService } from '@bufbuild/protobuf';
import { type LightningNode } from '../node/node.ts';
import { type CustomMessage, ofTypes } from '../node/peer/manager.ts';
import { type Subscription } from '../node/subscription.ts';
import { type Streams } from './feed.ts';

/** Opens the subscription a call to `path` will feed, or undefined when that path is not such a stream. */
export type SubscribeOnHeaders = (path: string) => Subscription<unknown> | undefined;

export const EARLY_SUBSCRIPTION = createContextKey<Subscription<unknown> | undefined>(undefined, {
  description: 'the subscription opened for this call on its headers',
});

/** SubscribeCustomMessages of `service`, subscribed on its headers with the budget of the node's API streams. */
export function customMessagesOnHeaders(node: LightningNode, streams: Streams, service: DescService): SubscribeOnHeaders {
  const path = `/${service.typeName}/SubscribeCustomMessages`;
  return (p) => (p === path ? (node.peers.subscribeCustom(undefined, streams.budget) as Subscription<unknown>) : undefined);
}

/**
 * The call's subscription opened on its headers, narrowed to `types` (all
 * when none); or a new one when there is none (a call from within the process).
 */
export function customSubscription(ctx: HandlerContext, node: LightningNode, streams: Streams, types?: Iterable<number>): Subscription<CustomMessage> {
  const early = ctx.values.get(EARLY_SUBSCRIPTION) as Subscription<CustomMessage> | undefined;
  // One that overflowed already is fed as it is: the stream ends with ResourceExhausted, not silently fresh.
  if (!early) return node.peers.subscribeCustom(types, streams.budget);
  const accepts = ofTypes(types);
  return accepts ? early.narrow(accepts) : early;
}
