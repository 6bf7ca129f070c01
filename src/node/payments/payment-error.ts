/**
 * Why a payment could not be made, as a closed set of codes the RPC layers
 * map to their own status (lnnode.v1 codes per the README; lnd's codes and
 * texts in the lnd-compatible API). The message is for people; `payment`
 * is the stored record when one exists (a failed or still in-flight one).
 */
import { type PaymentRecord } from './payment-store.ts';

export type PaymentErrorCode =
  /** Not a BOLT 11 invoice. */
  | 'invalid_invoice'
  /** The invoice is for another chain. */
  | 'wrong_network'
  | 'invoice_expired'
  /** The invoice has an amount and the caller gave a different one. */
  | 'amount_not_allowed'
  /** The invoice has no amount and the caller gave none. */
  | 'amount_required'
  /** Zero, or more than all the bitcoin there is. */
  | 'amount_invalid'
  /** The HTLC would stay locked longer than the CLTV cap allows. */
  | 'cltv_too_far'
  /** The payment hash was paid already: nothing was sent. */
  | 'already_paid'
  /** A payment for the hash is in flight: nothing was sent. */
  | 'in_flight'
  /** The node has not yet learnt the chain tip an HTLC's expiry counts from. */
  | 'not_synced'
  /** No channel to the payee can carry the amount. */
  | 'no_route'
  /** The payment failed; `payment` says why. */
  | 'failed'
  /** The payment is still in flight when the caller stopped waiting; it resolves later. */
  | 'timeout'
  /** The node stopped while the caller was waiting; the payment resolves after the restart. */
  | 'stopped';

export class PaymentError extends Error {
  override readonly name = 'PaymentError';
  constructor(
    readonly code: PaymentErrorCode,
    message: string,
    readonly payment?: PaymentRecord,
    /** For 'cltv_too_far': the blocks asked for and the cap they exceed. */
    readonly cltv?: { delta: number; max: number },
  ) {
    super(message);
  }
}
