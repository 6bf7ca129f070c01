/**
 * Invoices we issue (BOLT 11) and the receiving side of a payment (BOLT 4
 * "Payload for the Last Node"): an incoming HTLC is peeled, its payload
 * checked against the invoice, and either settled with the preimage or
 * failed with the error the spec prescribes. Failures are encrypted to the
 * payer with the onion's shared secret, so only it learns why.
 *
 * LCP binds a job's terms to the invoice's `description_hash`, so the
 * caller may set it directly (32 bytes) instead of a description.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { DEFAULT_EXPIRY_SECONDS, encodeInvoice } from '../../bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../../bolt/bolt9/features.ts';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { createFailurePacket } from '../../bolt/bolt4/failure-packet.ts';
import { encodeFailureMessage, type FailureMessage } from '../../bolt/bolt4/failure-message.ts';
import { checkHopPayload, decodeHopPayload } from '../../bolt/bolt4/payload.ts';
import { OnionError, peelOnion } from '../../bolt/bolt4/sphinx.ts';
import { type Msat, msat } from '../../bolt/units.ts';
import { type Network } from '../identity.ts';
import { bolt11Network } from '../networks.ts';
import { type Resolution } from '../channels/manager.ts';
import { type Store } from '../store.ts';

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

interface Row {
  payment_hash: Uint8Array;
  preimage: Uint8Array;
  payment_secret: Uint8Array;
  amount_msat: number | null;
  bolt11: string;
  state: string;
  created_at: number;
  expires_at: number;
  min_final_cltv: number;
  settled_at: number | null;
  received_msat: number | null;
  rowid: number;
  settle_index: number | null;
}

const fromRow = (r: Row): InvoiceRecord => ({
  paymentHash: new Uint8Array(r.payment_hash),
  preimage: new Uint8Array(r.preimage),
  paymentSecret: new Uint8Array(r.payment_secret),
  amountMsat: r.amount_msat === null ? undefined : msat(r.amount_msat),
  bolt11: r.bolt11,
  state: r.state as InvoiceState,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  minFinalCltv: r.min_final_cltv,
  settledAt: r.settled_at ?? undefined,
  receivedMsat: r.received_msat === null ? undefined : msat(r.received_msat),
  addIndex: r.rowid,
  settleIndex: r.settle_index ?? 0,
});

export class Invoices {
  private readonly settledListeners = new Set<(i: InvoiceRecord) => void>();
  private readonly addedListeners = new Set<(i: InvoiceRecord) => void>();

  constructor(
    private readonly store: Store,
    private readonly network: Network,
    private readonly nodeSecret: Uint8Array,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  create(p: NewInvoice): InvoiceRecord {
    if (p.amountMsat !== undefined && p.amountMsat <= 0n) throw new InvoiceError('amount must be positive');
    if (p.descriptionHash !== undefined && p.descriptionHash.length !== 32) throw new InvoiceError('description_hash must be 32 bytes');
    if (p.description !== undefined && p.descriptionHash !== undefined) throw new InvoiceError('give a description or a description_hash, not both');
    const expirySeconds = p.expirySeconds ?? DEFAULT_EXPIRY_SECONDS;
    if (!Number.isInteger(expirySeconds) || expirySeconds <= 0) throw new InvoiceError('expiry must be a positive number of seconds');
    const minFinalCltv = p.minFinalCltv ?? DEFAULT_MIN_FINAL_CLTV;
    const preimage = p.preimage ?? randomBytes(32);
    if (preimage.length !== 32) throw new InvoiceError('preimage must be 32 bytes');
    const paymentHash = sha256(preimage);
    const paymentSecret = randomBytes(32);
    const timestamp = this.now();
    const bolt11 = encodeInvoice(
      {
        network: bolt11Network(this.network),
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
      this.nodeSecret,
    );
    try {
      this.store.db
        .query(
          `INSERT INTO invoices (payment_hash, preimage, payment_secret, amount_msat, bolt11, state, created_at, expires_at, min_final_cltv)
           VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        )
        .run(paymentHash, preimage, paymentSecret, p.amountMsat === undefined ? null : Number(p.amountMsat), bolt11, timestamp, timestamp + expirySeconds, minFinalCltv);
    } catch {
      throw new InvoiceError(`an invoice for payment hash ${hex(paymentHash)} exists already`);
    }
    const inv = this.get(paymentHash)!;
    for (const f of this.addedListeners) f(inv);
    return inv;
  }

  get(paymentHash: Uint8Array): InvoiceRecord | undefined {
    const r = this.store.db.query<Row, [Uint8Array]>('SELECT rowid, * FROM invoices WHERE payment_hash = ?').get(paymentHash);
    return r ? fromRow(r) : undefined;
  }

  list(): InvoiceRecord[] {
    return this.store.db.query<Row, []>('SELECT rowid, * FROM invoices ORDER BY rowid').all().map(fromRow);
  }

  /** Invoices created after `addIndex`, in creation order. */
  addedAfter(addIndex: number): InvoiceRecord[] {
    return this.store.db.query<Row, [number]>('SELECT rowid, * FROM invoices WHERE rowid > ? ORDER BY rowid').all(addIndex).map(fromRow);
  }

  /** Invoices settled after `settleIndex`, in settlement order. */
  settledAfter(settleIndex: number): InvoiceRecord[] {
    return this.store.db
      .query<Row, [number]>('SELECT rowid, * FROM invoices WHERE settle_index > ? ORDER BY settle_index')
      .all(settleIndex)
      .map(fromRow);
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
   * Decides an incoming HTLC addressed to us. The returned `persist` marks
   * the invoice settled in the same database transaction as the channel
   * state that carries the fulfill.
   */
  resolve(htlc: HtlcEntry, height: number): Resolution {
    let peeled;
    try {
      peeled = peelOnion(htlc.onion, this.nodeSecret, htlc.paymentHash);
    } catch (e) {
      if (e instanceof OnionError && e.failureCode & 0x8000) {
        return { kind: 'fail_malformed', sha256OfOnion: sha256(htlc.onion), failureCode: e.failureCode };
      }
      return { kind: 'fail_malformed', sha256OfOnion: sha256(htlc.onion), failureCode: 0x8000 | 0x4000 | 5 }; // invalid_onion_hmac
    }
    const fail = (m: FailureMessage): Resolution => ({ kind: 'fail', reason: createFailurePacket(peeled.sharedSecret, encodeFailureMessage(m)) });
    const unknownDetails = (): Resolution => fail({ name: 'incorrect_or_unknown_payment_details', htlcMsat: htlc.amountMsat, height });
    if (peeled.next !== 'final') return fail({ name: 'unknown_next_peer' }); // we do not forward
    let payload;
    try {
      payload = decodeHopPayload(peeled.payload);
    } catch {
      return fail({ name: 'invalid_onion_payload', tlvType: 0n, offset: 0 });
    }
    const check = checkHopPayload(payload, { isFinal: true });
    if (!check.ok) return fail({ name: 'invalid_onion_payload', tlvType: check.problem.tlvType, offset: 0 });
    const hop = check.hop;
    if (hop.kind !== 'final') return fail({ name: 'invalid_onion_payload', tlvType: 10n, offset: 0 });
    // BOLT 4: the final node checks the onion's values against the HTLC itself.
    if (hop.outgoingCltvValue !== htlc.cltvExpiry) return fail({ name: 'final_incorrect_cltv_expiry', cltvExpiry: htlc.cltvExpiry });
    if (hop.amtToForward > htlc.amountMsat) return fail({ name: 'final_incorrect_htlc_amount', incomingHtlcAmt: htlc.amountMsat });

    const inv = this.get(htlc.paymentHash);
    if (!inv) return unknownDetails();
    if (!hop.paymentSecret || !equalBytes(hop.paymentSecret, inv.paymentSecret)) return unknownDetails();
    // A settled invoice is fulfilled again only for a retransmitted HTLC after a crash; a new payer gets nothing.
    if (inv.state === 'canceled') return unknownDetails();
    if (inv.state === 'open' && this.now() >= inv.expiresAt) {
      this.cancel(inv.paymentHash);
      return unknownDetails();
    }
    if (hop.totalMsat !== htlc.amountMsat) return unknownDetails(); // multi-part payments are not accepted
    if (inv.amountMsat !== undefined && (htlc.amountMsat < inv.amountMsat || htlc.amountMsat > inv.amountMsat * 2n)) return unknownDetails();
    if (htlc.cltvExpiry < height + inv.minFinalCltv) return unknownDetails();

    return {
      kind: 'fulfill',
      preimage: inv.preimage,
      persist: () => {
        const changed = this.store.db
          .query(
            `UPDATE invoices SET state = 'settled', settled_at = ?, received_msat = ?,
               settle_index = (SELECT COALESCE(MAX(settle_index), 0) + 1 FROM invoices)
             WHERE payment_hash = ? AND state = 'open'`,
          )
          .run(this.now(), Number(htlc.amountMsat), inv.paymentHash).changes;
        if (changed) queueMicrotask(() => this.settled(inv.paymentHash));
      },
    };
  }

  private settled(paymentHash: Uint8Array): void {
    const inv = this.get(paymentHash);
    if (inv) for (const f of this.settledListeners) f(inv);
  }
}

