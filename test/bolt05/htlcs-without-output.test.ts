/**
 * BOLT 5: which of our offered HTLCs the commitment on chain gives no output
 * to resolve (trimmed to dust, or absent from it), so they are failed once
 * it is deep; every other one has an output that resolves it on chain.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { outgoingHtlcs, outgoingWithoutOutput } from '../../src/bolt/bolt5/htlcs-without-output.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';

const onion = new Uint8Array(1366);

function add(p: Pair, from: Side, amountMsat: bigint, i: number): bigint {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(Uint8Array.of(0xcc, i)), cltvExpiry: 500 as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  return r.htlc.id;
}

const ids = (hs: { id: bigint }[]): bigint[] => hs.map((h) => h.id);

describe.each([
  ['static_remotekey', STATIC_REMOTEKEY_TYPE],
  ['anchors', ANCHORS_TYPE],
] as const)('%s', (_name, type) => {
  test('a dust HTLC has no output on either commitment; a large one has one on both', () => {
    const p = Pair.open(sat(1_000_000), 0n as Msat, 2500 as FeeratePerKw, type);
    const dust = add(p, p.a, 400_000n, 1);
    const large = add(p, p.a, 70_000_000n, 2);
    p.sign(p.a);
    p.settle();
    expect(ids(outgoingHtlcs(p.a.state))).toEqual([dust, large]);
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'local' }))).toEqual([dust]);
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'remote', index: p.a.state.remoteCommit.index }))).toEqual([dust]);
    // A revoked commitment's outputs are all ours with the revocation key: nothing of ours is resolved by an HTLC output of it.
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'revoked' }))).toEqual([dust, large]);
  });

  test('an HTLC signed for their next commitment only, or only proposed, is absent from the commitment that confirmed', () => {
    const p = Pair.open(sat(1_000_000), 0n as Msat, 2500 as FeeratePerKw, type);
    const first = add(p, p.a, 70_000_000n, 1);
    p.sign(p.a);
    p.settle();
    const signed = add(p, p.a, 80_000_000n, 2);
    p.sign(p.a);
    // A's commitment_signed is on its way: their next commitment has it, no revocation yet.
    expect(p.a.state.nextRemoteCommit).toBeDefined();
    const proposed = add(p, p.a, 90_000_000n, 3);
    expect(ids(outgoingHtlcs(p.a.state))).toEqual([first, signed, proposed]);
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'local' }))).toEqual([signed, proposed]);
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'remote', index: p.a.state.remoteCommit.index }))).toEqual([signed, proposed]);
    expect(ids(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'remote', index: p.a.state.nextRemoteCommit!.index }))).toEqual([proposed]);
  });

  test('HTLCs the peer offered are never ours to fail here', () => {
    const p = Pair.open(sat(1_000_000), 500_000_000n as Msat, 2500 as FeeratePerKw, type);
    add(p, p.b, 300_000n, 1);
    add(p, p.b, 70_000_000n, 2);
    p.sign(p.b);
    p.settle();
    expect(outgoingHtlcs(p.a.state)).toEqual([]);
    expect(outgoingWithoutOutput(p.a.state, p.a.secrets, { kind: 'local' })).toEqual([]);
  });
});
