/**
 * TipTracker across a restart: a node stopped on a tip that a reorg then
 * takes away must, when started again from its stored tip and the hashes it
 * remembered below it, report exactly the blocks undone and the new ones
 * (it used to see only the stored tip's hash, take the reorg for one deeper
 * than it follows, and never follow the chain again).
 */
import { describe, expect, test } from 'bun:test';
import { TipTracker } from '../../src/chain/tip-tracker.ts';
import { type BlockRef, type ChainSource, ChainSourceError } from '../../src/chain/types.ts';

/** A chain of made-up hashes: `hashes[h]` is the block at height h. */
function fakeSource(hashes: string[]): ChainSource {
  return {
    kind: 'fake',
    tip: async (): Promise<BlockRef> => ({ height: hashes.length - 1, hash: hashes[hashes.length - 1]! }),
    blockHash: async (h: number): Promise<string> => {
      const hash = hashes[h];
      if (hash === undefined) throw new ChainSourceError('fake', `no block at ${h}`);
      return hash;
    },
  } as unknown as ChainSource;
}

const branch = (tag: string, from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `${tag}${from + i}`);

describe('TipTracker', () => {
  test('a reorg of the stored tip while stopped is followed from the remembered hashes', async () => {
    const chain = branch('a', 0, 40);
    const before = new TipTracker(fakeSource(chain));
    await before.start();
    chain.push(...branch('a', 41, 45));
    expect((await before.poll()).connected.map((b) => b.height)).toEqual([41, 42, 43, 44, 45]);
    const storedTip = before.tip!;
    const remembered = before.remembered();
    expect(remembered[0]).toEqual({ height: 44, hash: 'a44' });
    expect(remembered.some((b) => b.height === 45)).toBe(false);

    // While stopped: the top 3 blocks (43..45) are replaced by 4 others, then 2 more come.
    chain.splice(43, 3, ...branch('b', 43, 48));
    const after = new TipTracker(fakeSource(chain));
    const change = await after.start(storedTip, remembered);
    expect(change.disconnected).toEqual([
      { height: 45, hash: 'a45' },
      { height: 44, hash: 'a44' },
      { height: 43, hash: 'a43' },
    ]);
    expect(change.connected.map((b) => b.hash)).toEqual(branch('b', 43, 48));
    expect(change.tip).toEqual({ height: 48, hash: 'b48' });
    // And it goes on following: one more block is one block connected.
    chain.push('b49');
    expect(await after.poll()).toEqual({ disconnected: [], connected: [{ height: 49, hash: 'b49' }], tip: { height: 49, hash: 'b49' } });
  });

  test('without the remembered hashes the same restart is refused as a reorg too deep to follow', async () => {
    const chain = branch('a', 0, 45);
    chain.splice(43, 3, ...branch('b', 43, 48));
    const t = new TipTracker(fakeSource(chain));
    await expect(t.start({ height: 45, hash: 'a45' })).rejects.toThrow(/reorg deeper than 144 blocks at height 44/);
  });

  test('a stored tip still on the chain: only the blocks since are connected', async () => {
    const chain = branch('a', 0, 30);
    const t = new TipTracker(fakeSource(chain));
    const change = await t.start({ height: 27, hash: 'a27' }, [{ height: 26, hash: 'a26' }]);
    expect(change).toEqual({ disconnected: [], connected: branch('a', 28, 30).map((hash, i) => ({ height: 28 + i, hash })), tip: { height: 30, hash: 'a30' } });
  });
});
