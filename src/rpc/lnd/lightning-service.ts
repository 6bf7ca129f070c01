/**
 * lnrpc.Lightning, the subset LCP daemons and lncli call, translated onto
 * LightningNode with lnd's argument conventions and error codes. Where lnd
 * has an option lnnode cannot honour (public channels, zero-conf, taproot or
 * legacy commitments, funding everything), the call is refused with InvalidArgument saying so
 * rather than quietly doing something else.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { Address } from '@scure/btc-signer';
import { fromHex, hex } from '../../bolt/bytes.ts';
import { CUSTOM_TYPE_MIN, MAX_CUSTOM_PAYLOAD } from '../../bolt/bolt1/wire.ts';
import { DEFAULT_EXPIRY_SECONDS } from '../../bolt/bolt11/invoice.ts';
import { LNNODE_INIT_FEATURES } from '../../bolt/bolt9/features.ts';
import { type FeeratePerKw, msat } from '../../bolt/units.ts';
import { type ChannelManager, type ChannelSummary } from '../../node/channels/manager.ts';
import { type LightningNode } from '../../node/node.ts';
import { addressNetwork } from '../../node/networks.ts';
import { type InvoiceRecord, MAX_MIN_FINAL_CLTV } from '../../node/payments/invoices.ts';
import { EVENT_OVERHEAD_BYTES, Subscription } from '../../node/subscription.ts';
import { type Wallet } from '../../node/wallet/wallet.ts';
import pkg from '../../../package.json' with { type: 'json' };
import { descriptionArg, dialAddressArg, feerateArg, invoiceArg, msatArg, satArg } from '../args.ts';
import { failedPrecondition, invalidArgument, notFound, requireBytes, requirePubkey, toConnectError } from '../errors.ts';
import { customSubscription } from '../early-subscription.ts';
import { feed, type Streams, streamsOf } from '../feed.ts';
import { type ApiLimits, DEFAULT_API_LIMITS } from '../limits.ts';
import { until } from '../until.ts';
import { AddressType, CommitmentType, Lightning, PeerEvent_EventType, type ChannelPoint, type OpenChannelRequest } from '../gen/lnrpc/lightning_pb.ts';
import { channelMessage, invoiceMessage, lndFeatures, txidBytes, txidHexFromBytes } from './convert.ts';
import { WALLET_CATCH_UP_MS, channelsOf, maxFeerateSatPerVb, nowSeconds, requestStop, walletOf } from '../node-parts.ts';
import { listingRoutes } from './listings.ts';

/** lnd's default invoice expiry (BOLT 11's default is one hour; lnd clients expect a day). */
const LND_INVOICE_EXPIRY_S = 86_400;
const DEFAULT_P2P_PORT = 9735;
const MAX_LABEL_CHARS = 500;

/** A pubkey given as a hex string, as lnd's string fields carry them. */
function pubkeyHex(field: string, s: string): Uint8Array {
  if (!/^0[23][0-9a-fA-F]{64}$/.test(s)) throw invalidArgument(`${field} must be a 33-byte compressed public key in hex, got "${s}"`);
  return fromHex(s);
}

/** sat_per_vbyte, or the deprecated sat_per_byte (the same unit); 0 lets the node choose; at most `max` sat/vB. */
function feerate(satPerVbyte: bigint, satPerByte: bigint, max: number): FeeratePerKw | undefined {
  if (satPerVbyte && satPerByte) throw invalidArgument('either sat_per_byte or sat_per_vbyte should be set, but not both');
  return satPerByte ? feerateArg('sat_per_byte', satPerByte, max) : feerateArg('sat_per_vbyte', satPerVbyte, max);
}

/** The channel a ChannelPoint names. */
export function channelAt(node: LightningNode, cp: ChannelPoint | undefined): ChannelSummary {
  if (!cp) throw invalidArgument('channel_point is required');
  let txid: string;
  if (cp.fundingTxid.case === 'fundingTxidStr') {
    if (!/^[0-9a-fA-F]{64}$/.test(cp.fundingTxid.value)) throw invalidArgument('channel_point.funding_txid_str must be 64 hex digits');
    txid = cp.fundingTxid.value.toLowerCase();
  } else if (cp.fundingTxid.case === 'fundingTxidBytes') {
    txid = txidHexFromBytes(requireBytes('channel_point.funding_txid_bytes', cp.fundingTxid.value, 32));
  } else {
    throw invalidArgument('channel_point needs funding_txid_bytes or funding_txid_str');
  }
  const c = node.channels?.list().find((x) => x.fundingTxid === txid && x.fundingVout === cp.outputIndex);
  if (!c) throw notFound(`no channel with channel point ${txid}:${cp.outputIndex}`);
  return c;
}

/** Resolves when `pred` holds for the channel, or rejects when the client goes away. */
function channelReaches(ch: ChannelManager, id: Uint8Array, pred: (c: ChannelSummary) => boolean, signal: AbortSignal): Promise<ChannelSummary> {
  const key = hex(id);
  return until(
    (wake) => ch.onStateChange((changed) => hex(changed) === key && wake()),
    () => {
      const c = ch.get(id);
      return c && pred(c) ? c : undefined;
    },
    signal,
  );
}

interface InvoiceEvent {
  kind: 'added' | 'settled';
  invoice: InvoiceRecord;
}

/**
 * lnd's SubscribeInvoices: first the invoices added after `addIndex` (when
 * it is not 0) and settled after `settleIndex` (when not 0), then every
 * invoice added or settled from now on. Live events are subscribed before the
 * backlog is read, and anything the backlog already delivered is skipped, so
 * nothing falls between the two.
 */
async function* invoiceEvents(node: LightningNode, addIndex: number, settleIndex: number, ctx: HandlerContext, streams: Streams): AsyncGenerator<InvoiceRecord> {
  const offs: (() => void)[] = [];
  const sub = new Subscription<InvoiceEvent>(() => offs.forEach((f) => f()), {
    sizeOf: (e) => EVENT_OVERHEAD_BYTES + 2 * e.invoice.bolt11.length,
    budget: streams.budget,
  });
  offs.push(node.invoices.onAdded((invoice) => sub.offer({ kind: 'added', invoice })));
  offs.push(node.invoices.onSettled((invoice) => sub.offer({ kind: 'settled', invoice })));
  let lastAdd = addIndex;
  let lastSettle = settleIndex;
  if (addIndex > 0) {
    for (const i of node.invoices.addedAfter(addIndex)) {
      lastAdd = i.addIndex;
      yield i;
    }
  }
  if (settleIndex > 0) {
    for (const i of node.invoices.settledAfter(settleIndex)) {
      lastSettle = i.settleIndex;
      yield i;
    }
  }
  for await (const e of feed(sub, ctx, (x) => x, streams)) {
    if (e.kind === 'added' && e.invoice.addIndex > lastAdd) {
      lastAdd = e.invoice.addIndex;
      yield e.invoice;
    } else if (e.kind === 'settled' && e.invoice.settleIndex > lastSettle) {
      lastSettle = e.invoice.settleIndex;
      yield e.invoice;
    }
  }
}

export function lightningRoutes(node: LightningNode, limits: ApiLimits = DEFAULT_API_LIMITS): (router: ConnectRouter) => void {
  const wallet = (): Wallet => walletOf(node);
  const channels = (): ChannelManager => channelsOf(node);
  const streams = streamsOf(node, limits.streams);
  const lndNetwork = node.config.network;

  return (router) =>
    router.service(Lightning, {
      stopDaemon() {
        return { status: requestStop(node, 'StopDaemon') };
      },
      ...listingRoutes(node),

      getInfo() {
        const list = node.channels?.list() ?? [];
        const open = list.filter((c) => c.phase === 'normal' || c.phase === 'shutdown');
        const host = node.config.p2pListen?.host;
        return {
          identityPubkey: hex(node.nodeId),
          alias: '',
          color: '#000000',
          numPendingChannels: list.filter((c) => c.phase === 'awaiting_funding_signed' || c.phase === 'awaiting_lock_in').length,
          numActiveChannels: open.filter((c) => c.active).length,
          numInactiveChannels: open.filter((c) => !c.active).length,
          numPeers: node.peers.peers().length,
          blockHeight: node.tip?.height ?? 0,
          blockHash: node.tip?.hash ?? '',
          syncedToChain: node.tip !== undefined,
          syncedToGraph: false,
          walletSynced: node.tip !== undefined,
          testnet: lndNetwork === 'testnet',
          chains: [{ chain: 'bitcoin', network: lndNetwork }],
          uris: node.p2pPort && host && host !== '0.0.0.0' && host !== '::' ? [`${hex(node.nodeId)}@${host}:${node.p2pPort}`] : [],
          version: `lnnode-${pkg.version}`,
          features: lndFeatures(LNNODE_INIT_FEATURES),
        };
      },

      async connectPeer(req) {
        if (!req.addr) throw invalidArgument('addr is required (pubkey and host)');
        const peer = pubkeyHex('addr.pubkey', req.addr.pubkey);
        const { host, port } = dialAddressArg('addr.host', req.addr.host, DEFAULT_P2P_PORT);
        if (node.peers.isConnected(peer)) throw new ConnectError(`already connected to peer: ${req.addr.pubkey}`, Code.AlreadyExists);
        try {
          await node.connect(peer, host, port, req.perm);
        } catch (e) {
          throw new ConnectError(`cannot connect to ${req.addr.pubkey}@${req.addr.host}: ${(e as Error).message}`, Code.Unavailable);
        }
        return { status: `connection to ${req.addr.pubkey}@${host}:${port} initiated` };
      },

      disconnectPeer(req) {
        const peer = pubkeyHex('pub_key', req.pubKey);
        if (!node.peers.isConnected(peer)) throw notFound(`peer ${req.pubKey} is not connected`);
        node.disconnect(peer);
        return { status: 'disconnect initiated' };
      },

      listPeers() {
        return {
          peers: node.peers.peers().map((p) => ({ pubKey: hex(p.nodeId), address: p.address, inbound: p.inbound, features: lndFeatures(p.features) })),
        };
      },

      subscribePeerEvents(_req, ctx) {
        return feed(
          node.subscribePeerEvents(streams.budget),
          ctx,
          (e) => ({ pubKey: hex(e.peer), type: e.kind === 'online' ? PeerEvent_EventType.PEER_ONLINE : PeerEvent_EventType.PEER_OFFLINE }),
          streams,
        );
      },

      sendCustomMessage(req) {
        const peer = requirePubkey('peer', req.peer);
        if (req.type < CUSTOM_TYPE_MIN || req.type > 0xffff) throw invalidArgument(`custom message type ${req.type} is outside ${CUSTOM_TYPE_MIN}..65535`);
        if (req.data.length > MAX_CUSTOM_PAYLOAD) throw invalidArgument(`data is ${req.data.length} bytes; at most ${MAX_CUSTOM_PAYLOAD} fit in a message`);
        try {
          node.peers.sendCustom(peer, req.type, req.data);
        } catch (e) {
          throw toConnectError(e);
        }
        return { status: 'message sent successfully' };
      },

      subscribeCustomMessages(_req, ctx) {
        const sub = customSubscription(ctx, node, streams);
        return feed(sub, ctx, (m) => ({ peer: m.peer, type: m.type, data: m.payload }), streams);
      },

      listChannels(req) {
        const peer = req.peer.length ? hex(requirePubkey('peer', req.peer)) : undefined;
        if (req.publicOnly) return { channels: [] }; // every lnnode channel is private
        const list = (node.channels?.list() ?? []).filter(
          (c) => (c.phase === 'normal' || c.phase === 'shutdown') && (!peer || c.peer === peer) && (!req.activeOnly || c.active) && (!req.inactiveOnly || !c.active),
        );
        return { channels: list.map(channelMessage) };
      },

      async openChannelSync(req, ctx) {
        const opened = await openChannel(node, channels, req);
        return { fundingTxid: { case: 'fundingTxidBytes', value: txidBytes(opened.fundingTxid) }, outputIndex: opened.fundingVout };
      },

      async *openChannel(req, ctx) {
        const opened = await openChannel(node, channels, req);
        const txid = txidBytes(opened.fundingTxid);
        yield { pendingChanId: opened.channelId, update: { case: 'chanPending', value: { txid, outputIndex: opened.fundingVout } } };
        await channelReaches(channels(), opened.channelId, (c) => c.phase !== 'awaiting_lock_in' && c.phase !== 'awaiting_funding_signed', ctx.signal);
        yield {
          pendingChanId: opened.channelId,
          update: { case: 'chanOpen', value: { channelPoint: { fundingTxid: { case: 'fundingTxidBytes', value: txid }, outputIndex: opened.fundingVout } } },
        };
      },

      async *closeChannel(req, ctx) {
        if (req.deliveryAddress) throw invalidArgument('delivery_address: lnnode closes to its own wallet');
        const rate = req.targetConf && !req.satPerVbyte && !req.satPerByte ? undefined : feerate(req.satPerVbyte, req.satPerByte, maxFeerateSatPerVb(node));
        const c = channelAt(node, req.channelPoint);
        const ch = channels();
        if (!req.force && !req.noWait && c.pendingHtlcs > 0) {
          throw failedPrecondition(
            `cannot coop close channel with active htlcs (number of active htlcs: ${c.pendingHtlcs}), bypass this check and initiate the coop close by setting no_wait=true`,
          );
        }
        if (req.noWait) yield { update: { case: 'closeInstant', value: { numPendingHtlcs: c.pendingHtlcs } } };
        const id = fromHex(c.channelId);
        let closingTxid: string;
        try {
          ({ closingTxid } = await ch.close(id, { force: req.force, feerate: rate }));
        } catch (e) {
          throw toConnectError(e);
        }
        yield { update: { case: 'closePending', value: { txid: txidBytes(closingTxid), outputIndex: 0, localCloseTx: req.force } } };
        await channelReaches(ch, id, (x) => x.phase === 'closed', ctx.signal);
        yield { update: { case: 'chanClose', value: { closingTxid: txidBytes(closingTxid), success: true } } };
      },

      newAddress(req) {
        if (req.account && req.account !== 'default') throw invalidArgument(`account "${req.account}": lnnode has one wallet account, "default"`);
        if (req.type !== AddressType.WITNESS_PUBKEY_HASH && req.type !== AddressType.UNUSED_WITNESS_PUBKEY_HASH) {
          throw invalidArgument(`address type ${AddressType[req.type]} is not supported: lnnode's wallet is native segwit (p2wkh)`);
        }
        return { address: wallet().newAddress() };
      },

      async walletBalance(req) {
        if (req.account && req.account !== 'default') throw invalidArgument(`account "${req.account}": lnnode has one wallet account, "default"`);
        await wallet().caughtUp(WALLET_CATCH_UP_MS);
        const b = wallet().balance();
        return {
          totalBalance: b.confirmedSat + b.unconfirmedSat + b.reservedSat,
          confirmedBalance: b.confirmedSat,
          unconfirmedBalance: b.unconfirmedSat,
          lockedBalance: b.reservedSat,
          // What the wallet keeps for bumping anchors channels' commitments (--anchor-reserve per channel).
          reservedBalanceAnchorChan: wallet().anchorReserve(0),
          accountBalance: { default: { confirmedBalance: b.confirmedSat, unconfirmedBalance: b.unconfirmedSat } },
        };
      },

      async sendCoins(req) {
        try {
          Address(addressNetwork(node.config.network)).decode(req.addr);
        } catch {
          throw invalidArgument(`addr "${req.addr}" is not a ${node.config.network} address`);
        }
        if (req.sendAll && req.amount !== 0n) throw invalidArgument('amount must not be set when send_all is');
        if (!req.sendAll && req.amount <= 0n) throw invalidArgument('amount must be positive (or set send_all)');
        const amountSat = req.sendAll ? 'all' : satArg('amount', req.amount);
        // lnd's wallet label limit.
        if (req.label.length > MAX_LABEL_CHARS) throw invalidArgument(`label is ${req.label.length} characters; at most ${MAX_LABEL_CHARS}`);
        const given = feerate(req.satPerVbyte, req.satPerByte, maxFeerateSatPerVb(node));
        const w = wallet();
        await w.caughtUp(WALLET_CATCH_UP_MS);
        const rate = given ?? channels().feerateEstimate;
        try {
          const tx = await w.send({ address: req.addr, amountSat, feerate: rate, rbf: true });
          return { txid: tx.txid };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      addInvoice(req) {
        if (req.value && req.valueMsat) throw invalidArgument('value and value_msat are mutually exclusive');
        const amountMsat = req.valueMsat ? msatArg('value_msat', req.valueMsat) : satArg('value', req.value, { zero: 'allowed' }) * 1000n;
        if (req.descriptionHash.length) requireBytes('description_hash', req.descriptionHash, 32);
        else descriptionArg('memo', req.memo);
        if (req.rPreimage.length) requireBytes('r_preimage', req.rPreimage, 32);
        if (req.expiry < 0n || req.expiry > 365n * 24n * 3600n) throw invalidArgument('expiry must be between 0 and one year');
        if (req.cltvExpiry > BigInt(MAX_MIN_FINAL_CLTV)) throw invalidArgument(`cltv_expiry of ${req.cltvExpiry} blocks is more than ${MAX_MIN_FINAL_CLTV} (payers refuse longer locks)`);
        if (req.isAmp || req.isKeysend) throw invalidArgument('AMP and keysend invoices are not supported');
        try {
          const inv = node.invoices.create({
            amountMsat: amountMsat ? msat(amountMsat) : undefined,
            // As lnd: a description hash goes into the invoice in place of the memo.
            descriptionHash: req.descriptionHash.length ? req.descriptionHash : undefined,
            description: req.descriptionHash.length ? undefined : req.memo,
            expirySeconds: req.expiry ? Number(req.expiry) : LND_INVOICE_EXPIRY_S,
            minFinalCltv: req.cltvExpiry ? Number(req.cltvExpiry) : undefined,
            preimage: req.rPreimage.length ? req.rPreimage : undefined,
          });
          return { rHash: inv.paymentHash, paymentRequest: inv.bolt11, addIndex: BigInt(inv.addIndex), paymentAddr: inv.paymentSecret };
        } catch (e) {
          throw toConnectError(e);
        }
      },

      lookupInvoice(req) {
        let hash = req.rHash;
        if (!hash.length && req.rHashStr) {
          if (!/^[0-9a-fA-F]{64}$/.test(req.rHashStr)) throw invalidArgument('r_hash_str must be 64 hex digits');
          hash = fromHex(req.rHashStr);
        }
        requireBytes('r_hash', hash, 32);
        const inv = node.invoices.get(hash);
        if (!inv) throw notFound('unable to locate invoice');
        return invoiceMessage(inv, nowSeconds());
      },

      subscribeInvoices(req, ctx) {
        return (async function* () {
          for await (const i of invoiceEvents(node, Number(req.addIndex), Number(req.settleIndex), ctx, streams)) yield invoiceMessage(i, nowSeconds());
        })();
      },

      decodePayReq(req) {
        const { invoice: d } = invoiceArg('pay_req', req.payReq, { uri: true });
        return {
          destination: hex(d.payeePubkey),
          paymentHash: hex(d.paymentHash),
          numSatoshis: (d.amountMsat ?? 0n) / 1000n,
          numMsat: d.amountMsat ?? 0n,
          timestamp: BigInt(d.timestamp),
          expiry: BigInt(d.expirySeconds ?? DEFAULT_EXPIRY_SECONDS),
          description: d.description ?? '',
          descriptionHash: d.descriptionHash ? hex(d.descriptionHash) : '',
          cltvExpiry: BigInt(d.minFinalCltvExpiryDelta),
          paymentAddr: d.paymentSecret,
          features: lndFeatures(d.features),
        };
      },
    });
}

/** Checks an OpenChannelRequest against what lnnode can do, then opens. */
async function openChannel(node: LightningNode, channels: () => ChannelManager, req: OpenChannelRequest) {
  const peer = req.nodePubkey.length ? requirePubkey('node_pubkey', req.nodePubkey) : pubkeyHex('node_pubkey_string', req.nodePubkeyString);
  if (!req.private) throw invalidArgument('lnnode opens private (unannounced) channels only: set private (lncli openchannel --private)');
  if (req.zeroConf) throw invalidArgument('zero_conf channels are not supported');
  if (req.fundMax) throw invalidArgument('fund_max is not supported: give local_funding_amount');
  if (req.closeAddress) throw invalidArgument('close_address is not supported: lnnode closes to its own wallet');
  const channelType = ({ [CommitmentType.STATIC_REMOTE_KEY]: 'static_remotekey', [CommitmentType.ANCHORS]: 'anchors' } as const)[req.commitmentType as number];
  if (req.commitmentType !== CommitmentType.UNKNOWN_COMMITMENT_TYPE && !channelType) {
    throw invalidArgument(`commitment_type ${CommitmentType[req.commitmentType]} is not supported: lnnode opens static_remotekey and anchors channels`);
  }
  const fundingSat = satArg('local_funding_amount', req.localFundingAmount);
  if (req.pushSat < 0n || req.pushSat >= fundingSat) throw invalidArgument('push_sat must be at least 0 and less than local_funding_amount');
  const fundingFeerate = feerate(req.satPerVbyte, req.satPerByte, maxFeerateSatPerVb(node));
  const ch = channels();
  if (!node.peers.isConnected(peer)) throw notFound(`peer ${hex(peer)} is not online`);
  await walletOf(node).caughtUp(WALLET_CATCH_UP_MS);
  try {
    return await ch.open(peer, { fundingSat, pushMsat: msat(req.pushSat * 1000n), fundingFeerate, channelType });
  } catch (e) {
    throw toConnectError(e);
  }
}

