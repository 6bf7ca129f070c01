/**
 * BOLT 5 "Revoked Transaction Close Handling": the cheater's HTLC-timeout and
 * HTLC-success transactions of a revoked commitment pay to its revocable
 * to_local script, and we take each such output with the revocation key.
 * Built between two in-memory channel parties: B keeps a copy of a state
 * with HTLCs both ways, the state is revoked, and B's second-stage
 * transactions for it are what A must claim.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../../src/bolt/bytes.ts';
import { type Commitments, type RemoteCommit, sendAdd, sendFulfill } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { p2wpkh, p2wsh } from '../../src/bolt/bolt3/script.ts';
import { derFromCompact, verifyInput } from '../../src/bolt/bolt3/sign.ts';
import { SIGHASH_ALL } from '../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { buildSweep } from '../../src/bolt/bolt5/sweep.ts';
import { revokedCommitmentClaims, revokedSecondStageClaims } from '../../src/bolt/bolt5/their-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';

const onion = new Uint8Array(1366);
const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(0xbb, i));

function add(p: Pair, from: Side, amountMsat: bigint, i: number): bigint {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(preimage(i)), cltvExpiry: 500 as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  return r.htlc.id;
}

/** A channel with an HTLC each way; B's copy of that state, and the same commitment as A holds it, once it is revoked. */
function revokedWithHtlcs(channelType: typeof STATIC_REMOTEKEY_TYPE): { p: Pair; old: Commitments; revoked: RemoteCommit } {
  const p = Pair.open(sat(1_000_000), 300_000_000n as Msat, 2500 as FeeratePerKw, channelType);
  add(p, p.b, 50_000_000n, 1);
  const toB = add(p, p.a, 60_000_000n, 2);
  p.sign(p.b);
  p.settle();
  p.sign(p.a);
  p.settle();
  expect(p.b.state.localCommit.spec.htlcs).toHaveLength(2);
  const old = structuredClone(p.b.state);
  // B settles A's HTLC: B's commitment with both HTLCs is revoked.
  const f = sendFulfill(p.b.state, toB, preimage(2));
  p.b.state = f.state;
  p.send(p.b, f.send);
  p.sign(p.b);
  p.settle();
  const revoked = p.a.events.flatMap((e) => (e.kind === 'revoked' && e.commit.txid === old.localCommit.txid ? [e.commit] : []))[0];
  if (!revoked) throw new Error('B did not revoke the commitment with both HTLCs');
  return { p, old, revoked };
}

describe.each([
  ['static_remotekey', STATIC_REMOTEKEY_TYPE],
  ['anchors', ANCHORS_TYPE],
] as const)('%s: the cheater\'s second stage of a revoked commitment', (_name, type) => {
  test('each HTLC-timeout / HTLC-success output is claimed with the revocation key, signed as the script wants', () => {
    const { p, old, revoked } = revokedWithHtlcs(type);
    // B broadcasts the revoked commitment and its HTLC transactions (it knows the preimage of A's HTLC).
    const cheat = ourCommitment(old, p.b.secrets, (h) => (equalBytes(h, sha256(preimage(2))) ? preimage(2) : undefined));
    expect(cheat.txid).toBe(revoked.txid);
    expect(cheat.secondStage.map((s) => s.kind).sort()).toEqual(['success', 'timeout']);
    const justice = revokedCommitmentClaims(p.a.state, p.a.secrets, revoked.index, revoked.spec);
    const toLocal = justice.claims.find((c) => c.paymentHash === undefined && c.kind === 'revoked')!;
    for (const stage of cheat.secondStage) {
      const out = stage.tx.outputs[0]!;
      const claims = revokedSecondStageClaims(p.a.state, p.a.secrets, revoked.index, revoked.spec, {
        txid: stage.txid,
        outputs: stage.tx.outputs.map((o) => ({ script: o.script, amount: o.value })),
      });
      expect(claims.map((c): unknown[] => [c.txid, c.vout, c.amount, c.csv, c.cltv])).toEqual([[stage.txid, 0, out.value, 0, 0]]);
      const claim = claims[0]!;
      // The same revocable script as the revoked to_local, and the key is the revocation key in it.
      expect(p2wsh(claim.scriptCode)).toEqual(out.script);
      expect(claim.scriptCode).toEqual(toLocal.scriptCode);
      const revocationPubkey = claim.scriptCode.slice(2, 35);
      expect(secp256k1.getPublicKey(claim.privkey, true)).toEqual(revocationPubkey);
      const sweep = buildSweep([claim], p2wpkh(new Uint8Array(33).fill(2)), 1000 as FeeratePerKw)!;
      const [sig, branch, script] = sweep.tx.inputs[0]!.witness;
      expect([branch, script]).toEqual([Uint8Array.of(1), claim.scriptCode]);
      expect(sig!.at(-1)).toBe(SIGHASH_ALL);
      const compact = secp256k1.Signature.fromBytes(sig!.slice(0, -1), 'der').toBytes('compact');
      expect(derFromCompact(compact)).toEqual(sig!.slice(0, -1));
      expect(verifyInput(sweep.tx, 0, claim.scriptCode, claim.amount, compact, revocationPubkey, SIGHASH_ALL)).toBe(true);
      // Spends it before to_self_delay: no relative lock on the input.
      expect(sweep.tx.inputs[0]!.sequence).toBe(0xfffffffd);
    }
  });

  test('several HTLCs in one transaction (anchors lets the cheater aggregate them): every matching output is claimed, nothing else', () => {
    const { p, old, revoked } = revokedWithHtlcs(type);
    const cheat = ourCommitment(old, p.b.secrets, () => preimage(2));
    const outputs = [
      ...cheat.secondStage.map((s) => ({ script: s.tx.outputs[0]!.script, amount: s.tx.outputs[0]!.value })),
      { script: p2wpkh(new Uint8Array(33).fill(3)), amount: 10_000n },
    ];
    const claims = revokedSecondStageClaims(p.a.state, p.a.secrets, revoked.index, revoked.spec, { txid: 'cd'.repeat(32), outputs });
    expect(claims.map((c): unknown[] => [c.vout, c.amount])).toEqual([[0, outputs[0]!.amount], [1, outputs[1]!.amount]]);
  });

  test('a transaction that pays elsewhere, or the second stage of B\'s current (unrevoked) commitment, gives no claim', () => {
    const { p, revoked } = revokedWithHtlcs(type);
    const current = ourCommitment(p.b.state, p.b.secrets, () => undefined);
    expect(current.secondStage).toHaveLength(1);
    const stage = current.secondStage[0]!;
    const spender = { txid: stage.txid, outputs: stage.tx.outputs.map((o) => ({ script: o.script, amount: o.value })) };
    expect(revokedSecondStageClaims(p.a.state, p.a.secrets, revoked.index, revoked.spec, spender)).toEqual([]);
    expect(revokedSecondStageClaims(p.a.state, p.a.secrets, revoked.index, revoked.spec, { txid: stage.txid, outputs: [{ script: p2wpkh(new Uint8Array(33).fill(2)), amount: 5_000n }] })).toEqual([]);
  });
});
