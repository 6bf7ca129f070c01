/**
 * A channel's own secrets: the five basepoint secrets and the shachain seed
 * its per-commitment secrets come from (BOLT #3 "Key Derivation",
 * "Per-commitment Secret Requirements"). Commitment n uses the secret at
 * shachain index 2^48 - 1 - n, so the first commitment uses the first index.
 */
import { generateSecret, MAX_INDEX } from '../../bolt3/shachain.ts';
import { type Basepoints, pointFromSecret } from '../../bolt3/keys.ts';

export interface ChannelSecrets {
  funding: Uint8Array;
  revocation: Uint8Array;
  payment: Uint8Array;
  delayedPayment: Uint8Array;
  htlc: Uint8Array;
  shachainSeed: Uint8Array;
}

export const shachainIndex = (commitmentNumber: bigint): number => MAX_INDEX - Number(commitmentNumber);

export function perCommitmentSecret(s: ChannelSecrets, commitmentNumber: bigint): Uint8Array {
  return generateSecret(s.shachainSeed, shachainIndex(commitmentNumber));
}

export function perCommitmentPoint(s: ChannelSecrets, commitmentNumber: bigint): Uint8Array {
  return pointFromSecret(perCommitmentSecret(s, commitmentNumber));
}

export function basepointsOf(s: ChannelSecrets): Basepoints {
  return {
    funding: pointFromSecret(s.funding),
    revocation: pointFromSecret(s.revocation),
    payment: pointFromSecret(s.payment),
    delayedPayment: pointFromSecret(s.delayedPayment),
    htlc: pointFromSecret(s.htlc),
  };
}
