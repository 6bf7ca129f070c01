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
 * chain is read here on each tip (funding-reads.ts, resolver.ts) and what
 * it says is stepped in like a peer's message.
 */
import { fromHex, hex } from '../../bolt/bytes.ts';
import { type IncomingOutcome, type IncomingRefusal, unresolvedIncoming } from '../../bolt/bolt2/channel/incoming.ts';
import { channelActive, channelInUse, type ChannelEffect, type ChannelInput, type ChannelStep, channelStep, type ChannelView, isChannelMessage, type StepContext } from '../../bolt/bolt2/channel/step.ts';
import { ChannelResolver } from './resolver.ts';
import { anchorReserve } from '../wallet/anchor-reserve.ts';
import { type RemoteCommit, availableToSend } from '../../bolt/bolt2/channel/commitments.ts';
import { type LockInView, lockInStep } from '../../bolt/bolt2/channel/lock-in-step.ts';
import { readFundingDepth, readFundingSeen } from './funding-reads.ts';
import { FEE_TARGETS } from '../../chain/feerate.ts';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type FeeEstimateView, type SafetyPolicy } from '../../bolt/bolt2/channel/safety-policy.ts';
import { type ChannelPolicy, DEFAULT_POLICY } from '../../bolt/bolt2/channel/open.ts';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { type CltvExpiry, FEERATE_FLOOR, type FeeratePerKw, type Msat } from '../../bolt/units.ts';
import { type ChainSource } from '../../chain/types.ts';
import { type Clock, systemClock } from '../clock.ts';
import { type Logger } from '../log.ts';
import { type PeerManager } from '../peer/manager.ts';
import { type PeerMessage } from '../../bolt/peer-messages.ts';
import { type ErrorMessage } from '../../bolt/bolt1/messages.ts';
import { type Store } from '../store.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { type ChannelLimits, DEFAULT_CHANNEL_LIMITS } from './limits.ts';
import { fundingNeedsCheck } from './funding-depth.ts';
import { channelSecrets } from './secrets.ts';
import { ChannelStore, type StoredChannel } from './store.ts';
import { type HDKey } from '@scure/bip32';
import { type Network } from '../identity.ts';
import { type BackupChannel } from '../backup/format.ts';
import { backupEntryOf, recoveringRecord } from '../backup/recovering.ts';
import { ChannelError, type Listed, type Live, notify } from './live.ts';
import { ChannelOpening, type OpenedChannel, type OpenOptions } from './opening.ts';
import { channelSummary, type ChannelSummary } from './summary.ts';
export type { ChannelSummary } from './summary.ts';

export { ChannelError } from './live.ts';
export type { OpenedChannel, OpenOptions } from './opening.ts';

import { type ChannelRecord, channelState, type CloseRecord, type HtlcOutcome } from '../../bolt/bolt2/channel/state.ts';
export type { ChannelRecord, HtlcOutcome } from '../../bolt/bolt2/channel/state.ts';

export type { ShutdownState } from '../../bolt/bolt2/channel/shutdown-step.ts';

export type { IncomingRefusal } from '../../bolt/bolt2/channel/incoming.ts';

/** How the payments layer ends an incoming HTLC; `persist` writes its own record in the same commit as the channel. */
export type Resolution = IncomingOutcome & { persist?: () => void };

export interface ChannelHooks {
  /** Decide what to do with an incoming HTLC that is irrevocably committed. */
  resolveIncoming(channelId: Uint8Array, htlc: HtlcEntry): Resolution;
  /** One of our HTLCs ended. */
  outgoingResolved(o: HtlcOutcome): void;
  /**
   * How to fail an incoming HTLC the channel itself refuses, for its payer:
   * permanent_channel_failure for one added after our shutdown,
   * temporary_channel_failure for one past the dust exposure limit.
   */
  refuseIncoming(channelId: Uint8Array, htlc: HtlcEntry, failure: IncomingRefusal): Resolution;
  /** The preimage of an incoming payment we settled, to claim its HTLC on chain. */
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
}

export interface CloseOptions {
  /** Broadcast our commitment instead of negotiating with the peer. */
  force?: boolean;
  /** Fee rate for the mutual close; the chain's 6-block estimate otherwise. */
  feerate?: FeeratePerKw;
}

const CLOSE_TIMEOUT_MS = 60_000;
/** Fee rate used until the chain source gave an estimate (sat/kw, about 4 sat/vB). */
const DEFAULT_FEERATE = 1000 as FeeratePerKw;

/** What the channel manager works with: storage, keys, the peer and chain layers, the wallet, and the payments layer's hooks. */
export interface ChannelDeps {
  db: Store;
  root: HDKey;
  network: Network;
  chainHash: Uint8Array;
  peers: PeerManager;
  wallet: Wallet;
  chain: ChainSource;
  hooks: ChannelHooks;
  log: Logger;
  policy?: ChannelPolicy;
  limits?: Partial<ChannelLimits>;
  /** The node's fee ceiling (--max-feerate): the top of the anchor CPFP ramp. */
  maxFeerate?: FeeratePerKw;
  /** Timers (open, close and negotiation timeouts); the system clock when not given. */
  clock?: Clock;
  /** Temporary channel ids and scid aliases. */
  random?: (n: number) => Uint8Array;
}

export class ChannelManager {
  readonly store: ChannelStore;
  private readonly channels = new Map<string, Live>();
  private readonly opening: ChannelOpening;
  private closedAtStart?: Map<string, Listed>;
  private tipHeight = 0;
  private readonly stateListeners = new Set<(channelId: Uint8Array) => void>();
  private readonly resolver: ChannelResolver;
  private readonly resolving = new Set<string>();
  private readonly closeWaiters = new Map<string, { resolve: (txid: string) => void; reject: (e: Error) => void; timer: () => void }>();
  private feerate: FeeratePerKw = DEFAULT_FEERATE;
  /** Whether `feerate` came from the chain source (not the default): only then does a commitment follow it. */
  private feerateFromChain = false;
  /** The chain's fastest and slowest estimates as last seen: the update_fee bounds (safety-policy.ts). */
  private estimates?: FeeEstimateView;
  private tipQueue: Promise<void> = Promise.resolve();
  private processedHeight = 0;
  private processedWaiters: { height: number; resolve: () => void }[] = [];
  readonly limits: ChannelLimits;
  private stopped = false;

  private readonly db: Store;
  private readonly root: HDKey;
  private readonly network: Network;
  private readonly chainHash: Uint8Array;
  private readonly peers: PeerManager;
  private readonly wallet: Wallet;
  private readonly chain: ChainSource;
  private readonly hooks: ChannelHooks;
  private readonly log: Logger;
  private readonly policy: ChannelPolicy;
  private readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;

  constructor(d: ChannelDeps) {
    ({ db: this.db, root: this.root, network: this.network, chainHash: this.chainHash, peers: this.peers, wallet: this.wallet, chain: this.chain, hooks: this.hooks, log: this.log } = d);
    this.policy = d.policy ?? DEFAULT_POLICY;
    this.clock = d.clock ?? systemClock;
    this.random = d.random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    this.limits = { ...DEFAULT_CHANNEL_LIMITS, ...d.limits };
    this.wallet.anchorReserve = (extra) => anchorReserve(this.anchorChannelCount() + extra, this.limits.anchorReservePerChannelSat);
    this.store = new ChannelStore(this.db);
    this.resolver = new ChannelResolver(this.chain, this.wallet, this.store, {
      preimageOf: (h) => this.hooks.preimageOf(h),
      htlcResolved: (channelId, htlc, preimage) =>
        this.hooks.outgoingResolved(preimage ? { kind: 'fulfilled', channelId, htlc, preimage } : { kind: 'failed', channelId, htlc }),
    }, this.log.child('onchain'), d.maxFeerate);
    this.opening = new ChannelOpening({
      store: this.store, peers: this.peers, wallet: this.wallet, policy: this.policy, limits: this.limits, chainHash: this.chainHash, clock: this.clock, random: this.random, log: this.log,
      secretsOf: (i) => this.secretsOf(i),
      host: {
        channels: this.channels,
        adopt: (id, l) => void this.channels.set(id, l),
        changed: (id) => this.changed(id),
        step: (l, id, input) => void this.run(l, id, input),
        fundingStored: (id) => void this.checkFunding(id),
        feerate: () => this.feerate,
        height: () => this.tipHeight,
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

  private secretsOf(keyIndex: number): ChannelSecrets {
    return channelSecrets(this.root, this.network, keyIndex);
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
    const closed = [...this.closedBefore().entries()].filter(([id]) => !this.channels.has(id));
    return [...closed, ...this.channels.entries()].map(([id, l]) => this.summary(id, l));
  }

  get(channelId: Uint8Array): ChannelSummary | undefined {
    const id = hex(channelId);
    const l = this.channels.get(id) ?? this.closedBefore().get(id);
    return l ? this.summary(id, l) : undefined;
  }

  /**
   * Channels that were closed and resolved before this process started: not
   * run (nothing is left to do on them), but listed as closed like the ones
   * that close while it runs, read from the store once, when first asked.
   */
  private closedBefore(): Map<string, Listed> {
    if (!this.closedAtStart) {
      this.closedAtStart = new Map();
      // Listed, never run: no secrets derived for them.
      for (const c of this.store.closed<ChannelRecord>()) this.closedAtStart.set(hex(c.channelId), { peer: c.peer, phase: c.phase, rec: c.state, reestablished: false });
    }
    return this.closedAtStart;
  }

  private summary(id: string, l: Listed): ChannelSummary {
    return channelSummary(id, l, this.isActive(l), this.tipHeight);
  }

  private isActive(l: Listed): boolean {
    return channelActive(l, this.peers.isConnected(l.peer));
  }

  /** An active channel with `peer` that can send `amountMsat` now, if any. */
  channelToPay(peer: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Uint8Array | undefined {
    let best: { id: string; avail: bigint } | undefined;
    for (const [id, l] of this.channels) {
      if (hex(l.peer) !== hex(peer) || !this.isActive(l)) continue;
      if (only && !only(this.summary(id, l))) continue;
      const avail = availableToSend(l.rec.commitments);
      if (avail >= amountMsat && (!best || avail > best.avail)) best = { id, avail };
    }
    return best ? fromHex(best.id) : undefined;
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

  /**
   * Called on every new tip: funding confirmations and channel_ready, HTLC
   * deadlines, fees, and every close. Tips are processed one after another.
   */
  onTip(height: number, forkHeight?: number): Promise<void> {
    // Known at once (payments count HTLC expiries from it), processed in turn.
    this.tipHeight = height;
    const run = (): Promise<void> => this.processTip(height, forkHeight).finally(() => this.tipProcessed(height));
    this.tipQueue = this.tipQueue.then(run, run);
    return this.tipQueue;
  }

  /** Resolves once the tip at `height`, or a later one, has been processed (what a test waits for before it looks). */
  processed(height: number): Promise<void> {
    if (this.processedHeight >= height) return Promise.resolve();
    return new Promise((resolve) => this.processedWaiters.push({ height, resolve }));
  }

  private tipProcessed(height: number): void {
    this.processedHeight = Math.max(this.processedHeight, height);
    const ready = this.processedWaiters.filter((w) => w.height <= this.processedHeight);
    this.processedWaiters = this.processedWaiters.filter((w) => w.height > this.processedHeight);
    for (const w of ready) w.resolve();
  }

  private async processTip(height: number, forkHeight: number | undefined): Promise<void> {
    const estimates = await this.chain.feeEstimates().catch(() => undefined);
    const six = estimates?.get(6);
    if (six) [this.feerate, this.feerateFromChain] = [(six > FEERATE_FLOOR ? six : FEERATE_FLOOR) as FeeratePerKw, true];
    const fast = estimates?.get(FEE_TARGETS[0]);
    const economy = estimates?.get(FEE_TARGETS[FEE_TARGETS.length - 1]!);
    if (fast && economy) this.estimates = { fast, economy };
    // HTLC deadlines, inbound fundings that never came, and update_fee (step.ts).
    for (const [id, l] of this.channels) this.run(l, fromHex(id), { kind: 'tip', height });
    await Promise.all([...this.channels.entries()].filter(([, l]) => l.phase === 'awaiting_lock_in').map(([id]) => this.checkFunding(id)));
    await Promise.all([...this.channels.entries()].filter(([, l]) => channelInUse(l) && fundingNeedsCheck(l.rec, height, forkHeight)).map(([id]) => this.checkFundingDepth(id)));
    await Promise.all(
      [...this.channels.entries()].filter(([, l]) => watched(l)).map(([id]) => this.watchClose(id, height)),
    );
  }

  /** What the pure step enforces on HTLCs and fee updates (dust exposure, update_fee bounds, unsigned updates). */
  private safety(): SafetyPolicy {
    return { maxDustHtlcExposureMsat: this.limits.maxDustHtlcExposureMsat, maxUnsignedPeerUpdates: this.limits.maxUnsignedPeerUpdates, estimates: this.estimates };
  }

  /** The chain's 6-block fee estimate (sat/kw) as last seen, for funding, sweeps and mutual closes. */
  get feerateEstimate(): FeeratePerKw {
    return this.feerate;
  }

  get height(): number {
    return this.tipHeight;
  }

  private async checkFunding(id: string): Promise<void> {
    const l = this.channels.get(id);
    if (!l || l.phase !== 'awaiting_lock_in' || l.rec.readySent) return;
    const seen = await readFundingSeen(this.chain, this.lockInView(l));
    // The channel may have moved on while the chain was read: the step reads it as it is now.
    if (seen) this.run(l, fromHex(id), { kind: 'lock_in', result: lockInStep(this.lockInView(l), seen) });
  }

  private lockInView(l: Live): LockInView {
    const { commitments, readySent, minimumDepth, fundingVerified, fundingConfirmedAt } = l.rec;
    return { phase: l.phase, commitments, readySent: !!readySent, minimumDepth, fundingVerified, fundingConfirmedAt };
  }

  /** The funding of a channel in use, after a reorg (funding-reads.ts); the step ignores a channel no longer in use by then. */
  private async checkFundingDepth(id: string): Promise<void> {
    const l = this.channels.get(id);
    const input = l && (await readFundingDepth(this.chain, l.rec));
    if (l && input) this.run(l, fromHex(id), input);
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
    if (!requested && !this.isActive(l)) throw new ChannelError('the peer is not connected: a mutual close needs it (use force to close alone)');
    const done = new Promise<string>((resolve, reject) => {
      const timer = this.clock.after(CLOSE_TIMEOUT_MS, () => {
        this.closeWaiters.delete(id);
        reject(new ChannelError('the peer did not complete the mutual close in time; the channel stays in shutdown'));
      });
      this.closeWaiters.set(id, { resolve, reject, timer });
    });
    if (!requested) {
      // The phase stays normal (the peer's adds are welcome) until our shutdown is actually sent (shutdown-step.ts).
      this.log.info('closing channel cooperatively', { channelId: id });
      this.run(l, channelId, { kind: 'close', localScript: this.wallet.newChangeScript(), feerate: o.feerate ?? this.feerate });
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
    // BOLT 2 closing_signed sender: no closing_signed response after a reasonable amount of time MUST fail the channel.
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
    if (e.what !== 'mutual') return;
    const w = this.closeWaiters.get(id);
    this.closeWaiters.delete(id);
    if (w) {
      w.timer();
      w.resolve(e.txid);
    }
  }

  /** On each tip: has the funding output been spent, and what is left to sweep. */
  private async watchClose(id: string, height: number): Promise<void> {
    const l = this.channels.get(id);
    if (!l || this.resolving.has(id)) return;
    this.resolving.add(id);
    try {
      const channelId = fromHex(id);
      const ch = { channelId, commitments: l.rec.commitments, secrets: l.secrets, close: l.rec.close };
      const found = await this.resolver.identify(ch);
      if (!found) return;
      if (found !== l.rec.close) this.run(l, channelId, { kind: 'close_seen', close: found });
      // Each step of the resolution is stored before the sweeps it built go out.
      const persist = (close: CloseRecord): void => void this.run(l, channelId, { kind: 'close_update', close });
      const after = await this.resolver.step({ ...ch, close: l.rec.close! }, height, this.feerate, persist);
      // Every other change came through persist: only a change of phase is left to store.
      if ((after.doneAt !== undefined) !== (l.phase === 'closed')) this.run(l, channelId, { kind: 'close_update', close: after });
    } catch (e) {
      this.log.warn('on-chain resolution failed; retried on the next block', { channelId: id, error: (e as Error).message });
    } finally {
      this.resolving.delete(id);
    }
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
      safety: this.safety(),
      connected: this.peers.isConnected(l.peer),
      commitFeerate: this.feerateFromChain ? this.feerate : undefined,
      closeFeerate: this.feerate,
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
          void Promise.all(broadcasts).then(() => this.watchClose(id, this.tipHeight));
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
          this.closeWaiters.get(id)?.reject(new ChannelError(e.reason));
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

/** Followed on each tip: from funding on, and once closed until its close is MAX_REORG_DEPTH deep. */
const watched = (l: Live): boolean => l.phase !== 'awaiting_funding_signed' && (l.phase !== 'closed' || (l.rec.close !== undefined && l.rec.close.finalAt === undefined));
