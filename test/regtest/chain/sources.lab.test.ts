// lab-peers: btcd
/**
 * Both ChainSources against a real btcd (the regtest lab): they must report
 * the same tip, confirmations and spends as the node itself through a
 * scripted sequence of blocks and transactions, including a 2-block reorg.
 * Needs the lab's btcd (bash test/lab/build/btcd.sh); fails with that hint
 * if it is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { BitcoindRpcChainSource } from '../../../src/chain/bitcoind-rpc.ts';
import { EsploraChainSource } from '../../../src/chain/esplora.ts';
import { TipTracker } from '../../../src/chain/tip-tracker.ts';
import { CheckedChainSource } from '../../../src/chain/checked-source.ts';
import { HeaderChain, MemoryHeaderStore } from '../../../src/chain/header-chain.ts';
import { rootFromBranch } from '../../../src/chain/merkle.ts';
import { parseHeader, POW_PARAMS } from '../../../src/chain/pow.ts';
import { type FeeratePerKw } from '../../../src/bolt/units.ts';
import { BroadcastError, type ChainSource } from '../../../src/chain/types.ts';
import { startBtcd, type Btcd } from '../../lab/btcd.ts';
import { reorg } from '../../lab/blocks.ts';
import { startEsploraServer, type EsploraServer } from '../../lab/esplora-server.ts';
import { Faucet } from '../../lab/faucet.ts';
import { REGTEST } from '../../lab/regtest.ts';

let btcd: Btcd;
let esplora: EsploraServer;
let faucet: Faucet;
let raw: ChainSource[];
let sources: ChainSource[];

beforeAll(async () => {
  btcd = await startBtcd();
  esplora = startEsploraServer(btcd.rpc);
  faucet = new Faucet(btcd);
  await faucet.ensureFunds();
  raw = [
    new EsploraChainSource({ url: esplora.url }),
    new BitcoindRpcChainSource({ url: btcd.rpcUrl, user: btcd.rpcUser, password: btcd.rpcPass, caCert: btcd.rpcCert }),
  ];
  // The same answers through what the node uses: headers verified, confirmations proven.
  const checked = raw.map((s) => new CheckedChainSource(s, new HeaderChain(s, POW_PARAMS.regtest, new MemoryHeaderStore()), { maxFeerate: 250_000 as FeeratePerKw }));
  sources = [...raw, ...checked];
}, 60_000);

afterAll(async () => {
  esplora?.stop();
  await btcd?.stop();
});

/** What btcd itself says about a tx: confirmations (0 in mempool) and block. */
async function truth(txid: string): Promise<{ confirmations: number; blockhash?: string }> {
  const v = await btcd.rpc.call<{ confirmations?: number; blockhash?: string }>('getrawtransaction', txid, 1);
  return { confirmations: v.confirmations ?? 0, blockhash: v.blockhash };
}

async function expectAgree(txid: string): Promise<void> {
  const t = await truth(txid);
  for (const s of sources) {
    const st = await s.txStatus(txid);
    expect({ source: s.kind, confirmations: st?.confirmations, hash: st?.block?.hash }).toEqual({
      source: s.kind,
      confirmations: t.confirmations,
      hash: t.confirmations > 0 ? t.blockhash : undefined,
    });
  }
}

async function expectTipAgrees(): Promise<void> {
  const height = await btcd.rpc.call<number>('getblockcount');
  const hash = await btcd.rpc.call<string>('getbestblockhash');
  for (const s of sources) expect({ kind: s.kind, ...(await s.tip()) }).toEqual({ kind: s.kind, height, hash });
}

describe('chain sources agree with btcd', () => {
  const key = secp256k1.utils.randomSecretKey();
  const pay = p2wpkh(secp256k1.getPublicKey(key, true), REGTEST);
  let fundTxid = '';
  let spendTxid = '';

  test('tip, block hashes and headers', async () => {
    await expectTipAgrees();
    const h = await btcd.height();
    for (const s of sources) {
      const hash = await s.blockHash(h - 1);
      expect(hash).toBe(await btcd.rpc.call<string>('getblockhash', h - 1));
      const header = await s.blockHeader(hash);
      expect(header.length).toBe(80);
      expect(await s.blockTxids(hash)).toHaveLength(1);
    }
  });

  test('an unconfirmed payment to a script, then its confirmations', async () => {
    fundTxid = await faucet.send(pay.address!, 500_000n);
    await expectAgree(fundTxid);
    for (const s of sources) {
      const utxos = await s.scriptUtxos(pay.script);
      expect(utxos.map((u): unknown[] => [u.txid, u.vout, u.value, u.status.confirmed])).toEqual([[fundTxid, 0, 500_000n, false]]);
      expect((await s.transaction(fundTxid))?.length).toBeGreaterThan(0);
    }
    await btcd.generate(1);
    await expectAgree(fundTxid);
    await expectTipAgrees();
    for (const s of sources) {
      const [u] = await s.scriptUtxos(pay.script);
      expect(u?.status.confirmations).toBe(1);
      expect((await s.scriptHistory(pay.script)).map((t) => t.txid)).toEqual([fundTxid]);
    }
  });

  test('each source proves the confirmation with a merkle branch to its block header', async () => {
    const block = (await truth(fundTxid)).blockhash!;
    for (const s of raw) {
      const p = await s.merkleProof(fundTxid, block);
      const root = rootFromBranch(fundTxid, p!.pos, p!.branch);
      expect({ kind: s.kind, root: hex(root) }).toEqual({ kind: s.kind, root: hex(parseHeader(await s.blockHeader(block)).merkleRoot) });
      expect(p!.pos).toBe((await btcd.rpc.call<{ tx: string[] }>('getblock', block, 1)).tx.indexOf(fundTxid));
    }
  });

  test('a spend is seen in the mempool and then confirmed', async () => {
    const tx = new Transaction();
    tx.addInput({ txid: fromHex(fundTxid), index: 0, witnessUtxo: { script: pay.script, amount: 500_000n } });
    tx.addOutput({ script: btcd.miner.script, amount: 499_000n });
    tx.sign(key);
    tx.finalize();
    spendTxid = await sources[0]!.broadcast(tx.extract());
    for (const s of sources) {
      const o = await s.outspend(fundTxid, 0);
      expect([o.spent, o.txid, o.vin, o.status?.confirmed]).toEqual([true, spendTxid, 0, false]);
      expect(await s.scriptUtxos(pay.script)).toEqual([]);
    }
    await btcd.generate(1);
    await expectAgree(spendTxid);
    for (const s of sources) {
      const o = await s.outspend(fundTxid, 0);
      expect([o.spent, o.txid, o.status?.confirmations]).toEqual([true, spendTxid, 1]);
      expect((await s.scriptHistory(pay.script)).map((t) => t.txid)).toEqual([fundTxid, spendTxid]);
    }
  });

  test('a 2-block reorg is reported and undoes the confirmation', async () => {
    const trackers = sources.map((s) => new TipTracker(s));
    for (const t of trackers) await t.start();
    const oldTip = await btcd.rpc.call<string>('getbestblockhash');
    const oldHeight = await btcd.height();
    // The spend was mined in the top block; the new branch does not contain it.
    const branch = await reorg(btcd.rpc, 2, btcd.miner.script);
    await expectTipAgrees();
    for (const t of trackers) {
      const change = await t.poll();
      expect(change.disconnected.map((b) => b.height)).toEqual([oldHeight, oldHeight - 1]);
      expect(change.disconnected[0]!.hash).toBe(oldTip);
      expect(change.connected.map((b) => b.hash)).toEqual(branch);
    }
    await expectAgree(fundTxid);
    await expectAgree(spendTxid);
    expect((await truth(spendTxid)).confirmations).toBe(0);
    for (const s of sources) expect((await s.outspend(fundTxid, 0)).status?.confirmed).toBe(false);
    await btcd.generate(1);
    await expectAgree(spendTxid);
  });

  test('a double spend is refused with the node reason', async () => {
    const tx = new Transaction();
    tx.addInput({ txid: fromHex(fundTxid), index: 0, witnessUtxo: { script: pay.script, amount: 500_000n } });
    tx.addOutput({ script: btcd.miner.script, amount: 400_000n });
    tx.sign(key);
    tx.finalize();
    for (const s of sources) {
      const err = await s.broadcast(tx.extract()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BroadcastError);
      expect((err as BroadcastError).reason.length).toBeGreaterThan(5);
    }
  });

  test('fee estimates cover every target and respect the relay floor', async () => {
    for (const s of sources) {
      const fees = await s.feeEstimates();
      for (const t of [1, 6, 144]) expect(fees.get(t)).toBeGreaterThanOrEqual(253);
    }
  });
});
