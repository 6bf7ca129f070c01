/**
 * Mutual close negotiation (BOLT 2 legacy closing_signed with fee_range) as
 * pure transitions between two channel states: the funder proposes, the
 * fundee takes or counters inside the overlap, and both end up holding the
 * same transaction with both signatures.
 */
import { describe, expect, test } from 'bun:test';
import { hex } from '../../src/bolt/bytes.ts';
import {
  canSendShutdown,
  checkShutdownScript,
  closeWithReceived,
  type ClosingNegotiation,
  firstClosingSigned,
  readyToNegotiate,
  receiveClosingSigned,
} from '../../src/bolt/bolt2/channel/closing.ts';
import { closingFee, closingTransaction } from '../../src/bolt/bolt3/closing.ts';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { verifyInput } from '../../src/bolt/bolt3/sign.ts';
import { SIGHASH_ALL, txid, weight } from '../../src/bolt/bolt3/tx.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type FeeratePerKw, type Msat, type Sat, sat } from '../../src/bolt/units.ts';
import { Pair } from './channel-harness.ts';

const FUNDING = sat(1_000_000);
const scriptA = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x11)));
const scriptB = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x22)));

function negotiation(local: Uint8Array, remote: Uint8Array, proposed: bigint, min: bigint, max: bigint): ClosingNegotiation {
  return { localScript: local, remoteScript: remote, proposedFee: sat(proposed), range: { minFeeSatoshis: sat(min), maxFeeSatoshis: sat(max) } };
}

describe('mutual close negotiation', () => {
  test('failing during the negotiation: the peer’s last valid closing_signed closes the channel when its fee is sufficient and costs us nothing we refused', () => {
    const p = Pair.open(FUNDING, 300_000_000n as Msat);
    // A (funder) offers 3000 with a range up to 2000 (its fee outside its own range); B (fundee) accepts 100..5000 and counters 2000.
    const wide = firstClosingSigned(p.a.state, p.a.secrets, negotiation(scriptA, scriptB, 3000n, 100n, 3000n)).send!;
    const offer = { ...wide, feeRange: { minFeeSatoshis: sat(100), maxFeeSatoshis: sat(2000) } };
    const atB = receiveClosingSigned(p.b.state, p.b.secrets, negotiation(scriptB, scriptA, 900n, 300n, 700_000n), offer);
    expect(atB.send!.feeSatoshis).toBe(sat(2000));
    expect(atB.done).toBeUndefined();
    const done = closeWithReceived(p.b.state, p.b.secrets, atB.negotiation)!;
    expect(done.fee).toBe(sat(3000));
    expect(done.tx.outputs.map((o) => o.value)).toEqual([300_000n, 700_000n - 3000n]);
    expect(done.tx.inputs[0]!.witness).toHaveLength(4);
    // Below our minimum: not sufficient.
    const low = firstClosingSigned(p.a.state, p.a.secrets, negotiation(scriptA, scriptB, 200n, 100n, 3000n)).send!;
    const atB2 = receiveClosingSigned(p.b.state, p.b.secrets, negotiation(scriptB, scriptA, 900n, 300n, 700_000n), { ...low, feeRange: { minFeeSatoshis: sat(100), maxFeeSatoshis: sat(400) } });
    expect(atB2.send!.feeSatoshis).toBe(sat(300));
    expect(closeWithReceived(p.b.state, p.b.secrets, atB2.negotiation)).toBeUndefined();
    // As funder, a fee above our range is never taken (the peer could name any fee, then misbehave).
    const na = negotiation(scriptA, scriptB, 500n, 200n, 1500n);
    const first = firstClosingSigned(p.a.state, p.a.secrets, na);
    const greedy = { ...firstClosingSigned(p.b.state, p.b.secrets, negotiation(scriptB, scriptA, 4000n, 4000n, 4000n)).send!, feeRange: undefined };
    const atA = receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, greedy);
    expect(atA.send!.feeSatoshis).toBe(sat(1500));
    expect(closeWithReceived(p.a.state, p.a.secrets, atA.negotiation)).toBeUndefined();
    // Nothing received: nothing to close with.
    expect(closeWithReceived(p.a.state, p.a.secrets, first.negotiation)).toBeUndefined();
  });

  test('a fresh channel may shut down and negotiate at once', () => {
    const p = Pair.open(FUNDING, 300_000_000n as Msat);
    expect(canSendShutdown(p.a.state)).toBe(true);
    expect(readyToNegotiate(p.a.state)).toBe(true);
    expect(readyToNegotiate(p.b.state)).toBe(true);
  });

  test('the fundee takes a fee inside its range: two messages, the same fully signed transaction on both sides', () => {
    const p = Pair.open(FUNDING, 300_000_000n as Msat);
    const na = negotiation(scriptA, scriptB, 500n, 200n, 1500n);
    const nb = negotiation(scriptB, scriptA, 400n, 100n, 10_000n);
    const first = firstClosingSigned(p.a.state, p.a.secrets, na);
    expect(first.send!.feeSatoshis).toBe(sat(500));
    const atB = receiveClosingSigned(p.b.state, p.b.secrets, nb, first.send!);
    expect(atB.done).toBeDefined();
    expect(atB.send!.feeSatoshis).toBe(sat(500));
    const atA = receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, atB.send!);
    expect(atA.done).toBeDefined();
    expect(atA.send).toBeUndefined();
    expect(txid(atA.done!.tx)).toBe(txid(atB.done!.tx));
    // The funder pays the fee; outputs are the balances in whole sat, BIP 69 ordered.
    expect(atA.done!.tx.outputs.map((o) => o.value)).toEqual([300_000n, 700_000n - 500n]);
    expect(hex(atA.done!.tx.outputs[1]!.script)).toBe(hex(scriptA));
    // The witness holds both signatures, in funding-key order, valid for the funding script.
    const w = atA.done!.tx.inputs[0]!.witness;
    const script = fundingScript(p.a.state.localBasepoints.funding, p.b.state.localBasepoints.funding);
    expect(hex(w[3]!)).toBe(hex(script));
    const keys = [p.a.state.localBasepoints.funding, p.b.state.localBasepoints.funding].sort((x, y) => hex(x).localeCompare(hex(y)));
    for (const [i, k] of keys.entries()) {
      const der = w[1 + i]!.slice(0, -1);
      const compact = secp256k1.Signature.fromBytes(der, 'der').toBytes('compact');
      expect(verifyInput(atA.done!.tx, 0, script, FUNDING, compact, k, SIGHASH_ALL)).toBe(true);
    }
    expect(weight(atA.done!.tx)).toBeLessThanOrEqual(4 * 1000);
  });

  test('a fee outside the fundee range: it counters inside the overlap, the funder repeats it, three messages', () => {
    const p = Pair.open(FUNDING);
    const na = negotiation(scriptA, scriptB, 300n, 200n, 2000n);
    const nb = negotiation(scriptB, scriptA, 900n, 800n, 5000n);
    const first = firstClosingSigned(p.a.state, p.a.secrets, na);
    const counter = receiveClosingSigned(p.b.state, p.b.secrets, nb, first.send!);
    expect(counter.done).toBeUndefined();
    expect(counter.send!.feeSatoshis).toBe(sat(800));
    const atA = receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, counter.send!);
    expect(atA.done!.fee).toBe(sat(800));
    const atB = receiveClosingSigned(p.b.state, p.b.secrets, counter.negotiation, atA.send!);
    expect(atB.done!.fee).toBe(sat(800));
    expect(atB.send).toBeUndefined();
    expect(txid(atA.done!.tx)).toBe(txid(atB.done!.tx));
  });

  test('no overlap between the ranges: a warning, nothing signed, the negotiation still open (the driver fails the channel if nothing better comes in time)', () => {
    const p = Pair.open(FUNDING);
    const first = firstClosingSigned(p.a.state, p.a.secrets, negotiation(scriptA, scriptB, 300n, 200n, 400n));
    const nb = negotiation(scriptB, scriptA, 900n, 800n, 5000n);
    const step = receiveClosingSigned(p.b.state, p.b.secrets, nb, first.send!);
    expect(step.warning).toContain('no overlap');
    expect(step.send).toBeUndefined();
    expect(step.negotiation).toEqual(nb);
  });

  test('a bad signature fails the channel', () => {
    const p = Pair.open(FUNDING);
    const first = firstClosingSigned(p.a.state, p.a.secrets, negotiation(scriptA, scriptB, 300n, 200n, 400n));
    const bad = { ...first.send!, signature: first.send!.signature.map((b, i) => (i === 40 ? b ^ 1 : b)) };
    expect(() => receiveClosingSigned(p.b.state, p.b.secrets, negotiation(scriptB, scriptA, 300n, 100n, 5000n), bad)).toThrow('invalid closing_signed signature');
  });

  test('the funder refuses a counter outside the overlap', () => {
    const p = Pair.open(FUNDING);
    const na = negotiation(scriptA, scriptB, 300n, 200n, 400n);
    const first = firstClosingSigned(p.a.state, p.a.secrets, na);
    const greedy = firstClosingSigned(p.b.state, p.b.secrets, negotiation(scriptB, scriptA, 4000n, 100n, 5000n));
    // Signed by B for a fee A never offered: valid signature, but outside the overlap.
    expect(() => receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, greedy.send!)).toThrow();
  });

  test('shutdown scripts: segwit v0 and v1+ programs only', () => {
    expect(() => checkShutdownScript(scriptA)).not.toThrow();
    expect(() => checkShutdownScript(Uint8Array.of(0x51, 0x20, ...new Uint8Array(32)))).not.toThrow();
    expect(() => checkShutdownScript(Uint8Array.of(0x76, 0xa9, 0x14, ...new Uint8Array(20), 0x88, 0xac))).toThrow('not a segwit');
    expect(() => checkShutdownScript(Uint8Array.of(0x00, 0x14, 1, 2))).toThrow('not a segwit');
  });

  test('closing transaction: dust outputs dropped, fee from the funder, weight estimate covers the signed size', () => {
    const t = closingTransaction({
      fundingTxid: '11'.repeat(32), fundingVout: 0, localScript: scriptA, remoteScript: scriptB,
      localMsat: 999_500_000n as Msat, remoteMsat: 500_000n as Msat, localIsFunder: true, fee: sat(1000), dustLimit: sat(546),
    });
    expect(t.tx.outputs).toHaveLength(1);
    expect(t.tx.outputs[0]!.value).toBe(999_500n - 1000n);
    expect(closingFee(1000 as FeeratePerKw, scriptA, scriptB)).toBeGreaterThan(0n as Sat);
  });
});
