/**
 * Which HTLCs the peer offered it is irrevocably committed to (BOLT #2): its
 * add is locked in, the peer having revoked every commitment without it.
 * Until then the peer may still broadcast a commitment that lacks it, and
 * BOLT #5 says of a commitment on chain that does hold it (ours, "Local
 * Commitment, Remote Offers", or theirs, "Remote Commitment, Remote
 * Offers"): "if the remote node is NOT irrevocably committed to the HTLC:
 * MUST NOT resolve the output by spending it", even with a known preimage
 * (a payment hash of an invoice another HTLC settled).
 * https://github.com/lightning/bolts/blob/master/05-onchain.md#htlc-output-handling-local-commitment-remote-offers
 */
import { type Commitments } from '../bolt2/channel/commitments.ts';

/** Ids of the peer's HTLCs whose add is not yet locked in: proposed, acked or signed, and not revoked for by the peer. */
export function notIrrevocablyCommitted(c: Commitments): Set<bigint> {
  const ids = new Set<bigint>();
  for (const u of [...c.remoteChanges.proposed, ...c.remoteChanges.acked, ...c.remoteChanges.signed]) if (u.kind === 'add') ids.add(u.htlc.id);
  return ids;
}
