/**
 * Weights and fees of BOLT #3 (Appendix A, "Fee Calculation"): the
 * commitment's base weight plus 172 per untrimmed HTLC, the second-stage
 * HTLC transaction weights, and the dust thresholds they imply.
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#fee-calculation
 */
import { type FeeratePerKw, type Sat, sat } from '../units.ts';

export const COMMITMENT_WEIGHT = { static: 724, anchors: 1124 } as const;
export const HTLC_OUTPUT_WEIGHT = 172;
export const HTLC_TIMEOUT_WEIGHT = { static: 663, anchors: 666 } as const;
export const HTLC_SUCCESS_WEIGHT = { static: 703, anchors: 706 } as const;
export const ANCHOR_OUTPUT_SAT = sat(330);

export type Variant = 'static' | 'anchors';

/** fee = feerate_per_kw * weight / 1000, rounded down. */
export const feeForWeight = (feerate: FeeratePerKw, weight: number): Sat => sat((BigInt(feerate) * BigInt(weight)) / 1000n);

export const commitmentFee = (feerate: FeeratePerKw, untrimmedHtlcs: number, v: Variant): Sat =>
  feeForWeight(feerate, COMMITMENT_WEIGHT[v] + HTLC_OUTPUT_WEIGHT * untrimmedHtlcs);

/** With anchors (zero-fee HTLC transactions) second-stage fees are brought by the spender, so 0 here. */
export const htlcTimeoutFee = (feerate: FeeratePerKw, v: Variant): Sat =>
  v === 'anchors' ? sat(0) : feeForWeight(feerate, HTLC_TIMEOUT_WEIGHT.static);
export const htlcSuccessFee = (feerate: FeeratePerKw, v: Variant): Sat =>
  v === 'anchors' ? sat(0) : feeForWeight(feerate, HTLC_SUCCESS_WEIGHT.static);
