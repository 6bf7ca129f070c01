// lab-peers: btcd ldk-peer
/**
 * lnnode <-> LDK (ldk-node 0.7.1) on the regtest lab: dial both ways, init,
 * an idle connection kept up by pings, reconnection after either side restarts. LDK syncs its
 * on-chain wallet through the lab's Esplora adapter, which is the check that
 * the adapter behaves like Esplora; the merkleblock proofs LDK uses to
 * confirm transactions are checked against the block's merkle root.
 * Needs the lab's btcd and ldk-peer (bash test/lab/build/all.sh).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { silentLogger } from '../../../src/node/log.ts';
import { chainHash } from '../../../src/node/networks.ts';
import { PeerManager } from '../../../src/node/peer/manager.ts';
import { startBtcd, type Btcd } from '../../lab/btcd.ts';
import { startEsploraServer, type EsploraServer } from '../../lab/esplora-server.ts';
import { Faucet } from '../../lab/faucet.ts';
import { startLdk, type Ldk } from '../../lab/ldk.ts';
import { waitFor } from '../../lab/processes.ts';

let btcd: Btcd;
let esplora: EsploraServer;
let ldk: Ldk;
let faucet: Faucet;
let node: PeerManager;
const secret = secp256k1.utils.randomSecretKey();
const nodeId = secp256k1.getPublicKey(secret, true);
let port: number;
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

function newManager(): PeerManager {
  // A ping every 200 ms (30 s by default), so the idle test sees ten answered in seconds.
  const m = new PeerManager({ nodeSecret: secret, chainHash: chainHash('regtest'), log: silentLogger, random, pingIntervalMs: 200 });
  port = m.listen('127.0.0.1', port ?? 0);
  return m;
}

beforeAll(async () => {
  btcd = await startBtcd();
  faucet = new Faucet(btcd);
  await faucet.ensureFunds();
  // Enough matured coinbases for every send below.
  await btcd.generate(10);
  esplora = startEsploraServer(btcd.rpc);
  ldk = await startLdk(esplora.url);
  node = newManager();
}, 120_000);

afterAll(async () => {
  node?.stop();
  await ldk?.stop();
  esplora?.stop();
  await btcd?.stop();
});

interface LdkPeer {
  node_id: string;
  is_connected: boolean;
}
const ldkSees = async (): Promise<boolean> =>
  (await ldk.api<LdkPeer[]>('GET', '/peers')).some((p) => p.node_id === hex(nodeId) && p.is_connected);

describe('lnnode <-> LDK', () => {
  test('LDK syncs its wallet through the Esplora adapter to the exact amount sent', async () => {
    const { address } = await ldk.api<{ address: string }>('POST', '/new_address');
    await faucet.send(address, 1_234_567n);
    await btcd.generate(1);
    await waitFor(
      'LDK to see its coins',
      async () => {
        await ldk.api('POST', '/sync');
        const b = await ldk.api<{ total_onchain_sat: number }>('GET', '/balances');
        return b.total_onchain_sat === 1_234_567 ? true : undefined;
      },
      60_000,
    );
  }, 90_000);

  test('merkleblock proofs the adapter serves commit to the block merkle root', async () => {
    const txids = [];
    for (let i = 0; i < 4; i++) txids.push(await faucet.send('bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', 10_000n + BigInt(i)));
    await btcd.generate(1);
    for (const txid of txids) {
      const res = await fetch(`${esplora.url}/tx/${txid}/merkleblock-proof`);
      const proof = fromHex(await res.text());
      const { root, matched } = verifyMerkleBlock(proof);
      expect(hex(root)).toBe(hex(proof.subarray(36, 68)));
      expect(matched).toEqual([txid]);
    }
  }, 60_000);

  test('lnnode dials LDK: init succeeds, both list each other', async () => {
    await node.connect(fromHex(ldk.nodeId), '127.0.0.1', ldk.p2pPort, { persistent: true });
    expect(node.isConnected(fromHex(ldk.nodeId))).toBe(true);
    await waitFor('LDK to list lnnode', async () => ((await ldkSees()) ? true : undefined), 10_000);
  }, 30_000);

  test('an idle connection stays up on pings: 10 in a row answered by LDK', async () => {
    const session = node.sessionOf(fromHex(ldk.nodeId))!;
    const before = session.keepalive.pongsReceived;
    await waitFor('10 pongs from LDK', () => session.keepalive.pongsReceived - before >= 10, 20_000);
    expect(node.isConnected(fromHex(ldk.nodeId))).toBe(true);
    expect(await ldkSees()).toBe(true);
    // Every ping answered but at most the one in flight (a session never has two outstanding).
    expect(session.keepalive.pingsSent - session.keepalive.pongsReceived).toBeOneOf([0, 1]);
  }, 30_000);

  test('LDK restarts: lnnode (persistent) reconnects by itself', async () => {
    await ldk.restart({ kill: true });
    await waitFor('lnnode to reconnect to LDK', async () => (node.isConnected(fromHex(ldk.nodeId)) ? true : undefined), 30_000);
    await waitFor('LDK to list lnnode again', async () => ((await ldkSees()) ? true : undefined), 10_000);
  }, 60_000);

  test('LDK dials lnnode; lnnode restarts and LDK (persistent) reconnects', async () => {
    node.disconnect(fromHex(ldk.nodeId));
    await waitFor('LDK to drop lnnode', async () => ((await ldkSees()) ? undefined : true), 10_000);
    await ldk.api('POST', '/connect', { node_id: hex(nodeId), addr: `127.0.0.1:${port}`, persist: true });
    await waitFor('lnnode to see LDK', async () => (node.isConnected(fromHex(ldk.nodeId)) ? true : undefined), 10_000);
    expect(node.peers()[0]?.inbound).toBe(true);
    node.stop();
    await waitFor('LDK to notice', async () => ((await ldkSees()) ? undefined : true), 10_000);
    node = newManager();
    // ldk-node redials persisted peers on a timer (about a minute at most).
    await waitFor('LDK to reconnect to the restarted lnnode', async () => (node.isConnected(fromHex(ldk.nodeId)) ? true : undefined), 90_000);
    expect(await ldkSees()).toBe(true);
  }, 120_000);
});

/** Walks a BIP37 partial merkle tree: the root it commits to and the txids it marks. */
function verifyMerkleBlock(b: Uint8Array): { root: Uint8Array; matched: string[] } {
  const dv = new DataView(b.buffer, b.byteOffset);
  const n = dv.getUint32(80, true);
  let o = 84;
  const varint = (): number => {
    const v = b[o++]!;
    if (v < 0xfd) return v;
    const w = dv.getUint16(o, true);
    o += 2;
    return w;
  };
  const hashes: Uint8Array[] = [];
  for (let i = varint(); i > 0; i--) {
    hashes.push(b.subarray(o, o + 32));
    o += 32;
  }
  const flags = b.subarray(o + 1, o + 1 + b[o]!);
  let bit = 0;
  let used = 0;
  const matched: string[] = [];
  const width = (h: number): number => (n + (1 << h) - 1) >> h;
  let height = 0;
  while (width(height) > 1) height++;
  const walk = (h: number, pos: number): Uint8Array => {
    const flag = (flags[bit >> 3]! >> (bit & 7)) & 1;
    bit++;
    if (h === 0 || !flag) {
      const x = hashes[used++]!;
      if (h === 0 && flag) matched.push(hex(x.slice().reverse()));
      return x;
    }
    const left = walk(h - 1, 2 * pos);
    const right = 2 * pos + 1 < width(h - 1) ? walk(h - 1, 2 * pos + 1) : left;
    const pair = new Uint8Array(64);
    pair.set(left);
    pair.set(right, 32);
    return sha256(sha256(pair));
  };
  return { root: walk(height, 0), matched };
}
