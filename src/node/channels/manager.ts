/**
 * The channel driver: runs the channels' pure step (src/bolt/bolt2/channel/
 * step.ts) against real peers, the wallet and the chain. Every change of a
 * stored channel is one step on its state, carried out by apply() in the
 * one safe order (DESIGN.md rule 1): the new state and every row that goes
 * with it in one SQLite transaction, then the messages, then the effects
 * (broadcasts, timers, the payments layer). bun:sqlite is synchronous, so
 * no other event slips in between the write and the send.
 *
 * An open in progress lives in opening.ts until the channel is stored; the
 * chain is read on each tip (chain-watch.ts) and what it says is stepped in
 * like a peer's message; listing.ts answers what the API layers read.
 */
import { fromHex, hex } from '../../bolt/bytes.ts';
import { type ErrorMessage } from '../../bolt/bolt1/messages.ts';
import { type RemoteCommit } from '../../bolt/bolt2/channel/commitments.ts';
import { unresolvedIncoming } from '../../bolt/bolt2/channel/incoming.ts';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { DEFAULT_POLICY } from '../../bolt/bolt2/channel/open.ts';
import { type ChannelRecord, channelState } from '../../bolt/bolt2/channel/state.ts';
import { type ChannelEffect, type ChannelInput, type ChannelStep, channelStep, type ChannelView, isChannelMessage, type StepContext } from '../../bolt/bolt2/channel/step.ts';
import { type PeerMessage } from '../../bolt/peer-messages.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat } from '../../bolt/units.ts';
import { type ChainSource } from '../../chain/types.ts';
import { type BackupChannel } from '../backup/format.ts';
import { backupEntryOf, recoveringRecord } from '../backup/recovering.ts';
import { type Clock, systemClock } from '../clock.ts';
import { type Logger } from '../log.ts';
import { type PeerManager } from '../peer/manager.ts';
import { type Store } from '../store.ts';
import { anchorReserve } from '../wallet/anchor-reserve.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { ChainWatch } from './chain-watch.ts';
import { type ChannelDeps, type ChannelHooks, type CloseOptions } from './deps.ts';
import { CloseWaiters } from './close-waiters.ts';
import { type ChannelLimits, DEFAULT_CHANNEL_LIMITS } from './limits.ts';
import { ChannelListing } from './listing.ts';
import { ChannelError, type Live, notify } from './live.ts';
import { ChannelOpening, type OpenedChannel, type OpenOptions } from './opening.ts';
import { channelSecrets } from './secrets.ts';
import { ChannelStore, type StoredChannel } from './store.ts';
import { type ChannelSummary } from './summary.ts';

export type { ChannelRecord, HtlcOutcome } from '../../bolt/bolt2/channel/state.ts';
export type { ShutdownState } from '../../bolt/bolt2/channel/shutdown-step.ts';
export type { IncomingRefusal } from '../../bolt/bolt2/channel/incoming.ts';
export { ChannelError } from './live.ts';
export type { OpenedChannel, OpenOptions } from './opening.ts';
export type { ChannelSummary } from './summary.ts';
export type { ChannelDeps, ChannelHooks, CloseOptions, Resolution } from './deps.ts';

/** How long a mutual close() waits for the peer to agree before it gives up (the channel stays in shutdown). */
const CLOSE_TIMEOUT_MS = 60_000;

export class ChannelManager {
  readonly store: ChannelStore;
  private readonly channels = new Map<string, Live>();
  private readonly opening: ChannelOpening;
  private readonly stateListeners = new Set<(channelId: Uint8Array) => void>();
  private readonly watch: ChainWatch;
  private readonly listing: ChannelListing;
  private readonly closeWaiters: CloseWaiters;
  readonly limits: ChannelLimits;
  private stopped = false;

  private readonly db: Store;
  private readonly peers: PeerManager;
  private readonly wallet: Wallet;
  private readonly chain: ChainSource;
  private readonly hooks: ChannelHooks;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly secretsOf: (keyIndex: number) => ChannelSecrets;

  constructor(d: ChannelDeps) {
    ({ db: this.db, peers: this.peers, wallet: this.wallet, chain: this.chain, hooks: this.hooks, log: this.log } = d);
    this.clock = d.clock ?? systemClock;
    this.secretsOf = (i) => channelSecrets(d.root, d.network, i);
    const random = d.random ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
    this.limits = { ...DEFAULT_CHANNEL_LIMITS, ...d.limits };
    this.wallet.anchorReserve = (extra) => anchorReserve(this.anchorChannelCount() + extra, this.limits.anchorReservePerChannelSat);
    this.store = new ChannelStore(this.db);
    this.watch = new ChainWatch({ chain: this.chain, wallet: this.wallet, store: this.store, log: this.log, maxFeerate: d.maxFeerate }, {
      channels: this.channels,
      step: (l, id, input) => void this.run(l, id, input),
      preimageOf: (h) => this.hooks.preimageOf(h),
      outgoingResolved: (o) => this.hooks.outgoingResolved(o),
    });
    this.listing = new ChannelListing(this.channels, this.store, (p) => this.peers.isConnected(p), () => this.watch.height);
    this.closeWaiters = new CloseWaiters(this.clock, CLOSE_TIMEOUT_MS);
    this.opening = new ChannelOpening({
      store: this.store, peers: this.peers, wallet: this.wallet, policy: d.policy ?? DEFAULT_POLICY, limits: this.limits, chainHash: d.chainHash, clock: this.clock, random, log: this.log,
      secretsOf: (i) => this.secretsOf(i),
      host: {
        channels: this.channels,
        adopt: (id, l) => void this.channels.set(id, l),
        changed: (id) => this.changed(id),
        step: (l, id, input) => void this.run(l, id, input),
        fundingStored: (id) => void this.watch.checkFunding(id),
        feerate: () => this.watch.feerate,
        height: () => this.watch.height,
        anchorChannelCount: () => this.anchorChannelCount(),
      },
    });
    for (const c of this.store.all<ChannelRecord>()) {
      if (c.phase === 'awaiting_funding_signed') {
        this.opening.abandonAtStart(c);
        continue;
      }
      const l = this.liveOf(c);
      this.channels.set(hex(c.channelId), l);
      // The connection those updates were sent on died with the process (a crash skips peerOffline).
      this.run(l, c.channelId, { kind: 'disconnected' });
    }
    this.opening.settleHeldFundings();
    this.peers.onMessage((peer, m) => this.onMessage(peer, m));
    this.peers.onPeerEvent((e) => (e.kind === 'online' ? this.peerOnline(e.peer) : this.peerOffline(e.peer)));
  }

  /** Clears the timers of opens and closing negotiations (the node is stopping; nothing is sent any more). */
  stop(): void {
    this.stopped = true;
    this.opening.stop();
    for (const l of this.channels.values()) l.negotiationTimer?.();
  }

  /** A stored channel as the driver runs it: its tagged state, keys, and no connection yet. */
  private liveOf(c: StoredChannel<ChannelRecord>): Live {
    return { ...channelState(c.phase, c.state), peer: c.peer, keyIndex: c.keyIndex, secrets: this.secretsOf(c.keyIndex), reestablished: false };
  }

  onStateChange(f: (channelId: Uint8Array) => void): () => void {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }

  // ------------------------------------------------------------------ backup

  /**
   * The static channel backup's entries: every channel whose funding is
   * known and that is not closed (one being closed still has outputs to
   * sweep), recovering ones included, so a backup written after a restore
   * still restores.
   */
  backupEntries(addressesOf: (peer: Uint8Array) => string[]): BackupChannel[] {
    return [...this.channels.values()]
      .filter((l) => l.phase !== 'awaiting_funding_signed' && l.phase !== 'closed')
      .map((l) => backupEntryOf(l.keyIndex, l.peer, l.rec.commitments, addressesOf(l.peer)));
  }

  /**
   * Stores the channels of a static channel backup as `recovering` (see
   * backup/recovering.ts) and asks each peer, once connected, to force
   * close. A channel already stored is left as it is. Throws BackupError,
   * storing nothing, when an entry's keys are not this seed's.
   */
  recover(entries: BackupChannel[]): { added: string[]; known: string[] } {
    const fresh = entries.filter((e) => !this.store.has(fromHex(e.channelId)));
    const stored: StoredChannel<ChannelRecord>[] = fresh.map((e) => ({
      channelId: fromHex(e.channelId), peer: fromHex(e.peer), keyIndex: e.keyIndex, phase: 'recovering', state: recoveringRecord(e, this.secretsOf(e.keyIndex)),
    }));
    this.db.db.transaction(() => {
      for (const c of stored) this.store.insert(c);
    })();
    for (const c of stored) {
      const l = this.liveOf(c);
      this.channels.set(hex(c.channelId), l);
      this.log.warn('channel restored from backup: the peer will be asked to force close', { channelId: hex(c.channelId), peer: hex(c.peer) });
      if (this.peers.isConnected(l.peer)) this.run(l, c.channelId, { kind: 'connected' });
      this.changed(c.channelId);
    }
    return { added: fresh.map((e) => e.channelId), known: entries.filter((e) => !fresh.includes(e)).map((e) => e.channelId) };
  }

  // ------------------------------------------------------------------ queries

  list(): ChannelSummary[] {
    return this.listing.list();
  }

  get(channelId: Uint8Array): ChannelSummary | undefined {
    return this.listing.get(channelId);
  }

  /** An active channel with `peer` that can send `amountMsat` now, if any. */
  channelToPay(peer: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Uint8Array | undefined {
    return this.listing.channelToPay(peer, amountMsat, only);
  }

  // ------------------------------------------------------------------- opening

  /** Opens a channel to a connected peer; resolves once the funding transaction is broadcast. */
  open(peer: Uint8Array, o: OpenOptions): Promise<OpenedChannel> {
    return this.opening.open(peer, o);
  }

  /** Anchors channels not yet closed and resolved: each may need the wallet to fee-bump its commitment. */
  anchorChannelCount(): number {
    let n = 0;
    for (const l of this.channels.values()) if (l.phase !== 'closed' && l.rec.commitments.variant === 'anchors') n++;
    return n;
  }

  // --------------------------------------------------------------------- tips

  /** Called on every new tip (chain-watch.ts); tips are processed one after another. */
  onTip(height: number, forkHeight?: number): Promise<void> {
    return this.watch.onTip(height, forkHeight);
  }

  /** Resolves once the tip at `height`, or a later one, has been processed (what a test waits for before it looks). */
  processed(height: number): Promise<void> {
    return this.watch.processed(height);
  }

  /** The chain's 6-block fee estimate (sat/kw) as last seen, for funding, sweeps and mutual closes. */
  get feerateEstimate(): FeeratePerKw {
    return this.watch.feerate;
  }

  get height(): number {
    return this.watch.height;
  }

  // -------------------------------------------------------------- connection

  private peerOnline(peer: Uint8Array): void {
    for (const [id, l] of this.channels) if (hex(l.peer) === hex(peer)) this.run(l, fromHex(id), { kind: 'connected' });
  }

  private peerOffline(peer: Uint8Array): void {
    this.opening.peerOffline(peer);
    for (const [id, l] of this.channels) if (hex(l.peer) === hex(peer) && l.phase !== 'closed') this.run(l, fromHex(id), { kind: 'disconnected' });
  }

  // ------------------------------------------------------------------ updates

  /**
   * Offers an HTLC on a channel. `persist(htlcId)` runs in the same database
   * transaction as the channel state (the payment record), before anything
   * is sent. Throws ChannelError when the channel cannot carry it now.
   */
  addHtlc(channelId: Uint8Array, a: { amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array }, persist: (htlcId: bigint) => void): bigint {
    const l = this.channels.get(hex(channelId));
    if (!l) throw new ChannelError('channel is not active');
    const s = this.run(l, channelId, { kind: 'add_htlc', ...a }, (r) => persist(r.htlcId!));
    if (s.refused !== undefined) throw new ChannelError(s.refused);
    return s.htlcId!;
  }

  /**
   * Incoming HTLCs committed on both sides that we have not settled yet:
   * after a revoke_and_ack, and again after every reestablish, so one whose
   * resolution was lost in a crash is resolved again. One at a time: the
   * payments layer's answer for one depends on what it stored for the last.
   */
  private resolvePendingIncoming(l: Live, channelId: Uint8Array): void {
    const todo = unresolvedIncoming(l.rec.commitments, l.rec.shutdown?.failAddsFrom);
    if (!todo.length) return;
    for (const { htlc, refusal } of todo) {
      const r = refusal ? this.hooks.refuseIncoming(channelId, htlc, refusal) : this.hooks.resolveIncoming(channelId, htlc);
      this.run(l, channelId, { kind: 'settle', htlcId: htlc.id, outcome: r }, () => r.persist?.());
    }
    this.run(l, channelId, { kind: 'sign' });
  }

  // ------------------------------------------------------------------ closing

  /**
   * Closes a channel. Mutual: sends shutdown (once no update of ours is
   * unsigned), negotiates the fee and resolves with the closing txid once it
   * is broadcast. Force: broadcasts our latest commitment; to_local comes
   * back to the wallet after to_self_delay (see ChannelResolver).
   */
  async close(channelId: Uint8Array, o: CloseOptions = {}): Promise<{ closingTxid: string }> {
    const id = hex(channelId);
    const l = this.channels.get(id);
    if (!l) throw new ChannelError(`unknown channel ${id}`);
    if (l.rec.close) return { closingTxid: l.rec.close.txid };
    if (o.force) {
      const s = channelStep(this.viewOf(l), { kind: 'force_close', reason: 'closed by us (force)' }, this.contextOf(l));
      if (s.refused !== undefined) throw new ChannelError(s.refused);
      // Resolved once the commitment went to the network (or was refused, to be sent again on the next block).
      await this.apply(l, channelId, s);
      return { closingTxid: l.rec.close!.txid };
    }
    if (l.phase !== 'normal' && l.phase !== 'shutdown') throw new ChannelError(`a channel in phase ${l.phase} cannot be closed cooperatively; use force`);
    const requested = l.rec.shutdown !== undefined;
    if (!requested && !this.listing.isActive(l)) throw new ChannelError('the peer is not connected: a mutual close needs it (use force to close alone)');
    const done = this.closeWaiters.wait(id);
    if (!requested) {
      // The phase stays normal (the peer's adds are welcome) until our shutdown is actually sent (shutdown-step.ts).
      this.log.info('closing channel cooperatively', { channelId: id });
      this.run(l, channelId, { kind: 'close', localScript: this.wallet.newChangeScript(), feerate: o.feerate ?? this.watch.feerate });
    }
    return { closingTxid: await done };
  }

  /**
   * BOLT 2 closing_signed: a sender that does not receive a closing_signed
   * response after a reasonable time MUST fail the channel. Armed when the
   * negotiation opens and after each closing_signed of ours; a reconnection
   * restarts the negotiation and the timer with it.
   */
  private armNegotiationTimer(l: Live, channelId: Uint8Array): void {
    l.negotiationTimer?.();
    const ms = this.limits.closingNegotiationTimeoutMs;
    l.negotiationTimer = this.clock.after(ms, () => {
      l.negotiationTimer = undefined;
      if (!this.stopped) this.run(l, channelId, { kind: 'negotiation_timeout', ms });
    });
  }

  /** A closing transaction the step stored goes to the network; a waiting close() learns the mutual close's txid once it did. */
  private async broadcastClose(id: string, e: Extract<ChannelEffect, { kind: 'broadcast' }>): Promise<void> {
    try {
      await this.chain.broadcast(e.raw);
    } catch (err) {
      const what = e.what === 'mutual' ? 'closing transaction' : 'commitment';
      this.log.warn(`${what} broadcast refused; retried on the next block`, { channelId: id, error: (err as Error).message });
    }
    if (e.what === 'mutual') this.closeWaiters.closed(id, e.txid);
  }

  // ------------------------------------------------------------------ dispatch

  private onMessage(peer: Uint8Array, m: PeerMessage): void {
    try {
      this.dispatch(peer, m);
    } catch (e) {
      this.log.error('channel message handling failed', { peer: hex(peer), message: m.name, error: e });
    }
  }

  private dispatch(peer: Uint8Array, m: PeerMessage): void {
    switch (m.name) {
      case 'open_channel':
        return this.opening.onOpenChannel(peer, m.msg);
      case 'accept_channel':
        return this.opening.onAcceptChannel(peer, m.msg);
      case 'funding_created':
        return this.opening.onFundingCreated(peer, m.msg);
      case 'funding_signed':
        return void this.opening.onFundingSigned(peer, m.msg);
      case 'error':
      case 'warning':
        return this.onPeerError(peer, m.name, m.msg);
    }
    const name = m.name;
    const channelId = m.msg.channelId;
    const l = this.channels.get(hex(channelId));
    if (!l || hex(l.peer) !== hex(peer)) {
      if (name === 'channel_reestablish') return notify(this.peers, peer, 'error', channelId, 'unknown channel');
      if (name === 'shutdown' && this.opening.shutdownBeforeFundingCreated(peer, channelId)) return;
      return notify(this.peers, peer, 'warning', channelId, `${name} for an unknown channel`);
    }
    if (name === 'shutdown' && l.phase === 'awaiting_funding_signed') return this.opening.shutdownDuringOpen(l, channelId);
    if (!isChannelMessage(m)) return this.log.info('channel message not handled yet', { message: name, channelId: hex(channelId) });
    this.run(l, channelId, { kind: 'message', m });
  }

  private onPeerError(peer: Uint8Array, kind: 'error' | 'warning', m: ErrorMessage): void {
    // BOLT 1 warning: the receiver may log it and otherwise ignores it; only an error ends our opens and channels.
    if (kind !== 'error') return;
    const channelId = m.channelId;
    const text = new TextDecoder().decode(m.data).slice(0, 200);
    const all = channelId.every((b) => b === 0);
    this.opening.peerError(peer, channelId, all, text);
    for (const [id, l] of this.channels) {
      if (hex(l.peer) !== hex(peer) || (!all && id !== hex(channelId)) || l.phase === 'awaiting_funding_signed') continue;
      // Refused for a channel with no commitment of ours to broadcast (closing already, or restored from backup).
      this.run(l, fromHex(id), { kind: 'force_close', reason: `peer sent error: ${text}` });
    }
  }

  // --------------------------------------------------------------- the step

  private viewOf(l: Live): ChannelView {
    const { peer: _peer, keyIndex: _keyIndex, secrets: _secrets, negotiationTimer: _timer, ...view } = l;
    return { ...view, errorResent: !!l.errorResent };
  }

  private contextOf(l: Live): StepContext {
    return {
      secrets: l.secrets,
      safety: { maxDustHtlcExposureMsat: this.limits.maxDustHtlcExposureMsat, maxUnsignedPeerUpdates: this.limits.maxUnsignedPeerUpdates, estimates: this.watch.estimates },
      connected: this.peers.isConnected(l.peer),
      commitFeerate: this.watch.commitFeerate,
      closeFeerate: this.watch.feerate,
      newScript: () => this.wallet.newChangeScript(),
      preimageOf: (h) => this.hooks.preimageOf(h),
      unfundedForgetBlocks: this.limits.unfundedForgetBlocks,
    };
  }

  /** How a stored channel changes: one step (step.ts) on its current state, then apply. A refused command changes nothing. */
  private run(l: Live, channelId: Uint8Array, input: ChannelInput, inTransaction?: (s: ChannelStep) => void): ChannelStep {
    const s = channelStep(this.viewOf(l), input, this.contextOf(l));
    if (s.refused === undefined) void this.apply(l, channelId, s, inTransaction);
    return s;
  }

  /**
   * Carries out a step in the one safe order (DESIGN.md rule 1): the new
   * state, the commitment it revoked, the outcomes of our HTLCs and the
   * caller's rows (`inTransaction`) in one SQLite transaction; then the
   * messages; then the effects, in order. Resolves once its broadcasts
   * were handed to the chain source.
   */
  private apply(l: Live, channelId: Uint8Array, s: ChannelStep, inTransaction?: (s: ChannelStep) => void): Promise<void> {
    const id = hex(channelId);
    const from = l.phase;
    ({ phase: l.phase, rec: l.rec, reestablished: l.reestablished, errorResent: l.errorResent } = s.next);
    if (from !== l.phase) this.log.debug('channel phase', { channelId: id, from, to: l.phase });
    const outcomes = s.effects.flatMap((e) => (e.kind === 'htlc_outcome' ? [e.outcome] : []));
    if (s.persist || outcomes.length || inTransaction) {
      this.db.db.transaction(() => {
        if (s.persist) this.save(l, channelId, s.revoked);
        for (const o of outcomes) this.hooks.outgoingResolved(o);
        inTransaction?.(s);
      })();
    }
    // What a disconnected peer misses goes out again on channel_reestablish (or, for an error, is moot).
    if (this.peers.isConnected(l.peer)) for (const m of s.send) this.peers.send(l.peer, m.name, m.msg);
    const broadcasts: Promise<void>[] = [];
    for (const e of s.effects) {
      switch (e.kind) {
        case 'htlc_outcome':
          break;
        case 'broadcast':
          broadcasts.push(this.broadcastClose(id, e));
          break;
        case 'watch_close':
          // After the broadcast: an anchors commitment's CPFP child needs its parent in the mempool.
          void Promise.all(broadcasts).then(() => this.watch.watchClose(id));
          break;
        case 'resolve_incoming':
          this.resolvePendingIncoming(l, channelId);
          break;
        case 'timer':
          if (e.action === 'arm') this.armNegotiationTimer(l, channelId);
          else l.negotiationTimer?.();
          break;
        case 'close_connection':
          this.peers.closeConnection(l.peer, e.reason);
          break;
        case 'close_failed':
          this.closeWaiters.failed(id, e.reason);
          break;
        case 'changed':
          this.changed(channelId);
          break;
        case 'log':
          this.log[e.level](e.text, { channelId: id, ...e.fields });
          break;
        case 'then':
          this.run(l, channelId, e.input);
          break;
      }
    }
    return Promise.all(broadcasts).then(() => undefined);
  }

  // ------------------------------------------------------------------ helpers

  /** Writes the live state; with `revoked`, also what a justice transaction against that commitment needs, atomically. */
  private save(l: Live, channelId: Uint8Array, revoked?: RemoteCommit): void {
    const stored: StoredChannel<ChannelRecord> = { channelId, peer: l.peer, keyIndex: l.keyIndex, phase: l.phase, state: l.rec };
    if (revoked) this.store.saveWithRevoked(stored, revoked);
    else this.store.update(stored);
  }

  private changed(channelId: Uint8Array): void {
    for (const f of this.stateListeners) f(channelId);
  }
}

