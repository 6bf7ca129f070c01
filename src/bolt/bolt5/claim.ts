/**
 * An output on chain we can spend on our own, and how: the key, the script
 * the signature commits to, the witness around the signature, and the
 * timelocks that must have passed. Sweeps are built from these.
 */
import { type Sat } from '../units.ts';

export type ClaimKind =
  /** Our delayed output: to_local of our commitment, or the output of our HTLC transaction. */
  | 'delayed'
  /** Our to_remote on their commitment (static_remotekey: our payment basepoint key). */
  | 'to_remote'
  /** An HTLC we offered, on their commitment, after its CLTV expiry. */
  | 'htlc_timeout'
  /** An HTLC they offered, on their commitment, with the preimage. */
  | 'htlc_preimage'
  /** Any output of their revoked commitment, with the revocation key. */
  | 'revoked'
  /** Our 330-sat anchor on our anchors commitment (funding key, spendable at once): the CPFP input. */
  | 'anchor';

export interface Claim {
  kind: ClaimKind;
  txid: string;
  vout: number;
  amount: Sat;
  /** BIP 143 script code: the witness script, or the P2PKH form for P2WPKH. */
  scriptCode: Uint8Array;
  privkey: Uint8Array;
  /** The witness stack, given our signature (DER + sighash byte). */
  witness: (sig: Uint8Array) => Uint8Array[];
  /** Relative lock (blocks after the output's transaction confirms); 0 for none. */
  csv: number;
  /** Absolute lock (block height); 0 for none. */
  cltv: number;
  /** For HTLC outputs: the HTLC's payment hash. */
  paymentHash?: Uint8Array;
  /** Upper bound of the witness size in bytes, for the fee. */
  witnessBytes: number;
}
