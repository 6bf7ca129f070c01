/**
 * The numbers an operator acts on (issue 15): on a 500k-sat anchors channel
 * the spendable amount is the balance less the reserve, the opener's
 * commitment fee at twice the feerate with the new HTLC and a future one, and the two
 * anchors (BOLT 2/3); that amount, rounded down to the sat, can be sent and
 * one sat more cannot. The receiver's estimate of what it can receive is
 * the same number. Then the close numbers (balances.ts): maturity height
 * and limbo balance of a local force close, settled balance of a mutual one.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { availableToReceive, availableToSend, sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { channelNumbers } from '../../src/node/channels/balances.ts';
import { type ChannelRecord } from '../../src/node/channels/manager.ts';
import { Pair } from './channel-harness.ts';

const FUNDING = sat(500_000);
const FEERATE = 2500 as FeeratePerKw;
const onion = new Uint8Array(1366);

function add(p: Pair, amountMsat: bigint): void {
  const r = sendAdd(p.a.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(Uint8Array.of(1)), cltvExpiry: 500 as CltvExpiry, onion });
  p.a.state = r.state;
  p.send(p.a, r.send);
}

const record = (p: Pair, over: Partial<ChannelRecord> = {}): ChannelRecord => ({
  commitments: p.a.state,
  minimumDepth: 3,
  readySent: true,
  theirReady: true,
  localAlias: 1n,
  ...over,
});

describe('spendable and receivable on a 500k-sat anchors channel', () => {
  test('balance less reserve, fee with spike buffer and anchors; that much is sent, 1 sat more is refused', () => {
    const p = Pair.open(FUNDING, 0n as Msat, FEERATE, ANCHORS_TYPE);
    expect(p.a.state.variant).toBe('anchors');
    const reserveSat = p.a.state.remote.channelReserveSat;
    expect(reserveSat).toBe(sat(5_000)); // 1% of the channel
    // BOLT 3 anchors commitment weight 1124 + 172 for the new HTLC and 172 for a future one (BOLT 2 fee spike buffer), at twice
    // the feerate; the two 330-sat anchors.
    const feeBufferSat = (2n * 2500n * (1124n + 2n * 172n)) / 1000n;
    const expected = (500_000n - 5_000n - feeBufferSat - 660n) * 1000n;
    expect(availableToSend(p.a.state)).toBe(expected as Msat);
    // The peer, not the opener, computes the same from its side.
    expect(availableToReceive(p.b.state)).toBe(expected as Msat);
    const n = channelNumbers(record(p), 'normal', true, 100);
    expect([n.spendableMsat, n.localReserveSat, n.remoteReserveSat]).toEqual([expected as Msat, sat(5_000), sat(5_000)]);
    // B has nothing to send: A can receive nothing.
    expect(n.receivableMsat).toBe(0n as Msat);

    const maxSat = expected / 1000n;
    expect(() => add(p, (maxSat + 1n) * 1000n)).toThrow(`can send at most ${expected} msat`);
    add(p, maxSat * 1000n);
    p.sign(p.a);
    p.settle();
    expect(p.b.state.localCommit.spec.htlcs.map((h) => h.amountMsat)).toEqual([(maxSat * 1000n) as Msat]);
    expect(availableToSend(p.a.state)).toBe(0n as Msat);
  });

  test('no HTLC slot left: nothing can be sent; the HTLC out counts as unsettled', () => {
    const p = Pair.open(FUNDING, 0n as Msat, FEERATE, ANCHORS_TYPE);
    p.a.state = { ...p.a.state, remote: { ...p.a.state.remote, maxAcceptedHtlcs: 1 } };
    add(p, 10_000_000n);
    p.sign(p.a);
    p.settle();
    expect(availableToSend(p.a.state)).toBe(0n as Msat);
    const n = channelNumbers(record(p), 'normal', true, 100);
    expect([n.spendableMsat, n.pendingOutMsat, n.pendingInMsat]).toEqual([0n as Msat, 10_000_000n as Msat, 0n as Msat]);
    expect(() => add(p, 1_000_000n)).toThrow('the peer accepts at most 1 HTLCs');
  });

  test('an unusable channel can send nothing', () => {
    const p = Pair.open(FUNDING, 0n as Msat, FEERATE, ANCHORS_TYPE);
    expect(channelNumbers(record(p), 'normal', false, 100).spendableMsat).toBe(0n as Msat);
  });
});

describe('opening and closing numbers', () => {
  test('funding confirmations and blocks to go', () => {
    const p = Pair.open(FUNDING, 0n as Msat, FEERATE, ANCHORS_TYPE);
    expect(channelNumbers(record(p, { fundingConfirmedAt: undefined }), 'awaiting_lock_in', false, 100)).toMatchObject({ fundingConfirmations: 0, fundingBlocksToGo: 3 });
    expect(channelNumbers(record(p, { fundingConfirmedAt: 100 }), 'awaiting_lock_in', false, 101)).toMatchObject({ fundingConfirmations: 2, fundingBlocksToGo: 1 });
  });

  test('local force close: maturity after the peer\'s to_self_delay, our to_local in limbo until swept', () => {
    const p = Pair.open(FUNDING, 100_000_000n as Msat, FEERATE, ANCHORS_TYPE);
    const c = p.a.state;
    const close = { kind: 'local' as const, txid: c.localCommit.txid, spends: {}, settled: [], confirmedAt: 200 };
    const n = channelNumbers(record(p, { close }), 'closing', false, 205);
    const feeSat = (2500n * 1124n) / 1000n + 660n;
    const toLocal = sat(400_000n - feeSat);
    expect(n).toMatchObject({ closeHeight: 200, maturityHeight: 200 + c.remote.toSelfDelay, blocksTilMaturity: 200 + c.remote.toSelfDelay - 205, timeLockedSat: toLocal, limboSat: toLocal, settledSat: sat(0) });
    // Once closed nothing is in limbo.
    expect(channelNumbers(record(p, { close }), 'closed', false, 500).limboSat).toBe(sat(0));
  });

  test('their force close on an anchors channel matures one block after it confirms', () => {
    const p = Pair.open(FUNDING, 100_000_000n as Msat, FEERATE, ANCHORS_TYPE);
    const c = p.a.state;
    const close = { kind: 'remote' as const, txid: c.remoteCommit.txid, commitmentIndex: c.remoteCommit.index, spends: {}, settled: [], confirmedAt: 300 };
    expect(channelNumbers(record(p, { close }), 'closing', false, 300)).toMatchObject({ maturityHeight: 301, blocksTilMaturity: 1, timeLockedSat: sat(0) });
  });
});
