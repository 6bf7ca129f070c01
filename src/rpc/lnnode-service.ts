/**
 * lnnode.v1.LightningNodeService: the node's own API, a thin translation
 * between proto messages and LightningNode. Every argument is checked here,
 * so a bad call fails with InvalidArgument naming the field before anything
 * in the node changes; the node's own refusals keep their message.
 */
import { readFileSync } from 'node:fs';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { Address } from '@scure/btc-signer';
import { fromHex, hex } from '../bolt/bytes.ts';
import { CUSTOM_TYPE_MIN, MAX_CUSTOM_PAYLOAD } from '../bolt/bolt1/wire.ts';
import { msat } from '../bolt/units.ts';
import { type ChannelManager, type ChannelSummary } from '../node/channels/manager.ts';
import { type LightningNode } from '../node/node.ts';
import { addressNetwork } from '../node/networks.ts';
import { type InvoiceRecord } from '../node/payments/invoices.ts';
import { PaymentError, type PaymentRecord } from '../node/payments/payments.ts';
import { type Wallet, type WalletTx, WalletTxNotFoundError } from '../node/wallet/wallet.ts';
import { isTxid } from '../chain/txid.ts';
import pkg from '../../package.json' with { type: 'json' };
import { type MessageInitShape } from '@bufbuild/protobuf';
import {
  type ChannelSchema,
  InvoiceState,
  LightningNodeService,
  PayInvoiceResponse_Status,
  Payment_Status,
  PeerEvent_Type,
  WaitInvoiceSettledResponse_State,
  type WalletTransactionSchema,
} from './gen/lnnode/v1/lnnode_pb.ts';
import { dialAddressArg, feerateArg, invoiceArg, maxBytesArg, msatArg, satArg, waitSecondsArg } from './args.ts';
import { invalidArgument, notFound, requireBytes, requirePubkey, toConnectError } from './errors.ts';
import { customSubscription } from './early-subscription.ts';
import { feed, streamsOf } from './feed.ts';
import { type ApiLimits, DEFAULT_API_LIMITS } from './limits.ts';
import { until } from './until.ts';
import { WALLET_CATCH_UP_MS, channelsOf, maxFeerateSatPerVb, nowSeconds, requestStop, walletOf } from './node-parts.ts';

const CUSTOM_TYPE_MAX = 0xffff;
/** An idempotency key is a client's id for one send (a UUID is 16 bytes). */
const MAX_IDEMPOTENCY_KEY_BYTES = 64;
const DEFAULT_PAY_TIMEOUT_S = 60;

export function channelMessage(c: ChannelSummary): MessageInitShape<typeof ChannelSchema> {
  return {
    channelId: fromHex(c.channelId),
    peerPubkey: fromHex(c.peer),
    channelValueSat: c.capacitySat,
    outboundCapacityMsat: c.localBalanceMsat,
    inboundCapacityMsat: c.remoteBalanceMsat,
    usable: c.active,
    state: c.phase,
    initiator: c.weAreOpener,
    fundingTxidHex: c.fundingTxid,
    fundingOutputIndex: c.fundingVout,
    shortChannelId: c.shortChannelId ?? '',
    pendingHtlcs: c.pendingHtlcs,
    closeKind: c.closeKind ?? '',
    closingTxidHex: c.closingTxid ?? '',
    sweepTxidsHex: c.sweepTxids,
    closeReason: c.closeReason ?? '',
    spendableMsat: c.numbers.spendableMsat,
    receivableMsat: c.numbers.receivableMsat,
    localReserveSat: c.numbers.localReserveSat,
    remoteReserveSat: c.numbers.remoteReserveSat,
    feeratePerKw: c.feeratePerKw,
    commitFeeSat: c.commitFeeSat,
    csvDelay: c.remoteParams.toSelfDelay,
    fundingConfirmations: c.numbers.fundingConfirmations,
    fundingBlocksToGo: c.numbers.fundingBlocksToGo,
    closeHeight: c.numbers.closeHeight ?? 0,
    maturityHeight: c.numbers.maturityHeight ?? 0,
    blocksTilMaturity: Math.max(0, c.numbers.blocksTilMaturity ?? 0),
    limboSat: c.numbers.limboSat,
    settledSat: c.numbers.settledSat,
    timeLockedSat: c.numbers.timeLockedSat,
  };
}

/** Our funds in closing channels not yet back in the wallet. */
export const limboSat = (node: LightningNode): bigint => (node.channels?.list() ?? []).reduce((s, c) => s + c.numbers.limboSat, 0n);

export function walletTxMessage(t: WalletTx, w: Wallet): MessageInitShape<typeof WalletTransactionSchema> {
  return {
    txidHex: t.txid,
    purpose: t.purpose,
    state: t.state,
    feeSat: t.feeSat,
    createdAt: BigInt(t.createdAt),
    blockHeight: t.blockHeight ?? 0,
    lastError: t.lastError ?? '',
    conflictTxidHex: t.conflictTxid ?? '',
    inputs: t.inputs,
    neededBy: w.neededBy(t) ?? '',
  };
}

export function invoiceState(i: InvoiceRecord, now: number): InvoiceState {
  if (i.state === 'settled') return InvoiceState.SETTLED;
  if (i.state === 'canceled') return InvoiceState.CANCELED;
  return now >= i.expiresAt ? InvoiceState.EXPIRED : InvoiceState.OPEN;
}

/** A payment refused before anything was sent, as lnnode.v1 reports it (fields named where the caller can fix them). */
function payRefusal(e: unknown): ConnectError {
  if (!(e instanceof PaymentError)) return toConnectError(e);
  const hash = e.payment ? ` (payment_hash ${hex(e.payment.paymentHash)})` : '';
  switch (e.code) {
    case 'invalid_invoice':
      return invalidArgument(`payment_request is ${e.message}`);
    case 'wrong_network':
    case 'cltv_too_far':
      return invalidArgument(`payment_request: ${e.message}`);
    case 'amount_not_allowed':
      return invalidArgument('amount_msat: the invoice has its own amount; leave amount_msat 0');
    case 'amount_required':
      return invalidArgument('amount_msat is required: the invoice has no amount');
    case 'amount_invalid':
      return invalidArgument(`amount_msat: ${e.message}`);
    case 'already_paid':
      return new ConnectError(`invoice is already paid${hash}; its preimage is in ListPayments`, Code.AlreadyExists);
    case 'in_flight':
      return new ConnectError(`a payment of this invoice is in flight${hash}; ListPayments shows how it ends`, Code.AlreadyExists);
    default:
      return toConnectError(e);
  }
}

const paymentStatus = (p: PaymentRecord): Payment_Status =>
  p.state === 'succeeded' ? Payment_Status.SUCCEEDED : p.state === 'failed' ? Payment_Status.FAILED : Payment_Status.IN_FLIGHT;

/**
 * Waits until an invoice is settled, canceled or expired, `timeoutMs`
 * passes (DeadlineExceeded), or the client goes away.
 */
export async function waitInvoice(node: LightningNode, hash: Uint8Array, timeoutMs: number | undefined, signal: AbortSignal): Promise<InvoiceRecord & { final: InvoiceState }> {
  const first = node.invoices.get(hash);
  if (!first) throw notFound(`no invoice with payment_hash ${hex(hash)}`);
  const key = hex(hash);
  return until(
    (wake) => {
      const off = node.invoices.onSettled((i) => hex(i.paymentHash) === key && wake());
      // Expiry changes the state without an event.
      const expiry = setTimeout(wake, Math.max(0, first.expiresAt * 1000 - Date.now()) + 50);
      return () => {
        off();
        clearTimeout(expiry);
      };
    },
    () => {
      const i = node.invoices.get(hash)!;
      const final = invoiceState(i, nowSeconds());
      return final === InvoiceState.OPEN ? undefined : { ...i, final };
    },
    signal,
    timeoutMs === undefined ? {} : { timeout: { ms: timeoutMs, error: () => new ConnectError(`invoice still open after ${timeoutMs / 1000} s`, Code.DeadlineExceeded) } },
  );
}

export function lnnodeRoutes(node: LightningNode, limits: ApiLimits = DEFAULT_API_LIMITS): (router: ConnectRouter) => void {
  const wallet = (): Wallet => walletOf(node);
  const channels = (): ChannelManager => channelsOf(node);
  const streams = streamsOf(node, limits.streams);

  return (router) =>
    router.service(LightningNodeService, {
      getNodeInfo() {
        const list = node.channels?.list() ?? [];
        return {
          nodePubkey: node.nodeId,
          network: node.config.network,
          p2pListenAddrs: node.p2pPort && node.config.p2pListen ? [`${node.config.p2pListen.host}:${node.p2pPort}`] : [],
          version: pkg.version,
          blockHeight: node.tip?.height ?? 0,
          blockHash: node.tip?.hash ?? '',
          syncedToChain: node.tip !== undefined,
          chainSource: node.config.chain.kind,
          numPeers: node.peers.peers().length,
          numActiveChannels: list.filter((c) => c.active).length,
          numPendingChannels: list.filter((c) => c.phase === 'awaiting_funding_signed' || c.phase === 'awaiting_lock_in').length,
          handledHeight: node.handledTip?.height ?? 0,
        };
      },

      stop() {
        return { status: requestStop(node, 'Stop') };
      },

      async connectPeer(req) {
        const peer = requirePubkey('peer_pubkey', req.peerPubkey);
        const { host, port } = dialAddressArg('addr', req.addr);
        if (node.peers.isConnected(peer)) return { alreadyConnected: true };
        try {
          await node.connect(peer, host, port, req.persistent);
        } catch (e) {
          throw new ConnectError(`cannot connect to ${hex(peer)}@${req.addr}: ${(e as Error).message}`, Code.Unavailable);
        }
        return { alreadyConnected: false };
      },

      disconnectPeer(req) {
        const peer = requirePubkey('peer_pubkey', req.peerPubkey);
        if (!node.peers.isConnected(peer)) throw notFound(`peer ${hex(peer)} is not connected`);
        node.disconnect(peer);
        return {};
      },

      listPeers() {
        return {
          peers: node.peers.peers().map((p) => ({ peerPubkey: p.nodeId, addr: p.address, connected: true, inbound: p.inbound, features: p.features.list() })),
        };
      },

      subscribePeerEvents(_req, ctx) {
        return feed(
          node.subscribePeerEvents(streams.budget),
          ctx,
          (e) =>
            e.kind === 'online'
              ? { peerPubkey: e.peer, type: PeerEvent_Type.ONLINE, detail: e.address }
              : { peerPubkey: e.peer, type: PeerEvent_Type.OFFLINE, detail: e.reason },
          streams,
        );
      },

      sendCustomMessage(req) {
        const peer = requirePubkey('peer_pubkey', req.peerPubkey);
        if (req.msgType < CUSTOM_TYPE_MIN || req.msgType > CUSTOM_TYPE_MAX) {
          throw invalidArgument(`msg_type ${req.msgType} is outside the custom range ${CUSTOM_TYPE_MIN}..${CUSTOM_TYPE_MAX}`);
        }
        if (req.data.length > MAX_CUSTOM_PAYLOAD) throw invalidArgument(`data is ${req.data.length} bytes; at most ${MAX_CUSTOM_PAYLOAD} fit in a message`);
        try {
          node.peers.sendCustom(peer, req.msgType, req.data);
        } catch (e) {
          throw toConnectError(e);
        }
        return {};
      },

      subscribeCustomMessages(req, ctx) {
        for (const t of req.msgTypes) {
          if (t < CUSTOM_TYPE_MIN || t > CUSTOM_TYPE_MAX) throw invalidArgument(`msg_types: ${t} is outside the custom range ${CUSTOM_TYPE_MIN}..${CUSTOM_TYPE_MAX}`);
        }
        const sub = customSubscription(ctx, node, streams, req.msgTypes.length ? req.msgTypes : undefined);
        return feed(sub, ctx, (m) => ({ peerPubkey: m.peer, msgType: m.type, data: m.payload }), streams);
      },

      async openChannel(req) {
        const peer = requirePubkey('peer_pubkey', req.peerPubkey);
        if (req.announceChannel) throw invalidArgument('announce_channel: public channels are not supported; lnnode opens unannounced channels');
        const fundingSat = satArg('local_funding_amount_sat', req.localFundingAmountSat);
        if (req.pushMsat >= fundingSat * 1000n) throw invalidArgument('push_msat must be less than the funding amount');
        const fundingFeerate = feerateArg('funding_fee_rate_sat_per_vbyte', req.fundingFeeRateSatPerVbyte, maxFeerateSatPerVb(node));
        const ch = channels();
        if (!node.peers.isConnected(peer)) throw notFound(`peer ${hex(peer)} is not connected; connect it first`);
        await wallet().caughtUp(WALLET_CATCH_UP_MS);
        try {
          const o = await ch.open(peer, { fundingSat, pushMsat: msat(req.pushMsat), fundingFeerate });
          return { channelId: o.channelId, fundingTxidHex: o.fundingTxid, fundingOutputIndex: o.fundingVout };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      async closeChannel(req) {
        const id = requireBytes('channel_id', req.channelId, 32);
        const feerate = feerateArg('fee_rate_sat_per_vbyte', req.feeRateSatPerVbyte, maxFeerateSatPerVb(node));
        if (!node.channels?.get(id)) throw notFound(`no channel ${hex(id)}`);
        const ch = channels();
        try {
          const { closingTxid } = await ch.close(id, { force: req.force, feerate });
          return { closingTxidHex: closingTxid };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      listChannels(req) {
        const list = node.channels?.list() ?? [];
        return { channels: list.filter((c) => req.includeClosed || c.phase !== 'closed').map(channelMessage) };
      },

      exportChannelBackup() {
        const backup = node.backup;
        if (!backup) throw new ConnectError('no channel backup: the node runs without a chain source, so it has no channels', Code.FailedPrecondition);
        // Written now if anything changed since the last write, so what is exported is what the file holds.
        backup.refresh();
        const bytes = readFileSync(backup.path);
        return { backup: new Uint8Array(bytes), numChannels: channels().backupEntries(() => []).length, path: backup.path };
      },

      newAddress() {
        return { address: wallet().newAddress() };
      },

      async walletBalance() {
        await wallet().caughtUp(WALLET_CATCH_UP_MS);
        const b = wallet().balance();
        return { confirmedSat: b.confirmedSat, unconfirmedSat: b.unconfirmedSat, reservedSat: b.reservedSat, limboSat: limboSat(node) };
      },

      async sendToAddress(req) {
        try {
          Address(addressNetwork(node.config.network)).decode(req.address);
        } catch {
          throw invalidArgument(`address "${req.address}" is not a ${node.config.network} address`);
        }
        if (req.sendAll && req.amountSat !== 0n) throw invalidArgument('give amount_sat or send_all, not both');
        if (!req.sendAll && req.amountSat === 0n) throw invalidArgument('amount_sat is required (or send_all)');
        const amountSat = req.sendAll ? 'all' : satArg('amount_sat', req.amountSat);
        const given = feerateArg('fee_rate_sat_per_vbyte', req.feeRateSatPerVbyte, maxFeerateSatPerVb(node));
        maxBytesArg('idempotency_key', req.idempotencyKey, MAX_IDEMPOTENCY_KEY_BYTES);
        const w = wallet();
        await w.caughtUp(WALLET_CATCH_UP_MS);
        const feerate = given ?? channels().feerateEstimate;
        try {
          const tx = await w.send({
            address: req.address,
            amountSat,
            feerate,
            rbf: req.rbf,
            idempotencyKey: req.idempotencyKey.length ? hex(req.idempotencyKey) : undefined,
            allowHighFee: req.allowHighFee,
          });
          return { txidHex: tx.txid, feeSat: tx.feeSat, broadcast: tx.broadcast, broadcastError: tx.broadcastError ?? '' };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      listWalletTransactions() {
        const w = wallet();
        return { transactions: w.transactions().map((t) => walletTxMessage(t, w)) };
      },

      async releaseTransaction(req) {
        if (!isTxid(req.txidHex)) throw invalidArgument(`txid_hex must be 64 lowercase hex characters, got "${req.txidHex}"`);
        const w = wallet();
        try {
          return { transaction: walletTxMessage(await w.release(req.txidHex), w) };
        } catch (e) {
          if (e instanceof WalletTxNotFoundError) throw notFound(e.message);
          throw toConnectError(e);
        }
      },

      createInvoice(req) {
        const descriptionHash = requireBytes('description_hash', req.descriptionHash, 32);
        if (req.expirySeconds > 365n * 24n * 3600n) throw invalidArgument('expiry_seconds is more than a year');
        const amountMsat = msatArg('amount_msat', req.amountMsat, { zero: 'allowed' });
        try {
          const inv = node.invoices.create({
            descriptionHash,
            amountMsat: amountMsat || undefined,
            expirySeconds: req.expirySeconds ? Number(req.expirySeconds) : undefined,
            minFinalCltv: req.minFinalCltvExpiry || undefined,
          });
          return { paymentRequest: inv.bolt11, paymentHash: inv.paymentHash, paymentAddr: inv.paymentSecret };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      async waitInvoiceSettled(req, ctx) {
        const hash = requireBytes('payment_hash', req.paymentHash, 32);
        const timeoutS = waitSecondsArg('timeout_seconds', req.timeoutSeconds);
        const i = await waitInvoice(node, hash, timeoutS ? timeoutS * 1000 : undefined, ctx.signal);
        const state =
          i.final === InvoiceState.SETTLED
            ? WaitInvoiceSettledResponse_State.SETTLED
            : i.final === InvoiceState.CANCELED
              ? WaitInvoiceSettledResponse_State.CANCELED
              : WaitInvoiceSettledResponse_State.EXPIRED;
        return {
          state,
          amountReceivedMsat: i.receivedMsat ?? 0n,
          paymentPreimage: state === WaitInvoiceSettledResponse_State.SETTLED ? i.preimage : new Uint8Array(),
        };
      },

      listInvoices() {
        const now = nowSeconds();
        return {
          invoices: node.invoices.list().map((i) => ({
            paymentHash: i.paymentHash,
            paymentRequest: i.bolt11,
            amountMsat: i.amountMsat ?? 0n,
            state: invoiceState(i, now),
            createdAtUnix: BigInt(i.createdAt),
            expiresAtUnix: BigInt(i.expiresAt),
            settledAtUnix: BigInt(i.settledAt ?? 0),
            amountReceivedMsat: i.receivedMsat ?? 0n,
          })),
        };
      },

      decodeInvoice(req) {
        const { invoice: inv } = invoiceArg('payment_request', req.paymentRequest);
        return {
          payeePubkey: inv.payeePubkey,
          descriptionHash: inv.descriptionHash ?? new Uint8Array(),
          description: inv.description ?? '',
          amountMsat: inv.amountMsat ?? 0n,
          timestampUnix: BigInt(inv.timestamp),
          expirySeconds: BigInt(inv.expirySeconds),
          paymentHash: inv.paymentHash,
          paymentAddr: inv.paymentSecret,
          minFinalCltvExpiry: inv.minFinalCltvExpiryDelta,
          network: inv.network,
        };
      },

      async payInvoice(req) {
        if (!req.paymentRequest.trim()) throw invalidArgument('payment_request is required');
        const timeoutMs = (waitSecondsArg('timeout_seconds', req.timeoutSeconds) || DEFAULT_PAY_TIMEOUT_S) * 1000;
        const given = msatArg('amount_msat', req.amountMsat, { zero: 'allowed' });
        // The invoice is read once, into the plan; paying it claims its hash before anything is sent,
        // so a second call (concurrent or later) for a paid or in-flight hash is refused, as lnd does.
        let started;
        try {
          const plan = node.payments.plan(req.paymentRequest, { amountMsat: given || undefined });
          channels();
          started = node.payments.start(plan, { timeoutMs });
        } catch (e) {
          throw payRefusal(e);
        }
        // A direct payment pays no routing fee, so every fee_limit_msat (also 0) is met.
        try {
          const p = await started.done;
          return { status: PayInvoiceResponse_Status.SUCCEEDED, paymentPreimage: p.preimage, paymentHash: p.paymentHash, amountMsat: p.amountMsat, feeMsat: 0n };
        } catch (e) {
          const p = e instanceof PaymentError ? e.payment : undefined;
          if (e instanceof PaymentError && e.code === 'failed' && p) {
            return { status: PayInvoiceResponse_Status.FAILED, failureMessage: p.failure ?? e.message, paymentHash: p.paymentHash, amountMsat: p.amountMsat };
          }
          if (e instanceof PaymentError && e.code === 'timeout') {
            throw new ConnectError(`${e.message}; it stays in flight and ends settled or failed (see ListPayments)`, Code.DeadlineExceeded);
          }
          throw toConnectError(e);
        }
      },

      listPayments() {
        return {
          payments: node.payments.list().map((p) => ({
            paymentHash: p.paymentHash,
            paymentRequest: p.bolt11 ?? '',
            payeePubkey: p.payee,
            amountMsat: p.amountMsat,
            status: paymentStatus(p),
            paymentPreimage: p.preimage ?? new Uint8Array(),
            failureMessage: p.failure ?? '',
            createdAtUnix: BigInt(p.createdAt),
            resolvedAtUnix: BigInt(p.resolvedAt ?? 0),
          })),
        };
      },
    });
}
