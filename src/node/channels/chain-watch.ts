/**
 * What the chain tells the channels, block by block: the fee estimates,
 * each funding's confirmations (lock-in, and its depth after a reorg), and
 * every close (the funding spent, then each step of its resolution). Reads
 * the chain and hands the driver step inputs; it never changes a channel
 * itself. Tips are handled one after another, in order.
 */
import { fromHex } from '../../bolt/bytes.ts';
import { channelInUse, type ChannelInput } from '../../bolt/bolt2/channel/step.ts';
import { type LockInView, lockInStep } from '../../bolt/bolt2/channel/lock-in-step.ts';
import { type FeeEstimateView } from '../../bolt/bolt2/channel/safety-policy.ts';
import { type CloseRecord, type HtlcOutcome } from '../../bolt/bolt2/channel/state.ts';
import { FEE_TARGETS } from '../../chain/feerate.ts';
import { type ChainSource } from '../../chain/types.ts';
import { FEERATE_FLOOR, type FeeratePerKw } from '../../bolt/units.ts';
import { type Logger } from '../log.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { fundingNeedsCheck } from './funding-depth.ts';
import { readFundingDepth, readFundingSeen } from './funding-reads.ts';
import { type Live } from './live.ts';
import { ChannelResolver } from './resolver.ts';
import { type ChannelStore } from './store.ts';

/** Fee rate used until the chain source gave an estimate (sat/kw, about 4 sat/vB). */
const DEFAULT_FEERATE = 1000 as FeeratePerKw;

/** The driver as the chain watch sees it: the running channels, and the one way to change one. */
export interface ChainWatchHost {
  readonly channels: ReadonlyMap<string, Live>;
  step(l: Live, channelId: Uint8Array, input: ChannelInput): void;
  /** The preimage of an incoming payment we settled, to claim its HTLC on chain. */
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
  /** One of our HTLCs ended on chain. */
  outgoingResolved(o: HtlcOutcome): void;
}

export interface ChainWatchDeps {
  chain: ChainSource;
  wallet: Wallet;
  store: ChannelStore;
  log: Logger;
  /** The node's fee ceiling (--max-feerate): the top of the anchor CPFP ramp. */
  maxFeerate?: FeeratePerKw;
}

export class ChainWatch {
  private tipHeight = 0;
  private tipQueue: Promise<void> = Promise.resolve();
  private processedHeight = 0;
  private processedWaiters: { height: number; resolve: () => void }[] = [];
  private feerateNow: FeeratePerKw = DEFAULT_FEERATE;
  /** Whether the fee rate came from the chain source (not the default): only then does a commitment follow it. */
  private fromChain = false;
  /** The chain's fastest and slowest estimates as last seen: the update_fee bounds (safety-policy.ts). */
  private estimatesNow?: FeeEstimateView;
  private readonly resolver: ChannelResolver;
  private readonly resolving = new Set<string>();
  private readonly chain: ChainSource;
  private readonly log: Logger;

  constructor(
    d: ChainWatchDeps,
    private readonly host: ChainWatchHost,
  ) {
    ({ chain: this.chain, log: this.log } = d);
    this.resolver = new ChannelResolver(d.chain, d.wallet, d.store, {
      preimageOf: (h) => host.preimageOf(h),
      htlcResolved: (channelId, htlc, preimage) => host.outgoingResolved(preimage ? { kind: 'fulfilled', channelId, htlc, preimage } : { kind: 'failed', channelId, htlc }),
    }, d.log.child('onchain'), d.maxFeerate);
  }

  /** The newest tip's height, known as soon as it is seen (payments count HTLC expiries from it). */
  get height(): number {
    return this.tipHeight;
  }

  /** The chain's 6-block fee estimate (sat/kw) as last seen, for funding, sweeps and mutual closes. */
  get feerate(): FeeratePerKw {
    return this.feerateNow;
  }

  /** The rate a commitment follows: only one the chain source gave, never the default. */
  get commitFeerate(): FeeratePerKw | undefined {
    return this.fromChain ? this.feerateNow : undefined;
  }

  get estimates(): FeeEstimateView | undefined {
    return this.estimatesNow;
  }

  /**
   * Called on every new tip: fee estimates, HTLC deadlines, funding
   * confirmations and channel_ready, and every close. Tips are processed one
   * after another.
   */
  onTip(height: number, forkHeight?: number): Promise<void> {
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
    if (six) [this.feerateNow, this.fromChain] = [(six > FEERATE_FLOOR ? six : FEERATE_FLOOR) as FeeratePerKw, true];
    const fast = estimates?.get(FEE_TARGETS[0]);
    const economy = estimates?.get(FEE_TARGETS[FEE_TARGETS.length - 1]!);
    if (fast && economy) this.estimatesNow = { fast, economy };
    // Read again at each stage: a channel stored meanwhile (an open) joins at once.
    const channels = (): [string, Live][] => [...this.host.channels.entries()];
    // HTLC deadlines, inbound fundings that never came, and update_fee (step.ts).
    for (const [id, l] of channels()) this.host.step(l, fromHex(id), { kind: 'tip', height });
    await Promise.all(channels().filter(([, l]) => l.phase === 'awaiting_lock_in').map(([id]) => this.checkFunding(id)));
    await Promise.all(channels().filter(([, l]) => channelInUse(l) && fundingNeedsCheck(l.rec, height, forkHeight)).map(([id]) => this.checkFundingDepth(id)));
    await Promise.all(channels().filter(([, l]) => watched(l)).map(([id]) => this.watchClose(id, height)));
  }

  /** Whether a channel awaiting lock-in has its funding deep enough now (also called as soon as an open stores it). */
  async checkFunding(id: string): Promise<void> {
    const l = this.host.channels.get(id);
    if (!l || l.phase !== 'awaiting_lock_in' || l.rec.readySent) return;
    const seen = await readFundingSeen(this.chain, lockInView(l));
    // The channel may have moved on while the chain was read: the step reads it as it is now.
    if (seen) this.host.step(l, fromHex(id), { kind: 'lock_in', result: lockInStep(lockInView(l), seen) });
  }

  /** The funding of a channel in use, after a reorg (funding-reads.ts); the step ignores a channel no longer in use by then. */
  private async checkFundingDepth(id: string): Promise<void> {
    const l = this.host.channels.get(id);
    const input = l && (await readFundingDepth(this.chain, l.rec));
    if (l && input) this.host.step(l, fromHex(id), input);
  }

  /** Has the funding output been spent, and what is left to sweep: on each tip, and right after our own close went out. */
  async watchClose(id: string, height = this.tipHeight): Promise<void> {
    const l = this.host.channels.get(id);
    if (!l || this.resolving.has(id)) return;
    this.resolving.add(id);
    try {
      const channelId = fromHex(id);
      const sd = l.rec.shutdown;
      const ch = { channelId, commitments: l.rec.commitments, secrets: l.secrets, close: l.rec.close, ...(sd?.sent ? { ourShutdownScript: sd.localScript } : {}) };
      const found = await this.resolver.identify(ch);
      if (!found) return;
      if (found !== l.rec.close) this.host.step(l, channelId, { kind: 'close_seen', close: found });
      // Each step of the resolution is stored before the sweeps it built go out.
      const persist = (close: CloseRecord): void => this.host.step(l, channelId, { kind: 'close_update', close });
      const after = await this.resolver.step({ ...ch, close: l.rec.close! }, height, this.feerateNow, persist);
      // Every other change came through persist: only a change of phase is left to store.
      if ((after.doneAt !== undefined) !== (l.phase === 'closed')) this.host.step(l, channelId, { kind: 'close_update', close: after });
    } catch (e) {
      this.log.warn('on-chain resolution failed; retried on the next block', { channelId: id, error: (e as Error).message });
    } finally {
      this.resolving.delete(id);
    }
  }
}

function lockInView(l: Live): LockInView {
  const { commitments, readySent, minimumDepth, fundingVerified, fundingConfirmedAt } = l.rec;
  return { phase: l.phase, commitments, readySent: !!readySent, minimumDepth, fundingVerified, fundingConfirmedAt };
}

/** Followed on each tip: from funding on, and once closed until its close is MAX_REORG_DEPTH deep. */
const watched = (l: Live): boolean => l.phase !== 'awaiting_funding_signed' && (l.phase !== 'closed' || (l.rec.close !== undefined && l.rec.close.finalAt === undefined));
