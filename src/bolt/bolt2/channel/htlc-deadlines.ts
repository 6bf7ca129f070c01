/**
 * HTLC deadlines (BOLT #2 "cltv_expiry_delta Selection", BOLT #5): when an
 * HTLC still on a commitment must be taken on chain because the peer did not
 * remove it in time.
 *
 * - An incoming HTLC we fulfilled must be claimed with its preimage before
 *   its cltv_expiry, when the peer can take it back by timeout. A peer that
 *   stalls after our update_fulfill_htlc would otherwise keep the money.
 * - An outgoing HTLC past its cltv_expiry must be timed out on chain; a peer
 *   that never fails it would otherwise hold our money and may still claim
 *   it with a preimage whenever it likes.
 *
 * The numbers, as lnd and LDK pick them:
 * - FULFILLMENT_DEADLINE_BLOCKS = 10: lnd's DefaultIncomingBroadcastDelta
 *   (go on chain 10 blocks before an incoming HTLC we can settle expires).
 *   LDK uses 18 (CLTV_CLAIM_BUFFER, BOLT 2's 2R+G+S), but pairs it with a
 *   minimum final CLTV of 24 (HTLC_FAIL_BACK_BUFFER + 3); lnnode invoices ask
 *   for 18 (invoices.ts) and payers add 3, so 18 would put a fresh HTLC at its
 *   deadline before it could settle. 10 leaves the off-chain settlement at
 *   least 8 blocks and the commitment plus HTLC-success 10 blocks to confirm.
 * - TIMEOUT_GRACE_BLOCKS = 3: LDK's LATENCY_GRACE_PERIOD_BLOCKS (lnd's
 *   DefaultOutgoingBroadcastDelta is 0). The grace lets a peer a block or two
 *   behind fail the HTLC off chain instead of costing a channel; we forward
 *   nothing, so no incoming HTLC waits on it.
 */
import { type Commitments } from './commitments.ts';
import { type HtlcEntry, type Update } from './spec.ts';

export const FULFILLMENT_DEADLINE_BLOCKS = 10;
export const TIMEOUT_GRACE_BLOCKS = 3;

export interface DeadlineBreach {
  htlc: HtlcEntry;
  /** The height from which the channel had to be failed. */
  deadline: number;
  reason: string;
}

/** The HTLCs on either side's current commitment, and on the one we signed and wait to see revoked. */
function htlcsOnCommitments(c: Commitments): HtlcEntry[] {
  const seen = new Map<string, HtlcEntry>();
  for (const spec of [c.localCommit.spec, c.remoteCommit.spec, c.nextRemoteCommit?.spec]) {
    for (const h of spec?.htlcs ?? []) seen.set(`${h.direction}:${h.id}`, h);
  }
  return [...seen.values()];
}

const settlesWith = (updates: readonly Update[], id: bigint, kinds: readonly Update['kind'][]): boolean =>
  updates.some((u) => kinds.includes(u.kind) && 'id' in u && u.id === id);

/**
 * The first HTLC past its deadline at `height`, if any. `preimageKnown`
 * tells which incoming HTLCs we settle (an invoice we settled): our
 * update_fulfill_htlc may have been forgotten with a disconnection, but we
 * claim those on chain all the same.
 */
export function htlcDeadlineBreach(c: Commitments, height: number, preimageKnown: (paymentHash: Uint8Array) => boolean): DeadlineBreach | undefined {
  const ours = [...c.localChanges.proposed, ...c.localChanges.signed, ...c.localChanges.acked];
  for (const h of htlcsOnCommitments(c)) {
    if (h.direction === 'out') {
      const deadline = h.cltvExpiry + TIMEOUT_GRACE_BLOCKS;
      // BOLT 2 cltv_expiry_delta selection, offering node: an offered HTLC past its timeout deadline MUST fail the channel.
      if (height >= deadline) {
        return { htlc: h, deadline, reason: `outgoing HTLC ${h.id} expired at ${h.cltvExpiry} and is still on a commitment at height ${height}: timing it out on chain` };
      }
      continue;
    }
    const fulfilled = settlesWith(ours, h.id, ['fulfill']) || (!settlesWith(ours, h.id, ['fail', 'fail_malformed']) && preimageKnown(h.paymentHash));
    const deadline = h.cltvExpiry - FULFILLMENT_DEADLINE_BLOCKS;
    // BOLT 2 cltv_expiry_delta selection, fulfilling node: a fulfilled HTLC past its fulfillment deadline MUST fail the channel.
    if (fulfilled && height >= deadline) {
      return { htlc: h, deadline, reason: `incoming HTLC ${h.id} we fulfilled expires at ${h.cltvExpiry} and is still on a commitment at height ${height}: claiming it on chain` };
    }
  }
  return undefined;
}
