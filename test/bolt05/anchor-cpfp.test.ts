/**
 * Issue 13 hole 7 at the pure level: the CPFP child of our anchors
 * commitment (BOLT 5 "Failing a Channel": spend the to_local_anchor with
 * enough fee; RBF it when that proves insufficient). Built on an in-memory
 * anchors channel with an HTLC each way; the child's weights and fees are
 * checked to the unit, its anchor signature against the anchor script, and
 * the deadline-paced feerate block by block.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { hash160, p2wpkh, p2wsh } from '../../src/bolt/bolt3/script.ts';
import { anchorScript } from '../../src/bolt/bolt3/scripts.ts';
import { signInput, verifyInput, witnessSig } from '../../src/bolt/bolt3/sign.ts';
import { SIGHASH_ALL, type Tx, weight } from '../../src/bolt/bolt3/tx.ts';
import {
  ANCHOR_INPUT_WEIGHT,
  anchorBumpTarget,
  childWeight,
  CpfpFundsError,
  earliestDeadline,
  feerateOf,
  pacedFeerate,
  planAnchorCpfp,
  rampCeiling,
  signAnchor,
} from '../../src/bolt/bolt5/anchor-cpfp.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { p2pkhScriptCode } from '../../src/bolt/bolt5/sweep.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';

const onion = new Uint8Array(1366);
const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(0xcc, i));

function add(p: Pair, from: Side, amountMsat: bigint, i: number, cltv: number): void {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(preimage(i)), cltvExpiry: cltv as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
}

/** An anchors channel at 253 sat/kw with an HTLC A offered (expiry 500) and one A received (expiry 480). */
function channel() {
  const p = Pair.open(sat(1_000_000), 300_000_000n as Msat, 253 as FeeratePerKw, ANCHORS_TYPE);
  add(p, p.a, 60_000_000n, 1, 500);
  add(p, p.b, 50_000_000n, 2, 480);
  p.sign(p.a);
  p.settle();
  p.sign(p.b);
  p.settle();
  expect(p.a.state.localCommit.spec.htlcs).toHaveLength(2);
  return p;
}

/** A P2WPKH wallet coin and its key. */
const walletKey = sha256(Uint8Array.of(0x77));
const walletPub = secp256k1.getPublicKey(walletKey, true);
const coin = (n: number, value: bigint) => ({ txid: n.toString(16).padStart(2, '0').repeat(32), vout: n, value: sat(value) });
const change = p2wpkh(walletPub);

/** Signs every wallet input (all `walletKey`'s) and the anchor: the child as the node broadcasts it. */
function signChild(tx: Tx, anchor: Parameters<typeof signAnchor>[0], values: bigint[]): Tx {
  const code = p2pkhScriptCode(hash160(walletPub));
  const inputs = tx.inputs.map((input, i) => {
    if (i === 0) return { ...input, witness: signAnchor(anchor, tx) };
    const sig = signInput(tx, i, code, sat(values[i - 1]!), walletKey, SIGHASH_ALL);
    return { ...input, witness: [witnessSig(sig.der, SIGHASH_ALL), walletPub] };
  });
  return { ...tx, inputs };
}

describe('the anchor CPFP child', () => {
  test('our commitment exposes its anchor, its exact weight and fee, and the HTLCs at stake', () => {
    const p = channel();
    const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
    // Two anchors, to_local, to_remote, two HTLCs. BOLT 3 budgets 1124 + 2 * 172 = 1468 (73-byte signatures,
    // a 5-byte locktime slack); the signed transaction (deterministic RFC 6979 signatures) weighs 1457.
    expect(oc.tx.outputs).toHaveLength(6);
    expect(oc.weight).toBe(weight(oc.tx));
    expect(oc.weight).toBe(1457);
    // BOLT 3: fee = 253 * 1468 / 1000 = 371 (the anchors come out of to_local, not the fee).
    expect(oc.fee).toBe(sat(371));
    const anchor = oc.anchor!;
    expect(oc.tx.outputs[anchor.vout]!.value).toBe(330n);
    expect(oc.tx.outputs[anchor.vout]!.script).toEqual(p2wsh(anchorScript(p.a.state.localBasepoints.funding)));
    // Only the offered HTLC is at stake: the received one's preimage is not known.
    expect(oc.atStake).toEqual([{ cltvExpiry: 500, amount: sat(60_000) }]);
    const known = ourCommitment(p.a.state, p.a.secrets, (h) => (Buffer.from(h).equals(sha256(preimage(2))) ? preimage(2) : undefined));
    expect(known.atStake.map((h) => h.cltvExpiry).sort()).toEqual([480, 500]);
    expect(earliestDeadline(known.atStake)).toBe(480);
  });

  test('the child brings the package to the target feerate, with exact weights, and its anchor signature verifies', () => {
    const p = channel();
    const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
    const target = 5000 as FeeratePerKw;
    const plan = planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, coins: [coin(1, 20_000n), coin(2, 100_000n)], changeScript: change, feerate: target });
    // The larger coin alone is enough.
    expect(plan.coins.map((c) => c.vout)).toEqual([2]);
    expect(ANCHOR_INPUT_WEIGHT).toBe(280);
    expect(plan.weight).toBe(42 + 280 + 272 + 124);
    expect(plan.weight).toBe(childWeight(1));
    // fee = ceil(5000 * (commitment + child weight) / 1000) - the commitment's own fee.
    const expected = (5000n * BigInt(oc.weight + plan.weight) + 999n) / 1000n - oc.fee;
    expect(plan.fee).toBe(sat(expected));
    expect(plan.change).toBe(sat(100_000n + 330n - expected));
    expect(plan.packageFeerate).toBeGreaterThanOrEqual(target);
    expect(plan.tx.inputs.map((i) => [i.txid, i.vout])).toEqual([[oc.txid, oc.anchor!.vout], [coin(2, 0n).txid, 2]]);

    const signed = signChild(plan.tx, oc.anchor!, [100_000n]);
    const w = weight(signed);
    // The plan is an upper bound: at most 1 unit per signature below it (DER lengths), never above.
    expect(w).toBeLessThanOrEqual(plan.weight);
    expect(w).toBeGreaterThanOrEqual(plan.weight - 3);
    // Even at the signed weight, the package pays the target.
    expect(feerateOf(oc.fee + plan.fee, oc.weight + w)).toBeGreaterThanOrEqual(target);
    const [sig, script] = signed.inputs[0]!.witness;
    expect(script).toEqual(anchorScript(p.a.state.localBasepoints.funding));
    expect(sig!.at(-1)).toBe(SIGHASH_ALL);
    const compact = secp256k1.Signature.fromBytes(sig!.slice(0, -1), 'der').toBytes('compact');
    expect(verifyInput(signed, 0, script!, sat(330), compact, p.a.state.localBasepoints.funding, SIGHASH_ALL)).toBe(true);
    // Signed by the funding key, over this very transaction: another output makes it invalid.
    const tampered = { ...signed, outputs: [{ ...signed.outputs[0]!, value: signed.outputs[0]!.value - 1n }] };
    expect(verifyInput(tampered, 0, script!, sat(330), compact, p.a.state.localBasepoints.funding, SIGHASH_ALL)).toBe(false);
  });

  test('coins are added until the fee and a change of at least 294 sat are covered; too few coins is an error naming the amounts', () => {
    const p = channel();
    const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
    const plan = planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, coins: [coin(1, 3_000n), coin(2, 4_000n), coin(3, 9_000n)], changeScript: change, feerate: 5000 as FeeratePerKw });
    // 9,000 alone cannot pay ~10.9k; 9,000 + 4,000 can.
    expect(plan.coins.map((c) => c.vout)).toEqual([3, 2]);
    expect(plan.weight).toBe(childWeight(2));
    expect(plan.change).toBe(sat(13_000n + 330n - plan.fee));
    expect(plan.change).toBeGreaterThanOrEqual(294n);
    expect(() => planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, coins: [coin(1, 1_000n)], changeScript: change, feerate: 5000 as FeeratePerKw })).toThrow(CpfpFundsError);
  });

  test('a replacement spends the replaced child\'s coins and pays its fee plus 1 sat/vB of its own size (BIP 125)', () => {
    const p = channel();
    const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
    const first = planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, coins: [coin(1, 50_000n)], changeScript: change, feerate: 1000 as FeeratePerKw });
    // Barely higher target: the BIP 125 floor decides.
    const rbf = planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, required: first.coins, coins: [coin(2, 70_000n)], changeScript: change, feerate: 1001 as FeeratePerKw, replaces: first.fee });
    expect(rbf.coins.map((c) => c.vout)).toEqual([1]);
    expect(rbf.fee).toBe(sat(first.fee + (250n * BigInt(rbf.weight) + 999n) / 1000n));
    // A much higher target: the package decides, and more coins come in after the required one.
    const high = planAnchorCpfp({ anchor: oc.anchor!, commitment: oc, required: first.coins, coins: [coin(2, 70_000n)], changeScript: change, feerate: 40_000 as FeeratePerKw, replaces: first.fee });
    expect(high.coins.map((c) => c.vout)).toEqual([1, 2]);
    expect(high.fee).toBe(sat((40_000n * BigInt(oc.weight + childWeight(2)) + 999n) / 1000n - oc.fee));
  });
});

describe('when to bump, and how high', () => {
  test('no child while the commitment alone reaches the target; one when it is below; none again once the child reaches it', () => {
    const commitment = { weight: 1468, fee: sat(371) }; // 252 sat/kw
    expect(anchorBumpTarget({ commitment, target: 253 as FeeratePerKw })).toBe(253 as FeeratePerKw);
    expect(anchorBumpTarget({ commitment: { weight: 1468, fee: sat(3_000) }, target: 2000 as FeeratePerKw })).toBeUndefined();
    const previous = { fee: sat(10_000), weight: childWeight(1) };
    expect(anchorBumpTarget({ commitment, previous, target: 4000 as FeeratePerKw })).toBeUndefined();
    // (371 + 10000) / 2186 = 4744 sat/kw: a target above it needs a replacement.
    expect(anchorBumpTarget({ commitment, previous, target: 4745 as FeeratePerKw })).toBe(4745 as FeeratePerKw);
  });

  test('the target rises linearly from the estimate at the first bump to the ceiling at the deadline, and stays there', () => {
    const base = { estimate: 1000 as FeeratePerKw, max: 11_000 as FeeratePerKw, startHeight: 100 };
    const at = (height: number, deadline?: number) => pacedFeerate({ ...base, height, ...(deadline === undefined ? {} : { deadline }) });
    expect([100, 101, 105, 109, 110, 120].map((h) => Number(at(h, 110)))).toEqual([1000, 2000, 6000, 10_000, 11_000, 11_000]);
    // Nothing at stake: the estimate, whatever the height.
    expect(at(150)).toBe(1000 as FeeratePerKw);
    // A ceiling below the estimate never pulls the target under it.
    expect(pacedFeerate({ ...base, max: 500 as FeeratePerKw, height: 109, deadline: 110 })).toBe(1000 as FeeratePerKw);
    // The estimate rising moves the whole ramp up.
    expect(pacedFeerate({ ...base, estimate: 6000 as FeeratePerKw, height: 105, deadline: 110 })).toBe(8500 as FeeratePerKw);
  });

  test('the ceiling is the node\'s maximum, and no more than half the HTLC value at stake spent on the package', () => {
    // 60,000 sat at stake: 30,000 sat over 1468 + 718 weight = 13,723 sat/kw.
    expect(rampCeiling(250_000 as FeeratePerKw, [{ amount: sat(60_000) }], 1468)).toBe(13_723 as FeeratePerKw);
    expect(rampCeiling(5_000 as FeeratePerKw, [{ amount: sat(60_000) }], 1468)).toBe(5_000 as FeeratePerKw);
    expect(rampCeiling(250_000 as FeeratePerKw, [], 1468)).toBe(0 as FeeratePerKw);
  });
});
