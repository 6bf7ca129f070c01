/**
 * A close reorged out with the mempool emptied: on the next block the
 * resolver sends the close again and, in the same step, every transaction
 * of ours on its outputs that the chain no longer knows, parents first (it
 * used to send only the close and wait until that confirmed again before
 * looking at its sweeps, so they came back a block late, or never when the
 * peer sent the close and nothing else happened).
 */
import { describe, expect, test } from 'bun:test';
import { type FeeratePerKw, type Sat } from '../../src/bolt/units.ts';
import { BroadcastError, type ChainSource, type TxStatus } from '../../src/chain/types.ts';
import { ChannelResolver, type CloseRecord, type ResolvableChannel } from '../../src/node/channels/resolver.ts';
import { type ChannelStore } from '../../src/node/channels/store.ts';
import { createLogger } from '../../src/node/log.ts';
import { type Wallet } from '../../src/node/wallet/wallet.ts';

const raw = (tag: number): Uint8Array => Uint8Array.of(tag, tag, tag);
const txidOf = (tag: number): string => `${tag}`.padStart(64, '0');

/** Knows `known`; a broadcast is accepted when every parent in `parents` is known, and then known itself. */
function fakeChain(known: Map<string, TxStatus>, parents: Map<string, string[]>): { chain: ChainSource; sent: string[] } {
  const sent: string[] = [];
  const chain = {
    kind: 'fake',
    txStatus: async (txid: string) => known.get(txid) ?? null,
    broadcast: async (r: Uint8Array) => {
      const txid = txidOf(r[0]!);
      sent.push(txid);
      if (!(parents.get(txid) ?? []).every((p) => known.has(p))) throw new BroadcastError('fake', 'orphan transaction');
      known.set(txid, { confirmed: false, confirmations: 0 });
      return txid;
    },
  } as unknown as ChainSource;
  return { chain, sent };
}

const resolverOn = (chain: ChainSource): ChannelResolver =>
  new ChannelResolver(chain, {} as Wallet, {} as ChannelStore, { preimageOf: () => undefined, htlcResolved: () => {} }, createLogger({ level: 'error' }));

describe('ChannelResolver, a close not on chain', () => {
  // The close (1); our HTLC-timeout (2) on its output 2; our sweep (3) of that one's delayed output; our to_local sweep (4) on output 1.
  const close: CloseRecord = {
    kind: 'local',
    txid: txidOf(1),
    raw: raw(1),
    spends: {
      [`${txidOf(2)}:0`]: { txid: txidOf(3), raw: raw(3), value: 1_000n as Sat, fee: 200n as Sat },
      [`${txidOf(1)}:2`]: { txid: txidOf(2), raw: raw(2), value: 2_000n as Sat, fee: 300n as Sat },
      [`${txidOf(1)}:1`]: { txid: txidOf(4), raw: raw(4), value: 5_000n as Sat, fee: 250n as Sat },
    },
    settled: [],
    doneAt: 100,
  };
  // A static_remotekey channel: no anchor to bump (anchor-bump.ts looks only at anchors channels).
  const ch = { channelId: new Uint8Array(32), close, commitments: { variant: 'static_remotekey' } } as unknown as ResolvableChannel & { close: CloseRecord };
  const parents = new Map([
    [txidOf(2), [txidOf(1)]],
    [txidOf(3), [txidOf(2)]],
    [txidOf(4), [txidOf(1)]],
  ]);

  test('reorged out with the mempool emptied: the close and then each of ours on it are sent again in one step, parents first', async () => {
    const known = new Map<string, TxStatus>();
    const { chain, sent } = fakeChain(known, parents);
    const persisted: CloseRecord[] = [];
    const next = await resolverOn(chain).step(ch, 120, 1_000 as FeeratePerKw, (r) => persisted.push(r));
    expect(sent[0]).toBe(txidOf(1));
    // Both spends of the close before the spend of the HTLC transaction's output.
    expect(sent.slice(1, 3).sort()).toEqual([txidOf(2), txidOf(4)]);
    expect(sent[3]).toBe(txidOf(3));
    expect(sent).toHaveLength(4);
    for (const t of [1, 2, 3, 4]) expect(known.get(txidOf(t))).toEqual({ confirmed: false, confirmations: 0 });
    // The close is followed again: no longer done.
    expect(next.doneAt).toBeUndefined();
    expect(persisted.at(-1)?.doneAt).toBeUndefined();
  });

  test('the close back in the mempool (the peer sent it): only what the chain lost is sent', async () => {
    const known = new Map<string, TxStatus>([
      [txidOf(1), { confirmed: false, confirmations: 0 }],
      [txidOf(4), { confirmed: false, confirmations: 0 }],
    ]);
    const { chain, sent } = fakeChain(known, parents);
    await resolverOn(chain).step(ch, 120, 1_000 as FeeratePerKw, () => {});
    expect(sent).toEqual([txidOf(2), txidOf(3)]);
  });

  test('a refused one (its parent not back) does not stop the rest', async () => {
    // The close cannot go out (say, the source refuses it for now): its children are tried and refused, nothing throws.
    const known = new Map<string, TxStatus>();
    const { chain, sent } = fakeChain(known, new Map([...parents, [txidOf(1), ['f'.repeat(64)]]]));
    await resolverOn(chain).step(ch, 120, 1_000 as FeeratePerKw, () => {});
    expect(sent[0]).toBe(txidOf(1));
    expect(sent.slice(1).sort()).toEqual([txidOf(2), txidOf(3), txidOf(4)]);
    expect(known.size).toBe(0);
  });
});
