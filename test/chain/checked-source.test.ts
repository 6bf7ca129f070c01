/**
 * The checked chain source against a stand-in that lies, on an in-memory
 * regtest chain with real headers and merkle trees: confirmations claimed at
 * a fake block position, with a wrong merkle path, in a header without
 * work, in a block that is not on the verified chain; UTXOs and spends the
 * transactions do not back; a reorg to less work; absurd fee estimates.
 * Each lie is refused with a ChainSourceError naming it, and honest answers
 * (including a reorg and a confirmation below the first verified header)
 * pass with confirmations counted from our own verified tip.
 */
import { describe, expect, test } from 'bun:test';
import { type FeeratePerKw, sat } from '../../src/bolt/units.ts';
import { CheckedChainSource } from '../../src/chain/checked-source.ts';
import { fillTargets } from '../../src/chain/esplora.ts';
import { HeaderChain, MemoryHeaderStore } from '../../src/chain/header-chain.ts';
import { merkleBranch } from '../../src/chain/merkle.ts';
import { headerHash, POW_PARAMS } from '../../src/chain/pow.ts';
import { type ChainSource, ChainSourceError } from '../../src/chain/types.ts';
import { FakeChain, mineHeader, rawTx } from './fake-chain.ts';

const SCRIPT = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(7)]);
const NOW = 1296688602 + 600 * 10_000;

function checked(chain: FakeChain, lies: Partial<ChainSource> = {}, store = new MemoryHeaderStore()): { src: CheckedChainSource; warnings: string[] } {
  const source = chain.source(lies);
  const warnings: string[] = [];
  const headers = new HeaderChain(source, POW_PARAMS.regtest, store, { now: () => NOW });
  const src = new CheckedChainSource(source, headers, { maxFeerate: 2_500 as FeeratePerKw, warn: (m, f) => warnings.push(`${m}: ${String(f.detail ?? '')}`) });
  return { src, warnings };
}

/** A chain of 20 blocks with one payment to SCRIPT confirmed in block 15. */
function paidChain(): { chain: FakeChain; pay: { txid: string; raw: Uint8Array } } {
  const chain = new FakeChain();
  chain.mineMany(14);
  const pay = chain.fund([{ script: SCRIPT, value: 50_000n }]);
  chain.fund([{ script: new Uint8Array([0x51]), value: 1n }]);
  chain.mine();
  chain.mineMany(5);
  return { chain, pay };
}

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  await expect(p).rejects.toThrow(re);
}

describe('checked chain source: confirmations', () => {
  test('an honest confirmation is proven and counted from the verified tip', async () => {
    const { chain, pay } = paidChain();
    const { src } = checked(chain);
    expect(await src.tip()).toEqual({ height: 20, hash: chain.tip.hash });
    expect(await src.txStatus(pay.txid)).toEqual({ confirmed: true, block: { height: 15, hash: chain.blocks[15]!.hash }, confirmations: 6 });
    chain.mineMany(2);
    // The server's own count is not used: ours follows our verified tip, which moves when the tip is polled.
    expect((await src.txStatus(pay.txid))?.confirmations).toBe(6);
    await src.tip();
    expect((await src.txStatus(pay.txid))?.confirmations).toBe(8);
  });

  test('a fake block position: claimed in a real block it is not in', async () => {
    const { chain } = paidChain();
    const other = chain.fund([{ script: SCRIPT, value: 9_999n }]);
    const b = chain.blocks[15]!;
    // Claims the mempool transaction sits at position 1 of block 15, with that position's real branch.
    const { src } = checked(chain, {
      txStatus: async (txid) => (txid === other.txid ? { confirmed: true, block: { height: 15, hash: b.hash }, confirmations: 6 } : chain.status(txid)),
      merkleProof: async (txid) => (txid === other.txid ? { height: 15, pos: 1, branch: merkleBranch(b.txids, 1) } : null),
    });
    await src.tip();
    await refused(src.txStatus(other.txid), /merkle path of .* at position 1 does not lead to the merkle root of block/);
  });

  test('a wrong merkle path for a transaction that is in the block', async () => {
    const { chain, pay } = paidChain();
    const honest = chain.source();
    const { src } = checked(chain, {
      merkleProof: async (txid, hash) => {
        const p = (await honest.merkleProof(txid, hash))!;
        return { ...p, branch: p.branch.map((x, i) => (i === 0 ? new Uint8Array(32).fill(1) : x)) };
      },
    });
    await refused(src.txStatus(pay.txid), /does not lead to the merkle root/);
  });

  test('no merkle proof at all, or one for another height', async () => {
    const { chain, pay } = paidChain();
    await refused(checked(chain, { merkleProof: async () => null }).src.txStatus(pay.txid), /no merkle proof/);
    const honest = chain.source();
    const wrongHeight = checked(chain, { merkleProof: async (t, h) => ({ ...(await honest.merkleProof(t, h))!, height: 14 }) });
    await refused(wrongHeight.src.txStatus(pay.txid), /is for height 14, its status says 15/);
  });

  test('a header without work: the tip is refused and so is a confirmation in it', async () => {
    const { chain } = paidChain();
    const victim = chain.fund([{ script: SCRIPT, value: 77_000n }]);
    // One block on the real tip holding only the victim: its merkle root is the txid, the branch is empty.
    const fake = mineHeader(chain.tip.hash, Uint8Array.from(Buffer.from(victim.txid, 'hex')).reverse(), 1296688602 + 600 * 21, 0x207fffff, true);
    const fakeHash = headerHash(fake);
    const honest = chain.source();
    const lies: Partial<ChainSource> = {
      tip: async () => ({ height: 21, hash: fakeHash }),
      blockHeader: async (hash) => (hash === fakeHash ? fake : honest.blockHeader(hash)),
      blockHash: async (h) => (h === 21 ? fakeHash : honest.blockHash(h)),
      txStatus: async (txid) => (txid === victim.txid ? { confirmed: true, block: { height: 21, hash: fakeHash }, confirmations: 1 } : chain.status(txid)),
      merkleProof: async (txid, hash) => (txid === victim.txid ? { height: 21, pos: 0, branch: [] } : honest.merkleProof(txid, hash)),
    };
    const store = new MemoryHeaderStore();
    const first = checked(chain, {}, store);
    await first.src.tip();
    const { src, warnings } = checked(chain, lies, store);
    await refused(src.tip(), /does not meet its target .*no proof of work/);
    await refused(src.txStatus(victim.txid), /no proof of work/);
    expect(warnings.length).toBe(0); // header-chain refusals are thrown, logged by the caller
  });

  test('a confirmation claimed in a block that is not on the verified chain at that height', async () => {
    const { chain, pay } = paidChain();
    const { src } = checked(chain, {
      txStatus: async () => ({ confirmed: true, block: { height: 16, hash: chain.blocks[15]!.hash }, confirmations: 5 }),
    });
    await refused(src.txStatus(pay.txid), /claimed in block .* at height 16, but the verified chain has/);
  });

  test('a transaction confirmed below the first verified header is proven through the hash links down', async () => {
    const { chain, pay } = paidChain();
    chain.mineMany(30);
    const { src } = checked(chain);
    await src.tip(); // anchors at 50
    expect(await src.txStatus(pay.txid)).toEqual({ confirmed: true, block: { height: 15, hash: chain.blocks[15]!.hash }, confirmations: 36 });
  });

  test('a wallet coin confirmed far below the first verified header is taken as claimed; any other confirmation there is refused', async () => {
    const { chain, pay } = paidChain();
    chain.mineMany(40);
    const source = chain.source();
    const headers = new HeaderChain(source, POW_PARAMS.regtest, new MemoryHeaderStore(), { now: () => NOW, maxBackfill: 10 });
    const src = new CheckedChainSource(source, headers, { maxFeerate: 2_500 as FeeratePerKw });
    await src.tip(); // anchored at 54, 39 above the payment
    const [u] = await src.scriptUtxos(SCRIPT);
    expect(u!.status).toEqual({ confirmed: true, block: { height: 15, hash: chain.blocks[15]!.hash }, confirmations: 46 });
    await refused(src.txStatus(pay.txid), /more than 10 blocks below the first verified header/);
  });
});

describe('checked chain source: the header chain', () => {
  test('follows a reorg to a branch with more work; refuses a switch to one with less', async () => {
    const { chain, pay } = paidChain();
    const store = new MemoryHeaderStore();
    const { src } = checked(chain, {}, store);
    await src.tip();
    const oldBlocks = [...chain.blocks];
    const oldTip = chain.tip.hash;
    // Replace blocks 15..20 (the payment's block too) with 7 empty ones.
    for (let i = 0; i < 7; i++) chain.mine({ txs: [], ...(i === 0 ? { on: 14 } : {}) });
    expect(await src.tip()).toEqual({ height: 21, hash: chain.tip.hash });
    expect(await src.blockHash(15)).toBe(chain.blocks[15]!.hash);
    expect(await src.txStatus(pay.txid)).toBeNull();
    // A server now going back to the old, shorter branch (tip 20) is lying about the best chain.
    const back = checked(chain, { tip: async () => ({ height: 20, hash: oldTip }), blockHeader: async (hash) => oldBlocks.find((b) => b.hash === hash)!.header }, store);
    await expect(back.src.tip()).rejects.toBeInstanceOf(ChainSourceError);
    await refused(back.src.tip(), /switched to a branch with less work than ours above height 14/);
  });

  test('a tip claimed at the wrong height is refused', async () => {
    const { chain } = paidChain();
    const store = new MemoryHeaderStore();
    await checked(chain, {}, store).src.tip();
    chain.mine({ txs: [] });
    const { src } = checked(chain, { tip: async () => ({ height: 25, hash: chain.tip.hash }) }, store);
    await refused(src.tip(), /claimed at height 25 is at 21/);
  });
});

describe('checked chain source: utxos, spends, block txids, fees', () => {
  test('an honest utxo passes; one its transaction does not back is refused', async () => {
    const { chain, pay } = paidChain();
    const { src } = checked(chain);
    const utxos = await src.scriptUtxos(SCRIPT);
    expect(utxos).toEqual([{ txid: pay.txid, vout: 0, value: sat(50_000), status: { confirmed: true, block: { height: 15, hash: chain.blocks[15]!.hash }, confirmations: 6 } }]);
    const inflated = checked(chain, { scriptUtxos: async () => utxos.map((u) => ({ ...u, value: sat(5_000_000) })) });
    await refused(inflated.src.scriptUtxos(SCRIPT), /is not an output of that transaction paying that script/);
    const invented = checked(chain, { scriptUtxos: async () => [{ ...utxos[0]!, txid: 'ab'.repeat(32) }] });
    await refused(invented.src.scriptUtxos(SCRIPT), /a transaction the source does not have/);
    const wrongVout = checked(chain, { scriptUtxos: async () => [{ ...utxos[0]!, vout: 3 }] });
    await refused(wrongVout.src.scriptUtxos(SCRIPT), /not an output/);
    const unconfirmedClaimedConfirmed = chain.fund([{ script: SCRIPT, value: 1_000n }]);
    const early = checked(chain, {
      scriptUtxos: async () => [{ txid: unconfirmedClaimedConfirmed.txid, vout: 0, value: sat(1_000), status: { confirmed: true, block: { height: 19, hash: chain.blocks[19]!.hash }, confirmations: 2 } }],
    });
    await refused(early.src.scriptUtxos(SCRIPT), /merkle/);
  });

  test('a claimed spend must be a transaction spending that outpoint', async () => {
    const { chain, pay } = paidChain();
    const spend = rawTx([{ txid: pay.txid, vout: 0 }], [{ script: SCRIPT, value: 49_000n }]);
    const spendTxid = chain.source().broadcast(spend);
    const { src } = checked(chain);
    expect(await src.outspend(pay.txid, 0)).toEqual({ spent: true, txid: await spendTxid, vin: 0, status: { confirmed: false, confirmations: 0 } });
    const unrelated = chain.fund([{ script: SCRIPT, value: 5n }]);
    const liar = checked(chain, { outspend: async () => ({ spent: true, txid: unrelated.txid, vin: 0, status: { confirmed: false, confirmations: 0 } }) });
    await refused(liar.src.outspend(pay.txid, 0), /which does not spend it/);
  });

  test('block txids must hash to the header merkle root', async () => {
    const { chain } = paidChain();
    const b = chain.blocks[15]!;
    const { src } = checked(chain);
    expect(await src.blockTxids(b.hash)).toEqual(b.txids);
    const liar = checked(chain, { blockTxids: async () => b.txids.slice(0, 2) });
    await refused(liar.src.blockTxids(b.hash), /do not hash to its merkle root/);
  });

  test('absurd fee estimates are clamped to the ceiling and said so', async () => {
    const chain = new FakeChain();
    const { src, warnings } = checked(chain, { feeEstimates: async () => fillTargets(new Map([[1, 250_000_000 as FeeratePerKw], [6, 1_000 as FeeratePerKw]])) });
    const e = await src.feeEstimates();
    expect(e.get(1)).toBe(2_500 as FeeratePerKw);
    expect(e.get(6)).toBe(1_000 as FeeratePerKw);
    expect(warnings).toEqual(['fee estimate above the ceiling, clamped: ']);
  });
});
