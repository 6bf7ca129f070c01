/**
 * Failure codes (BOLT #4 "Failure Messages"). The top byte is a set of flags
 * the origin node acts on without understanding the code itself: BADONION
 * (sent back as update_fail_malformed_htlc), PERM, NODE, UPDATE.
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#failure-messages
 */

export const BADONION = 0x8000;
export const PERM = 0x4000;
export const NODE = 0x2000;
export const UPDATE = 0x1000;

/** Every failure code the spec defines, by its spec name. */
export const FailureCode = {
  temporary_node_failure: NODE | 2,
  permanent_node_failure: PERM | NODE | 2,
  required_node_feature_missing: PERM | NODE | 3,
  invalid_onion_version: BADONION | PERM | 4,
  invalid_onion_hmac: BADONION | PERM | 5,
  invalid_onion_key: BADONION | PERM | 6,
  temporary_channel_failure: UPDATE | 7,
  permanent_channel_failure: PERM | 8,
  required_channel_feature_missing: PERM | 9,
  unknown_next_peer: PERM | 10,
  amount_below_minimum: UPDATE | 11,
  fee_insufficient: UPDATE | 12,
  incorrect_cltv_expiry: UPDATE | 13,
  expiry_too_soon: UPDATE | 14,
  incorrect_or_unknown_payment_details: PERM | 15,
  final_incorrect_cltv_expiry: 18,
  final_incorrect_htlc_amount: 19,
  channel_disabled: UPDATE | 20,
  expiry_too_far: 21,
  invalid_onion_payload: PERM | 22,
  mpp_timeout: 23,
  invalid_onion_blinding: BADONION | PERM | 24,
} as const;

export type FailureName = keyof typeof FailureCode;
export type FailureCodeValue = (typeof FailureCode)[FailureName];

const byCode = new Map<number, FailureName>(
  Object.entries(FailureCode).map(([name, code]) => [code, name as FailureName]),
);

/** The spec name of a code, or undefined for a code this spec version does not define. */
export function failureName(code: number): FailureName | undefined {
  return byCode.get(code);
}

export interface FailureFlags {
  badOnion: boolean;
  perm: boolean;
  node: boolean;
  update: boolean;
}

/** The flag bits of any u16 code, known or not: what the origin node routes on. */
export function failureFlags(code: number): FailureFlags {
  return {
    badOnion: (code & BADONION) !== 0,
    perm: (code & PERM) !== 0,
    node: (code & NODE) !== 0,
    update: (code & UPDATE) !== 0,
  };
}
