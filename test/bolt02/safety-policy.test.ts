/**
 * Fee and dust rules of the pure channel step (safety-policy.ts): BOLT 2
 * "Bounding exposure to trimmed in-flight HTLCs: max_dust_htlc_exposure_msat"
 * for HTLCs we offer, HTLCs the peer offers and update_fee on both sides;
 * the update_fee receiver's bounds and funder rule; and update_fee spam
 * (only the latest unsigned update_fee is kept, unsigned updates are capped).
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { ChannelProtocolError, ChannelRefusal, sendAdd, sendFee } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import {
  DEFAULT_SAFETY_POLICY,
  dustBufferFeerate,
  dustExposure,
  htlcsAtStake,
  type SafetyPolicy,
  updateFeeBounds,
} from '../../src/bolt/bolt2/channel/safety-policy.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const FUNDING = sat(1_000_000);
const onion = new Uint8Array(1366);
const rate = (n: number): FeeratePerKw => n as FeeratePerKw;
const msatOf = (satoshis: number): Msat => (BigInt(satoshis) * 1000n) as Msat;
const preimageOf = (i: number): Uint8Array => sha256(Uint8Array.of(0xd5, i & 0xff, i >> 8));
const limited = (maxSat: number, extra: Partial<SafetyPolicy> = {}): SafetyPolicy => ({ ...DEFAULT_SAFETY_POLICY, maxDustHtlcExposureMsat: msatOf(maxSat), ...extra });

/** Offers an HTLC from `from` (queued for the other side, not delivered). */
function add(p: Pair, from: Side, satoshis: number, i: number, policy?: SafetyPolicy): bigint {
  const r = sendAdd(from.state, { amountMsat: msatOf(satoshis), paymentHash: sha256(preimageOf(i)), cltvExpiry: 500 as CltvExpiry, onion }, policy);
  from.state = r.state;
  p.send(from, r.send);
  return r.htlc.id;
}

/** Adds and commits HTLCs from A to B on both sides (B does not settle them). */
function committed(p: Pair, amountsSat: number[]): void {
  amountsSat.forEach((s, i) => add(p, p.a, s, i));
  p.sign(p.a);
  p.settle();
}

const feeMsg = (p: Pair, feerate: number) => ({ channelId: p.a.state.channelId, feeratePerKw: rate(feerate) });

// At 2500 sat/kw (the harness's rate) the buffered rate is 5030 sat/kw: an HTLC A offers is
// trimmed on A's commitment below 546 + 663 * 5.03 = 3880 sat, on B's below 546 + 703 * 5.03 = 4082 sat.
describe('dust exposure is the trimmed HTLCs of each commitment', () => {
  test('the buffer feerate is LDK\'s (+2530 sat/kw or +25%); anchors need none', () => {
    expect(dustBufferFeerate(rate(2500), 'static')).toBe(rate(5030));
    expect(dustBufferFeerate(rate(20_000), 'static')).toBe(rate(25_000));
    expect(dustBufferFeerate(rate(2500), 'anchors')).toBe(rate(2500));
  });

  test('both directions count on both commitments, each at its own dust limit and second-stage fee', () => {
    const p = Pair.open(FUNDING, msatOf(300_000));
    add(p, p.a, 1_000, 1);
    add(p, p.b, 1_300, 2);
    add(p, p.a, 20_000, 3);
    p.sign(p.a);
    p.settle();
    p.sign(p.b);
    p.settle();
    const stake = htlcsAtStake(p.a.state);
    expect(stake.length).toBe(3);
    // At 2500 sat/kw: A-offered is trimmed on A's below 546 + 1657, on B's below 546 + 1757; 1,300 likewise. 20,000 is not.
    expect(dustExposure(p.a.state, stake, rate(2500))).toEqual({ localMsat: msatOf(2_300), remoteMsat: msatOf(2_300) });
    // At 253 sat/kw the thresholds are 546 + 167 (offered) and 546 + 177 (received): neither HTLC is trimmed.
    expect(dustExposure(p.a.state, stake, rate(253))).toEqual({ localMsat: msatOf(0), remoteMsat: msatOf(0) });
  });
});

describe('HTLCs we offer', () => {
  test('a dust HTLC that takes exposure past the limit is refused locally, nothing changes; a non-dust one still goes', () => {
    const p = Pair.open(FUNDING);
    const policy = limited(5_000);
    add(p, p.a, 3_000, 1, policy);
    const before = p.a.state;
    const queued = p.b.inbox.length;
    let error: unknown;
    try {
      add(p, p.a, 3_000, 2, policy);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChannelRefusal);
    expect((error as Error).message).toBe(
      'dust HTLC exposure on our commitment would be 6000000 msat with this 3000000 msat HTLC, above the limit of 5000000 msat',
    );
    expect(p.a.state).toBe(before);
    expect(p.b.inbox.length).toBe(queued);
    // 10,000 sat has an output on both commitments: not dust, not bounded by the limit.
    add(p, p.a, 10_000, 3, policy);
    expect(p.a.state.localChanges.proposed.length).toBe(2);
  });

  test('under the default 50,000 sat limit sixteen 3,000 sat HTLCs go, the seventeenth does not', () => {
    const p = Pair.open(FUNDING);
    for (let i = 0; i < 16; i++) add(p, p.a, 3_000, i);
    expect(() => add(p, p.a, 3_000, 16)).toThrow('above the limit of 50000000 msat');
  });
});

describe('HTLCs the peer offers', () => {
  test('a dust HTLC past our limit is taken into the commitments but marked to fail back once committed; the one before it is not', () => {
    const p = Pair.open(FUNDING);
    p.b.policy = limited(5_000);
    committed(p, [3_000, 3_000, 10_000]);
    const incoming = p.b.events.filter((e) => e.kind === 'incoming');
    expect(incoming.map((e) => e.kind === 'incoming' && [e.htlc.id, e.htlc.failBack])).toEqual([
      [0n, undefined],
      [1n, 'dust_exposure'],
      [2n, undefined],
    ]);
    // Both commitments hold all three: refusing an add is not the receiver's to do; failing it back is.
    expect(p.b.state.localCommit.spec.htlcs.length).toBe(3);
    expect(p.a.state.localCommit.spec.htlcs.length).toBe(3);
  });

  test('with the default limit the same HTLCs are all settled normally', () => {
    const p = Pair.open(FUNDING);
    committed(p, [3_000, 3_000, 10_000]);
    expect(p.b.events.filter((e) => e.kind === 'incoming' && e.htlc.failBack)).toEqual([]);
  });
});

describe('update_fee and dust', () => {
  test('a rise from the funder that trims HTLCs past our limit fails the channel (non-anchors)', () => {
    const p = Pair.open(FUNDING);
    p.b.policy = limited(10_000);
    // 6,000 sat has outputs at the buffered 5030 sat/kw; at 10,000 sat/kw B's commitment trims below 546 + 7030 sat.
    committed(p, [6_000, 6_000]);
    expect(() => p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 10_000))).toThrow(
      new ChannelProtocolError('at 10000 sat/kw the dust HTLC exposure on our commitment would be 12000000 msat, above the limit of 10000000 msat'),
    );
    // A rise that trims nothing is taken.
    p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 7_000));
    expect(p.b.state.remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: rate(7_000) }]);
  });

  test('on anchors channels the feerate trims nothing (zero-fee HTLC transactions): the same rise is taken', () => {
    const p = Pair.open(FUNDING, undefined, rate(2500), ANCHORS_TYPE);
    p.b.policy = limited(10_000);
    committed(p, [6_000, 6_000]);
    p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 10_000));
    expect(p.b.state.remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: rate(10_000) }]);
  });

  test('as funder we do not send a rise that would take our exposure past the limit', () => {
    const p = Pair.open(FUNDING);
    committed(p, [6_000, 6_000]);
    expect(() => sendFee(p.a.state, rate(10_000), limited(10_000))).toThrow(ChannelRefusal);
    expect(sendFee(p.a.state, rate(10_000)).send.map((m) => m.name)).toEqual(['update_fee']);
  });
});

describe('update_fee bounds (BOLT 2 update_fee receiver)', () => {
  const estimates = { fast: rate(5_000), economy: rate(2_000) };

  test('the range: 10x our fastest estimate (at least 25,000 sat/kw) down to half our economy estimate; anchors only the relay floor', () => {
    expect(updateFeeBounds('static', estimates)).toEqual({ min: rate(1_000), max: rate(50_000) });
    expect(updateFeeBounds('anchors', estimates)).toEqual({ min: rate(253), max: rate(50_000) });
    expect(updateFeeBounds('static', undefined)).toEqual({ min: rate(253), max: rate(25_000) });
    expect(updateFeeBounds('static', { fast: rate(253), economy: rate(253) })).toEqual({ min: rate(253), max: rate(25_000) });
  });

  const rows: [string, 'static' | 'anchors', number, string | undefined][] = [
    ['unreasonably large', 'static', 50_001, 'update_fee of 50001 sat/kw is unreasonably large (at most 50000 sat/kw)'],
    ['at the ceiling', 'static', 50_000, undefined],
    ['too low for timely processing', 'static', 999, 'update_fee of 999 sat/kw is too low for timely processing (at least 1000 sat/kw)'],
    ['at half the economy estimate', 'static', 1_000, undefined],
    ['low but relayable on anchors', 'anchors', 253, undefined],
    ['below the relay floor on anchors', 'anchors', 252, 'update_fee of 252 sat/kw is below the minimum relay fee'],
  ];
  for (const [what, variant, feerate, error] of rows) {
    test(`${what} (${variant}, ${feerate} sat/kw): ${error ? 'fails the channel' : 'taken'}`, () => {
      const p = Pair.open(FUNDING, undefined, rate(2500), variant === 'anchors' ? ANCHORS_TYPE : undefined);
      p.b.policy = { ...DEFAULT_SAFETY_POLICY, estimates };
      const deliver = (): void => p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, feerate));
      if (error) {
        expect(deliver).toThrow(new ChannelProtocolError(error));
        expect(p.b.state.remoteChanges.proposed).toEqual([]);
      } else {
        deliver();
        expect(p.b.state.remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: rate(feerate) }]);
      }
    });
  }

  test('without an estimate yet, only the fixed ceiling (25,000 sat/kw) applies', () => {
    const p = Pair.open(FUNDING);
    expect(() => p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 25_001))).toThrow('unreasonably large (at most 25000 sat/kw)');
    p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 25_000));
    expect(p.b.state.remoteChanges.proposed.length).toBe(1);
  });

  test('an update_fee from the side that did not open the channel fails it', () => {
    const p = Pair.open(FUNDING);
    expect(() => p.deliverOneRaw(p.a, 'update_fee', feeMsg(p, 3_000))).toThrow(new ChannelProtocolError('update_fee from the side that did not open the channel'));
    expect(p.a.state.remoteChanges.proposed).toEqual([]);
  });
});

describe('update_fee spam', () => {
  test('10,000 unsigned update_fee leave one pending change, the latest; the next commitment carries it on both sides', () => {
    const p = Pair.open(FUNDING);
    for (let i = 0; i < 10_000; i++) p.deliverOneRaw(p.b, 'update_fee', feeMsg(p, 3_000 + (i % 500)));
    expect(p.b.state.remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: rate(3_499) }]);
    // Our own unsigned update_fee is replaced the same way.
    for (const f of [4_000, 4_100, 3_499]) {
      const r = sendFee(p.a.state, rate(f));
      p.a.state = r.state;
    }
    expect(p.a.state.localChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: rate(3_499) }]);
    p.sign(p.a);
    p.settle();
    expect(p.a.state.localCommit.spec.feeratePerKw).toBe(rate(3_499));
    expect(p.b.state.localCommit.spec.feeratePerKw).toBe(rate(3_499));
    expect(p.a.state.localCommit.txid).toBe(p.b.state.remoteCommit.txid);
  });

  test('a funder that signs a fee rise each round while withholding its revocation leaves one fee in our acked changes, not one per round', () => {
    const p = Pair.open(FUNDING);
    const feeRound = (f: number): void => {
      const r = sendFee(p.a.state, rate(f));
      p.a.state = r.state;
      p.send(p.a, r.send);
      p.sign(p.a);
      p.deliverOne(p.b); // update_fee
      p.deliverOne(p.b); // commitment_signed: B revokes (and signs, if it can)
    };
    feeRound(3_000);
    expect(p.a.inbox.map((m) => m.name)).toEqual(['revoke_and_ack', 'commitment_signed']);
    p.deliverOne(p.a);
    p.deliverOne(p.a);
    // A keeps the revoke_and_ack for B's signature to itself: B cannot sign again, and waits.
    expect(p.b.inbox.map((m) => m.name)).toEqual(['revoke_and_ack']);
    p.b.inbox.shift();
    for (let round = 1; round <= 50; round++) {
      feeRound(3_000 + round);
      expect(p.a.inbox.map((m) => m.name)).toEqual(['revoke_and_ack']);
      p.deliverOne(p.a);
    }
    expect(p.b.state.nextRemoteCommit).toBeDefined();
    expect(p.b.state.localCommit.spec.feeratePerKw).toBe(rate(3_050));
    expect(p.b.state.remoteChanges.acked).toEqual([{ kind: 'fee', feeratePerKw: rate(3_050) }]);
  });

  test('unsigned updates past the cap fail the channel; up to it they are kept', () => {
    const p = Pair.open(FUNDING);
    p.b.policy = { ...DEFAULT_SAFETY_POLICY, maxUnsignedPeerUpdates: 3 };
    for (let i = 0; i < 4; i++) add(p, p.a, 20_000, i);
    for (let i = 0; i < 3; i++) p.deliverOne(p.b);
    expect(p.b.state.remoteChanges.proposed.length).toBe(3);
    expect(() => p.deliverOne(p.b)).toThrow(new ChannelProtocolError('4 updates from the peer wait for our signature, more than the limit of 3'));
    expect(p.b.state.remoteChanges.proposed.length).toBe(3);
  });

  test('the default cap is above what an honest peer can have: 483 adds, 483 settles and a fee in each list', () => {
    expect(DEFAULT_SAFETY_POLICY.maxUnsignedPeerUpdates).toBe(968);
  });
});
