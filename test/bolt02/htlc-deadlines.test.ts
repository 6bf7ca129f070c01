/**
 * BOLT 2 "cltv_expiry_delta Selection": an offered HTLC still on a commitment
 * TIMEOUT_GRACE_BLOCKS after its expiry, and a fulfilled incoming HTLC still
 * on one FULFILLMENT_DEADLINE_BLOCKS before its expiry, fail the channel.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd, sendFail, sendFulfill } from '../../src/bolt/bolt2/channel/commitments.ts';
import { FULFILLMENT_DEADLINE_BLOCKS, htlcDeadlineBreach, TIMEOUT_GRACE_BLOCKS } from '../../src/bolt/bolt2/channel/htlc-deadlines.ts';
import { type CltvExpiry, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair } from './channel-harness.ts';

const EXPIRY = 500;
const preimage = sha256(Uint8Array.of(42));

/** A has offered B one HTLC expiring at EXPIRY, irrevocably committed on both sides. */
function withHtlc(): { p: Pair; id: bigint } {
  const p = Pair.open(sat(1_000_000));
  const r = sendAdd(p.a.state, { amountMsat: 5_000_000n as Msat, paymentHash: sha256(preimage), cltvExpiry: EXPIRY as CltvExpiry, onion: new Uint8Array(1366) });
  p.a.state = r.state;
  p.send(p.a, r.send);
  p.sign(p.a);
  p.settle();
  return { p, id: r.htlc.id };
}

const never = (): boolean => false;
const always = (): boolean => true;

describe('HTLC deadlines', () => {
  test('offered: nothing before expiry + grace; at expiry + grace the channel must fail', () => {
    const { p, id } = withHtlc();
    expect(htlcDeadlineBreach(p.a.state, EXPIRY + TIMEOUT_GRACE_BLOCKS - 1, never)).toBeUndefined();
    const b = htlcDeadlineBreach(p.a.state, EXPIRY + TIMEOUT_GRACE_BLOCKS, never)!;
    expect([b.htlc.direction, b.htlc.id, b.deadline]).toEqual(['out', id, EXPIRY + 3]);
    expect(b.reason).toBe(`outgoing HTLC 0 expired at 500 and is still on a commitment at height 503: timing it out on chain`);
  });

  test('received and not settled: no deadline of ours (the peer times it out)', () => {
    const { p } = withHtlc();
    expect(htlcDeadlineBreach(p.b.state, EXPIRY + 100, never)).toBeUndefined();
  });

  test('received with a preimage we know (an invoice we settled): the deadline is expiry - 10, fulfill sent or forgotten', () => {
    const { p, id } = withHtlc();
    expect(htlcDeadlineBreach(p.b.state, EXPIRY - FULFILLMENT_DEADLINE_BLOCKS - 1, always)).toBeUndefined();
    expect(htlcDeadlineBreach(p.b.state, EXPIRY - FULFILLMENT_DEADLINE_BLOCKS, always)?.deadline).toBe(490);
    // The fulfill is sent and signed, but the peer stalls: the HTLC is on both commitments still.
    const f = sendFulfill(p.b.state, id, preimage);
    p.b.state = f.state;
    p.sign(p.b);
    const b = htlcDeadlineBreach(p.b.state, 490, never)!;
    expect(b.reason).toBe('incoming HTLC 0 we fulfilled expires at 500 and is still on a commitment at height 490: claiming it on chain');
    expect(htlcDeadlineBreach(p.b.state, 489, never)).toBeUndefined();
  });

  test('received and failed by us: no fulfillment deadline even if the invoice is settled (another payer)', () => {
    const { p, id } = withHtlc();
    const f = sendFail(p.b.state, id, new Uint8Array(32));
    p.b.state = f.state;
    expect(htlcDeadlineBreach(p.b.state, 495, always)).toBeUndefined();
  });

  test('once removed from every commitment, no deadline on either side', () => {
    const { p, id } = withHtlc();
    const f = sendFulfill(p.b.state, id, preimage);
    p.b.state = f.state;
    p.send(p.b, f.send);
    p.sign(p.b);
    p.settle();
    expect(htlcDeadlineBreach(p.a.state, EXPIRY + 100, always)).toBeUndefined();
    expect(htlcDeadlineBreach(p.b.state, EXPIRY + 100, always)).toBeUndefined();
  });

  test('an offered HTLC only on the commitment we signed for the peer (not yet revoked for) counts too', () => {
    const p = Pair.open(sat(1_000_000));
    const r = sendAdd(p.a.state, { amountMsat: 5_000_000n as Msat, paymentHash: sha256(preimage), cltvExpiry: EXPIRY as CltvExpiry, onion: new Uint8Array(1366) });
    p.a.state = r.state;
    p.sign(p.a); // nothing delivered: the peer may broadcast the commitment we just signed
    expect(p.a.state.nextRemoteCommit?.spec.htlcs).toHaveLength(1);
    expect(htlcDeadlineBreach(p.a.state, EXPIRY + TIMEOUT_GRACE_BLOCKS, never)?.htlc.id).toBe(0n);
  });
});
