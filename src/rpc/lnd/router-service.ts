/**
 * routerrpc.Router SendPaymentV2 and TrackPaymentV2: a payment as a stream of
 * lnrpc.Payment updates ending with its final state, as lnd sends them.
 *
 * lnnode pays BOLT 11 invoices over a direct channel, so the fee is always 0
 * and every fee limit is met. timeout_seconds bounds the attempt as in lnd:
 * once an HTLC is out the stream stays open until it resolves, because the
 * money is committed until then. Paying a hash that succeeded or is in
 * flight is refused with AlreadyExists, as lnd refuses it.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { type MessageInitShape } from '@bufbuild/protobuf';
import { hex } from '../../bolt/bytes.ts';
import { msat } from '../../bolt/units.ts';
import { type LightningNode } from '../../node/node.ts';
import { type PaymentPlan } from '../../node/payments/payment-plan.ts';
import { PaymentError, type PaymentRecord, type Payments, type StartedPayment } from '../../node/payments/payments.ts';
import { nowSeconds } from '../node-parts.ts';
import { until } from '../until.ts';
import { failedPrecondition, invalidArgument, notFound, requireBytes, toConnectError } from '../errors.ts';
import { msatArg, satArg, waitSecondsArg } from '../args.ts';
import { PaymentFailureReason, type PaymentSchema } from '../gen/lnrpc/lightning_pb.ts';
import { Router, type SendPaymentRequest, type TrackPaymentRequest } from '../gen/routerrpc/router_pb.ts';
import { lndChanId, paymentMessage as paymentFields, uint64ToScid } from './convert.ts';

type PaymentMsg = MessageInitShape<typeof PaymentSchema>;

/** The payment's final record: now if it has one, else when it resolves (or the client leaves). */
function finalState(payments: Payments, hash: Uint8Array, signal: AbortSignal): Promise<PaymentRecord> {
  const key = hex(hash);
  return until(
    (wake) => payments.onResolved((p) => hex(p.paymentHash) === key && wake()),
    () => {
      const p = payments.get(hash);
      return p && p.state !== 'in_flight' ? p : undefined;
    },
    signal,
  );
}

/** The payment as lnd reports it when none was stored because no HTLC could go out: IN_FLIGHT first, then FAILED. */
function unstored(plan: PaymentPlan, state: 'in_flight' | 'failed'): PaymentRecord {
  return { paymentHash: plan.paymentHash, bolt11: plan.bolt11, payee: plan.payee, amountMsat: plan.amountMsat, state, createdAt: nowSeconds() };
}

/** A refusal before anything is stored or sent, with lnd's code and text where lnd has one. */
function lndRefusal(e: unknown): ConnectError {
  if (!(e instanceof PaymentError)) return toConnectError(e);
  switch (e.code) {
    case 'invalid_invoice':
      return invalidArgument(`payment_request is ${e.message}`);
    case 'amount_not_allowed':
      return invalidArgument('amount must not be specified when paying a non-zero amount invoice');
    case 'amount_required':
      return invalidArgument('amount must be specified when paying a zero amount invoice');
    case 'invoice_expired':
      return failedPrecondition('invoice expired');
    case 'cltv_too_far':
      // lnd's routing.ValidateCLTVLimit, returned as a plain error (gRPC Unknown).
      return new ConnectError(`cltv limit ${e.cltv?.max} should be greater than ${e.cltv?.delta}`, Code.Unknown);
    case 'already_paid':
      return new ConnectError('invoice is already paid', Code.AlreadyExists);
    case 'in_flight':
      return new ConnectError('payment is in transition', Code.AlreadyExists);
    default:
      return toConnectError(e);
  }
}

export function routerRoutes(node: LightningNode): (router: ConnectRouter) => void {
  // With its HTLC's channel, as lncli's payinvoice/trackpayment table shows it.
  const paymentMessage = (p: PaymentRecord): PaymentMsg => paymentFields(p, { chanId: lndChanId(p.channelId ? node.channels?.get(p.channelId) : undefined) });
  async function* sendPayment(req: SendPaymentRequest, ctx: HandlerContext): AsyncGenerator<PaymentMsg> {
    if (!req.paymentRequest) {
      throw invalidArgument('payment_request is required: lnnode pays BOLT 11 invoices over a direct channel (no keysend or bare payment hashes)');
    }
    if (req.amp) throw invalidArgument('AMP payments are not supported');
    if (req.timeoutSeconds <= 0) throw invalidArgument('timeout_seconds must be specified');
    waitSecondsArg('timeout_seconds', req.timeoutSeconds);
    if (req.amt && req.amtMsat) throw invalidArgument('amt and amt_msat are mutually exclusive');
    if (req.feeLimitSat && req.feeLimitMsat) throw invalidArgument('fee_limit_sat and fee_limit_msat are mutually exclusive');
    // A direct payment pays no fee, so a fee limit only has to be a plausible amount.
    satArg('fee_limit_sat', req.feeLimitSat, { zero: 'allowed' });
    msatArg('fee_limit_msat', req.feeLimitMsat, { zero: 'allowed' });
    const given = req.amtMsat ? msatArg('amt_msat', req.amtMsat) : satArg('amt', req.amt, { zero: 'allowed' }) * 1000n;
    if (req.paymentAddr.length) requireBytes('payment_addr', req.paymentAddr, 32);
    // lnd's routerrpc.ValidateCLTVLimit: a cltv_limit above the node's --max-cltv-expiry is refused.
    if (req.cltvLimit > node.payments.maxCltv) throw new ConnectError(`total time lock of ${req.cltvLimit} exceeds max allowed ${node.payments.maxCltv}`, Code.Unknown);
    let plan: PaymentPlan;
    try {
      plan = node.payments.plan(req.paymentRequest.trim().replace(/^lightning:/i, ''), { amountMsat: given ? msat(given) : undefined, cltvLimit: req.cltvLimit || undefined });
    } catch (e) {
      throw lndRefusal(e);
    }
    // lnd refuses any amount for an invoice that has one, even the same.
    if (plan.invoice.amountMsat !== undefined && given !== 0n) throw invalidArgument('amount must not be specified when paying a non-zero amount invoice');
    if (!node.channels) throw failedPrecondition('no chain source configured: the node runs without channels');

    // lnd's chan_id is the short channel id, or for us the alias (ListChannels' alias_scids): either matches.
    const outgoingChannels = req.outgoingChanIds.length ? req.outgoingChanIds.flatMap((n) => [uint64ToScid(n), n.toString()]) : undefined;
    let started: StartedPayment;
    try {
      // Claims the hash before the first message goes out: a paid or in-flight hash ends the call with AlreadyExists.
      started = node.payments.start(plan, { timeoutMs: req.timeoutSeconds * 1000, outgoingChannels });
    } catch (e) {
      if (!(e instanceof PaymentError) || e.code !== 'no_route') throw lndRefusal(e);
      // No channel can carry it: lnd reports a payment it found no way to send as NO_ROUTE.
      if (!req.noInflightUpdates) yield paymentMessage(unstored(plan, 'in_flight'));
      yield { ...paymentMessage(unstored(plan, 'failed')), failureReason: PaymentFailureReason.FAILURE_REASON_NO_ROUTE };
      return;
    }
    if (!req.noInflightUpdates) yield paymentMessage(started.record);
    try {
      yield paymentMessage(await started.done);
      return;
    } catch (e) {
      if (!(e instanceof PaymentError)) throw toConnectError(e);
      if (e.code === 'stopped') throw toConnectError(e);
      if (e.code !== 'timeout' && e.payment) {
        yield paymentMessage(e.payment);
        return;
      }
    }
    // Timed out with the HTLC still out: it ends settled or failed, and the stream ends with it.
    yield paymentMessage(await finalState(node.payments, plan.paymentHash, ctx.signal));
  }

  async function* trackPayment(req: TrackPaymentRequest, ctx: HandlerContext): AsyncGenerator<PaymentMsg> {
    const hash = requireBytes('payment_hash', req.paymentHash, 32);
    const p = node.payments.get(hash);
    if (!p) throw notFound('payment isn\'t initiated');
    if (p.state !== 'in_flight') {
      yield paymentMessage(p);
      return;
    }
    if (!req.noInflightUpdates) yield paymentMessage(p);
    yield paymentMessage(await finalState(node.payments, hash, ctx.signal));
  }

  return (router) => router.service(Router, { sendPaymentV2: sendPayment, trackPaymentV2: trackPayment });
}
