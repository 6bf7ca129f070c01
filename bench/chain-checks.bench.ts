/**
 * What checking the chain source costs: following headers with their proof
 * of work (per header, as on each new block), and proving one confirmation
 * by its merkle branch in a 3,000-transaction block (as for each funding,
 * close or coin), on an in-memory regtest chain.
 */
import { hex } from '../src/bolt/bytes.ts';
import { type FeeratePerKw } from '../src/bolt/units.ts';
import { CheckedChainSource } from '../src/chain/checked-source.ts';
import { HeaderChain, MemoryHeaderStore } from '../src/chain/header-chain.ts';
import { merkleBranch, merkleRoot, rootFromBranch } from '../src/chain/merkle.ts';
import { POW_PARAMS } from '../src/chain/pow.ts';
import { FakeChain } from '../test/chain/fake-chain.ts';
import { opsPerSecond } from './measure.ts';
import { type Figure } from './run.ts';

export default async function (): Promise<Figure[]> {
  const chain = new FakeChain();
  chain.mineMany(1_000);
  const now = (): number => 1296688602 + 600 * 2_000;
  const figures: Figure[] = [];

  // Anchored at 0, then 1,000 headers followed at once (what a restart after a week does on mainnet).
  const source = chain.source();
  const store = new MemoryHeaderStore();
  const headers = new HeaderChain(source, POW_PARAMS.regtest, store, { now });
  const t0 = performance.now();
  await headers.sync({ height: 6, hash: chain.blocks[6]!.hash });
  await headers.sync({ height: chain.tip.height, hash: chain.tip.hash });
  figures.push({ name: 'follow headers (link, work, target, median time)', value: (performance.now() - t0) / 1_000, unit: 'ms/header' });

  const ids = Array.from({ length: 3_000 }, (_, i) => hex(new Uint8Array(32).fill(i % 251).map((b, j) => (j === 0 ? i & 0xff : j === 1 ? i >> 8 : b))));
  const root = merkleRoot(ids);
  const branch = merkleBranch(ids, 1_234);
  figures.push({ name: 'merkle branch check, 3,000-tx block', value: opsPerSecond(() => rootFromBranch(ids[1_234]!, 1_234, branch)), unit: 'proofs/s' });
  figures.push({ name: 'merkle root of a 3,000-tx block (blockTxids check)', value: opsPerSecond(() => merkleRoot(ids)), unit: 'blocks/s' });
  if (hex(rootFromBranch(ids[1_234]!, 1_234, branch)) !== hex(root)) throw new Error('bad branch');

  // A proven txStatus, with the proof cache off (a fresh source each time).
  const pay = chain.fund([{ script: Uint8Array.of(0x51), value: 1_000n }]);
  chain.mine();
  const fresh = (): CheckedChainSource => new CheckedChainSource(source, headers, { maxFeerate: 250_000 as FeeratePerKw });
  await headers.sync({ height: chain.tip.height, hash: chain.tip.hash });
  let n = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < 500) {
    await fresh().txStatus(pay.txid);
    n++;
  }
  figures.push({ name: 'proven txStatus (in-memory source, no cache)', value: (n * 1_000) / (performance.now() - t1), unit: 'calls/s' });
  return figures;
}
