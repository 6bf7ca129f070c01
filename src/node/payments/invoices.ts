/**
 * Invoices we issue (BOLT 11) and the receiving side of a payment: an
 * incoming HTLC is decided by the final-hop rules (final-hop.ts) against the
 * invoice it pays, and either settled with the preimage or failed with the
 * error the spec prescribes. Failures are encrypted to the payer with the
 * onion's shared secret, so only it learns why. The HTLC that settles an
 * invoice is stored with it: only that HTLC is ever fulfilled again.
 *
 * LCP binds a job's terms to the invoice's `description_hash`, so the
 * caller may set it directly (32 bytes) instead of a description.
 *
 * Amounts are read as bigint (safeIntegers) and bound as bigint; the clock
 * and the randomness (preimages, payment secrets) are passed in.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../bolt/bytes.ts';
import { DEFAULT_EXPIRY_SECONDS, encodeInvoice } from '../../bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../../bolt/bolt9/features.ts';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { MAX_MONEY_MSAT, type Msat } from '../../bolt/units.ts';
import { type Clock, systemClock, unixSeconds } from '../clock.ts';
import { type Network } from '../identity.ts';
import { bolt11Network } from '../networks.ts';
import { type Resolution } from '../channels/manager.ts';
import { type SQLQueryBindings } from 'bun:sqlite';
import { type Store } from '../store.ts';
import { decideFinalHop } from './final-hop.ts';

/** Blocks we keep between an HTLC's expiry and the tip, on top of the invoice's min_final_cltv (as lnd does). */
export const DEFAULT_MIN_FINAL_CLTV = 18;

export type InvoiceState = 'open' | 'settled' | 'canceled';

export interface InvoiceRecord {
  paymentHash: Uint8Array;
  preimage: Uint8Array;
  paymentSecret: Uint8Array;
  amountMsat?: Msat;
  bolt11: string;
  state: InvoiceState;
  createdAt: number;
  expiresAt: number;
  minFinalCltv: number;
  settledAt?: number;
  receivedMsat?: Msat;
  /** Order of creation, from 1 (lnd's add_index). */
  addIndex: number;
  /** Order of settlement, from 1; 0 while not settled (lnd's settle_index). */
  settleIndex: number;
}

export interface NewInvoice {
  amountMsat?: Msat;
  description?: string;
  descriptionHash?: Uint8Array;
  expirySeconds?: number;
  minFinalCltv?: number;
  /** Lets a caller choose the preimage (e.g. hold-invoice style flows); random otherwise. */
  preimage?: Uint8Array;
}

export class InvoiceError extends Error {
  override readonly name = 'InvoiceError';
}

/** The most blocks an invoice may ask an HTLC to stay locked: what payers cap a route at (2016), less their padding. */
export const MAX_MIN_FINAL_CLTV = 2016 - 3;

export interface InvoicesOptions {
  store: Store;
  network: Network;
  nodeSecret: Uint8Array;
  clock?: Clock;
  /** Preimages and payment secrets come from here. */
  random?: (n: number) => Uint8Array;
}

interface Row {
  payment_hash: Uint8Array;
  preimage: Uint8Array;
  payment_secret: Uint8Array;
  amount_msat: bigint | null;
  bolt11: string;
  state: string;
  created_at: bigint;
  expires_at: bigint;
  min_final_cltv: bigint;
  settled_at: bigint | null;
  received_msat: bigint | null;
  rowid: bigint;
  settle_index: bigint | null;
  settled_channel_id: Uint8Array | null;
  settled_htlc_id: bigint | null;
}

interface Stored extends InvoiceRecord {
  settledBy?: { channelId: Uint8Array; htlcId: bigint };
}

const fromRow = (r: Row): Stored => ({
  paymentHash: new Uint8Array(r.payment_hash),
  preimage: new Uint8Array(r.preimage),
  paymentSecret: new Uint8Array(r.payment_secret),
  amountMsat: r.amount_msat === null ? undefined : (r.amount_msat as Msat),
  bolt11: r.bolt11,
  state: r.state as InvoiceState,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  minFinalCltv: Number(r.min_final_cltv),
  settledAt: r.settled_at === null ? undefined : Number(r.settled_at),
  receivedMsat: r.received_msat === null ? undefined : (r.received_msat as Msat),
  addIndex: Number(r.rowid),
  settleIndex: r.settle_index === null ? 0 : Number(r.settle_index),
  ...(r.settled_channel_id && r.settled_htlc_id !== null
    ? { settledBy: { channelId: new Uint8Array(r.settled_channel_id), htlcId: r.settled_htlc_id } }
    : {}),
});

const publicRecord = ({ settledBy: _, ...i }: Stored): InvoiceRecord => i;

const defaultRandom = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

export class Invoices {
  private readonly settledListeners = new Set<(i: InvoiceRecord) => void>();
  private readonly addedListeners = new Set<(i: InvoiceRecord) => void>();
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly o: InvoicesOptions) {
    this.store = o.store;
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? defaultRandom;
  }

  private query<P extends SQLQueryBindings[]>(sql: string) {
    return this.store.db.query<Row, P>(sql).safeIntegers(true);
  }

  create(p: NewInvoice): InvoiceRecord {
    if (p.amountMsat !== undefined && (p.amountMsat <= 0n || p.amountMsat > MAX_MONEY_MSAT)) {
      throw new InvoiceError(`amount must be positive and at most 21 million bitcoin, got ${p.amountMsat} msat`);
    }
    if (p.descriptionHash !== undefined && p.descriptionHash.length !== 32) throw new InvoiceError('description_hash must be 32 bytes');
    if (p.description !== undefined && p.descriptionHash !== undefined) throw new InvoiceError('give a description or a description_hash, not both');
    const expirySeconds = p.expirySeconds ?? DEFAULT_EXPIRY_SECONDS;
    if (!Number.isInteger(expirySeconds) || expirySeconds <= 0) throw new InvoiceError('expiry must be a positive number of seconds');
    const minFinalCltv = p.minFinalCltv ?? DEFAULT_MIN_FINAL_CLTV;
    if (!Number.isInteger(minFinalCltv) || minFinalCltv < 1 || minFinalCltv > MAX_MIN_FINAL_CLTV) {
      throw new InvoiceError(`min_final_cltv_expiry must be between 1 and ${MAX_MIN_FINAL_CLTV} blocks (payers refuse longer locks), got ${minFinalCltv}`);
    }
    const preimage = p.preimage ?? this.random(32);
    if (preimage.length !== 32) throw new InvoiceError('preimage must be 32 bytes');
    const paymentHash = sha256(preimage);
    const paymentSecret = this.random(32);
    const timestamp = unixSeconds(this.clock);
    const bolt11 = encodeInvoice(
      {
        network: bolt11Network(this.o.network),
        amountMsat: p.amountMsat,
        timestamp,
        paymentHash,
        paymentSecret,
        description: p.descriptionHash ? undefined : (p.description ?? ''),
        descriptionHash: p.descriptionHash,
        expirySeconds,
        minFinalCltvExpiryDelta: minFinalCltv,
        features: LNNODE_INVOICE_FEATURES,
      },
      this.o.nodeSecret,
    );
    try {
      this.store.db
        .query(
          `INSERT INTO invoices (payment_hash, preimage, payment_secret, amount_msat, bolt11, state, created_at, expires_at, min_final_cltv)
           VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        )
        .run(paymentHash, preimage, paymentSecret, p.amountMsat ?? null, bolt11, timestamp, timestamp + expirySeconds, minFinalCltv);
    } catch {
      throw new InvoiceError(`an invoice for payment hash ${hex(paymentHash)} exists already`);
    }
    const inv = this.get(paymentHash)!;
    for (const f of this.addedListeners) f(inv);
    return inv;
  }

  private stored(paymentHash: Uint8Array): Stored | undefined {
    const r = this.query<[Uint8Array]>('SELECT rowid, * FROM invoices WHERE payment_hash = ?').get(paymentHash);
    return r ? fromRow(r) : undefined;
  }

  get(paymentHash: Uint8Array): InvoiceRecord | undefined {
    const s = this.stored(paymentHash);
    return s && publicRecord(s);
  }

  list(): InvoiceRecord[] {
    return this.query<[]>('SELECT rowid, * FROM invoices ORDER BY rowid').all().map((r) => publicRecord(fromRow(r)));
  }

  /** Invoices created after `addIndex`, in creation order. */
  addedAfter(addIndex: number): InvoiceRecord[] {
    return this.query<[number]>('SELECT rowid, * FROM invoices WHERE rowid > ? ORDER BY rowid').all(addIndex).map((r) => publicRecord(fromRow(r)));
  }

  /** Invoices settled after `settleIndex`, in settlement order. */
  settledAfter(settleIndex: number): InvoiceRecord[] {
    return this.query<[number]>('SELECT rowid, * FROM invoices WHERE settle_index > ? ORDER BY settle_index')
      .all(settleIndex)
      .map((r) => publicRecord(fromRow(r)));
  }

  onAdded(f: (i: InvoiceRecord) => void): () => void {
    this.addedListeners.add(f);
    return () => this.addedListeners.delete(f);
  }

  /** Expired open invoices become canceled; an HTLC arriving later is failed. */
  cancel(paymentHash: Uint8Array): void {
    this.store.db.query("UPDATE invoices SET state = 'canceled' WHERE payment_hash = ? AND state = 'open'").run(paymentHash);
  }

  onSettled(f: (i: InvoiceRecord) => void): () => void {
    this.settledListeners.add(f);
    return () => this.settledListeners.delete(f);
  }

  /**
   * Decides an incoming HTLC addressed to us, arrived on `channelId`, with
   * the chain tip at `height` (undefined while the node knows none: nothing
   * is accepted then). The returned `persist` marks the invoice settled by
   * this HTLC in the same database transaction as the channel state that
   * carries the fulfill.
   */
  resolve(channelId: Uint8Array, htlc: HtlcEntry, height: number | undefined): Resolution {
    const inv = this.stored(htlc.paymentHash);
    const d = decideFinalHop(htlc, { nodeSecret: this.o.nodeSecret, channelId, invoice: inv, height, nowSeconds: unixSeconds(this.clock) });
    switch (d.kind) {
      case 'fail_malformed':
        return d;
      case 'fail':
        if (d.expired) this.cancel(htlc.paymentHash);
        return { kind: 'fail', reason: d.reason };
      case 'fulfill':
        if (!d.first) return { kind: 'fulfill', preimage: d.preimage };
        return { kind: 'fulfill', preimage: d.preimage, persist: () => this.settle(htlc.paymentHash, channelId, htlc) };
    }
  }

  private settle(paymentHash: Uint8Array, channelId: Uint8Array, htlc: HtlcEntry): void {
    const changed = this.store.db
      .query(
        `UPDATE invoices SET state = 'settled', settled_at = ?, received_msat = ?, settled_channel_id = ?, settled_htlc_id = ?,
           settle_index = (SELECT COALESCE(MAX(settle_index), 0) + 1 FROM invoices)
         WHERE payment_hash = ? AND state = 'open'`,
      )
      .run(unixSeconds(this.clock), htlc.amountMsat, channelId, htlc.id, paymentHash).changes;
    if (changed) queueMicrotask(() => this.settled(paymentHash));
  }

  private settled(paymentHash: Uint8Array): void {
    const inv = this.get(paymentHash);
    if (inv) for (const f of this.settledListeners) f(inv);
  }
}
