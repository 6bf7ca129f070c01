/**
 * Paying BOLT 11 invoices: an invoice becomes a plan once (payment-plan.ts),
 * the plan a route and a Sphinx onion (route.ts, BOLT 4), the onion an HTLC
 * on a channel (PaymentChannels), and the HTLC's outcome the payment's.
 *
 * Never twice. A payment is keyed by its payment hash, and `start` claims
 * the hash in the database before anything is awaited: every later call for
 * the same hash, concurrent or after a restart, finds it in flight or
 * succeeded and is refused; only a failed payment may be tried again. The
 * HTLC is written to the payment row in the same transaction as the channel
 * state that carries it, so a crash cannot leave an HTLC we do not know we
 * sent, and a reservation without an HTLC after a restart can only have
 * failed. A preimage always wins: learnt after a failure was reported (the
 * payee's claim won a reorg), it turns the payment succeeded.
 *
 * Waiting is on events: for room in a channel on the channels' state
 * changes, for the outcome on ChannelHooks.outgoingResolved. The clock and
 * the randomness (session keys) are passed in.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { failureName } from '../../bolt/bolt4/failure-codes.ts';
import { decodeFailureMessage } from '../../bolt/bolt4/failure-message.ts';
import { decryptFailurePacket } from '../../bolt/bolt4/failure-packet.ts';
import { routeSecrets } from '../../bolt/bolt4/keys.ts';
import { encodeHopPayload } from '../../bolt/bolt4/payload.ts';
import { constructOnion } from '../../bolt/bolt4/sphinx.ts';
import { type Msat } from '../../bolt/units.ts';
import { type ChannelSummary, type HtlcOutcome } from '../channels/manager.ts';
import { type Clock, systemClock, unixSeconds } from '../clock.ts';
import { type Network } from '../identity.ts';
import { type Logger, silentLogger } from '../log.ts';
import { type Store } from '../store.ts';
import { type PaymentChannels } from './payment-channels.ts';
import { PaymentError } from './payment-error.ts';
import { type PaymentPlan, planPayment } from './payment-plan.ts';
import { type PaymentFailureCode, type PaymentRecord, PaymentStore } from './payment-store.ts';
import { buildRoute, DEFAULT_MAX_CLTV_DELTA } from './route.ts';

export { PaymentError, type PaymentErrorCode } from './payment-error.ts';
export { type PaymentFailureCode, type PaymentRecord, type PaymentState } from './payment-store.ts';

export const DEFAULT_PAYMENT_TIMEOUT_MS = 60_000;
/** How long a payment waits for HTLCs being removed to free a channel's room. */
export const ROOM_WAIT_MS = 5_000;

export interface PaymentsOptions {
  store: Store;
  network: Network;
  channels: PaymentChannels;
  clock?: Clock;
  /** Session keys come from here. */
  random?: (n: number) => Uint8Array;
  /** Most blocks a payment may lock our HTLC for (DEFAULT_MAX_CLTV_DELTA). */
  maxCltvDelta?: number;
  log?: Logger;
}

export interface PayOptions {
  /** For invoices without an amount. */
  amountMsat?: Msat;
  /** How long the caller waits for the outcome; the payment itself is never abandoned while an HTLC exists. */
  timeoutMs?: number;
  /**
   * Channels the HTLC may leave by: channel ids (hex), short channel ids
   * (BxTxO) or local aliases (decimal, as in ChannelSummary); by default the
   * payee's channel with the most room.
   */
  outgoingChannels?: string[];
  /** A lower CLTV cap for this payment (lnd's cltv_limit). */
  cltvLimit?: number;
}

export interface StartedPayment {
  /** The payment as reserved: in flight, no HTLC yet. */
  record: PaymentRecord;
  /** The succeeded payment; rejects with a PaymentError ('failed', 'no_route', 'cltv_too_far', 'timeout', 'stopped'). */
  done: Promise<PaymentRecord>;
}

const defaultRandom = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

export class Payments {
  private readonly store: PaymentStore;
  private readonly channels: PaymentChannels;
  private readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;
  private readonly maxCltvDelta: number;
  private readonly log: Logger;
  private readonly waiters = new Map<string, Set<(p: PaymentRecord) => void>>();
  private readonly resolvedListeners = new Set<(p: PaymentRecord) => void>();
  private readonly startedListeners = new Set<(p: PaymentRecord) => void>();
  /** Ends every wait still open (a timer, a wait for room) when the node stops. */
  private readonly onStop = new Set<() => void>();
  private stopped = false;

  constructor(private readonly o: PaymentsOptions) {
    this.store = new PaymentStore(o.store);
    this.channels = o.channels;
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? defaultRandom;
    this.maxCltvDelta = o.maxCltvDelta ?? DEFAULT_MAX_CLTV_DELTA;
    this.log = o.log ?? silentLogger;
    const n = this.store.failAllUnsent('not sent: the node stopped before an HTLC was offered', unixSeconds(this.clock));
    if (n) this.log.info('payments reserved but never sent before the last stop are failed', { count: n });
  }

  /** The CLTV cap (blocks) every payment's route is held to. */
  get maxCltv(): number {
    return this.maxCltvDelta;
  }

  get(paymentHash: Uint8Array): PaymentRecord | undefined {
    return this.store.get(paymentHash);
  }

  list(): PaymentRecord[] {
    return this.store.list();
  }

  /** Reads and checks an invoice into a plan; throws PaymentError. Nothing is stored. */
  plan(bolt11: string, o: Pick<PayOptions, 'amountMsat' | 'cltvLimit'> = {}): PaymentPlan {
    return planPayment(bolt11, o, { network: this.o.network, nowSeconds: unixSeconds(this.clock), maxCltvDelta: this.maxCltvDelta });
  }

  /**
   * Pays an invoice, idempotently: a hash that succeeded returns the stored
   * payment, one in flight is waited for (no second HTLC), anything else is
   * started. Rejects with PaymentError.
   */
  async pay(bolt11: string, o: PayOptions = {}): Promise<PaymentRecord> {
    const plan = this.plan(bolt11, o);
    const prior = this.store.get(plan.paymentHash);
    if (prior?.state === 'succeeded') return prior;
    if (prior?.state === 'in_flight') return this.wait(plan.paymentHash, o.timeoutMs ?? DEFAULT_PAYMENT_TIMEOUT_MS);
    return this.start(plan, o).done;
  }

  /**
   * Starts paying a plan. Synchronous up to the reservation: it throws
   * PaymentError 'already_paid' or 'in_flight' (nothing sent) when the hash
   * is taken, 'no_route' when no channel to the payee can carry the amount
   * now or soon (nothing stored), 'not_synced' before the chain tip is known.
   */
  start(plan: PaymentPlan, o: PayOptions = {}): StartedPayment {
    if (this.stopped) throw new PaymentError('stopped', 'the node is stopping');
    const prior = this.store.get(plan.paymentHash);
    if (prior?.state === 'succeeded') throw new PaymentError('already_paid', 'invoice is already paid', prior);
    if (prior?.state === 'in_flight') throw new PaymentError('in_flight', 'payment is in transition', prior);
    const only = channelFilter(o.outgoingChannels);
    const now = this.channels.channelToPay(plan.payee, plan.amountMsat, only);
    if (!now && !this.busy(plan.payee, only)) throw new PaymentError('no_route', this.noRouteMessage(plan, o));
    if (this.channels.height <= 0) throw new PaymentError('not_synced', 'the node has not learnt the chain tip yet (an HTLC expiry counts from it); try again shortly');
    if (!this.store.reserve(plan, unixSeconds(this.clock))) {
      const taken = this.store.get(plan.paymentHash);
      throw new PaymentError(taken?.state === 'succeeded' ? 'already_paid' : 'in_flight', 'payment is in transition', taken);
    }
    const record = this.store.get(plan.paymentHash)!;
    for (const f of this.startedListeners) f(record);
    const done = this.send(plan, o, only, now);
    done.catch(() => {}); // the caller observes it; a caller that left must not leave it unhandled
    return { record, done };
  }

  /** Called with each payment as it is reserved (in flight, nothing sent yet): where its latency starts. */
  onStarted(f: (p: PaymentRecord) => void): () => void {
    this.startedListeners.add(f);
    return () => this.startedListeners.delete(f);
  }

  /** Called with each payment that ends (succeeded or failed), after it is stored; again if a failed one turns succeeded. */
  onResolved(f: (p: PaymentRecord) => void): () => void {
    this.resolvedListeners.add(f);
    return () => this.resolvedListeners.delete(f);
  }

  /** ChannelHooks.outgoingResolved: one of our HTLCs ended, off chain or on chain. */
  resolved(o: HtlcOutcome): void {
    if (this.stopped) return;
    const hash = o.htlc.paymentHash;
    const p = this.store.get(hash);
    if (!p) return;
    const now = unixSeconds(this.clock);
    if (o.kind === 'fulfilled') {
      // The channel layer checked the preimage against its HTLC; the payment checks it against itself.
      if (!equalBytes(sha256(o.preimage), hash) || !this.store.succeed(hash, o.preimage, now)) return;
      if (p.state === 'failed') this.log.warn('a payment reported failed was paid: its preimage arrived later', { paymentHash: hash });
    } else {
      const sent = this.store.sent(hash);
      // Only the HTLC the payment waits for can fail it: an earlier attempt's late failure cannot end a retry.
      if (p.state !== 'in_flight' || !sent || !equalBytes(sent.channelId, o.channelId) || sent.htlcId !== o.htlc.id) return;
      const { failure, code } = this.describeFailure(o, sent.sessionKey, sent.route);
      if (!this.store.failHtlc(hash, o.channelId, o.htlc.id, failure, code, now)) return;
    }
    this.notify(this.store.get(hash)!);
  }

  /** The node is stopping: callers still waiting learn it now, and no timer outlives the database. */
  stop(): void {
    this.stopped = true;
    for (const f of [...this.onStop]) f();
    this.onStop.clear();
    this.waiters.clear();
  }

  // ------------------------------------------------------------------ sending

  /** Offers the HTLC (on `ready`, or on the first channel with room) and follows it to the end. */
  private async send(plan: PaymentPlan, o: PayOptions, only: ((c: ChannelSummary) => boolean) | undefined, ready: Uint8Array | undefined): Promise<PaymentRecord> {
    const timeoutMs = o.timeoutMs ?? DEFAULT_PAYMENT_TIMEOUT_MS;
    const started = this.clock.now();
    try {
      const channelId = ready ?? (await this.channelWithRoom(plan, only, Math.min(ROOM_WAIT_MS, timeoutMs)));
      if (this.stopped) throw new PaymentError('stopped', 'the node stopped before the HTLC was offered');
      if (!channelId) return this.failUnsent(plan, 'no_route', this.noRouteMessage(plan, o));
      const height = this.channels.height;
      const route = buildRoute([], { pubkey: plan.payee, amountMsat: plan.amountMsat, cltvDelta: plan.finalCltvDelta, paymentSecret: plan.invoice.paymentSecret, paymentMetadata: plan.invoice.paymentMetadata }, height);
      if (route.totalCltvDelta > plan.maxCltvDelta) {
        const cltv = { delta: route.totalCltvDelta, max: plan.maxCltvDelta };
        return this.failUnsent(plan, 'cltv_too_far', `the route would lock the payment for ${cltv.delta} blocks, more than the cap of ${cltv.max}`, cltv);
      }
      const sessionKey = this.random(32);
      const hops = route.pubkeys.map((pubkey, i) => ({ pubkey, payload: encodeHopPayload(route.payloads[i]!) }));
      const onion = constructOnion({ sessionKey, hops, associatedData: plan.paymentHash }).packet;
      try {
        this.channels.addHtlc(channelId, { amountMsat: route.htlcAmountMsat, paymentHash: plan.paymentHash, cltvExpiry: route.htlcCltvExpiry, onion }, (htlcId) =>
          this.store.htlcSent(plan.paymentHash, { channelId, htlcId, sessionKey, route: route.pubkeys, cltvExpiry: route.htlcCltvExpiry }),
        );
      } catch (e) {
        return this.failUnsent(plan, 'no_route', `cannot send: ${(e as Error).message}`);
      }
      return await this.wait(plan.paymentHash, Math.max(0, timeoutMs - (this.clock.now() - started)));
    } catch (e) {
      // Whatever went wrong before an HTLC existed, the reservation must not stay in flight.
      if (!this.stopped && this.store.failUnsent(plan.paymentHash, `not sent: ${(e as Error).message}`, 'not_sent', unixSeconds(this.clock))) {
        this.notify(this.store.get(plan.paymentHash)!);
      }
      throw e;
    }
  }

  private failUnsent(plan: PaymentPlan, code: PaymentFailureCode & ('no_route' | 'cltv_too_far'), message: string, cltv?: { delta: number; max: number }): never {
    this.store.failUnsent(plan.paymentHash, message, code, unixSeconds(this.clock));
    const p = this.store.get(plan.paymentHash)!;
    this.notify(p);
    throw new PaymentError(code, message, p, cltv);
  }

  private noRouteMessage(plan: PaymentPlan, o: PayOptions): string {
    const which = o.outgoingChannels?.length ? `of ${o.outgoingChannels.join(', ')} ` : '';
    const only = channelFilter(o.outgoingChannels);
    const peer = hex(plan.payee);
    // The most any one usable channel can carry now (reserve, commitment fee with its spike buffer, anchors, limits): what the payer can act on.
    const usable = this.channels.list().filter((c) => c.peer === peer && c.active && (!only || only(c)));
    const max = usable.reduce((m, c) => (c.numbers.spendableMsat > m ? c.numbers.spendableMsat : m), 0n);
    const most = usable.length ? `; at most ${max} msat (${max / 1000n} sat) can be sent now` : '';
    return `no active channel ${which}with ${peer} can send ${plan.amountMsat} msat${most}`;
  }

  /** A channel to the payee that is active but carries HTLCs still being removed: room may free up within a round. */
  private busy(payee: Uint8Array, only?: (c: ChannelSummary) => boolean): boolean {
    const peer = hex(payee);
    return this.channels.list().some((c) => c.peer === peer && c.active && c.pendingHtlcs > 0 && (!only || only(c)));
  }

  /**
   * A channel whose HTLCs are still being removed may lack room only until
   * that commitment round ends (the removed amount still counts as in
   * flight), so that case waits, as lnd does, on the channels' state changes
   * until one can carry the amount, none is busy any more, or `ms` pass.
   */
  private channelWithRoom(plan: PaymentPlan, only: ((c: ChannelSummary) => boolean) | undefined, ms: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const pick = (): Uint8Array | undefined => this.channels.channelToPay(plan.payee, plan.amountMsat, only);
      let ended = false;
      const end = (id: Uint8Array | undefined): void => {
        if (ended) return;
        ended = true;
        off();
        cancel();
        this.onStop.delete(stop);
        resolve(id);
      };
      const stop = (): void => end(undefined);
      const off = this.channels.onStateChange(() => {
        const id = pick();
        if (id || !this.busy(plan.payee, only)) end(id);
      });
      const cancel = this.clock.after(ms, () => end(pick()));
      this.onStop.add(stop);
    });
  }

  /** The payment's outcome: resolves succeeded, rejects failed ('failed'), or 'timeout' while still in flight. */
  private wait(paymentHash: Uint8Array, timeoutMs: number): Promise<PaymentRecord> {
    const key = hex(paymentHash);
    return new Promise((resolve, reject) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const end = (): void => {
        set.delete(done);
        if (!set.size && this.waiters.get(key) === set) this.waiters.delete(key);
        cancel();
        this.onStop.delete(stop);
      };
      const done = (p: PaymentRecord): void => {
        end();
        if (p.state === 'succeeded') resolve(p);
        else reject(new PaymentError('failed', `payment failed: ${p.failure}`, p));
      };
      const stop = (): void => {
        end();
        reject(new PaymentError('stopped', 'the node stopped while the payment was in flight; it resolves after the restart'));
      };
      const cancel = this.clock.after(timeoutMs, () => {
        end();
        reject(new PaymentError('timeout', `payment still in flight after ${timeoutMs} ms`, this.store.get(paymentHash)));
      });
      set.add(done);
      this.onStop.add(stop);
      // It may have ended already (a channel failing the HTLC at once).
      const now = this.store.get(paymentHash);
      if (now && now.state !== 'in_flight') done(now);
    });
  }

  private notify(p: PaymentRecord): void {
    const key = hex(p.paymentHash);
    const set = this.waiters.get(key);
    if (set) for (const f of [...set]) f(p);
    for (const f of this.resolvedListeners) f(p);
  }

  // ------------------------------------------------------------------ failures

  private describeFailure(o: Extract<HtlcOutcome, { kind: 'failed' }>, sessionKey: Uint8Array, route: Uint8Array[]): { failure: string; code: PaymentFailureCode } {
    if (o.failureCode !== undefined) {
      return { failure: `${failureName(o.failureCode) ?? 'unknown'} (0x${o.failureCode.toString(16)}, malformed onion)`, code: 'error' };
    }
    if (!o.reason) {
      // Off chain, an HTLC without a reason was never committed; on chain, it timed out (or was not on the commitment that confirmed).
      const closing = this.channels.list().some((c) => c.channelId === hex(o.channelId) && (c.phase === 'closing' || c.phase === 'closed'));
      return closing
        ? { failure: 'failed on chain: the HTLC timed out or was not on the commitment that confirmed', code: 'error' }
        : { failure: 'not sent: the HTLC was not committed before the peer disconnected', code: 'not_sent' };
    }
    try {
      const { sharedSecrets } = routeSecrets(sessionKey, route);
      const f = decryptFailurePacket(sharedSecrets, o.reason);
      if (!f.ok) return { failure: `undecodable failure from hop ${f.hopIndex}`, code: 'error' };
      const m = decodeFailureMessage(f.failureMessage);
      const name = m.name === 'unknown' ? `unknown failure 0x${m.code.toString(16)}` : m.name;
      const fromPayee = f.hopIndex === route.length - 1;
      return {
        failure: fromPayee ? name : `${name} (from hop ${f.hopIndex + 1} of ${route.length})`,
        code: fromPayee && m.name === 'incorrect_or_unknown_payment_details' ? 'incorrect_payment_details' : 'error',
      };
    } catch (e) {
      return { failure: `failure could not be decrypted: ${(e as Error).message}`, code: 'error' };
    }
  }
}

/** The outgoing-channel restriction as a predicate over channel summaries. */
function channelFilter(ids: string[] | undefined): ((c: ChannelSummary) => boolean) | undefined {
  if (!ids?.length) return undefined;
  const only = new Set(ids);
  return (c) => only.has(c.channelId) || only.has(c.localAlias) || (c.shortChannelId !== undefined && only.has(c.shortChannelId));
}
