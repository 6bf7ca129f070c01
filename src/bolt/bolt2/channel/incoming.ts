/**
 * Incoming HTLCs as pure steps: which of them are irrevocably committed
 * (on both commitments) with no settle of ours covering them yet, whether
 * the channel itself refuses one (BOLT 2: past the dust exposure limit, or
 * added after our shutdown) before the invoice is asked, and the update a
 * decided outcome makes. The driver asks the payments layer, stores the
 * result with the payment's own record, then sends.
 */
import { type Commitments, type Outgoing, sendFail, sendFailMalformed, sendFulfill } from './commitments.ts';
import { addedAfterOurShutdown } from './closing.ts';
import { type HtlcEntry } from './spec.ts';

export type IncomingRefusal = 'permanent_channel_failure' | 'temporary_channel_failure';

/** How an incoming HTLC ends: settled with its preimage, or failed back (an encrypted reason, or a malformed onion). */
export type IncomingOutcome =
  | { kind: 'fulfill'; preimage: Uint8Array }
  | { kind: 'fail'; reason: Uint8Array }
  | { kind: 'fail_malformed'; sha256OfOnion: Uint8Array; failureCode: number };

export interface UnresolvedIncoming {
  htlc: HtlcEntry;
  /** Set when the channel fails it whatever the invoice says. */
  refusal?: IncomingRefusal;
}

/** `failAddsFrom`: the peer's first HTLC id after our shutdown went out. */
export function unresolvedIncoming(c: Commitments, failAddsFrom: bigint | undefined): UnresolvedIncoming[] {
  const settling = new Set([...c.localChanges.proposed, ...c.localChanges.signed, ...c.localChanges.acked].flatMap((u) => ('id' in u ? [u.id] : [])));
  const inRemote = new Set(c.remoteCommit.spec.htlcs.filter((h) => h.direction === 'in').map((h) => h.id));
  return c.localCommit.spec.htlcs
    .filter((h) => h.direction === 'in' && inRemote.has(h.id) && !settling.has(h.id))
    .map((htlc) =>
      htlc.failBack
        ? // BOLT 2 max_dust_htlc_exposure_msat, receiving: past the limit SHOULD fail this HTLC once it's committed, SHOULD NOT reveal a preimage.
          { htlc, refusal: 'temporary_channel_failure' as const }
        : addedAfterOurShutdown(failAddsFrom, htlc.id)
          ? // BOLT 2 shutdown sender: SHOULD fail to route any HTLC added after it has sent shutdown (it must not be settled).
            { htlc, refusal: 'permanent_channel_failure' as const }
          : { htlc },
    );
}

/** The update that ends incoming HTLC `id` as decided. */
export function settleIncoming(c: Commitments, id: bigint, o: IncomingOutcome): { state: Commitments; send: Outgoing[] } {
  switch (o.kind) {
    case 'fulfill':
      return sendFulfill(c, id, o.preimage);
    case 'fail':
      return sendFail(c, id, o.reason);
    case 'fail_malformed':
      return sendFailMalformed(c, id, o.sha256OfOnion, o.failureCode);
  }
}
