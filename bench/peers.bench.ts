/**
 * Peer-layer figures on the regtest lab, measured in one run so they compare:
 * - process start to P2P listening for lnnode (median of 5), and to "chain
 *   tip known" with btcd as chain source; lnd start to RPC ready (getinfo
 *   with the admin macaroon answers) on the same btcd;
 * - custom-message round trips per second, one message in flight:
 *   lnnode<->lnnode (the echo side is a second PeerManager in this process),
 *   and lnnode<->lnd, where lnd's side is its SubscribeCustomMessages REST
 *   stream and SendCustomMessage REST call driven from here, so that figure
 *   includes lnd's REST gateway and is a lower bound for lnd's P2P path.
 * Needs the lab's btcd and lnd (bash test/lab/build/all.sh).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex } from '../src/bolt/bytes.ts';
import { silentLogger } from '../src/node/log.ts';
import { chainHash } from '../src/node/networks.ts';
import { PeerManager } from '../src/node/peer/manager.ts';
import { startBtcd } from '../test/lab/btcd.ts';
import { startLnnode } from '../test/lab/lnnode.ts';
import { lndCustom, startLnd } from '../test/lab/lnd.ts';
import { waitFor } from '../test/lab/processes.ts';
import { type Figure } from './run.ts';

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function manager() {
  const secret = secp256k1.utils.randomSecretKey();
  const m = new PeerManager({ nodeSecret: secret, chainHash: chainHash('regtest'), log: silentLogger, random });
  return { m, id: secp256k1.getPublicKey(secret, true), port: m.listen('127.0.0.1', 0) };
}

async function roundTrips(ms: number, once: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await once();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await once();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

export default async function (): Promise<Figure[]> {
  const figures: Figure[] = [];
  const btcd = await startBtcd();
  try {
    await btcd.generate(1);
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await startLnnode();
      starts.push(d.startMs);
      await d.stop();
    }
    figures.push({ name: 'lnnode start -> P2P listening (median of 5)', value: median(starts), unit: 'ms' });

    const t0 = performance.now();
    const withChain = await startLnnode({
      args: ['--bitcoind-rpc-url', btcd.rpcUrl, '--bitcoind-rpc-user', btcd.rpcUser, '--bitcoind-rpc-password', btcd.rpcPass, '--bitcoind-rpc-cafile', btcd.rpcCertPath],
    });
    await waitFor('lnnode to learn the chain tip', async () => (withChain.logs().some((r) => r.msg === 'chain tip') ? true : undefined), 15_000);
    figures.push({ name: 'lnnode start -> chain tip known (btcd RPC)', value: performance.now() - t0, unit: 'ms' });
    await withChain.stop();

    const t1 = performance.now();
    const lnd = await startLnd(btcd);
    figures.push({ name: 'lnd start -> RPC ready (same btcd)', value: performance.now() - t1, unit: 'ms' });

    try {
      const a = manager();
      const b = manager();
      const echo = b.m.subscribeCustom([50001]);
      void (async () => {
        for await (const m of echo) b.m.sendCustom(m.peer, 50002, m.payload);
      })();
      const back = a.m.subscribeCustom([50002]);
      await a.m.connect(b.id, '127.0.0.1', b.port);
      const small = new Uint8Array(32);
      figures.push({
        name: 'custom msg round trips lnnode<->lnnode (32 B)',
        value: await roundTrips(2000, async () => {
          a.m.sendCustom(b.id, 50001, small);
          await back.next();
        }),
        unit: 'rt/s',
      });

      const lndId = fromHex(lnd.nodeId);
      await a.m.connect(lndId, '127.0.0.1', lnd.p2pPort);
      const fromLnd = a.m.subscribeCustom([50004]);
      const sub = lndCustom.subscribe(lnd, (m: { data: Uint8Array }) => void lndCustom.send(lnd, a.id, 50004, m.data));
      await sub.ready;
      figures.push({
        name: 'custom msg round trips lnnode<->lnd (32 B, via lnd REST)',
        value: await roundTrips(3000, async () => {
          a.m.sendCustom(lndId, 50003, small);
          await fromLnd.next();
        }),
        unit: 'rt/s',
      });
      sub.close();
      a.m.stop();
      b.m.stop();
    } finally {
      await lnd.stop();
    }
  } finally {
    await btcd.stop();
  }
  return figures;
}
