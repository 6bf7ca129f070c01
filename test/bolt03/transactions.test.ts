/**
 * BOLT #3 Appendices B, C and F: the funding transaction, and every
 * commitment and HTLC transaction of the static_remotekey and anchors
 * variants, with the exact signatures printed in the spec.
 * Appendix G (dual-funded v2 channels) is out of scope: lnnode opens v1 channels.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2pkh, Transaction } from '@scure/btc-signer';
import { compareBytes, fromHex, hex } from '../../src/bolt/bytes.ts';
import { EncodeError } from '../../src/bolt/errors.ts';
import { buildCommitment, htlcTransactions, type CommitmentParams, type Htlc } from '../../src/bolt/bolt3/commitment.ts';
import { obscuringFactor } from '../../src/bolt/bolt3/commitment-number.ts';
import { type CommitmentKeys } from '../../src/bolt/bolt3/keys.ts';
import { p2wpkh, p2wsh } from '../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { derFromCompact, signInput, verifyInput, witnessSig } from '../../src/bolt/bolt3/sign.ts';
import { SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_SINGLE, serializeTx, txid, type Tx } from '../../src/bolt/bolt3/tx.ts';
import { cltvExpiry, feeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { fuzzDecoder } from '../support/fuzz.ts';
import funding from '../vectors/bolt03/funding.json';
import C from '../vectors/bolt03/commitment-static-remotekey.json';
import F from '../vectors/bolt03/commitment-anchors.json';

const P = C.params;
const key = (h: string): Uint8Array => fromHex(h);

describe('Appendix B: funding transaction', () => {
  test('vector: funding witness script, output and signed funding tx', () => {
    const ws = fundingScript(key(funding.local_funding_pubkey), key(funding.remote_funding_pubkey));
    expect(hex(ws)).toBe(funding.funding_witness_script);
    // The funding input is a legacy P2PKH coinbase; the wallet signs it (scure), we supply the output.
    const priv = key(funding.coinbase_privkey);
    const pub = secp256k1.getPublicKey(priv, true);
    const tx = new Transaction({ allowUnknownOutputs: true });
    tx.addInput({ txid: funding.input_txid, index: 0, nonWitnessUtxo: fromHex(funding.coinbase_tx) });
    // BIP 69: 10,000,000 sat funding output sorts before the change.
    tx.addOutput({ script: p2wsh(ws), amount: BigInt(funding.funding_satoshis) });
    tx.addOutput({ script: p2wpkh(pub), amount: BigInt(funding.change_satoshis) });
    tx.sign(priv);
    tx.finalize();
    expect(hex(tx.extract())).toBe(funding.funding_tx);
    expect(tx.id).toBe(funding.txid);
    expect(p2pkh(pub).script.length).toBe(25);
  });
});

const htlcsC = C.htlcs.map(
  (h): Htlc => ({
    direction: h.direction === 'remote->local' ? 'received' : 'offered',
    amountMsat: msat(h.amount_msat),
    paymentHash: sha256(fromHex(h.preimage)),
    cltvExpiry: cltvExpiry(h.expiry),
  }),
);
const preimages = C.htlcs.map((h) => fromHex(h.preimage));

const keys: CommitmentKeys = {
  revocation: key(P.local_revocation_pubkey) as CommitmentKeys['revocation'],
  localDelayed: key(P.local_delayedpubkey) as CommitmentKeys['localDelayed'],
  localHtlc: key(P.local_htlcpubkey) as CommitmentKeys['localHtlc'],
  remoteHtlc: key(P.remote_htlcpubkey) as CommitmentKeys['remoteHtlc'],
  remotePayment: key(P.remote_payment_basepoint) as CommitmentKeys['remotePayment'],
};

/** Which of the test HTLCs a case commits to. */
function htlcsFor(name: string, toLocal: bigint, toRemote: bigint): number[] {
  if (name.includes('same amount and preimage')) return [1, 5, 6];
  return toLocal + toRemote === BigInt(P.funding_amount_satoshi) * 1000n ? [] : [0, 1, 2, 3, 4];
}

function params(toLocal: bigint, toRemote: bigint, feerate: number, name: string, variant: 'static' | 'anchors', dust = 546): { p: CommitmentParams; ids: number[] } {
  const ids = htlcsFor(name, toLocal, toRemote);
  return {
    ids,
    p: {
      fundingTxid: P.funding_tx_id,
      fundingVout: 0,
      fundingSatoshis: sat(BigInt(P.funding_amount_satoshi)),
      localFundingPubkey: key(P.local_funding_pubkey),
      remoteFundingPubkey: key(P.remote_funding_pubkey),
      keys,
      toSelfDelay: Number(P.local_delay),
      dustLimit: sat(dust),
      feeratePerKw: feeratePerKw(feerate),
      ownerIsOpener: true,
      toLocalMsat: msat(toLocal),
      toRemoteMsat: msat(toRemote),
      htlcs: ids.map((i) => htlcsC[i]!),
      commitmentNumber: BigInt(P.commitment_number),
      obscuringFactor: obscuringFactor(key(P.local_payment_basepoint), key(P.remote_payment_basepoint)),
      variant,
    },
  };
}

/** Signs the commitment with both funding keys and fills the 2-of-2 witness. */
function signCommitment(tx: Tx, ws: Uint8Array): { local: Uint8Array; remote: Uint8Array } {
  const amount = BigInt(P.funding_amount_satoshi);
  const local = signInput(tx, 0, ws, amount, key(P.local_funding_privkey), SIGHASH_ALL);
  const remote = signInput(tx, 0, ws, amount, key(P.remote_funding_privkey), SIGHASH_ALL);
  const localFirst = compareBytes(key(P.local_funding_pubkey), key(P.remote_funding_pubkey)) < 0;
  const [s1, s2] = localFirst ? [local, remote] : [remote, local];
  tx.inputs[0]!.witness = [new Uint8Array(0), witnessSig(s1.der, SIGHASH_ALL), witnessSig(s2.der, SIGHASH_ALL), ws];
  expect(verifyInput(tx, 0, ws, amount, remote.compact, key(P.remote_funding_pubkey), SIGHASH_ALL)).toBe(true);
  return { local: local.der, remote: remote.der };
}

function signHtlc(h: ReturnType<typeof htlcTransactions>[number], anchors: boolean, preimage: Uint8Array): { local: Uint8Array; remote: Uint8Array } {
  const remoteType = anchors ? SIGHASH_SINGLE | SIGHASH_ANYONECANPAY : SIGHASH_ALL;
  const remote = signInput(h.tx, 0, h.witnessScript, h.amount, key(P.remote_privkey), remoteType);
  const local = signInput(h.tx, 0, h.witnessScript, h.amount, key(P.local_privkey), SIGHASH_ALL);
  h.tx.inputs[0]!.witness = [
    new Uint8Array(0),
    witnessSig(remote.der, remoteType),
    witnessSig(local.der, SIGHASH_ALL),
    h.kind === 'success' ? preimage : new Uint8Array(0),
    h.witnessScript,
  ];
  return { local: local.der, remote: remote.der };
}

describe('Appendix C: static_remotekey commitments', () => {
  for (const c of C.cases) {
    test(`vector: ${c.name}`, () => {
      const { p, ids } = params(BigInt(c.to_local_msat), BigInt(c.to_remote_msat), c.feerate_per_kw, c.name, 'static');
      const commitment = buildCommitment(p);
      const sigs = signCommitment(commitment.tx, commitment.fundingScript);
      expect(hex(sigs.remote)).toBe(c.remote_signature);
      expect(hex(sigs.local)).toBe(c.local_signature);
      expect(hex(serializeTx(commitment.tx))).toBe(c.commit_tx);
      const htlcTxs = htlcTransactions(commitment, p, txid(commitment.tx));
      expect(htlcTxs.length).toBe(c.num_htlcs);
      htlcTxs.forEach((h, n) => {
        const v = c.htlc_txs[n]!;
        expect([h.kind, ids[h.htlc]] as unknown[]).toEqual([v.kind, v.htlc]);
        const s = signHtlc(h, false, preimages[ids[h.htlc]!]!);
        expect(hex(s.remote)).toBe(v.remote_signature);
        expect(hex(s.local)).toBe(v.local_signature);
        expect(hex(serializeTx(h.tx))).toBe(v.tx);
      });
    });
  }
});

describe('Appendix F: anchors commitments', () => {
  for (const c of F.cases) {
    test(`vector: anchors: ${c.Name}`, () => {
      const local = BigInt(c.LocalBalance);
      const remote = BigInt(c.RemoteBalance);
      const { p, ids } = params(local, remote, c.FeePerKw, c.Name, 'anchors', c.DustLimitSatoshis);
      if (!c.UseTestHtlcs) expect(ids).toEqual([]);
      const commitment = buildCommitment(p);
      const sigs = signCommitment(commitment.tx, commitment.fundingScript);
      expect(hex(sigs.remote)).toBe(c.RemoteSigHex);
      expect(hex(serializeTx(commitment.tx))).toBe(c.ExpectedCommitmentTxHex);
      const htlcTxs = htlcTransactions(commitment, p, txid(commitment.tx));
      expect(htlcTxs.length).toBe(c.HtlcDescs.length);
      htlcTxs.forEach((h, n) => {
        const v = c.HtlcDescs[n]!;
        const s = signHtlc(h, true, preimages[ids[h.htlc]!]!);
        expect(hex(s.remote)).toBe(v.RemoteSigHex);
        expect(hex(serializeTx(h.tx))).toBe(v.ResolutionTxHex);
      });
    });
  }
});

describe('bad input', () => {
  const base = params(6_988_000_000n, 3_000_000_000n, 253, 'x', 'static').p;
  test('impossible commitments are refused naming the parameter', () => {
    expect(() => buildCommitment({ ...base, toLocalMsat: msat(-1n) })).toThrow(EncodeError);
    expect(() => buildCommitment({ ...base, toLocalMsat: msat(9_000_000_000n) })).toThrow('exceed the funding amount');
    expect(() => buildCommitment({ ...base, fundingTxid: 'zz' })).toThrow('fundingTxid');
    expect(() => buildCommitment({ ...base, htlcs: [{ ...htlcsC[0]!, paymentHash: new Uint8Array(31) }] })).toThrow('htlcs[0].paymentHash');
    expect(() => buildCommitment({ ...base, keys: { ...keys, revocation: new Uint8Array(32) as never } })).toThrow('revocationPubkey');
  });

  test('signature verification answers false on garbage, never throws', () => {
    const c = buildCommitment(base);
    const good = signInput(c.tx, 0, c.fundingScript, 10_000_000n, key(P.remote_funding_privkey), SIGHASH_ALL).compact;
    const pub = key(P.remote_funding_pubkey);
    const verify = (b: Uint8Array): unknown => {
      if (verifyInput(c.tx, 0, c.fundingScript, 10_000_000n, b, pub, SIGHASH_ALL) && hex(b) !== hex(good)) {
        throw new Error('a mutated signature verified');
      }
      return undefined;
    };
    fuzzDecoder(verify, { seeds: [good], iterations: 300, maxLen: 80 });
    expect(verifyInput(c.tx, 0, c.fundingScript, 10_000_000n, good, pub, SIGHASH_ALL)).toBe(true);
    expect(verifyInput(c.tx, 0, c.fundingScript, 9_999_999n, good, pub, SIGHASH_ALL)).toBe(false);
    expect(hex(derFromCompact(good)).startsWith('30')).toBe(true);
  });
});
