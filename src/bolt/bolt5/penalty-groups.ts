/**
 * Which revoked outputs go out together (BOLT #5 "Revoked Transaction Close
 * Handling"). One justice transaction may take them all, but with
 * option_anchors the cheater can pin a transaction that spends many
 * outputs (its HTLC transactions aggregate with SIGHASH_SINGLE |
 * ANYONECANPAY inputs), so "if confirmation doesn't happen before reaching
 * security_delay blocks from expiry: SHOULD resolve revoked outputs in
 * their own, separate penalty transactions". An output's expiry is when the
 * cheater can take it for itself: an HTLC's cltv_expiry, or for its
 * to_local and its HTLC transactions' outputs the block at which their
 * to_self_delay ends. security_delay is node policy; BOLT 5 recommends 18
 * blocks (as the incoming HTLC deadline).
 * https://github.com/lightning/bolts/blob/master/05-onchain.md#revoked-transaction-close-handling
 */

export const SECURITY_DELAY_BLOCKS = 18;

/** Whether an output expiring at `expiry` is within security_delay of the tip. */
export const nearExpiry = (expiry: number | undefined, height: number, securityDelay = SECURITY_DELAY_BLOCKS): boolean =>
  expiry !== undefined && expiry - height <= securityDelay;

/**
 * The transactions to claim `claims` in: all in one, except with anchors,
 * where each one near its expiry gets its own and the rest share one.
 */
export function penaltyGroups<T extends { expiry?: number }>(claims: readonly T[], height: number, anchors: boolean, securityDelay = SECURITY_DELAY_BLOCKS): T[][] {
  if (!claims.length) return [];
  if (!anchors) return [[...claims]];
  const near = claims.filter((c) => nearExpiry(c.expiry, height, securityDelay));
  const far = claims.filter((c) => !nearExpiry(c.expiry, height, securityDelay));
  return [...near.map((c) => [c]), ...(far.length ? [far] : [])];
}
