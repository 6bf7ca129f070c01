/**
 * The payments we make, one row per payment hash, in SQLite. Every change
 * is one conditional statement, so the rules that keep a payment from being
 * made twice hold in the database itself, whatever calls race:
 *
 * - `reserve` claims a hash before anything is awaited or sent: it creates
 *   the row in flight, or takes over a failed one; a hash in flight or
 *   succeeded is never overwritten.
 * - `htlcSent` records the HTLC (channel, id, session key) in the same
 *   transaction as the channel state that carries it.
 * - `succeed` accepts a preimage whatever the payment's state: a preimage
 *   learnt after a failure was reported (a reorg let the payee's claim win)
 *   proves the payee was paid.
 * - `fail` ends only the HTLC the row is waiting for, so a late failure of
 *   an earlier attempt cannot end a retry.
 *
 * Amounts and HTLC ids are read as bigint (safeIntegers) and bound as bigint.
 */
import { type Msat } from '../../bolt/units.ts';
import { type SQLQueryBindings } from 'bun:sqlite';
import { type Store } from '../store.ts';

export type PaymentState = 'in_flight' | 'succeeded' | 'failed';

/** Why a payment failed, in the terms the RPC layers report (lnd's failure_reason). */
export type PaymentFailureCode =
  /** No channel to the payee could carry the amount. */
  | 'no_route'
  /** The route would lock the HTLC longer than the CLTV cap. */
  | 'cltv_too_far'
  /** The payee refused the payment details (incorrect_or_unknown_payment_details). */
  | 'incorrect_payment_details'
  /** Any other failure the payee or our channel reported. */
  | 'error'
  /** No HTLC was committed: the node stopped, or the peer left before the commitment. */
  | 'not_sent';

export interface PaymentRecord {
  paymentHash: Uint8Array;
  bolt11?: string;
  payee: Uint8Array;
  amountMsat: Msat;
  state: PaymentState;
  preimage?: Uint8Array;
  failure?: string;
  failureCode?: PaymentFailureCode;
  channelId?: Uint8Array;
  htlcId?: bigint;
  /** The absolute CLTV expiry of the HTLC sent (block height). */
  htlcCltvExpiry?: number;
  /** Unix seconds. */
  createdAt: number;
  resolvedAt?: number;
}

/** What decoding a returned failure needs: the session key and the route's node ids. */
export interface SentHtlc {
  channelId: Uint8Array;
  htlcId: bigint;
  sessionKey: Uint8Array;
  /** Node ids of the route's hops, first to last (the payee alone for a direct payment). */
  route: Uint8Array[];
}

interface Row {
  payment_hash: Uint8Array;
  bolt11: string | null;
  payee: Uint8Array;
  amount_msat: bigint;
  state: string;
  channel_id: Uint8Array | null;
  htlc_id: bigint | null;
  htlc_cltv_expiry: bigint | null;
  session_key: Uint8Array | null;
  route: Uint8Array | null;
  preimage: Uint8Array | null;
  failure: string | null;
  failure_code: string | null;
  created_at: bigint;
  resolved_at: bigint | null;
}

const PUBKEY_LEN = 33;

const fromRow = (r: Row): PaymentRecord => ({
  paymentHash: new Uint8Array(r.payment_hash),
  bolt11: r.bolt11 ?? undefined,
  payee: new Uint8Array(r.payee),
  amountMsat: r.amount_msat as Msat,
  state: r.state as PaymentState,
  preimage: r.preimage ? new Uint8Array(r.preimage) : undefined,
  failure: r.failure ?? undefined,
  failureCode: (r.failure_code ?? undefined) as PaymentFailureCode | undefined,
  channelId: r.channel_id ? new Uint8Array(r.channel_id) : undefined,
  htlcId: r.htlc_id ?? undefined,
  htlcCltvExpiry: r.htlc_cltv_expiry === null || r.htlc_cltv_expiry === undefined ? undefined : Number(r.htlc_cltv_expiry),
  createdAt: Number(r.created_at),
  resolvedAt: r.resolved_at === null ? undefined : Number(r.resolved_at),
});

export class PaymentStore {
  constructor(private readonly store: Store) {}

  private query<P extends SQLQueryBindings[]>(sql: string) {
    return this.store.db.query<Row, P>(sql).safeIntegers(true);
  }

  get(paymentHash: Uint8Array): PaymentRecord | undefined {
    const r = this.query<[Uint8Array]>('SELECT * FROM payments WHERE payment_hash = ?').get(paymentHash);
    return r ? fromRow(r) : undefined;
  }

  list(): PaymentRecord[] {
    return this.query<[]>('SELECT * FROM payments ORDER BY created_at, rowid').all().map(fromRow);
  }

  /** The session key and route of the HTLC the payment waits for, to decrypt its failure. */
  sent(paymentHash: Uint8Array): SentHtlc | undefined {
    const r = this.query<[Uint8Array]>('SELECT * FROM payments WHERE payment_hash = ?').get(paymentHash);
    if (!r?.channel_id || r.htlc_id === null || !r.session_key) return undefined;
    const keys = r.route ? new Uint8Array(r.route) : new Uint8Array(r.payee);
    const route: Uint8Array[] = [];
    for (let i = 0; i + PUBKEY_LEN <= keys.length; i += PUBKEY_LEN) route.push(keys.slice(i, i + PUBKEY_LEN));
    return { channelId: new Uint8Array(r.channel_id), htlcId: r.htlc_id, sessionKey: new Uint8Array(r.session_key), route };
  }

  /**
   * Claims the payment hash for a new attempt: a new row in flight, or a
   * failed one taken over. Returns false (and changes nothing) when the
   * hash is in flight or succeeded.
   */
  reserve(p: { paymentHash: Uint8Array; bolt11: string; payee: Uint8Array; amountMsat: Msat }, now: number): boolean {
    const changed = this.store.db
      .query(
        `INSERT INTO payments (payment_hash, bolt11, payee, amount_msat, state, created_at)
         VALUES (?, ?, ?, ?, 'in_flight', ?)
         ON CONFLICT(payment_hash) DO UPDATE SET
           bolt11 = excluded.bolt11, payee = excluded.payee, amount_msat = excluded.amount_msat, state = 'in_flight',
           channel_id = NULL, htlc_id = NULL, htlc_cltv_expiry = NULL, session_key = NULL, route = NULL, preimage = NULL,
           failure = NULL, failure_code = NULL, resolved_at = NULL
         WHERE payments.state = 'failed'`,
      )
      .run(p.paymentHash, p.bolt11, p.payee, p.amountMsat, now).changes;
    return changed === 1;
  }

  /** Runs inside the channel's transaction: the HTLC exists exactly when this row names it. */
  htlcSent(paymentHash: Uint8Array, h: SentHtlc & { cltvExpiry?: number }): void {
    this.store.db
      .query(
        `UPDATE payments SET channel_id = ?, htlc_id = ?, session_key = ?, route = ?, htlc_cltv_expiry = ?
         WHERE payment_hash = ? AND state = 'in_flight' AND htlc_id IS NULL`,
      )
      .run(h.channelId, h.htlcId, h.sessionKey, concatKeys(h.route), h.cltvExpiry ?? null, paymentHash);
  }

  /** Records the preimage; false if the payment had succeeded already. */
  succeed(paymentHash: Uint8Array, preimage: Uint8Array, now: number): boolean {
    return (
      this.store.db
        .query(
          `UPDATE payments SET state = 'succeeded', preimage = ?, failure = NULL, failure_code = NULL, resolved_at = ?
           WHERE payment_hash = ? AND state != 'succeeded'`,
        )
        .run(preimage, now, paymentHash).changes === 1
    );
  }

  /** Fails the payment if it is in flight on exactly this HTLC; false otherwise. */
  failHtlc(paymentHash: Uint8Array, channelId: Uint8Array, htlcId: bigint, failure: string, code: PaymentFailureCode, now: number): boolean {
    return (
      this.store.db
        .query(
          `UPDATE payments SET state = 'failed', failure = ?, failure_code = ?, resolved_at = ?
           WHERE payment_hash = ? AND state = 'in_flight' AND channel_id = ? AND htlc_id = ?`,
        )
        .run(failure, code, now, paymentHash, channelId, htlcId).changes === 1
    );
  }

  /** Fails a reservation that never got an HTLC; false if it has one (or is not in flight). */
  failUnsent(paymentHash: Uint8Array, failure: string, code: PaymentFailureCode, now: number): boolean {
    return (
      this.store.db
        .query(
          `UPDATE payments SET state = 'failed', failure = ?, failure_code = ?, resolved_at = ?
           WHERE payment_hash = ? AND state = 'in_flight' AND htlc_id IS NULL`,
        )
        .run(failure, code, now, paymentHash).changes === 1
    );
  }

  /**
   * At start: reservations the last process made but never offered an HTLC
   * for. `htlcSent` is written with the channel state, so no HTLC exists for
   * them and they can only have failed.
   */
  failAllUnsent(failure: string, now: number): number {
    return this.store.db
      .query(
        `UPDATE payments SET state = 'failed', failure = ?, failure_code = 'not_sent', resolved_at = ?
         WHERE state = 'in_flight' AND htlc_id IS NULL`,
      )
      .run(failure, now).changes;
  }
}

function concatKeys(keys: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(keys.length * PUBKEY_LEN);
  keys.forEach((k, i) => out.set(k, i * PUBKEY_LEN));
  return out;
}
