/**
 * The channel state machine between two in-memory parties: opening, HTLCs
 * added, fulfilled and failed from both sides (also interleaved), fee
 * updates, retransmission after a disconnection, and peers that break the
 * rules. Balances are checked to the msat on both sides' commitments.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import {
  availableToSend,
  ChannelProtocolError,
  type Commitments,
  DataLossError,
  forgetUnsigned,
  lostStateReestablish,
  ourReestablish,
  retransmissions,
  sendAdd,
  sendFail,
  sendFee,
  sendFulfill,
} from '../../src/bolt/bolt2/channel/commitments.ts';
import { type CommitSpec } from '../../src/bolt/bolt2/channel/spec.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const FUNDING = sat(1_000_000);
const onion = new Uint8Array(1366);
const preimageOf = (i: number): Uint8Array => sha256(Uint8Array.of(0xaa, i & 0xff, i >> 8));

function add(p: Pair, from: Side, amountMsat: bigint, i: number): bigint {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(preimageOf(i)), cltvExpiry: 500 as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  return r.htlc.id;
}

function fulfill(p: Pair, by: Side, id: bigint, i: number): void {
  const r = sendFulfill(by.state, id, preimageOf(i));
  by.state = r.state;
  p.send(by, r.send);
}

const mirror = (s: CommitSpec) => ({
  toLocal: s.toRemoteMsat,
  toRemote: s.toLocalMsat,
  htlcs: s.htlcs.map((h) => `${h.direction === 'out' ? 'in' : 'out'}:${h.id}:${h.amountMsat}`).sort(),
});
const view = (s: CommitSpec) => ({ toLocal: s.toLocalMsat, toRemote: s.toRemoteMsat, htlcs: s.htlcs.map((h) => `${h.direction}:${h.id}:${h.amountMsat}`).sort() });

/** Both sides agree on both commitments, and nothing is pending. */
function expectInSync(p: Pair): void {
  const { a, b } = p;
  expect(a.state.localCommit.txid).toBe(b.state.remoteCommit.txid);
  expect(b.state.localCommit.txid).toBe(a.state.remoteCommit.txid);
  expect(view(a.state.localCommit.spec)).toEqual(mirror(b.state.localCommit.spec));
  for (const s of [a.state, b.state]) {
    expect(s.nextRemoteCommit).toBeUndefined();
    expect([s.localChanges.proposed, s.localChanges.signed, s.remoteChanges.proposed, s.remoteChanges.signed].flat()).toEqual([]);
  }
}

const balance = (c: Commitments): bigint => c.localCommit.spec.toLocalMsat;

describe('channel opening', () => {
  test('both sides build the same first commitments; the funder holds the funding minus the push', () => {
    const p = Pair.open(FUNDING, 10_000_000n as Msat);
    expectInSync(p);
    expect(p.a.state.localCommit.txid).toMatch(/^[0-9a-f]{64}$/);
    expect([balance(p.a.state), balance(p.b.state)]).toEqual([990_000_000n, 10_000_000n]);
    expect(hex(p.a.state.channelId)).toBe(hex(p.b.state.channelId));
  });
});

describe('HTLCs', () => {
  test('A pays B: add, sign, revoke both ways, B learns it is locked in, fulfills; A learns the preimage', () => {
    const p = Pair.open(FUNDING);
    const id = add(p, p.a, 123_456_789n, 1);
    p.sign(p.a);
    p.settle();
    const incoming = p.b.events.filter((e) => e.kind === 'incoming');
    expect(incoming.map((e) => (e.kind === 'incoming' ? (e.htlc.amountMsat as bigint) : 0n))).toEqual([123_456_789n]);
    expectInSync(p);
    fulfill(p, p.b, id, 1);
    p.sign(p.b);
    p.settle();
    const ful = p.a.events.find((e) => e.kind === 'fulfilled');
    expect(ful?.kind === "fulfilled" ? hex(ful.preimage) : undefined).toBe(hex(preimageOf(1)));
    expectInSync(p);
    expect([balance(p.a.state), balance(p.b.state)]).toEqual([1_000_000_000n - 123_456_789n, 123_456_789n]);
    expect([p.a.state.localCommit.index, p.b.state.localCommit.index]).toEqual([2n, 2n]);
  });

  test('25 payments each way, interleaved and signed concurrently, end with balances exact to the msat', () => {
    const p = Pair.open(FUNDING, 400_000_000n as Msat);
    let expectA = 600_000_000n;
    for (let i = 0; i < 25; i++) {
      const amtAB = 1n + BigInt(i) * 997_531n;
      const amtBA = 7n + BigInt(i) * 1_234_567n;
      const idA = add(p, p.a, amtAB, 2 * i);
      const idB = add(p, p.b, amtBA, 2 * i + 1);
      // Both sign before either has seen the other's update.
      p.sign(p.a);
      p.sign(p.b);
      p.settle();
      expect(p.a.events.filter((e) => e.kind === 'incoming').length).toBe(i + 1);
      expect(p.b.events.filter((e) => e.kind === 'incoming').length).toBe(i + 1);
      fulfill(p, p.b, idA, 2 * i);
      fulfill(p, p.a, idB, 2 * i + 1);
      p.sign(p.b);
      p.sign(p.a);
      p.settle();
      expectInSync(p);
      expectA += amtBA - amtAB;
      expect(balance(p.a.state)).toBe(expectA);
      expect(balance(p.a.state) + balance(p.b.state)).toBe(1_000_000_000n);
    }
    expect(p.a.events.filter((e) => e.kind === 'fulfilled').length).toBe(25);
  });

  test('a failed HTLC returns the amount to the payer once the failure is committed', () => {
    const p = Pair.open(FUNDING);
    const id = add(p, p.a, 50_000_000n, 3);
    p.sign(p.a);
    p.settle();
    const r = sendFail(p.b.state, id, new Uint8Array(292));
    p.b.state = r.state;
    p.send(p.b, r.send);
    p.sign(p.b);
    p.settle();
    expect(p.a.events.filter((e) => e.kind === 'failed').map((e) => e.kind === 'failed' && e.htlc.id)).toEqual([id]);
    expectInSync(p);
    expect(balance(p.a.state)).toBe(1_000_000_000n);
  });

  test('the opener updates the fee; both commitments follow', () => {
    const p = Pair.open(FUNDING);
    const r = sendFee(p.a.state, 5000 as FeeratePerKw);
    p.a.state = r.state;
    p.send(p.a, r.send);
    p.sign(p.a);
    p.settle();
    expectInSync(p);
    expect([p.a.state.localCommit.spec.feeratePerKw, p.b.state.localCommit.spec.feeratePerKw] as number[]).toEqual([5000, 5000]);
    expect(() => sendFee(p.b.state, 6000 as FeeratePerKw)).toThrow('only the channel opener');
  });

  test('cannot send more than the balance minus reserve and fees', () => {
    const p = Pair.open(FUNDING);
    const max = availableToSend(p.a.state);
    expect(max).toBeLessThan(1_000_000_000n - 10_000_000n);
    expect(() => sendAdd(p.a.state, { amountMsat: (max + 1n) as Msat, paymentHash: new Uint8Array(32), cltvExpiry: 1 as CltvExpiry, onion })).toThrow('can send at most');
    add(p, p.a, max, 9);
    p.sign(p.a);
    p.settle();
    expectInSync(p);
  });
});

describe('a peer that breaks the rules', () => {
  test('an invalid commitment signature fails the channel and changes nothing', () => {
    const p = Pair.open(FUNDING);
    add(p, p.a, 10_000n, 1);
    p.sign(p.a);
    p.deliverOne(p.b); // the add
    const cs = p.b.inbox[0]!;
    const sig = (cs.msg as { signature: Uint8Array }).signature;
    sig[10]! ^= 1;
    const before = p.b.state;
    expect(() => p.deliverOne(p.b)).toThrow(ChannelProtocolError);
    expect(p.b.state).toBe(before);
  });

  test('a wrong revocation secret fails the channel', () => {
    const p = Pair.open(FUNDING);
    add(p, p.a, 10_000n, 1);
    p.sign(p.a);
    p.deliverOne(p.b);
    p.deliverOne(p.b); // commitment_signed -> revoke_and_ack (+ commitment_signed) to A
    const rev = p.a.inbox[0]!;
    expect(rev.name).toBe('revoke_and_ack');
    (rev.msg as { perCommitmentSecret: Uint8Array }).perCommitmentSecret = sha256(Uint8Array.of(1));
    expect(() => p.deliverOne(p.a)).toThrow('per_commitment_secret does not match');
  });

  test('HTLCs over our limits or beyond the peer balance are refused', () => {
    const p = Pair.open(FUNDING);
    const msg = { channelId: p.a.state.channelId, id: 0n, paymentHash: new Uint8Array(32), cltvExpiry: 100, onionRoutingPacket: onion };
    // B has nothing on its side: any HTLC from B to A is beyond its balance.
    p.b.inbox.length = 0;
    expect(() => p.a.state && p.deliverOneRaw(p.a, 'update_add_htlc', { ...msg, amountMsat: 1000n })).toThrow('cannot afford');
    expect(() => p.deliverOneRaw(p.a, 'update_add_htlc', { ...msg, id: 5n, amountMsat: 1000n })).toThrow('expected 0');
    expect(() => p.deliverOneRaw(p.b, 'update_fulfill_htlc', { channelId: msg.channelId, id: 0n, paymentPreimage: new Uint8Array(32) })).toThrow('unknown');
  });
});

describe('reconnection', () => {
  test('a lost commitment_signed is retransmitted with its updates, and the payment completes', () => {
    const p = Pair.open(FUNDING);
    add(p, p.a, 77_000n, 5);
    p.sign(p.a);
    p.b.inbox.length = 0; // the connection drops: B saw neither the add nor the signature
    p.a.state = forgetUnsigned(p.a.state);
    p.b.state = forgetUnsigned(p.b.state);
    const fromA = retransmissions(p.a.state, p.a.secrets, ourReestablish(p.b.state, p.b.secrets));
    const fromB = retransmissions(p.b.state, p.b.secrets, ourReestablish(p.a.state, p.a.secrets));
    expect(fromA.map((m) => m.name)).toEqual(['update_add_htlc', 'commitment_signed']);
    expect(fromB).toEqual([]);
    p.send(p.a, fromA);
    p.settle();
    expectInSync(p);
    expect(p.b.events.filter((e) => e.kind === 'incoming').length).toBe(1);
  });

  test('a lost revoke_and_ack is retransmitted; unsigned updates are forgotten and their ids reused', () => {
    const p = Pair.open(FUNDING, 100_000_000n as Msat);
    add(p, p.a, 10_000n, 1);
    p.sign(p.a);
    p.deliverOne(p.b);
    p.deliverOne(p.b); // B sends revoke_and_ack + commitment_signed, both lost
    p.a.inbox.length = 0;
    add(p, p.b, 1n, 2); // never signed: forgotten
    p.a.inbox.length = 0;
    p.a.state = forgetUnsigned(p.a.state);
    p.b.state = forgetUnsigned(p.b.state);
    expect(p.b.state.localNextHtlcId).toBe(0n);
    const fromB = retransmissions(p.b.state, p.b.secrets, ourReestablish(p.a.state, p.a.secrets));
    expect(fromB.map((m) => m.name)).toEqual(['revoke_and_ack', 'commitment_signed']);
    expect(retransmissions(p.a.state, p.a.secrets, ourReestablish(p.b.state, p.b.secrets))).toEqual([]);
    p.send(p.b, fromB);
    p.settle();
    expectInSync(p);
  });

  test('a peer claiming a far-ahead state with a garbage secret is a protocol violation, not data loss (we may broadcast)', () => {
    const p = Pair.open(FUNDING);
    add(p, p.a, 10_000n, 1);
    p.sign(p.a);
    p.settle();
    const honest = ourReestablish(p.b.state, p.b.secrets);
    const liar = { ...honest, nextCommitmentNumber: honest.nextCommitmentNumber + 100n, nextRevocationNumber: honest.nextRevocationNumber + 100n, yourLastPerCommitmentSecret: new Uint8Array(32).fill(9) };
    const thrown = (() => {
      try {
        retransmissions(p.a.state, p.a.secrets, liar);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(thrown).toBeInstanceOf(ChannelProtocolError);
    expect(thrown).not.toBeInstanceOf(DataLossError);
    expect(thrown!.message).toBe('channel_reestablish: next_revocation_number 101 is ahead of our commitment 1 without the secret that would prove it');
    // A number no commitment can have is refused the same way (no secret is derived for it).
    expect(() => retransmissions(p.a.state, p.a.secrets, { ...liar, nextRevocationNumber: 1n << 60n })).toThrow(/without the secret/);
  });

  test('a peer that proves it holds our secret for a later commitment: we lost data (never broadcast)', () => {
    const p = Pair.open(FUNDING);
    const old = p.a.state; // a database copy taken here, restored later
    for (const i of [1, 2]) {
      add(p, p.a, 10_000n, i);
      p.sign(p.a);
      p.settle();
    }
    expect(() => retransmissions(old, p.a.secrets, ourReestablish(p.b.state, p.b.secrets))).toThrow(DataLossError);
    expect(() => retransmissions(old, p.a.secrets, ourReestablish(p.b.state, p.b.secrets))).toThrow('the peer holds our secret for 1: we lost data');
  });

  test('a peer restored from a static backup (lost-state channel_reestablish) is behind: we fail the channel and broadcast, never conclude our own data loss', () => {
    const p = Pair.open(FUNDING);
    for (const i of [1, 2]) {
      add(p, p.a, 10_000n, i);
      p.sign(p.a);
      p.settle();
    }
    const lost = lostStateReestablish(p.b.secrets);
    expect([lost.nextCommitmentNumber, lost.nextRevocationNumber, hex(lost.yourLastPerCommitmentSecret)]).toEqual([0n, 0n, '00'.repeat(32)]);
    for (const q of [p, Pair.open(FUNDING)]) {
      // Also a channel that never moved: 0 is never a live channel's number (BOLT 2: fail and broadcast at once).
      const thrown = (() => {
        try {
          retransmissions(q.a.state, q.a.secrets, lostStateReestablish(q.b.secrets));
        } catch (e) {
          return e as Error;
        }
      })();
      expect(thrown).toBeInstanceOf(ChannelProtocolError);
      expect(thrown).not.toBeInstanceOf(DataLossError);
      expect(thrown!.message).toBe('channel_reestablish: next_commitment_number 0: the peer lost its channel state and asks us to close');
    }
  });

  test('next_commitment_number ahead without a revocation to back it fails the channel (our commitment is not revoked)', () => {
    const p = Pair.open(FUNDING);
    const theirs = { ...ourReestablish(p.b.state, p.b.secrets), nextCommitmentNumber: 5n };
    expect(() => retransmissions(p.a.state, p.a.secrets, theirs)).toThrow(ChannelProtocolError);
    expect(() => retransmissions(p.a.state, p.a.secrets, theirs)).not.toThrow(DataLossError);
    expect(() => retransmissions(p.a.state, p.a.secrets, theirs)).toThrow('channel_reestablish: next_commitment_number 5, expected 1, ahead of the 0 we signed');
    expect(() => retransmissions(p.a.state, p.a.secrets, { ...theirs, nextCommitmentNumber: 0n })).toThrow('channel_reestablish: next_commitment_number 0: the peer lost its channel state and asks us to close');
  });
});
