/**
 * The read-only lnrpc.Lightning calls operators and lnd tooling try first:
 * PendingChannels, ChannelBalance, ClosedChannels, ListPayments,
 * ListInvoices, ListUnspent, GetTransactions and FeeReport, filled as lnd
 * fills them (balances in sat, net of the commitment fee the opener pays;
 * lnd's paging by index offsets; txids as display hex in strings).
 */
import { type MessageInitShape } from '@bufbuild/protobuf';
import { type ServiceImpl } from '@connectrpc/connect';
import { hex } from '../../bolt/bytes.ts';
import { CLOSE_DEPTH } from '../../node/channels/depths.ts';
import { type ChannelSummary } from '../../node/channels/manager.ts';
import { type LightningNode } from '../../node/node.ts';
import { chainHash } from '../../node/networks.ts';
import { invalidArgument } from '../errors.ts';
import { walletOf, nowSeconds } from '../node-parts.ts';
import { parseTx } from '../../chain/txid.ts';
import {
  AddressType,
  ChannelCloseSummary_ClosureType,
  CommitmentType,
  Initiator,
  Invoice_InvoiceState,
  Lightning,
  OutputScriptType,
  type PendingChannelsResponse_PendingChannelSchema,
  type TransactionSchema,
} from '../gen/lnrpc/lightning_pb.ts';
import { invoiceMessage, invoiceState, lndChanId, netBalances, paymentMessage, scidToUint64, txidBytes } from './convert.ts';

type PendingChannelMsg = MessageInitShape<typeof PendingChannelsResponse_PendingChannelSchema>;
type TransactionMsg = MessageInitShape<typeof TransactionSchema>;

const isPendingOpen = (c: ChannelSummary): boolean => c.phase === 'awaiting_funding_signed' || c.phase === 'awaiting_lock_in';
const isOpen = (c: ChannelSummary): boolean => c.phase === 'normal' || c.phase === 'shutdown';
const amount = (msat: bigint): { sat: bigint; msat: bigint } => ({ sat: msat / 1000n, msat });

function pendingChannel(c: ChannelSummary, closed = false): PendingChannelMsg {
  const { localMsat, remoteMsat } = netBalances(c);
  return {
    remoteNodePub: c.peer,
    channelPoint: `${c.fundingTxid}:${c.fundingVout}`,
    capacity: c.capacitySat,
    // As lnd: a closing channel shows what it settled to us.
    localBalance: closed ? c.numbers.settledSat || c.numbers.limboSat : localMsat / 1000n,
    remoteBalance: remoteMsat / 1000n,
    localChanReserveSat: c.numbers.localReserveSat,
    remoteChanReserveSat: c.numbers.remoteReserveSat,
    initiator: c.weAreOpener ? Initiator.LOCAL : Initiator.REMOTE,
    commitmentType: c.channelType === 'anchors' ? CommitmentType.ANCHORS : CommitmentType.STATIC_REMOTE_KEY,
    chanStatusFlags: 'ChanStatusDefault',
    private: true,
  };
}

/** The commitment's weight as BOLT 3 counts it (no HTLCs: pending opens have none). */
const commitWeight = (c: ChannelSummary): bigint => (c.channelType === 'anchors' ? 1124n : 724n);

const closureType = (c: ChannelSummary): ChannelCloseSummary_ClosureType => {
  switch (c.closeKind) {
    case 'mutual':
      return ChannelCloseSummary_ClosureType.COOPERATIVE_CLOSE;
    case 'local':
      return ChannelCloseSummary_ClosureType.LOCAL_FORCE_CLOSE;
    case 'remote':
    case 'unknown':
      return ChannelCloseSummary_ClosureType.REMOTE_FORCE_CLOSE;
    case 'revoked':
      return ChannelCloseSummary_ClosureType.BREACH_CLOSE;
    default:
      // Closed without anything spending the funding: a funding that never came.
      return ChannelCloseSummary_ClosureType.FUNDING_CANCELED;
  }
};

/** lnd's paging: `offset` is exclusive; reversed pages go backwards from it (from the end when 0). */
function page<T>(items: T[], indexOf: (t: T) => bigint, offset: bigint, max: bigint, reversed: boolean): T[] {
  if (reversed) {
    const before = offset ? items.filter((t) => indexOf(t) < offset) : items;
    return max ? before.slice(Math.max(0, before.length - Number(max))) : before;
  }
  const after = items.filter((t) => indexOf(t) > offset);
  return max ? after.slice(0, Number(max)) : after;
}

export function listingRoutes(node: LightningNode): Partial<ServiceImpl<typeof Lightning>> {
  const list = (): ChannelSummary[] => node.channels?.list() ?? [];
  const height = (): number => node.tip?.height ?? 0;

  return {
    pendingChannels() {
      const all = list();
      const tip = height();
      const pendingOpen = all.filter(isPendingOpen).map((c) => ({
        channel: pendingChannel(c),
        commitFee: c.commitFeeSat,
        commitWeight: commitWeight(c),
        feePerKw: BigInt(c.feeratePerKw),
        confirmationsUntilActive: c.numbers.fundingBlocksToGo,
        confirmationHeight: c.numbers.fundingConfirmations ? tip - c.numbers.fundingConfirmations + 1 : 0,
      }));
      // A channel restored from backup waits for the peer's close, as lnd lists its restored channels.
      const closing = all.filter((c) => c.phase === 'closing' || c.phase === 'recovering');
      // Until the closing transaction confirms (and for a mutual close until it is final) the channel is waiting to close, as in lnd.
      const waiting = closing.filter((c) => c.numbers.closeHeight === undefined || c.closeKind === 'mutual' || c.closeKind === undefined);
      const forced = closing.filter((c) => !waiting.includes(c));
      const waitingClose = waiting.map((c) => ({
        channel: pendingChannel(c),
        limboBalance: c.numbers.limboSat,
        commitments: { localTxid: c.commitments.localTxid, remoteTxid: c.commitments.remoteTxid, remotePendingTxid: c.commitments.remotePendingTxid ?? '', localCommitFeeSat: c.commitFeeSat, remoteCommitFeeSat: c.commitFeeSat },
        closingTxid: c.closingTxid ?? '',
        closeHeight: c.numbers.closeHeight ?? 0,
        blocksTilCloseConfirmed: c.numbers.closeHeight === undefined ? 0 : Math.max(0, CLOSE_DEPTH - (tip - c.numbers.closeHeight + 1)),
      }));
      const forceClosing = forced.map((c) => ({
        channel: pendingChannel(c, true),
        closingTxid: c.closingTxid ?? '',
        limboBalance: c.numbers.limboSat,
        maturityHeight: c.numbers.maturityHeight ?? 0,
        blocksTilMaturity: c.numbers.blocksTilMaturity ?? 0,
        recoveredBalance: c.numbers.settledSat,
      }));
      return {
        totalLimboBalance: closing.reduce((s, c) => s + c.numbers.limboSat, 0n),
        pendingOpenChannels: pendingOpen,
        waitingCloseChannels: waitingClose,
        pendingForceClosingChannels: forceClosing,
      };
    },

    channelBalance() {
      let local = 0n;
      let remote = 0n;
      let pendingLocal = 0n;
      let pendingRemote = 0n;
      let unsettledLocal = 0n;
      let unsettledRemote = 0n;
      for (const c of list()) {
        const { localMsat, remoteMsat } = netBalances(c);
        if (isOpen(c)) {
          local += localMsat;
          remote += remoteMsat;
          unsettledLocal += c.numbers.pendingOutMsat;
          unsettledRemote += c.numbers.pendingInMsat;
        } else if (isPendingOpen(c)) {
          pendingLocal += localMsat;
          pendingRemote += remoteMsat;
        }
      }
      return {
        balance: local / 1000n,
        pendingOpenBalance: pendingLocal / 1000n,
        localBalance: amount(local),
        remoteBalance: amount(remote),
        unsettledLocalBalance: amount(unsettledLocal),
        unsettledRemoteBalance: amount(unsettledRemote),
        pendingOpenLocalBalance: amount(pendingLocal),
        pendingOpenRemoteBalance: amount(pendingRemote),
      };
    },

    closedChannels(req) {
      const types = new Set<ChannelCloseSummary_ClosureType>();
      if (req.cooperative) types.add(ChannelCloseSummary_ClosureType.COOPERATIVE_CLOSE);
      if (req.localForce) types.add(ChannelCloseSummary_ClosureType.LOCAL_FORCE_CLOSE);
      if (req.remoteForce) types.add(ChannelCloseSummary_ClosureType.REMOTE_FORCE_CLOSE);
      if (req.breach) types.add(ChannelCloseSummary_ClosureType.BREACH_CLOSE);
      if (req.fundingCanceled) types.add(ChannelCloseSummary_ClosureType.FUNDING_CANCELED);
      if (req.abandoned) types.add(ChannelCloseSummary_ClosureType.ABANDONED);
      const chain = hex(Uint8Array.from(chainHash(node.config.network)).reverse());
      const channels = list()
        .filter((c) => c.phase === 'closed')
        .map((c) => ({ c, type: closureType(c) }))
        .filter(({ type }) => !types.size || types.has(type))
        .map(({ c, type }) => ({
          channelPoint: `${c.fundingTxid}:${c.fundingVout}`,
          chanId: scidToUint64(c.shortChannelId).toString(),
          chainHash: chain,
          closingTxHash: c.closingTxid ?? '',
          remotePubkey: c.peer,
          capacity: c.capacitySat,
          closeHeight: c.numbers.closeHeight ?? 0,
          settledBalance: c.numbers.settledSat,
          timeLockedBalance: c.numbers.timeLockedSat,
          closeType: type,
          openInitiator: c.weAreOpener ? Initiator.LOCAL : Initiator.REMOTE,
          closeInitiator: c.closeKind === 'local' ? Initiator.LOCAL : c.closeKind === 'remote' || c.closeKind === 'revoked' ? Initiator.REMOTE : Initiator.UNKNOWN,
          aliasScids: /^\d+$/.test(c.localAlias) ? [BigInt(c.localAlias)] : [],
        }));
      return { channels };
    },

    listPayments(req) {
      const scidOf = (id: Uint8Array | undefined): bigint => lndChanId(id ? node.channels?.get(id) : undefined);
      const indexed = node.payments.list().map((p, i) => ({ p, index: BigInt(i + 1) }));
      const shown = indexed
        .filter(({ p }) => req.includeIncomplete || p.state === 'succeeded')
        .filter(({ p }) => (!req.creationDateStart || BigInt(p.createdAt) >= req.creationDateStart) && (!req.creationDateEnd || BigInt(p.createdAt) <= req.creationDateEnd));
      const paged = page(shown, (x) => x.index, req.indexOffset, req.maxPayments, req.reversed);
      return {
        payments: paged.map(({ p, index }) => ({ ...paymentMessage(p, { chanId: scidOf(p.channelId), omitHops: req.omitHops }), paymentIndex: index })),
        firstIndexOffset: paged[0]?.index ?? 0n,
        lastIndexOffset: paged[paged.length - 1]?.index ?? 0n,
        totalNumPayments: req.countTotalPayments ? BigInt(shown.length) : 0n,
      };
    },

    listInvoices(req) {
      const now = nowSeconds();
      const all = node.invoices
        .list()
        .filter((i) => !req.pendingOnly || invoiceState(i, now) === Invoice_InvoiceState.OPEN)
        .filter((i) => (!req.creationDateStart || BigInt(i.createdAt) >= req.creationDateStart) && (!req.creationDateEnd || BigInt(i.createdAt) <= req.creationDateEnd));
      const paged = page(all, (i) => BigInt(i.addIndex), req.indexOffset, req.numMaxInvoices, req.reversed);
      return {
        invoices: paged.map((i) => invoiceMessage(i, now)),
        firstIndexOffset: BigInt(paged[0]?.addIndex ?? 0),
        lastIndexOffset: BigInt(paged[paged.length - 1]?.addIndex ?? 0),
      };
    },

    listUnspent(req) {
      if (req.account && req.account !== 'default') throw invalidArgument(`account "${req.account}": lnnode has one wallet account, "default"`);
      if (req.minConfs < 0 || req.maxConfs < 0) throw invalidArgument('min_confs and max_confs must not be negative');
      if (req.maxConfs < req.minConfs) throw invalidArgument('max_confs cannot be less than min_confs');
      const w = walletOf(node);
      const tip = height();
      const utxos = w
        .spendable()
        .map((c) => ({ c, confs: c.height !== undefined && tip >= c.height ? tip - c.height + 1 : 0 }))
        .filter(({ confs }) => confs >= req.minConfs && confs <= req.maxConfs)
        .sort((x, y) => x.confs - y.confs || Number(x.c.value - y.c.value))
        .map(({ c, confs }) => ({
          addressType: AddressType.WITNESS_PUBKEY_HASH,
          address: w.addressOf(c.script),
          amountSat: c.value,
          pkScript: hex(c.script),
          outpoint: { txidBytes: txidBytes(c.txid), txidStr: c.txid, outputIndex: c.vout },
          confirmations: BigInt(confs),
        }));
      return { utxos };
    },

    async getTransactions(req) {
      if (req.account && req.account !== 'default') throw invalidArgument(`account "${req.account}": lnnode has one wallet account, "default"`);
      const w = walletOf(node);
      const chain = node.chain;
      const tip = height();
      // lnd: an end height of -1 includes unconfirmed transactions; 0 with a start of 0 means everything.
      const end = req.endHeight === -1 || (req.endHeight === 0 && req.startHeight === 0) ? undefined : req.endHeight;
      // lnd lists the oldest first, unconfirmed ones last; only the page asked for is fetched from the chain source.
      const heightOf = (e: { status: { block?: { height: number } } }): number => e.status.block?.height ?? Number.MAX_SAFE_INTEGER;
      const entries = w
        .historyEntries()
        .filter((e) => {
          const h = e.status.block?.height;
          if (h === undefined) return end === undefined;
          return h >= req.startHeight && (end === undefined || h <= end);
        })
        .sort((x, y) => heightOf(x) - heightOf(y));
      const from = req.indexOffset;
      const pageEntries = entries.slice(from, req.maxTransactions ? from + req.maxTransactions : undefined);
      const txs: TransactionMsg[] = [];
      for (const e of pageEntries) {
        const raw = await chain?.transaction(e.txid).catch(() => null);
        if (!raw) continue;
        const tx = parseTx(raw);
        const ours = w.transaction(e.txid);
        const outputs: { script: Uint8Array; amount: bigint; mine: boolean }[] = [];
        for (let i = 0; i < tx.outputsLength; i++) {
          const o = tx.getOutput(i);
          const script = o.script ?? new Uint8Array(0);
          outputs.push({ script, amount: o.amount ?? 0n, mine: w.isOurScript(script) });
        }
        const received = outputs.filter((o) => o.mine).reduce((s, o) => s + o.amount, 0n);
        const sentOut = outputs.filter((o) => !o.mine).reduce((s, o) => s + o.amount, 0n);
        // Ours (we built it from our coins): what left the wallet and the fee; a fee bump's other input is not ours, so only its fee counts.
        const net = !ours ? received : ours.purpose === 'fee-bump' ? -BigInt(ours.feeSat) : -(sentOut + BigInt(ours.feeSat));
        const blockHeight = e.status.block?.height;
        txs.push({
          txHash: e.txid,
          amount: net,
          numConfirmations: blockHeight !== undefined && tip >= blockHeight ? tip - blockHeight + 1 : 0,
          blockHash: e.status.block?.hash ?? '',
          blockHeight: blockHeight ?? 0,
          timeStamp: BigInt(ours?.createdAt ?? 0),
          totalFees: ours ? BigInt(ours.feeSat) : 0n,
          destAddresses: outputs.map((o) => addressOrEmpty(w, o.script)),
          rawTxHex: hex(raw),
          label: ours ? ours.purpose : '',
          outputDetails: outputs.map((o, i) => ({
            outputType: /^0014[0-9a-f]{40}$/.test(hex(o.script)) ? OutputScriptType.SCRIPT_TYPE_WITNESS_V0_PUBKEY_HASH : /^0020[0-9a-f]{64}$/.test(hex(o.script)) ? OutputScriptType.SCRIPT_TYPE_WITNESS_V0_SCRIPT_HASH : OutputScriptType.SCRIPT_TYPE_NON_STANDARD,
            address: addressOrEmpty(w, o.script),
            pkScript: hex(o.script),
            outputIndex: BigInt(i),
            amount: o.amount,
            isOurAddress: o.mine,
          })),
          previousOutpoints: Array.from({ length: tx.inputsLength }, (_, i) => {
            const inp = tx.getInput(i);
            const outpoint = `${hex(inp.txid ?? new Uint8Array(32))}:${inp.index ?? 0}`;
            return { outpoint, isOurOutput: ours?.inputs.includes(outpoint) ?? false };
          }),
        });
      }
      return { transactions: txs, firstIndex: BigInt(from), lastIndex: BigInt(from + pageEntries.length) };
    },

    feeReport() {
      // lnnode forwards nothing: every channel's forwarding fee is zero, and so are the sums.
      return {
        channelFees: list()
          .filter(isOpen)
          .map((c) => ({ channelPoint: `${c.fundingTxid}:${c.fundingVout}`, chanId: scidToUint64(c.shortChannelId).toString(), baseFeeMsat: 0n, feePerMil: 0n, feeRate: 0 })),
        dayFeeSum: 0n,
        weekFeeSum: 0n,
        monthFeeSum: 0n,
      };
    },
  };
}

function addressOrEmpty(w: ReturnType<typeof walletOf>, script: Uint8Array): string {
  try {
    return w.addressOf(script);
  } catch {
    return '';
  }
}
