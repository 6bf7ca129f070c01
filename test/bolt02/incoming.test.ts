/**
 * Incoming HTLCs as pure steps (src/bolt/bolt2/channel/incoming.ts): an
 * HTLC is up for resolution only once committed on both sides and while no
 * settle of ours covers it; one added after our shutdown is refused
 * whatever the invoice says; a decided outcome becomes the matching update.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { settleIncoming, unresolvedIncoming } from '../../src/bolt/bolt2/channel/incoming.ts';
import { type CltvExpiry, msat, sat } from '../../src/bolt/units.ts';
import { Pair } from './channel-harness.ts';

const PREIMAGE = new Uint8Array(32).fill(5);

function withIncoming(): Pair {
  const pair = Pair.open(sat(500_000), msat(100_000_000n));
  const r = sendAdd(pair.a.state, { amountMsat: msat(5_000_000n), paymentHash: sha256(PREIMAGE), cltvExpiry: 600_000 as CltvExpiry, onion: new Uint8Array(1366) });
  pair.a.state = r.state;
  pair.send(pair.a, r.send);
  return pair;
}

describe('incoming HTLCs as pure steps', () => {
  test('up for resolution once committed on both sides, and no more once our fulfill covers it', () => {
    const pair = withIncoming();
    pair.sign(pair.a);
    pair.deliverOne(pair.b); // update_add_htlc
    pair.deliverOne(pair.b); // commitment_signed: on B's commitment, not yet on A's
    expect(unresolvedIncoming(pair.b.state, undefined)).toEqual([]);
    pair.settle();
    const todo = unresolvedIncoming(pair.b.state, undefined);
    expect(todo.map((t) => [t.htlc.id, t.refusal])).toEqual([[0n, undefined]]);
    const step = settleIncoming(pair.b.state, 0n, { kind: 'fulfill', preimage: PREIMAGE });
    expect(step.send.map((m) => m.name)).toEqual(['update_fulfill_htlc']);
    expect(unresolvedIncoming(step.state, undefined)).toEqual([]);
  });

  test('an HTLC the peer added after our shutdown went out is refused for good; one before it is not', () => {
    const pair = withIncoming();
    pair.sign(pair.a);
    pair.settle();
    expect(unresolvedIncoming(pair.b.state, 0n).map((t) => t.refusal)).toEqual(['permanent_channel_failure']);
    expect(unresolvedIncoming(pair.b.state, 1n).map((t) => t.refusal)).toEqual([undefined]);
    const failed = settleIncoming(pair.b.state, 0n, { kind: 'fail_malformed', sha256OfOnion: new Uint8Array(32), failureCode: 0x8000 | 0x4000 | 5 });
    expect(failed.send.map((m) => m.name)).toEqual(['update_fail_malformed_htlc']);
  });
});
