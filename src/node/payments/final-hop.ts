/**
 * What the final node does with an HTLC addressed to it (BOLT 4 "Onion
 * Decryption", "`payload` format" for the reader of a final hop, "Basic
 * Multi-Part Payments" for a node without basic_mpp, "Failure Messages" for
 * the final node, "Returning Errors"), as a pure decision over the HTLC, the
 * invoice it pays, and the tip:
 *
 * - an onion whose version, key or HMAC is bad is answered with
 *   update_fail_malformed_htlc (we share no secret the sender would trust);
 * - any later problem, a bad payload included, is an encrypted failure the
 *   sender can read (update_fail_htlc);
 * - the HTLC that settled an invoice is fulfilled again when it comes back
 *   after a reconnection (our fulfill was forgotten); any other HTLC for a
 *   settled invoice is failed as unknown, so a second payer pays nothing.
 *
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#requirements
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../../bolt/bytes.ts';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { FailureCode } from '../../bolt/bolt4/failure-codes.ts';
import { createFailurePacket } from '../../bolt/bolt4/failure-packet.ts';
import { encodeFailureMessage, type FailureMessage } from '../../bolt/bolt4/failure-message.ts';
import { checkHopPayload, decodeHopPayload } from '../../bolt/bolt4/payload.ts';
import { OnionError, peelOnion } from '../../bolt/bolt4/sphinx.ts';
import { type Msat } from '../../bolt/units.ts';

/** What of an invoice the final-hop rules read. */
export interface PayableInvoice {
  state: 'open' | 'settled' | 'canceled';
  preimage: Uint8Array;
  paymentSecret: Uint8Array;
  amountMsat?: Msat;
  /** Unix seconds. */
  expiresAt: number;
  minFinalCltv: number;
  /** The HTLC that settled it; absent for invoices settled before this was recorded. */
  settledBy?: { channelId: Uint8Array; htlcId: bigint };
}

export type FinalHopDecision =
  /** `first`: this HTLC settles the invoice now (otherwise it is the settling HTLC again). */
  | { kind: 'fulfill'; preimage: Uint8Array; first: boolean }
  | { kind: 'fail'; reason: Uint8Array; failure: FailureMessage['name']; expired?: boolean }
  | { kind: 'fail_malformed'; sha256OfOnion: Uint8Array; failureCode: number };

export interface FinalHopContext {
  nodeSecret: Uint8Array;
  /** The channel the HTLC came in on. */
  channelId: Uint8Array;
  invoice: PayableInvoice | undefined;
  /** The chain tip; undefined while the node knows none (then nothing is accepted). */
  height: number | undefined;
  nowSeconds: number;
}

export function decideFinalHop(htlc: HtlcEntry, ctx: FinalHopContext): FinalHopDecision {
  const inv = ctx.invoice;
  // Our fulfill of this very HTLC was forgotten with a connection: the peer may hold the preimage already.
  if (inv?.state === 'settled' && (!inv.settledBy || (equalBytes(inv.settledBy.channelId, ctx.channelId) && inv.settledBy.htlcId === htlc.id))) {
    return { kind: 'fulfill', preimage: inv.preimage, first: false };
  }

  let peeled;
  try {
    peeled = peelOnion(htlc.onion, ctx.nodeSecret, htlc.paymentHash);
  } catch (e) {
    if (e instanceof OnionError && e.sharedSecret) return failWith(e.sharedSecret, { name: 'invalid_onion_payload', tlvType: 0n, offset: 0 });
    const code = e instanceof OnionError && e.failureCode & 0x8000 ? e.failureCode : FailureCode.invalid_onion_hmac;
    return { kind: 'fail_malformed', sha256OfOnion: sha256(htlc.onion), failureCode: code };
  }
  const fail = (m: FailureMessage, expired?: boolean): FinalHopDecision => failWith(peeled.sharedSecret, m, expired);
  if (peeled.next !== 'final') return fail({ name: 'unknown_next_peer' }); // we do not forward
  let payload;
  try {
    payload = decodeHopPayload(peeled.payload);
  } catch {
    return fail({ name: 'invalid_onion_payload', tlvType: 0n, offset: 0 });
  }
  const check = checkHopPayload(payload, { isFinal: true });
  if (!check.ok) return fail({ name: 'invalid_onion_payload', tlvType: check.problem.tlvType, offset: 0 });
  const hop = check.hop;
  if (hop.kind !== 'final') return fail({ name: 'invalid_onion_payload', tlvType: 10n, offset: 0 }); // route blinding is not supported

  // The onion's values against the HTLC: only an HTLC below what the onion says is wrong.
  if (htlc.cltvExpiry < hop.outgoingCltvValue) return fail({ name: 'final_incorrect_cltv_expiry', cltvExpiry: htlc.cltvExpiry });
  if (htlc.amountMsat < hop.amtToForward) return fail({ name: 'final_incorrect_htlc_amount', incomingHtlcAmt: htlc.amountMsat });

  if (ctx.height === undefined) return fail({ name: 'temporary_node_failure' });
  const unknown = (): FinalHopDecision => fail({ name: 'incorrect_or_unknown_payment_details', htlcMsat: htlc.amountMsat, height: ctx.height! });
  if (!inv || inv.state !== 'open') return unknown(); // unknown, canceled, or settled by another HTLC
  if (!hop.paymentSecret || !equalBytes(hop.paymentSecret, inv.paymentSecret)) return unknown();
  if (ctx.nowSeconds >= inv.expiresAt) return fail({ name: 'incorrect_or_unknown_payment_details', htlcMsat: htlc.amountMsat, height: ctx.height }, true);
  // Without basic_mpp, the payment is this HTLC alone: total_msat must be its amt_to_forward.
  if (hop.totalMsat !== hop.amtToForward) return unknown();
  // "Amount paid" is total_msat: at least the invoice's amount, at most twice it.
  if (inv.amountMsat !== undefined && (hop.totalMsat < inv.amountMsat || hop.totalMsat > inv.amountMsat * 2n)) return unknown();
  if (htlc.cltvExpiry < ctx.height + inv.minFinalCltv) return unknown();
  return { kind: 'fulfill', preimage: inv.preimage, first: true };
}

function failWith(sharedSecret: Uint8Array, m: FailureMessage, expired?: boolean): FinalHopDecision {
  return { kind: 'fail', reason: createFailurePacket(sharedSecret, encodeFailureMessage(m)), failure: m.name, ...(expired ? { expired } : {}) };
}
