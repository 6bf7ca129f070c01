/**
 * What a test may shorten through the daemon config reaches the node: the
 * BOLT 1 keepalive timers and the subscriber queue length; the defaults stay
 * 30 s pings and a 4096-event queue.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DaemonConfig } from '../../src/node/config.ts';
import { silentLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { LIMITS } from '../../src/node/limits.ts';
import { SUBSCRIBER_QUEUE_LIMIT, SubscriberOverflowError, Subscription } from '../../src/node/subscription.ts';
import { waitFor } from '../lab/processes.ts';

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanup.reverse()) f();
});

function start(extra: Partial<DaemonConfig>): LightningNode {
  const dataDir = mkdtempSync(join(tmpdir(), 'lnnode-timers-'));
  const node = LightningNode.start(
    { network: 'regtest', dataDir, p2pListen: { host: '127.0.0.1', port: 0 }, chain: { kind: 'none' }, connect: [], logLevel: 'error', ...extra },
    silentLogger,
  );
  cleanup.push(() => {
    node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return node;
}

describe('daemon config timers', () => {
  test('the defaults: pings every 30 s, 30 s for a pong, a subscriber closed 4096 events behind', async () => {
    expect([LIMITS.pingIntervalMs, LIMITS.pingTimeoutMs, SUBSCRIBER_QUEUE_LIMIT]).toEqual([30_000, 30_000, 4096]);
    const s = new Subscription<number>(() => {});
    for (let i = 0; i < SUBSCRIBER_QUEUE_LIMIT; i++) s.offer(i);
    expect(s.queuedEvents).toBe(SUBSCRIBER_QUEUE_LIMIT);
    s.offer(SUBSCRIBER_QUEUE_LIMIT);
    // The overflow frees the queue at once (subscription.ts): the next read is the error.
    expect(s.queuedEvents).toBe(0);
    await expect(s.next()).rejects.toThrow(new SubscriberOverflowError('subscriber fell 4096 events behind and was closed'));
  });

  test('pingIntervalMs / pingTimeoutMs reach the peer sessions; subscriberQueueLimit the peer-event feed', async () => {
    const a = start({ pingIntervalMs: 50, pingTimeoutMs: 250, subscriberQueueLimit: 2 });
    const b = start({ pingIntervalMs: 50, pingTimeoutMs: 250 });
    const events = a.subscribePeerEvents();
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!, false);
    const keepalives = [a.peers.sessionOf(b.nodeId)!.keepalive, b.peers.sessionOf(a.nodeId)!.keepalive];
    await waitFor('5 pongs each way', () => keepalives.every((k) => k.pongsReceived >= 5), 10_000);
    // online, then two more events unread: the third overflows a queue of 2.
    a.disconnect(b.nodeId);
    await waitFor('b offline at a', () => !a.peers.isConnected(b.nodeId), 10_000);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!, false);
    await waitFor('the feed closed', () => events.closed, 10_000);
    await expect(events.next()).rejects.toThrow('subscriber fell 2 events behind and was closed');
  }, 20_000);
});
