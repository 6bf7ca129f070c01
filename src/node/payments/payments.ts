/**
 * Paying invoices over a direct channel with the payee: decode and check the
 * invoice, build the one-hop onion, offer the HTLC, and follow it to the
 * preimage or a decoded failure.
 *
 * Never twice: a payment is keyed by its payment hash. Paying a hash that
 * succeeded returns the stored preimage; one in flight waits for that
 * attempt; only a failed one may be tried again. The payment row is written
 * in the same transaction as the channel state that carries the HTLC, so a
 * crash cannot leave an HTLC we do not know we sent.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { decodeInvoice, type Invoice, isExpired } from '../../bolt/bolt11/invoice.ts';
import { failureName } from '../../bolt/bolt4/failure-codes.ts';
import { decodeFailureMessage } from '../../bolt/bolt4/failure-message.ts';
import { decryptFailurePacket } from '../../bolt/bolt4/failure-packet.ts';
import { encodeHopPayload } from '../../bolt/bolt4/payload.ts';
import { routeSecrets } from '../../bolt/bolt4/keys.ts';
import { constructOnion } from '../../bolt/bolt4/sphinx.ts';
import { type CltvExpiry, type Msat, msat } from '../../bolt/units.ts';
import { type ChannelManager, type ChannelSummary, type HtlcOutcome } from '../channels/manager.ts';
import { type Network } from '../identity.ts';
import { bolt11Network } from '../networks.ts';
import { type Store } from '../store.ts';

/** Blocks added to the invoice's min_final_cltv so the HTLC still qualifies if a block arrives meanwhile. */
const CLTV_SAFETY_BLOCKS = 3;
export const DEFAULT_PAYMENT_TIMEOUT_MS = 60_000;
/** How long a payment waits for HTLCs being removed to free a channel's room. */
const ROOM_WAIT_MS = 5_000;

export type PaymentState = 'in_flight' | 'succeeded' | 'failed';

export interface PaymentRecord {
  paymentHash: Uint8Array;
  bolt11?: string;
  payee: Uint8Array;
  amountMsat: Msat;
  state: PaymentState;
  preimage?: Uint8Array;
  failure?: string;
  channelId?: Uint8Array;
  htlcId?: bigint;
  createdAt: number;
  resolvedAt?: number;
}

export interface PayOptions {
  /** For invoices without an amount. */
  amountMsat?: Msat;
  timeoutMs?: number;
  /**
   * Channels the HTLC may leave by: channel ids (hex), short channel ids
   * (BxTxO) or local aliases (decimal, as in ChannelSummary); by default the
   * payee's channel with the most room.
   */
  outgoingChannels?: string[];
}

export class PaymentError extends Error {
  override readonly name = 'PaymentError';
  constructor(
    message: string,
    readonly payment?: PaymentRecord,
  ) {
    super(message);
  }
}

interface Row {
  payment_hash: Uint8Array;
  bolt11: string | null;
  payee: Uint8Array;
  amount_msat: number;
  state: string;
  channel_id: Uint8Array | null;
  htlc_id: number | null;
  session_key: Uint8Array | null;
  preimage: Uint8Array | null;
  failure: string | null;
  created_at: number;
  resolved_at: number | null;
}

const fromRow = (r: Row): PaymentRecord => ({
  paymentHash: new Uint8Array(r.payment_hash),
  bolt11: r.bolt11 ?? undefined,
  payee: new Uint8Array(r.payee),
  amountMsat: msat(r.amount_msat),
  state: r.state as PaymentState,
  preimage: r.preimage ? new Uint8Array(r.preimage) : undefined,
  failure: r.failure ?? undefined,
  channelId: r.channel_id ? new Uint8Array(r.channel_id) : undefined,
  htlcId: r.htlc_id === null ? undefined : BigInt(r.htlc_id),
  createdAt: r.created_at,
  resolvedAt: r.resolved_at ?? undefined,
});

export class Payments {
  private readonly waiters = new Map<string, ((p: PaymentRecord) => void)[]>();
  private readonly timers = new Map<ReturnType<typeof setTimeout>, (e: Error) => void>();
  private readonly resolvedListeners = new Set<(p: PaymentRecord) => void>();
  private channels!: ChannelManager;

  constructor(
    private readonly store: Store,
    private readonly network: Network,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  attach(channels: ChannelManager): void {
    this.channels = channels;
  }

  get(paymentHash: Uint8Array): PaymentRecord | undefined {
    const r = this.store.db.query<Row, [Uint8Array]>('SELECT * FROM payments WHERE payment_hash = ?').get(paymentHash);
    return r ? fromRow(r) : undefined;
  }

  list(): PaymentRecord[] {
    return this.store.db.query<Row, []>('SELECT * FROM payments ORDER BY created_at').all().map(fromRow);
  }

  /**
   * Pays a BOLT 11 invoice to a directly connected payee. Resolves with the
   * succeeded payment (its preimage checked against the hash); rejects with
   * PaymentError carrying the failed record, or on timeout (the payment then
   * stays in flight and resolves later: it is never abandoned while an HTLC exists).
   */
  async pay(bolt11: string, opts: PayOptions = {}): Promise<PaymentRecord> {
    let inv: Invoice;
    try {
      inv = decodeInvoice(bolt11);
    } catch (e) {
      throw new PaymentError(`invalid invoice: ${(e as Error).message}`);
    }
    if (inv.network !== bolt11Network(this.network)) throw new PaymentError(`invoice is for ${inv.network}, this node runs on ${this.network}`);
    if (isExpired(inv, this.now())) throw new PaymentError('invoice expired');
    if (inv.amountMsat !== undefined && opts.amountMsat !== undefined && opts.amountMsat !== inv.amountMsat) {
      throw new PaymentError('invoice has an amount; do not give another');
    }
    const amountMsat = inv.amountMsat ?? opts.amountMsat;
    if (amountMsat === undefined || amountMsat <= 0n) throw new PaymentError('invoice has no amount: give one');

    const prior = this.get(inv.paymentHash);
    if (prior?.state === 'succeeded') return prior;
    if (prior?.state === 'in_flight') return this.wait(prior, opts.timeoutMs);

    const only = opts.outgoingChannels && new Set(opts.outgoingChannels);
    const allowed = only && ((c: ChannelSummary): boolean => only.has(c.channelId) || only.has(c.localAlias) || (c.shortChannelId !== undefined && only.has(c.shortChannelId)));
    const channelId = await this.channelWithRoom(inv.payeePubkey, amountMsat, allowed);
    if (!channelId) {
      const which = only ? `of ${[...only].join(', ')} ` : '';
      throw new PaymentError(`no active channel ${which}with ${hex(inv.payeePubkey)} can send ${amountMsat} msat`);
    }
    const cltvExpiry = (this.channels.height + inv.minFinalCltvExpiryDelta + CLTV_SAFETY_BLOCKS) as CltvExpiry;
    const sessionKey = randomBytes(32);
    const payload = encodeHopPayload({
      amt_to_forward: amountMsat,
      outgoing_cltv_value: cltvExpiry,
      payment_data: { paymentSecret: inv.paymentSecret, totalMsat: amountMsat },
      ...(inv.paymentMetadata ? { payment_metadata: inv.paymentMetadata } : {}),
    });
    const onion = constructOnion({ sessionKey, hops: [{ pubkey: inv.payeePubkey, payload }], associatedData: inv.paymentHash }).packet;
    const now = this.now();
    let record: PaymentRecord | undefined;
    try {
      this.channels.addHtlc(channelId, { amountMsat, paymentHash: inv.paymentHash, cltvExpiry, onion }, (htlcId) => {
        this.store.db
          .query(
            `INSERT INTO payments (payment_hash, bolt11, payee, amount_msat, state, channel_id, htlc_id, session_key, created_at)
             VALUES (?, ?, ?, ?, 'in_flight', ?, ?, ?, ?)
             ON CONFLICT(payment_hash) DO UPDATE SET state = 'in_flight', channel_id = excluded.channel_id, htlc_id = excluded.htlc_id,
               session_key = excluded.session_key, failure = NULL, resolved_at = NULL`,
          )
          .run(inv.paymentHash, bolt11, inv.payeePubkey, Number(amountMsat), channelId, Number(htlcId), sessionKey, now);
      });
      record = this.get(inv.paymentHash)!;
    } catch (e) {
      throw new PaymentError(`cannot send: ${(e as Error).message}`);
    }
    return this.wait(record, opts.timeoutMs);
  }

  /**
   * An active channel to the payee that can carry the amount. A channel
   * whose HTLCs are still being removed may lack room only until that
   * commitment round ends (the removed amount still counts as in flight), so
   * that case waits briefly, as lnd does, instead of failing the payment.
   */
  private async channelWithRoom(payee: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + ROOM_WAIT_MS;
    for (;;) {
      const id = this.channels.channelToPay(payee, amountMsat, only);
      if (id) return id;
      const busy = this.channels.list().some((c) => c.peer === hex(payee) && c.active && c.pendingHtlcs > 0);
      if (!busy || Date.now() >= deadline) return undefined;
      await Bun.sleep(20);
    }
  }

  private wait(p: PaymentRecord, timeoutMs = DEFAULT_PAYMENT_TIMEOUT_MS): Promise<PaymentRecord> {
    const key = hex(p.paymentHash);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        reject(new PaymentError(`payment still in flight after ${timeoutMs} ms`, this.get(p.paymentHash)));
      }, timeoutMs);
      this.timers.set(timer, reject);
      const list = this.waiters.get(key) ?? [];
      list.push((r) => {
        clearTimeout(timer);
        this.timers.delete(timer);
        if (r.state === 'succeeded') resolve(r);
        else reject(new PaymentError(`payment failed: ${r.failure}`, r));
      });
      this.waiters.set(key, list);
    });
  }

  /** The node is stopping: callers still waiting learn it now, and no timer outlives the database. */
  stop(): void {
    for (const [timer, reject] of this.timers) {
      clearTimeout(timer);
      reject(new PaymentError('the node stopped while the payment was in flight; it resolves after the restart'));
    }
    this.timers.clear();
    this.waiters.clear();
  }

  /** Called with each payment that ends (succeeded or failed), after it is stored. */
  onResolved(f: (p: PaymentRecord) => void): () => void {
    this.resolvedListeners.add(f);
    return () => this.resolvedListeners.delete(f);
  }

  /** ChannelHooks.outgoingResolved. */
  resolved(o: HtlcOutcome): void {
    const row = this.store.db
      .query<Row, [Uint8Array, number, Uint8Array]>('SELECT * FROM payments WHERE channel_id = ? AND htlc_id = ? AND payment_hash = ?')
      .get(o.channelId, Number(o.htlc.id), o.htlc.paymentHash);
    if (!row) return;
    const p = fromRow(row);
    if (p.state !== 'in_flight') return;
    if (o.kind === 'fulfilled') {
      if (!equalBytes(sha256(o.preimage), p.paymentHash)) return; // the channel layer checks this too
      this.store.db
        .query("UPDATE payments SET state = 'succeeded', preimage = ?, resolved_at = ? WHERE payment_hash = ?")
        .run(o.preimage, this.now(), p.paymentHash);
    } else {
      const failure = this.describeFailure(row, o);
      this.store.db.query("UPDATE payments SET state = 'failed', failure = ?, resolved_at = ? WHERE payment_hash = ?").run(failure, this.now(), p.paymentHash);
    }
    const done = this.get(p.paymentHash)!;
    const key = hex(p.paymentHash);
    const list = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const f of list) f(done);
    for (const f of this.resolvedListeners) f(done);
  }

  private describeFailure(row: Row, o: Extract<HtlcOutcome, { kind: 'failed' }>): string {
    if (o.failureCode !== undefined) return `${failureName(o.failureCode) ?? 'unknown'} (0x${o.failureCode.toString(16)}, malformed onion)`;
    if (!o.reason) return 'not sent: the HTLC was not committed before the peer disconnected';
    if (!row.session_key) return 'failed (no session key to decode the reason)';
    try {
      const { sharedSecrets } = routeSecrets(new Uint8Array(row.session_key), [new Uint8Array(row.payee)]);
      const f = decryptFailurePacket(sharedSecrets, o.reason);
      if (!f.ok) return `undecodable failure from hop ${f.hopIndex}`;
      const m = decodeFailureMessage(f.failureMessage);
      return m.name === 'unknown' ? `unknown failure 0x${m.code.toString(16)}` : m.name;
    } catch (e) {
      return `failure could not be decrypted: ${(e as Error).message}`;
    }
  }
}
