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
import { type Invoice as Bolt11, isExpired } from '../../bolt/bolt11/invoice.ts';
import { msat } from '../../bolt/units.ts';
import { type LightningNode } from '../../node/node.ts';
import { bolt11Network } from '../../node/networks.ts';
import { PaymentError, type PaymentRecord, type Payments } from '../../node/payments/payments.ts';
import { invoiceArg } from '../args.ts';
import { nowSeconds } from '../node-parts.ts';
import { until } from '../until.ts';
import { failedPrecondition, invalidArgument, notFound, requireBytes, toConnectError } from '../errors.ts';
import { PaymentFailureReason, type PaymentSchema } from '../gen/lnrpc/lightning_pb.ts';
import { Router, type SendPaymentRequest, type TrackPaymentRequest } from '../gen/routerrpc/router_pb.ts';
import { paymentMessage, uint64ToScid } from './convert.ts';

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

/**
 * The payment as lnd reports it before we store one (the first IN_FLIGHT
 * update) or when none was stored because no HTLC went out (FAILED).
 */
function unstored(inv: Bolt11, bolt11: string, amountMsat: bigint, state: 'in_flight' | 'failed'): PaymentRecord {
  return { paymentHash: inv.paymentHash, bolt11, payee: inv.payeePubkey, amountMsat: msat(amountMsat), state, createdAt: nowSeconds() };
}

export function routerRoutes(node: LightningNode): (router: ConnectRouter) => void {
  async function* sendPayment(req: SendPaymentRequest, ctx: HandlerContext): AsyncGenerator<PaymentMsg> {
    if (!req.paymentRequest) {
      throw invalidArgument('payment_request is required: lnnode pays BOLT 11 invoices over a direct channel (no keysend or bare payment hashes)');
    }
    if (req.amp) throw invalidArgument('AMP payments are not supported');
    if (req.timeoutSeconds <= 0) throw invalidArgument('timeout_seconds must be specified');
    if (req.amt && req.amtMsat) throw invalidArgument('amt and amt_msat are mutually exclusive');
    if (req.feeLimitSat && req.feeLimitMsat) throw invalidArgument('fee_limit_sat and fee_limit_msat are mutually exclusive');
    if (req.feeLimitSat < 0n || req.feeLimitMsat < 0n || req.amt < 0n || req.amtMsat < 0n) throw invalidArgument('amounts and fee limits must not be negative');
    const { text: bolt11, invoice: inv } = invoiceArg('payment_request', req.paymentRequest, { uri: true });
    if (inv.network !== bolt11Network(node.config.network)) throw invalidArgument(`invoice is for ${inv.network}; this node runs on ${node.config.network}`);
    const given = req.amtMsat || req.amt * 1000n;
    if (inv.amountMsat !== undefined && given !== 0n) throw invalidArgument('amount must not be specified when paying a non-zero amount invoice');
    if (inv.amountMsat === undefined && given === 0n) throw invalidArgument('amount must be specified when paying a zero amount invoice');
    if (isExpired(inv, Math.floor(Date.now() / 1000))) throw failedPrecondition('invoice expired');
    if (req.paymentAddr.length) requireBytes('payment_addr', req.paymentAddr, 32);
    if (!node.channels) throw failedPrecondition('no chain source configured: the node runs without channels');
    const prior = node.payments.get(inv.paymentHash);
    if (prior?.state === 'succeeded') throw new ConnectError('invoice is already paid', Code.AlreadyExists);
    if (prior?.state === 'in_flight') throw new ConnectError('payment is in transition', Code.AlreadyExists);
    const amountMsat = inv.amountMsat ?? given;

    // lnd's chan_id is the short channel id, or for us the alias (ListChannels' alias_scids): either matches.
    const outgoingChannels = req.outgoingChanIds.length ? req.outgoingChanIds.flatMap((n) => [uint64ToScid(n), n.toString()]) : undefined;
    const attempt = node.payments.pay(bolt11, { amountMsat: inv.amountMsat === undefined ? msat(given) : undefined, timeoutMs: req.timeoutSeconds * 1000, outgoingChannels });
    attempt.catch(() => {}); // observed below; a client that left must not leave it unhandled
    if (!req.noInflightUpdates) {
      yield paymentMessage(unstored(inv, bolt11, amountMsat, 'in_flight'));
    }
    try {
      yield paymentMessage(await attempt);
      return;
    } catch (e) {
      if (!(e instanceof PaymentError)) throw toConnectError(e);
      const p = e.payment;
      if (!p) {
        // No HTLC went out: lnd reports a payment it found no way to send as NO_ROUTE.
        const reason = /no active channel/.test(e.message) ? PaymentFailureReason.FAILURE_REASON_NO_ROUTE : PaymentFailureReason.FAILURE_REASON_ERROR;
        yield { ...paymentMessage(unstored(inv, bolt11, amountMsat, 'failed')), failureReason: reason };
        return;
      }
      if (p.state === 'failed') {
        yield paymentMessage(p);
        return;
      }
    }
    // Timed out with the HTLC still out: it ends settled or failed, and the stream ends with it.
    yield paymentMessage(await finalState(node.payments, inv.paymentHash, ctx.signal));
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
