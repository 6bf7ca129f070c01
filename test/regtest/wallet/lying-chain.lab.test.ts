// lab-peers: btcd
/**
 * Chain data checked where it can be (issue 16 item 5): two lnnodes open a
 * channel while the lab's Esplora lies to both that its funding (still in
 * the mempool, kept out of blocks) is confirmed:
 *
 * - at a fake position in real blocks: confirmed 3 deep in the first of
 *   three coinbase-only blocks, with a merkle proof and a txid list that
 *   put it there;
 * - in a chain of three made-up headers above the real tip that link up and
 *   carry the funding in their merkle root, but have no proof of work.
 *
 * Believed, either lie would make the channel usable on a funding that does
 * not exist. Both are refused: the channel stays unconfirmed and no
 * channel_ready goes out; the node keeps following the real tip. Once the
 * lies stop and the funding is really mined, the channel opens as usual.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { headerHash } from '../../../src/chain/pow.ts';
import { type FeeratePerKw, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { mainChainBlock, submitBlockOn } from '../../lab/blocks.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { mineHeader } from '../../chain/fake-chain.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;

beforeAll(async () => {
  lab = await ChannelLab.start('lying');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

const text = (s: string): Response => new Response(s);
const json = (v: unknown): Response => Response.json(v);

/** Mines `n` coinbase-only blocks on the tip (btcd's generate would take the funding out of the mempool). */
async function emptyBlocks(n: number): Promise<{ height: number; hash: string }[]> {
  const out = [];
  let parent = await mainChainBlock(lab.btcd.rpc, await lab.btcd.height());
  for (let i = 0; i < n; i++) {
    parent = await submitBlockOn(lab.btcd.rpc, parent, lab.btcd.miner.script);
    out.push({ height: parent.height, hash: parent.hash });
  }
  return out;
}

/** Both nodes have processed `blocks` more blocks than now, and a little time to act on them. */
async function settle(): Promise<void> {
  for (const n of [a, b]) await lab.synced(n);
  await Bun.sleep(1_500);
}

describe('a chain source lying about confirmations', () => {
  test('a fake block position and headers without work are refused; the real confirmation opens the channel', async () => {
    const opened = await a.channels!.open(b.nodeId, { fundingSat: sat(400_000), fundingFeerate: 1_000 as FeeratePerKw });
    const funding = opened.fundingTxid;
    expect(await lab.btcd.rpc.call<string[]>('getrawmempool')).toContain(funding);
    const phase = (n: LightningNode): string | undefined => n.channels!.get(opened.channelId)?.phase;

    // Lie 1: the funding "is" in the first of three empty blocks, at position 0, with a proof and txid list to match.
    const blocks = await emptyBlocks(3);
    const first = blocks[0]!;
    const stopLie1 = lab.esplora.intercept((path) => {
      if (path === `/tx/${funding}/status`) return json({ confirmed: true, block_height: first.height, block_hash: first.hash });
      if (path === `/tx/${funding}/merkle-proof`) return json({ block_height: first.height, merkle: [], pos: 0 });
      if (path === `/block/${first.hash}/txids`) return json([lab.esplora.index.chain[first.height]!.txids[0], funding]);
      return undefined;
    });
    await settle();
    for (const n of [a, b]) {
      expect(phase(n)).toBe('awaiting_lock_in');
      expect(n.tip?.height).toBe(blocks[2]!.height);
      await expect(n.chain!.txStatus(funding)).rejects.toThrow(/merkle path of .* does not lead to the merkle root of block/);
    }
    stopLie1();

    // Lie 2: three made-up blocks above the real tip, the first holding only the funding; linked, but without work.
    const tip = blocks[2]!;
    const fake: { height: number; hash: string; header: Uint8Array }[] = [];
    let prev = tip.hash;
    for (let i = 1; i <= 3; i++) {
      const root = i === 1 ? fromHex(funding).reverse() : new Uint8Array(32).fill(i);
      const header = mineHeader(prev, root, Math.floor(Date.now() / 1000), 0x207fffff, true);
      prev = headerHash(header);
      fake.push({ height: tip.height + i, hash: prev, header });
    }
    const top = fake[2]!;
    const stopLie2 = lab.esplora.intercept((path) => {
      if (path === '/blocks/tip/height') return text(String(top.height));
      if (path === '/blocks/tip/hash') return text(top.hash);
      const byHeight = /^\/block-height\/(\d+)$/.exec(path);
      const f = byHeight ? fake.find((x) => x.height === Number(byHeight[1])) : undefined;
      if (f) return text(f.hash);
      const header = fake.find((x) => path === `/block/${x.hash}/header`);
      if (header) return text(Buffer.from(header.header).toString('hex'));
      if (path === `/block/${fake[0]!.hash}/txids`) return json([funding]);
      if (path === `/tx/${funding}/status`) return json({ confirmed: true, block_height: fake[0]!.height, block_hash: fake[0]!.hash });
      if (path === `/tx/${funding}/merkle-proof`) return json({ block_height: fake[0]!.height, merkle: [], pos: 0 });
      return undefined;
    });
    await Bun.sleep(1_500);
    for (const n of [a, b]) {
      expect(phase(n)).toBe('awaiting_lock_in');
      // Still at the real tip: the made-up one was refused.
      expect(n.tip?.height).toBe(tip.height);
      await expect(n.chain!.tip()).rejects.toThrow(/does not meet its target .*no proof of work/);
      await expect(n.chain!.txStatus(funding)).rejects.toThrow(/no proof of work|not on the verified chain/);
    }
    stopLie2();

    // The truth: mined for real, and the channel opens as usual.
    await lab.mineUntil('the channel open on both sides', () => !!a.channels!.get(opened.channelId)?.active && !!b.channels!.get(opened.channelId)?.active, 10);
    await waitFor('the funding confirmed on both', async () => (await a.chain!.txStatus(funding))?.confirmed && (await b.chain!.txStatus(funding))?.confirmed);
    expect(await lab.walletBalance(a)).toBe(1_000_000n - 400_000n - (await lab.fee(funding)));
  }, 120_000);
});
