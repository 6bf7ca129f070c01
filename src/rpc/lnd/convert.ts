/**
 * lnnode's records as lnd's messages, with lnd's conventions: pubkeys and
 * hashes as hex strings where lnd uses strings, transaction ids as bytes in
 * hash byte order (the reverse of their hex form), satoshi fields rounded
 * down from msat, short channel ids packed into a uint64, an expired open
 * invoice reported CANCELED (lnd cancels expired invoices).
 */
import { type MessageInitShape } from '@bufbuild/protobuf';
import { fromHex, hex } from '../../bolt/bytes.ts';
import { ANCHOR_OUTPUT_SAT } from '../../bolt/bolt3/fees.ts';
import { decodeInvoice } from '../../bolt/bolt11/invoice.ts';
import { featureName, type FeatureVector } from '../../bolt/bolt9/features.ts';
import { type ChannelSummary } from '../../node/channels/manager.ts';
import { type InvoiceRecord } from '../../node/payments/invoices.ts';
import { type PaymentRecord } from '../../node/payments/payments.ts';
import {
  type ChannelConstraintsSchema,
  type ChannelSchema,
  CommitmentType,
  HTLCAttempt_HTLCStatus,
  type FeatureSchema,
  type HTLCAttemptSchema,
  type InvoiceSchema,
  Invoice_InvoiceState,
  PaymentFailureReason,
  type PaymentSchema,
  Payment_PaymentStatus,
} from '../gen/lnrpc/lightning_pb.ts';

/** A txid as lnd carries it in `bytes` fields (chainhash order). */
export const txidBytes = (txidHex: string): Uint8Array => fromHex(txidHex).reverse();
export const txidHexFromBytes = (b: Uint8Array): string => hex(Uint8Array.from(b).reverse());

/** "BLOCKxTXxOUT" as lnd's uint64 channel id (block << 40 | tx << 16 | out). */
export function scidToUint64(scid: string | undefined): bigint {
  const m = scid ? /^(\d+)x(\d+)x(\d+)$/.exec(scid) : null;
  if (!m) return 0n;
  return (BigInt(m[1]!) << 40n) | (BigInt(m[2]!) << 16n) | BigInt(m[3]!);
}

/** lnd's chan_id of a channel: its short channel id, or our alias for it before it has one. */
export function lndChanId(c: ChannelSummary | undefined): bigint {
  if (!c) return 0n;
  return c.shortChannelId ? scidToUint64(c.shortChannelId) : /^\d+$/.test(c.localAlias) ? BigInt(c.localAlias) : 0n;
}

export function uint64ToScid(n: bigint): string {
  return `${n >> 40n}x${(n >> 16n) & 0xffffffn}x${n & 0xffffn}`;
}

const sats = (msat: bigint): bigint => msat / 1000n;

export function lndFeatures(f: FeatureVector): Record<number, MessageInitShape<typeof FeatureSchema>> {
  const out: Record<number, MessageInitShape<typeof FeatureSchema>> = {};
  for (const bit of f.list()) {
    const name = featureName(bit);
    const known = !name.startsWith('unknown');
    out[bit] = { name: known ? name.replace(/ \((compulsory|optional)\)$/, '') : '', isRequired: bit % 2 === 0, isKnown: known };
  }
  return out;
}

/** Both balances as lnd shows them: the opener's net of the commitment fee (and anchors) it pays, in msat. */
export function netBalances(c: ChannelSummary): { localMsat: bigint; remoteMsat: bigint } {
  const openerCostMsat = (c.commitFeeSat + (c.channelType === 'anchors' ? 2n * ANCHOR_OUTPUT_SAT : 0n)) * 1000n;
  const net = (b: bigint): bigint => (b > openerCostMsat ? b - openerCostMsat : 0n);
  return c.weAreOpener ? { localMsat: net(c.localBalanceMsat), remoteMsat: c.remoteBalanceMsat } : { localMsat: c.localBalanceMsat, remoteMsat: net(c.remoteBalanceMsat) };
}

/** What one side may do, as lnd's ChannelConstraints: `ours` are the limits the peer set on us. */
function constraints(c: ChannelSummary, ours: boolean): MessageInitShape<typeof ChannelConstraintsSchema> {
  const on = ours ? c.remoteParams : c.localParams;
  const own = ours ? c.localParams : c.remoteParams;
  return {
    csvDelay: on.toSelfDelay,
    chanReserveSat: on.channelReserveSat,
    dustLimitSat: own.dustLimitSat,
    maxPendingAmtMsat: on.maxHtlcValueInFlightMsat,
    minHtlcMsat: on.htlcMinimumMsat,
    maxAcceptedHtlcs: on.maxAcceptedHtlcs,
  };
}

export function channelMessage(c: ChannelSummary): MessageInitShape<typeof ChannelSchema> {
  const openerCost = c.commitFeeSat + (c.channelType === 'anchors' ? 2n * ANCHOR_OUTPUT_SAT : 0n);
  return {
    csvDelay: c.remoteParams.toSelfDelay,
    localChanReserveSat: c.numbers.localReserveSat,
    remoteChanReserveSat: c.numbers.remoteReserveSat,
    localConstraints: constraints(c, true),
    remoteConstraints: constraints(c, false),
    commitWeight: c.channelType === 'anchors' ? 1124n : 724n,
    unsettledBalance: (c.numbers.pendingOutMsat + c.numbers.pendingInMsat) / 1000n,
    active: c.active,
    remotePubkey: c.peer,
    channelPoint: `${c.fundingTxid}:${c.fundingVout}`,
    chanId: scidToUint64(c.shortChannelId).toString(),
    capacity: c.capacitySat,
    // As lnd: the opener's balance is shown net of the commitment fee (and anchors) it pays.
    localBalance: sats(c.localBalanceMsat) - (c.weAreOpener ? openerCost : 0n),
    remoteBalance: sats(c.remoteBalanceMsat) - (c.weAreOpener ? 0n : openerCost),
    commitFee: c.commitFeeSat,
    feePerKw: BigInt(c.feeratePerKw),
    private: true,
    initiator: c.weAreOpener,
    chanStatusFlags: c.active ? 'ChanStatusDefault' : 'ChanStatusInactive',
    commitmentType: c.channelType === 'anchors' ? CommitmentType.ANCHORS : CommitmentType.STATIC_REMOTE_KEY,
    aliasScids: /^\d+$/.test(c.localAlias) ? [BigInt(c.localAlias)] : [],
  };
}

export function invoiceState(i: InvoiceRecord, now: number): Invoice_InvoiceState {
  if (i.state === 'settled') return Invoice_InvoiceState.SETTLED;
  if (i.state === 'canceled' || now >= i.expiresAt) return Invoice_InvoiceState.CANCELED;
  return Invoice_InvoiceState.OPEN;
}

export function invoiceMessage(i: InvoiceRecord, now: number): MessageInitShape<typeof InvoiceSchema> {
  const d = decodeInvoice(i.bolt11);
  const state = invoiceState(i, now);
  const paid = i.receivedMsat ?? 0n;
  return {
    memo: d.description ?? '',
    rPreimage: i.preimage,
    rHash: i.paymentHash,
    value: sats(i.amountMsat ?? 0n),
    valueMsat: i.amountMsat ?? 0n,
    settled: state === Invoice_InvoiceState.SETTLED,
    creationDate: BigInt(i.createdAt),
    settleDate: BigInt(i.settledAt ?? 0),
    paymentRequest: i.bolt11,
    descriptionHash: d.descriptionHash ?? new Uint8Array(),
    expiry: BigInt(i.expiresAt - i.createdAt),
    cltvExpiry: BigInt(i.minFinalCltv),
    addIndex: BigInt(i.addIndex),
    settleIndex: BigInt(i.settleIndex),
    amtPaid: paid,
    amtPaidSat: sats(paid),
    amtPaidMsat: paid,
    state,
    features: lndFeatures(d.features),
    paymentAddr: i.paymentSecret,
  };
}

const ZERO_PREIMAGE = '0'.repeat(64);

/** lnd's reason for a failed payment, from why it failed. */
export function failureReason(p: PaymentRecord): PaymentFailureReason {
  switch (p.failureCode) {
    case 'no_route':
    case 'cltv_too_far': // lnd finds no route within its CLTV limit
      return PaymentFailureReason.FAILURE_REASON_NO_ROUTE;
    case 'incorrect_payment_details':
      return PaymentFailureReason.FAILURE_REASON_INCORRECT_PAYMENT_DETAILS;
    case undefined:
      return p.failure === undefined ? PaymentFailureReason.FAILURE_REASON_NONE : PaymentFailureReason.FAILURE_REASON_ERROR;
    default:
      return PaymentFailureReason.FAILURE_REASON_ERROR;
  }
}

/**
 * The payment's HTLC as lnd lists its attempts: one attempt over one hop (a
 * direct payment pays no fee), its channel the one it went out on.
 */
function htlcAttempts(p: PaymentRecord, chanId: bigint, omitHops: boolean): MessageInitShape<typeof HTLCAttemptSchema>[] {
  if (p.htlcId === undefined) return [];
  const status = p.state === 'succeeded' ? HTLCAttempt_HTLCStatus.SUCCEEDED : p.state === 'failed' ? HTLCAttempt_HTLCStatus.FAILED : HTLCAttempt_HTLCStatus.IN_FLIGHT;
  const hop = {
    chanId: chanId.toString(),
    amtToForward: sats(p.amountMsat),
    amtToForwardMsat: p.amountMsat,
    fee: 0n,
    feeMsat: 0n,
    pubKey: hex(p.payee),
    expiry: p.htlcCltvExpiry ?? 0,
    tlvPayload: true,
    totalAmtMsat: p.amountMsat,
  };
  return [
    {
      attemptId: p.htlcId,
      status,
      attemptTimeNs: BigInt(p.createdAt) * 1_000_000_000n,
      resolveTimeNs: BigInt(p.resolvedAt ?? 0) * 1_000_000_000n,
      preimage: p.preimage ?? new Uint8Array(),
      route: {
        totalTimeLock: p.htlcCltvExpiry ?? 0,
        totalAmt: sats(p.amountMsat),
        totalAmtMsat: p.amountMsat,
        totalFees: 0n,
        totalFeesMsat: 0n,
        firstHopAmountMsat: p.amountMsat,
        hops: omitHops ? [] : [hop],
      },
    },
  ];
}

export function paymentMessage(p: PaymentRecord, o: { chanId?: bigint; omitHops?: boolean } = {}): MessageInitShape<typeof PaymentSchema> {
  const status =
    p.state === 'succeeded' ? Payment_PaymentStatus.SUCCEEDED : p.state === 'failed' ? Payment_PaymentStatus.FAILED : Payment_PaymentStatus.IN_FLIGHT;
  return {
    paymentHash: hex(p.paymentHash),
    value: sats(p.amountMsat),
    valueSat: sats(p.amountMsat),
    valueMsat: p.amountMsat,
    creationDate: BigInt(p.createdAt),
    creationTimeNs: BigInt(p.createdAt) * 1_000_000_000n,
    paymentPreimage: p.preimage ? hex(p.preimage) : ZERO_PREIMAGE,
    paymentRequest: p.bolt11 ?? '',
    status,
    failureReason: p.state === 'failed' ? failureReason(p) : PaymentFailureReason.FAILURE_REASON_NONE,
    // A direct payment pays no routing fee.
    fee: 0n,
    feeSat: 0n,
    feeMsat: 0n,
    htlcs: htlcAttempts(p, o.chanId ?? 0n, o.omitHops ?? false),
  };
}
