/**
 * An invoice read once into what paying it takes (BOLT 11 "Requirements" for
 * a payer): decoded, for this chain, not expired, with exactly one amount,
 * and an expiry demand within the CLTV cap. Either a PaymentPlan or a
 * PaymentError with a code; nothing is stored or sent here, and nothing
 * later decodes the invoice again.
 *
 * Pure: the clock is the `nowSeconds` parameter.
 */
import { decodeInvoice, type Invoice, isExpired } from '../../bolt/bolt11/invoice.ts';
import { MAX_MONEY_MSAT, type Msat } from '../../bolt/units.ts';
import { type Network } from '../identity.ts';
import { bolt11Network } from '../networks.ts';
import { PaymentError } from './payment-error.ts';

/**
 * Blocks added to the invoice's min_final_cltv_expiry_delta so the HTLC still
 * qualifies if blocks are found while it travels (lnd's BlockPadding).
 */
export const CLTV_SAFETY_BLOCKS = 3;

export interface PaymentPlan {
  /** The invoice as given, trimmed: what the payment record keeps. */
  bolt11: string;
  invoice: Invoice;
  paymentHash: Uint8Array;
  payee: Uint8Array;
  /** What the payee receives. */
  amountMsat: Msat;
  /** Blocks the payee's HTLC must stay locked after the tip. */
  finalCltvDelta: number;
  /** The most blocks any route for this payment may lock our HTLC for. */
  maxCltvDelta: number;
}

export interface PlanOptions {
  /** For an invoice without an amount; must be left out when it has one. */
  amountMsat?: Msat;
  /** Lowers the node's CLTV cap for this payment (lnd's cltv_limit). */
  cltvLimit?: number;
}

export interface PlanContext {
  network: Network;
  nowSeconds: number;
  /** The node's CLTV cap (blocks). */
  maxCltvDelta: number;
}

export function planPayment(bolt11: string, o: PlanOptions, ctx: PlanContext): PaymentPlan {
  const text = bolt11.trim();
  let invoice: Invoice;
  try {
    invoice = decodeInvoice(text);
  } catch (e) {
    throw new PaymentError('invalid_invoice', `not a valid BOLT 11 invoice: ${(e as Error).message}`);
  }
  const network = bolt11Network(ctx.network);
  if (invoice.network !== network) throw new PaymentError('wrong_network', `the invoice is for ${invoice.network}; this node runs on ${ctx.network}`);
  if (isExpired(invoice, ctx.nowSeconds)) {
    throw new PaymentError('invoice_expired', `the invoice expired at ${new Date((invoice.timestamp + invoice.expirySeconds) * 1000).toISOString()}`);
  }
  if (invoice.amountMsat !== undefined && o.amountMsat !== undefined && o.amountMsat !== invoice.amountMsat) {
    throw new PaymentError('amount_not_allowed', `the invoice asks for ${invoice.amountMsat} msat; do not give another amount`);
  }
  const amountMsat = invoice.amountMsat ?? o.amountMsat;
  if (amountMsat === undefined) throw new PaymentError('amount_required', 'the invoice has no amount: give one');
  if (amountMsat <= 0n || amountMsat > MAX_MONEY_MSAT) throw new PaymentError('amount_invalid', `${amountMsat} msat is not an amount that can be paid`);
  const maxCltvDelta = o.cltvLimit !== undefined && o.cltvLimit > 0 ? Math.min(o.cltvLimit, ctx.maxCltvDelta) : ctx.maxCltvDelta;
  const finalCltvDelta = invoice.minFinalCltvExpiryDelta + CLTV_SAFETY_BLOCKS;
  // The payee's own demand is the least any route adds up to.
  if (finalCltvDelta > maxCltvDelta) {
    throw new PaymentError(
      'cltv_too_far',
      `the invoice's min_final_cltv_expiry_delta of ${invoice.minFinalCltvExpiryDelta} blocks (+${CLTV_SAFETY_BLOCKS}) would lock the payment longer than the cap of ${maxCltvDelta} blocks`,
      undefined,
      { delta: finalCltvDelta, max: maxCltvDelta },
    );
  }
  return { bolt11: text, invoice, paymentHash: invoice.paymentHash, payee: invoice.payeePubkey, amountMsat, finalCltvDelta, maxCltvDelta };
}
