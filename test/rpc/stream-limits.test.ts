/**
 * Subscriber queues of API streams are bounded in bytes (issue 13): a flood
 * of the largest custom messages with one subscriber that stops reading ends
 * that subscriber's stream with ResourceExhausted once 8 MiB wait for it (not
 * 4,096 messages, ~266 MB, later) and frees its queue at once, while a
 * subscriber that reads gets every message; all subscribers together are
 * held to one budget, the one furthest behind closed first; a stream whose
 * write stalls is ended after writeStallMs. The same through lnnode.v1 and
 * the lnd-compatible SubscribeCustomMessages.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import http2 from 'node:http2';
import { Code } from '@connectrpc/connect';
import { hex } from '../../src/bolt/bytes.ts';
import { DEFAULT_API_LIMITS } from '../../src/rpc/limits.ts';
import { streamsOf } from '../../src/rpc/feed.ts';
import { EVENT_OVERHEAD_BYTES } from '../../src/node/subscription.ts';
import { type Limits } from '../../src/node/limits.ts';
import { type ApiLimitsOverride } from '../../src/rpc/limits.ts';
import { type NodeWithApi, startNodeWithApi } from './node-with-api.ts';
import { envelope, PATHS, type RawCall, rawGrpcCall } from './raw-grpc.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function start(limits?: ApiLimitsOverride, peerLimits?: Partial<Limits>): Promise<NodeWithApi> {
  const r = await startNodeWithApi({ peerLimits }, { limits });
  cleanup.push(() => r.stop());
  return r;
}

/**
 * Two nodes, A connected to B; custom messages flow A → B, with B's per-peer
 * custom budget raised (at the default 1 MiB/s the 15.6 MB flood takes 15 s).
 */
async function pair(limits?: ApiLimitsOverride): Promise<{ a: NodeWithApi; b: NodeWithApi }> {
  const a = await start();
  const b = await start(limits, { customInboundBytesPerSecond: 64 * 1024 * 1024 });
  await a.node.connect(b.node.nodeId, '127.0.0.1', b.node.p2pPort!, false);
  return { a, b };
}

const subscriberCount = (n: NodeWithApi): number => n.node.peers.customSubscribers;

async function eventually(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  for (let waited = 0; !f(); waited += 20) {
    if (waited > ms) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(20);
  }
}

type Api = 'lnnode.v1' | 'lnd';

/** A SubscribeCustomMessages stream of B through `api` that reads; resolves once B has the subscriber. */
async function readingSubscriber(b: NodeWithApi, api: Api, signal: AbortSignal): Promise<AsyncIterator<unknown>> {
  const before = subscriberCount(b);
  const stream =
    api === 'lnnode.v1' ? b.newClient().subscribeCustomMessages({}, { signal }) : (await b.lndApi()).lightning().subscribeCustomMessages({}, { signal });
  const it = stream[Symbol.asyncIterator]();
  // The request goes out with the first read, which then waits for the first message.
  const first = it.next();
  await eventually('the subscription to reach the node', () => subscriberCount(b) === before + 1);
  let started = false;
  return {
    next: () => {
      if (started) return it.next();
      started = true;
      return first;
    },
  };
}

/** The same call from a client that reads nothing until finish(): HTTP/2 flow control stops the server's writes. */
async function stalledReader(b: NodeWithApi, api: Api): Promise<RawCall> {
  const before = subscriberCount(b);
  const lnd = api === 'lnd' ? await b.lndApi() : undefined;
  const call = rawGrpcCall({
    port: lnd ? lnd.server.port : b.api.port,
    caCert: lnd?.caCert,
    path: lnd ? PATHS.lndSubscribeCustom : PATHS.lnnodeSubscribeCustom,
    headers: lnd ? { macaroon: lnd.macaroon } : { authorization: `Bearer ${b.token}` },
    body: envelope(0),
  });
  cleanup.push(() => call.close());
  await eventually('the subscription to reach the node', () => subscriberCount(b) === before + 1);
  return call;
}

const BIG = 65_000;

for (const api of ['lnnode.v1', 'lnd'] as const) {
  describe(`${api} SubscribeCustomMessages`, () => {
    test('a subscriber that stops reading ends with ResourceExhausted once 8 MiB wait for it, and its queue is freed; a reader gets every message', async () => {
      const { a, b } = await pair();
      const done = new AbortController();
      cleanup.push(() => done.abort());
      const stalled = await stalledReader(b, api);
      const reading = await readingSubscriber(b, api, done.signal);
      const pool = streamsOf(b.node).budget.pool!;
      const total = 240; // 15.6 MB: nearly twice 8 MiB, far short of 4,096 messages
      let received = 0;
      let maxQueued = 0;
      const reader = (async () => {
        while (received < total) {
          const r = await reading.next();
          if (r.done) throw new Error('the reading stream ended');
          received++;
        }
      })();
      const data = new Uint8Array(BIG).fill(7);
      for (let sent = 0; sent < total; sent += 20) {
        for (let i = 0; i < 20; i++) a.node.peers.sendCustom(b.node.nodeId, 40000, data);
        await eventually('the reader to keep up', () => received >= sent + 20);
        maxQueued = Math.max(maxQueued, pool.usedBytes);
      }
      await reader;
      expect(received).toBe(total);
      // The stalled subscriber was dropped from the node while the flood went on, holding nothing.
      expect(subscriberCount(b)).toBe(1);
      expect(maxQueued).toBeLessThanOrEqual(DEFAULT_API_LIMITS.streams.subscriberBytes);
      expect(pool.usedBytes).toBeLessThan(BIG * 2);
      const end = await stalled.finish();
      expect([end.status, end.message]).toEqual([Code.ResourceExhausted, expect.stringMatching(/bytes behind \(at most 8388608 may wait\)/)]);
      expect(end.messages).toBeLessThan(200);
    }, 60_000);

    test('a stream whose client takes nothing is ended after writeStallMs and its subscriber freed', async () => {
      const { a, b } = await pair({ streams: { writeStallMs: 300 } });
      const stalled = await stalledReader(b, api);
      // More than the HTTP/2 window, far less than any queue limit.
      for (let i = 0; i < 5; i++) a.node.peers.sendCustom(b.node.nodeId, 40000, new Uint8Array(BIG));
      await eventually('the stalled stream to be dropped', () => subscriberCount(b) === 0);
      expect(streamsOf(b.node).budget.pool!.usedBytes).toBe(0);
      // Reset with ENHANCE_YOUR_CALM, which gRPC clients report as ResourceExhausted.
      const end = await stalled.finish();
      expect([end.rstCode, end.status]).toEqual([http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, undefined]);
      expect(end.messages).toBeLessThan(5);
    }, 30_000);
  });
}

describe('all subscribers of a node together', () => {
  test('past the total budget the subscriber furthest behind is closed first; the others keep their queues', async () => {
    const { a, b } = await pair({ streams: { subscriberBytes: 2_000_000, totalSubscriberBytes: 1_500_000 } });
    const done = new AbortController();
    cleanup.push(() => done.abort());
    // Two in-process subscribers with the API's budget, neither reading: the first subscribed falls furthest behind.
    const { budget } = streamsOf(b.node);
    const first = b.node.peers.subscribeCustom([40001], budget);
    const second = b.node.peers.subscribeCustom([40001, 40002], budget);
    const send = (type: number, n: number): void => {
      for (let i = 0; i < n; i++) a.node.peers.sendCustom(b.node.nodeId, type, new Uint8Array(50_000));
    };
    send(40001, 12); // 600 KB for each
    send(40002, 4); // 200 KB more for the second only
    await eventually('the second to have 16 queued', () => second.queuedEvents === 16);
    expect(first.queuedEvents).toBe(12);
    send(40001, 8); // 400 KB more for each: 2.2 MB wanted in total
    await eventually('one of them to be closed', () => first.closed || second.closed);
    // The second was furthest behind when the pool ran out; the first keeps everything.
    await eventually('the first to have all 20', () => first.queuedEvents === 20 || first.closed);
    expect([first.closed, second.closed, first.queuedEvents, second.queuedEvents]).toEqual([false, true, 20, 0]);
    expect(streamsOf(b.node).budget.pool!.usedBytes).toBe(20 * (50_000 + EVENT_OVERHEAD_BYTES));
    expect((await second.next().catch((e: Error) => e.message)) as string).toMatch(/furthest behind/);
    expect(hex((await first.next()).value!.peer)).toBe(hex(a.node.nodeId));
  }, 30_000);
});
