/**
 * Opening a channel, as funder and as fundee, up to the point where it is
 * stored and its funding known (BOLT 2 "Channel Establishment"). An open in
 * progress lives in memory until then: nothing can be lost before, no
 * signature of ours exists yet. The rules are pure steps (fundee-step.ts,
 * funder-step.ts); this driver keeps the opens in progress, their key
 * indexes and timeouts, builds the funding with the wallet, stores the new
 * channel and hands it to the channel manager (`OpeningHost.adopt`).
 *
 * As funder the channel is stored in phase awaiting_funding_signed when
 * funding_created goes out: the funding is built and held, never
 * broadcast, until the peer's funding_signed verifies. The channel is
 * inserted here; every later change of it is a step (step.ts) the manager
 * applies.
 */
import { equalBytes, fromHex, hex } from '../../bolt/bytes.ts';
import { acceptedOpen, fundingCreatedFor, fundingSignedStep } from '../../bolt/bolt2/channel/funder-step.ts';
import { acceptFor, admitOpen, type FundingCreated, fundingCreatedStep } from '../../bolt/bolt2/channel/fundee-step.ts';
import { ChannelRefusal } from '../../bolt/bolt2/channel/commitments.ts';
import { basepointsOf, type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type InboundCounts } from '../../bolt/bolt2/channel/open-admission.ts';
import {
  type AcceptChannelMessage,
  ANCHORS_TYPE,
  type ChannelPolicy,
  type OpenChannelMessage,
  openChannelMessage,
  type ReceivedOpen,
  STATIC_REMOTEKEY_TYPE,
} from '../../bolt/bolt2/channel/open.ts';
import { type ChannelRecord } from '../../bolt/bolt2/channel/state.ts';
import { type ChannelInput, unfundedInbound } from '../../bolt/bolt2/channel/step.ts';
import { LNNODE_INIT_FEATURES, negotiated } from '../../bolt/bolt9/features.ts';
import { type FeeratePerKw, type Msat, msat, type Sat } from '../../bolt/units.ts';
import { type Clock } from '../clock.ts';
import { type Logger } from '../log.ts';
import { type PeerManager } from '../peer/manager.ts';
import { inboundReserveRefusal } from '../wallet/anchor-reserve.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { type ChannelLimits } from './limits.ts';
import { ChannelError, type Live, notify } from './live.ts';
import { type ChannelStore, type StoredChannel } from './store.ts';

export interface OpenOptions {
  fundingSat: Sat;
  pushMsat?: Msat;
  /** Fee rate of the funding transaction (the chain's 6-block estimate by default). */
  fundingFeerate?: FeeratePerKw;
  commitFeerate?: FeeratePerKw;
  /** By default anchors when the peer offers option_anchors, else static_remotekey. */
  channelType?: 'static_remotekey' | 'anchors';
}

export interface OpenedChannel {
  channelId: Uint8Array;
  fundingTxid: string;
  fundingVout: number;
}

interface PendingOpen {
  peer: Uint8Array;
  keyIndex: number;
  secrets: ChannelSecrets;
  open: OpenChannelMessage;
  funder: boolean;
  accept?: AcceptChannelMessage;
  fundingFeerate?: FeeratePerKw;
  resolve?: (c: OpenedChannel) => void;
  reject?: (e: Error) => void;
  /** Cancels the open's timeout. */
  timer?: () => void;
}

const OPEN_TIMEOUT_MS = 60_000;

/** What the opening reads of the channel manager, and how it hands over a channel it stored. */
export interface OpeningHost {
  readonly channels: ReadonlyMap<string, Live>;
  /** A channel the opening stored joins the ones the manager runs. */
  adopt(id: string, l: Live): void;
  changed(channelId: Uint8Array): void;
  /** A stored channel changes: one step on it (step.ts), stored and carried out by the manager's apply(). */
  step(l: Live, channelId: Uint8Array, input: ChannelInput): void;
  /** A channel stored as fundee: look for its funding now. */
  fundingStored(id: string): void;
  feerate(): FeeratePerKw;
  height(): number;
  anchorChannelCount(): number;
}

export interface OpeningDeps {
  store: ChannelStore;
  peers: PeerManager;
  wallet: Wallet;
  policy: ChannelPolicy;
  limits: ChannelLimits;
  chainHash: Uint8Array;
  clock: Clock;
  random: (n: number) => Uint8Array;
  log: Logger;
  secretsOf(keyIndex: number): ChannelSecrets;
  host: OpeningHost;
}

export class ChannelOpening {
  private readonly pending = new Map<string, PendingOpen>();
  private readonly reservedKeys = new Set<number>();
  private readonly store: ChannelStore;
  private readonly peers: PeerManager;
  private readonly wallet: Wallet;
  private readonly policy: ChannelPolicy;
  private readonly limits: ChannelLimits;
  private readonly chainHash: Uint8Array;
  private readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;
  private readonly log: Logger;
  private readonly secretsOf: (keyIndex: number) => ChannelSecrets;
  private readonly host: OpeningHost;

  constructor(d: OpeningDeps) {
    ({ store: this.store, peers: this.peers, wallet: this.wallet, policy: this.policy, limits: this.limits, chainHash: this.chainHash, clock: this.clock, random: this.random, log: this.log, secretsOf: this.secretsOf, host: this.host } = d);
  }

  /**
   * An open as funder that did not complete before the node stopped: we
   * never broadcast its funding. The peer may hold our signature on its
   * commitment, but that commitment spends an output that does not exist.
   */
  abandonAtStart(c: StoredChannel<ChannelRecord>): void {
    this.log.warn('abandoning an open that did not complete before shutdown', { channelId: hex(c.channelId) });
    this.wallet.abandon(c.state.commitments.fundingTxid);
    this.store.update({ ...c, phase: 'closed', state: { ...c.state, closeReason: 'open did not complete' } });
  }

  /** Clears the opens' timers (the node is stopping). */
  stop(): void {
    for (const p of this.pending.values()) p.timer?.();
  }

  /** Opens a channel to a connected peer; resolves once the funding transaction is broadcast. */
  open(peer: Uint8Array, o: OpenOptions): Promise<OpenedChannel> {
    if (!this.peers.isConnected(peer)) return Promise.reject(new ChannelError(`peer ${hex(peer)} is not connected`));
    const keyIndex = this.allocKeyIndex();
    const secrets = this.secretsOf(keyIndex);
    const temporaryChannelId = this.random(32);
    const theirFeatures = this.peers.peers().find((x) => equalBytes(x.nodeId, peer))?.features;
    const anchors = o.channelType ? o.channelType === 'anchors' : !!theirFeatures && negotiated(LNNODE_INIT_FEATURES, theirFeatures, 'option_anchors');
    let open: OpenChannelMessage;
    try {
      if (anchors && theirFeatures && !theirFeatures.supports('option_anchors')) throw new ChannelRefusal('the peer does not offer option_anchors');
      open = openChannelMessage(this.policy, {
        channelType: anchors ? ANCHORS_TYPE : STATIC_REMOTEKEY_TYPE,
        temporaryChannelId,
        chainHash: this.chainHash,
        fundingSat: o.fundingSat,
        pushMsat: o.pushMsat ?? msat(0),
        // The commitment starts at the estimate; update_fee keeps it there (fee-update.ts).
        feeratePerKw: o.commitFeerate ?? this.host.feerate(),
        secrets,
        basepoints: basepointsOf(secrets),
      });
    } catch (e) {
      this.reservedKeys.delete(keyIndex);
      return Promise.reject(e instanceof ChannelRefusal ? new ChannelError(e.message) : e);
    }
    return new Promise((resolve, reject) => {
      const p: PendingOpen = { peer, keyIndex, secrets, open, funder: true, fundingFeerate: o.fundingFeerate, resolve, reject };
      p.timer = this.clock.after(OPEN_TIMEOUT_MS, () => this.openTimedOut(p, new ChannelError('the peer did not complete the open in time')));
      this.pending.set(hex(temporaryChannelId), p);
      this.peers.send(peer, 'open_channel', open);
      this.log.info('opening channel', { peer: hex(peer), fundingSat: o.fundingSat });
    });
  }

  /** Our open's timer: abandons it wherever it is (before accept_channel, or stored waiting for funding_signed). */
  private openTimedOut(p: PendingOpen, e: Error): void {
    for (const [key, q] of this.pending) {
      if (q !== p) continue;
      const l = this.host.channels.get(key);
      if (l?.phase === 'awaiting_funding_signed') this.abandonStored(l, fromHex(key), e.message, e);
      else this.abortPending(key, e);
    }
  }

  /** Our open, stored and waiting for funding_signed, ends: the channel is closed for `reason`, its held funding released, its caller told `e`. */
  private abandonStored(l: Live, channelId: Uint8Array, reason: string, e: Error): void {
    this.host.step(l, channelId, { kind: 'open_abandoned', reason });
    this.abortPending(hex(channelId), e, l.rec.commitments.fundingTxid);
  }

  private abortPending(tempId: string, e: Error, txid?: string): void {
    const p = this.pending.get(tempId);
    if (!p) return;
    this.pending.delete(tempId);
    p.timer?.();
    this.reservedKeys.delete(p.keyIndex);
    if (txid) this.wallet.abandon(txid);
    p.reject?.(e);
  }

  onOpenChannel(peer: Uint8Array, m: ReceivedOpen): void {
    const tempId = hex(m.temporaryChannelId);
    const earlier = this.pending.get(tempId);
    const answer = admitOpen(
      {
        policy: this.policy,
        chainHash: this.chainHash,
        counts: this.inboundCounts(peer),
        caps: this.limits,
        ...(earlier ? { earlier: { ours: earlier.funder, samePeer: hex(earlier.peer) === hex(peer) } } : {}),
        // Read only for an anchors open that passed every other check: a peer's stream of opens costs no wallet reads.
        anchorReserveShort: () => {
          const b = this.wallet.balance();
          return inboundReserveRefusal(b.confirmedSat + b.unconfirmedSat, this.host.anchorChannelCount(), this.limits.anchorReservePerChannelSat);
        },
      },
      m,
    );
    if (answer.replaces) this.abortPending(tempId, new ChannelError('replaced by a new open_channel'));
    if (answer.kind === 'refuse') {
      this.log.warn('refused open_channel', { peer: hex(peer), reason: answer.reason });
      return this.notify('error', peer, m.temporaryChannelId, answer.reason);
    }
    const keyIndex = this.allocKeyIndex();
    const secrets = this.secretsOf(keyIndex);
    const accept = acceptFor(this.policy, answer.open, secrets);
    const p: PendingOpen = { peer, keyIndex, secrets, open: answer.open, funder: false, accept };
    // An open the funder never completes is forgotten, its key index freed.
    p.timer = this.clock.after(this.limits.pendingOpenTimeoutMs, () => this.abortPending(tempId, new ChannelError('no funding_created in time')));
    this.pending.set(tempId, p);
    this.peers.send(peer, 'accept_channel', accept);
  }

  /** Inbound channels that hold nothing yet: opens waiting for funding_created, and channels whose funding has not confirmed. */
  inboundCounts(peer: Uint8Array): InboundCounts {
    const key = hex(peer);
    const n: InboundCounts = { pendingFromPeer: 0, pendingTotal: 0, unfundedFromPeer: 0, unfundedTotal: 0 };
    for (const p of this.pending.values()) {
      if (p.funder) continue;
      n.pendingTotal++;
      if (hex(p.peer) === key) n.pendingFromPeer++;
    }
    for (const l of this.host.channels.values()) {
      if (!unfundedInbound(l)) continue;
      n.unfundedTotal++;
      if (hex(l.peer) === key) n.unfundedFromPeer++;
    }
    return n;
  }

  onAcceptChannel(peer: Uint8Array, m: AcceptChannelMessage): void {
    const tempId = hex(m.temporaryChannelId);
    const p = this.pending.get(tempId);
    if (!p || !p.funder || hex(p.peer) !== hex(peer)) return this.notify('warning', peer, m.temporaryChannelId, 'accept_channel for no open of ours');
    const answer = acceptedOpen(this.policy, p.open, m);
    if (answer.kind === 'refuse') {
      this.notify('error', peer, m.temporaryChannelId, answer.reason);
      return this.abortPending(tempId, new ChannelError(answer.reason));
    }
    let funding;
    try {
      funding = this.wallet.fundingTransaction(answer.script, p.open.fundingSatoshis, p.fundingFeerate ?? this.host.feerate(), { anchors: answer.anchors });
    } catch (e) {
      this.notify('error', peer, m.temporaryChannelId, 'funding failed');
      return this.abortPending(tempId, new ChannelError((e as Error).message));
    }
    try {
      const created = fundingCreatedFor(p.open, m, { txid: funding.txid, vout: funding.vout }, p.secrets);
      const rec: ChannelRecord = {
        commitments: created.commitments, minimumDepth: Math.max(1, m.minimumDepth), readySent: false, theirReady: false, localAlias: newAlias(this.random(8)), remoteUpfrontScript: nonEmpty(m.upfrontShutdownScript),
      };
      const channelId = created.commitments.channelId;
      p.accept = m;
      this.store.insert<ChannelRecord>({ channelId, peer, keyIndex: p.keyIndex, phase: 'awaiting_funding_signed', state: rec });
      this.host.adopt(hex(channelId), { peer, keyIndex: p.keyIndex, secrets: p.secrets, phase: 'awaiting_funding_signed', rec, reestablished: true });
      this.log.debug('channel phase', { channelId: hex(channelId), from: 'none', to: 'awaiting_funding_signed' });
      this.pending.delete(tempId);
      this.pending.set(hex(channelId), p);
      this.peers.send(peer, created.send.name, created.send.msg);
    } catch (e) {
      this.notify('error', peer, m.temporaryChannelId, (e as Error).message);
      this.abortPending(tempId, new ChannelError((e as Error).message), funding.txid);
    }
  }

  onFundingCreated(peer: Uint8Array, m: FundingCreated): void {
    const tempId = hex(m.temporaryChannelId);
    const p = this.pending.get(tempId);
    if (!p || p.funder || hex(p.peer) !== hex(peer) || !p.accept) return this.notify('warning', peer, m.temporaryChannelId, 'funding_created for no open we accepted');
    this.pending.delete(tempId);
    p.timer?.();
    const r = fundingCreatedStep(
      { counts: this.inboundCounts(peer), caps: this.limits, open: p.open, accept: p.accept, secrets: p.secrets, channelExists: (id) => this.host.channels.has(hex(id)) || this.store.has(id) },
      m,
    );
    if (r.kind === 'refuse') {
      this.reservedKeys.delete(p.keyIndex);
      this.log.warn('refused funding_created', { peer: hex(peer), reason: r.reason });
      return this.notify('error', peer, m.temporaryChannelId, r.reason);
    }
    const rec: ChannelRecord = {
      commitments: r.commitments, minimumDepth: this.policy.minimumDepth, readySent: false, theirReady: false, localAlias: newAlias(this.random(8)), remoteUpfrontScript: nonEmpty(p.open.upfrontShutdownScript),
      storedAtHeight: this.host.height() || undefined,
    };
    const channelId = r.commitments.channelId;
    this.store.insert<ChannelRecord>({ channelId, peer, keyIndex: p.keyIndex, phase: 'awaiting_lock_in', state: rec });
    this.reservedKeys.delete(p.keyIndex);
    this.host.adopt(hex(channelId), { peer, keyIndex: p.keyIndex, secrets: p.secrets, phase: 'awaiting_lock_in', rec, reestablished: true });
    this.log.debug('channel phase', { channelId: hex(channelId), from: 'none', to: 'awaiting_lock_in' });
    this.peers.send(peer, r.send.name, r.send.msg);
    this.log.info('channel accepted, waiting for the funding transaction', { channelId: hex(channelId), fundingTxid: r.fundingTxid });
    this.host.changed(channelId);
    this.host.fundingStored(hex(channelId));
  }

  async onFundingSigned(peer: Uint8Array, m: { channelId: Uint8Array; signature: Uint8Array }): Promise<void> {
    const id = hex(m.channelId);
    const l = this.host.channels.get(id);
    const p = this.pending.get(id);
    if (!l || !p || l.phase !== 'awaiting_funding_signed' || hex(l.peer) !== hex(peer)) return this.notify('warning', peer, m.channelId, 'funding_signed for no channel awaiting it');
    const r = fundingSignedStep(l.rec.commitments, l.secrets, m.signature);
    if (r.kind === 'refuse') {
      this.notify('error', peer, m.channelId, r.reason);
      return this.abandonStored(l, m.channelId, 'bad funding_signed', new ChannelError(r.reason));
    }
    const c = r.commitments;
    this.host.step(l, m.channelId, { kind: 'funding_signed', commitments: c });
    this.pending.delete(id);
    p.timer?.();
    this.reservedKeys.delete(p.keyIndex);
    try {
      await this.wallet.broadcastStored(c.fundingTxid);
    } catch (e) {
      // Stored; rebroadcast retries it. The peer holds a valid commitment, so never abandon now.
      this.log.error('funding broadcast failed; will retry', { channelId: id, error: e });
    }
    this.log.info('channel funded', { channelId: id, fundingTxid: c.fundingTxid });
    p.resolve?.({ channelId: m.channelId, fundingTxid: c.fundingTxid, fundingVout: c.fundingVout });
  }

  private allocKeyIndex(): number {
    let i = this.store.nextKeyIndex();
    while (this.reservedKeys.has(i)) i++;
    this.reservedKeys.add(i);
    return i;
  }

  /**
   * A crash between two writes of an open as funder leaves a held funding
   * behind: stored before its channel (its coins locked with no channel to
   * name them), or past funding_signed but never broadcast (the peer holds a
   * valid commitment, so the channel waits for a funding nobody sends). The
   * first is forgotten, the second goes out now (and on every block until
   * the network has it).
   */
  settleHeldFundings(): void {
    for (const txid of this.wallet.heldFundings()) {
      const l = [...this.host.channels.values()].find((x) => x.rec.commitments.fundingTxid === txid);
      if (!l) {
        this.log.warn('releasing the coins of a funding no channel names (the node stopped between storing it and its channel)', { fundingTxid: txid });
        this.wallet.abandon(txid);
        continue;
      }
      this.log.warn('broadcasting a funding the node stopped before sending (the peer had signed)', { fundingTxid: txid });
      this.wallet.broadcastStored(txid).catch((e: Error) => this.log.error('funding broadcast failed; will retry', { fundingTxid: txid, error: e.message }));
    }
  }

  /** BOLT 2 shutdown receiver, as funder before funding_signed: SHOULD send an error and fail the channel: its funding is never broadcast. */
  shutdownDuringOpen(l: Live, channelId: Uint8Array): void {
    const reason = 'shutdown before funding_signed: the open is abandoned';
    this.notify('error', l.peer, channelId, reason);
    this.abandonStored(l, channelId, reason, new ChannelError('the peer sent shutdown during the open'));
  }

  /** An open of the fundee's before funding_created (BOLT 2 shutdown receiver: SHOULD send an error and fail the channel): forgotten. Whether there was one. */
  shutdownBeforeFundingCreated(peer: Uint8Array, tempId: Uint8Array): boolean {
    const open = this.pending.get(hex(tempId));
    if (!open || open.funder || hex(open.peer) !== hex(peer)) return false;
    this.notify('error', peer, tempId, 'shutdown before funding_created: the open is abandoned');
    this.abortPending(hex(tempId), new ChannelError('the peer sent shutdown during the open'));
    return true;
  }

  /** The peer left: every open with it ends, and a funding not broadcast is not remembered for a reconnection. */
  peerOffline(peer: Uint8Array): void {
    for (const [key, p] of this.pending) {
      if (hex(p.peer) === hex(peer) && !this.host.channels.has(key)) this.abortPending(key, new ChannelError('peer disconnected during the open'));
    }
    for (const [id, l] of this.host.channels) {
      if (hex(l.peer) !== hex(peer) || l.phase !== 'awaiting_funding_signed') continue;
      // BOLT 2 message retransmission, funding node: a funding transaction not broadcast SHOULD NOT be remembered for reconnection.
      this.abandonStored(l, fromHex(id), 'peer disconnected before funding_signed', new ChannelError('peer disconnected before funding_signed'));
    }
  }

  /** The peer sent an error about one open (or all, `all`): it ends. */
  peerError(peer: Uint8Array, channelId: Uint8Array, all: boolean, text: string): void {
    for (const [key, p] of this.pending) {
      if (hex(p.peer) === hex(peer) && (all || key === hex(channelId)) && !this.host.channels.has(key)) {
        this.abortPending(key, new ChannelError(`peer refused the channel: ${text}`));
      }
    }
    for (const [id, l] of this.host.channels) {
      if (hex(l.peer) !== hex(peer) || (!all && id !== hex(channelId)) || l.phase !== 'awaiting_funding_signed') continue;
      this.abandonStored(l, fromHex(id), `peer error before funding: ${text}`, new ChannelError(`peer refused the channel: ${text}`));
    }
  }

  private notify(kind: 'error' | 'warning', peer: Uint8Array, channelId: Uint8Array, text: string): void {
    notify(this.peers, peer, kind, channelId, text);
  }
}

const nonEmpty = (b: Uint8Array | undefined): Uint8Array | undefined => (b && b.length > 0 ? b : undefined);

/** A random scid alias in the range lnd and LDK use for aliases (block height >= 16,000,000 never collides with real ones). */
function newAlias(r: Uint8Array): bigint {
  const v = new DataView(r.buffer, r.byteOffset, 8);
  const block = 16_000_000n + (BigInt(v.getUint32(0)) % 100_000n);
  return (block << 40n) | (BigInt(v.getUint16(4)) << 16n) | BigInt(v.getUint16(6));
}
