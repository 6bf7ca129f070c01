/**
 * lnnode <-> lnd v0.21 on the regtest lab: lnnode dials lnd and lnd dials
 * lnnode, init succeeds both ways, and custom messages flow both ways
 * (lnd's side through its SendCustomMessage / SubscribeCustomMessages RPCs).
 * Needs the lab's btcd and lnd (bash test/lab/build/all.sh); fails with that
 * hint if they are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { silentLogger } from '../../src/node/log.ts';
import { type CustomMessage, PeerManager } from '../../src/node/peer/manager.ts';
import { startBtcd, type Btcd } from '../lab/btcd.ts';
import { lndCustom, startLnd, type CustomMessage as LndCustom, type Lnd } from '../lab/lnd.ts';
import { waitFor } from '../lab/processes.ts';
import { REGTEST_GENESIS } from '../lab/regtest.ts';

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
  });
  port = node.listen('127.0.0.1', 0);
}, 120_000);

afterAll(async () => {
  node?.stop();
  await lnd?.stop();
  await btcd?.stop();
});

const lndPeers = async (): Promise<string[]> =>
  ((await lnd.rest<{ peers?: { pub_key: string }[] }>('GET', '/v1/peers')).peers ?? []).map((p) => p.pub_key);

describe('lnnode <-> lnd', () => {
  test('lnnode dials lnd: init succeeds, both list each other', async () => {
    await node.connect(fromHex(lnd.nodeId), '127.0.0.1', lnd.p2pPort);
    expect(node.peers().map((p) => hex(p.nodeId))).toEqual([lnd.nodeId]);
    await waitFor('lnd to list lnnode', async () => ((await lndPeers()).includes(hex(nodeId)) ? true : undefined), 10_000);
  }, 30_000);

  test('custom messages both ways arrive intact and in order', async () => {
    const N = 200;
    const atNode = node.subscribeCustom([48000]);
    const atLnd: LndCustom[] = [];
    const sub = lndCustom.subscribe(lnd, (m) => atLnd.push(m));
    await sub.ready;
    const sizes = Array.from({ length: N }, (_, i) => (i * 65_000) / N | 0);
    for (let i = 0; i < N; i++) {
      await lndCustom.send(lnd, nodeId, 48000, new Uint8Array(sizes[i]!).fill(i & 0xff));
      node.sendCustom(fromHex(lnd.nodeId), 48001, new Uint8Array(sizes[i]!).fill((i + 1) & 0xff));
    }
    const got: CustomMessage[] = [];
    while (got.length < N) got.push((await atNode.next()).value as CustomMessage);
    got.forEach((m, i) => {
      expect([hex(m.peer), m.type, m.payload.length, m.payload[0] ?? i & 0xff]).toEqual([lnd.nodeId, 48000, sizes[i]!, i & 0xff]);
    });
    await waitFor('lnd to receive all custom messages', async () => (atLnd.length >= N ? true : undefined), 30_000);
    sub.close();
    atLnd.forEach((m, i) => {
      expect([hex(m.peer), m.type, m.data.length]).toEqual([hex(nodeId), 48001, sizes[i]!]);
    });
  }, 120_000);

  test('lnd dials lnnode: init succeeds', async () => {
    node.disconnect(fromHex(lnd.nodeId));
    await waitFor('lnd to drop lnnode', async () => ((await lndPeers()).includes(hex(nodeId)) ? undefined : true), 10_000);
    await lnd.rest('POST', '/v1/peers', { addr: { pubkey: hex(nodeId), host: `127.0.0.1:${port}` }, perm: false });
    await waitFor('lnnode to see lnd', async () => (node.isConnected(fromHex(lnd.nodeId)) ? true : undefined), 10_000);
    expect(node.peers()[0]?.inbound).toBe(true);
  }, 30_000);
});
