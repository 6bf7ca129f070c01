// lab-peers: btcd lnd
/**
 * lnnode <-> lnd v0.21 on the regtest lab: lnnode dials lnd and lnd dials
 * lnnode, init succeeds both ways, and custom messages flow both ways
 * (lnd's side through its SendCustomMessage / SubscribeCustomMessages RPCs).
 * Needs the lab's btcd and lnd (bash test/lab/build/all.sh); fails with that
 * hint if they are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { MAX_CUSTOM_PAYLOAD } from '../../../src/bolt/bolt1/wire.ts';
import { silentLogger } from '../../../src/node/log.ts';
import { type CustomMessage, PeerManager } from '../../../src/node/peer/manager.ts';
import { startBtcd, type Btcd } from '../../lab/btcd.ts';
import { lndCustom, startLnd, type CustomMessage as LndCustom, type Lnd } from '../../lab/lnd.ts';
import { waitFor } from '../../lab/processes.ts';
import { REGTEST_GENESIS } from '../../lab/regtest.ts';

let btcd: Btcd;
let lnd: Lnd;
let node: PeerManager;
let nodeId: Uint8Array;
let port: number;

beforeAll(async () => {
  btcd = await startBtcd();
  await btcd.generate(1);
  lnd = await startLnd(btcd);
  const secret = secp256k1.utils.randomSecretKey();
  nodeId = secp256k1.getPublicKey(secret, true);
  node = new PeerManager({
    nodeSecret: secret,
    chainHash: fromHex(REGTEST_GENESIS).reverse(),
    log: silentLogger,
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    // A ping every second (30 s by default), so the idle test sees five answered in seconds: lnd answers at most one
    // ping a second (peer/ping_limits.go: 1 pong/s after a burst of 20) and ignores the rest. The pong timeout stays
    // 30 s, since a pong queued behind megabytes of custom messages may take a while.
    pingIntervalMs: 1_000,
  });
  port = node.listen('127.0.0.1', 0);
}, 120_000);

afterAll(async () => {
  node?.stop();
  await lnd?.stop();
  await btcd?.stop();
});

/** A payload whose every byte depends on the message index and position, so a swap or corruption shows. */
const payload = (i: number, size: number): Uint8Array => new Uint8Array(size).map((_, j) => (i * 7 + j) & 0xff);
const digest = (b: Uint8Array): string => hex(sha256(b));

const lndPeers = async (): Promise<string[]> =>
  ((await lnd.rest<{ peers?: { pub_key: string }[] }>('GET', '/v1/peers')).peers ?? []).map((p) => p.pub_key);

describe('lnnode <-> lnd', () => {
  test('lnnode dials lnd: init succeeds, both list each other', async () => {
    await node.connect(fromHex(lnd.nodeId), '127.0.0.1', lnd.p2pPort);
    expect(node.peers().map((p) => hex(p.nodeId))).toEqual([lnd.nodeId]);
    await waitFor('lnd to list lnnode', async () => ((await lndPeers()).includes(hex(nodeId)) ? true : undefined), 10_000);
  }, 30_000);

  test('custom messages both ways arrive intact and in order', async () => {
    const N = 1000;
    const atNode = node.subscribeCustom([48000]);
    const atLnd: LndCustom[] = [];
    const sub = lndCustom.subscribe(lnd, (m) => atLnd.push(m));
    await sub.ready;
    // 0 .. MAX_CUSTOM_PAYLOAD inclusive, spread evenly.
    const sizes = Array.from({ length: N }, (_, i) => Math.round((i * MAX_CUSTOM_PAYLOAD) / (N - 1)));
    for (let i = 0; i < N; i++) {
      await lndCustom.send(lnd, nodeId, 48000, payload(i, sizes[i]!));
      node.sendCustom(fromHex(lnd.nodeId), 48001, payload(i + 1, sizes[i]!));
    }
    const got: CustomMessage[] = [];
    while (got.length < N) got.push((await atNode.next()).value as CustomMessage);
    got.forEach((m, i) => {
      expect([hex(m.peer), m.type, m.payload.length, digest(m.payload)]).toEqual([lnd.nodeId, 48000, sizes[i]!, digest(payload(i, sizes[i]!))]);
    });
    await waitFor('lnd to receive all custom messages', async () => (atLnd.length >= N ? true : undefined), 30_000);
    sub.close();
    atLnd.forEach((m, i) => {
      expect([hex(m.peer), m.type, m.data.length, digest(m.data)]).toEqual([hex(nodeId), 48001, sizes[i]!, digest(payload(i + 1, sizes[i]!))]);
    });
  }, 300_000);

  test('an idle connection stays up on pings: 5 in a row answered by lnd', async () => {
    const session = node.sessionOf(fromHex(lnd.nodeId))!;
    const before = session.keepalive.pongsReceived;
    await waitFor('5 pongs from lnd', () => session.keepalive.pongsReceived - before >= 5, 20_000);
    expect(node.isConnected(fromHex(lnd.nodeId))).toBe(true);
    expect(await lndPeers()).toContain(hex(nodeId));
    // Every ping answered but at most the one in flight (a session never has two outstanding).
    expect(session.keepalive.pingsSent - session.keepalive.pongsReceived).toBeOneOf([0, 1]);
  }, 30_000);

  test('lnd dials lnnode: init succeeds', async () => {
    node.disconnect(fromHex(lnd.nodeId));
    await waitFor('lnd to drop lnnode', async () => ((await lndPeers()).includes(hex(nodeId)) ? undefined : true), 10_000);
    await lnd.rest('POST', '/v1/peers', { addr: { pubkey: hex(nodeId), host: `127.0.0.1:${port}` }, perm: false });
    await waitFor('lnnode to see lnd', async () => (node.isConnected(fromHex(lnd.nodeId)) ? true : undefined), 10_000);
    expect(node.peers()[0]?.inbound).toBe(true);
  }, 30_000);
});
