/**
 * The transactions the wallet signed, in SQLite, and where each one stands.
 *
 * A transaction is stored with its inputs before anything is broadcast, so
 * a crash cannot lose it and no concurrent build can spend the same coins.
 * Its inputs stay reserved while it is live:
 *
 * - `held`: a channel funding not yet to be broadcast (the peer has not
 *   signed our first commitment); only the channel layer releases it.
 * - `unconfirmed`: to be on chain; sent again each block until it confirms.
 * - `confirmed`: FINAL_DEPTH deep; watched again if a reorg undoes its block.
 *
 * and released once it can never confirm:
 *
 * - `failed`: the network refused it for good while its inputs were unspent.
 * - `conflicted`: an input was spent by another confirmed transaction
 *   (double-spent, or its parent replaced); reopened if a reorg undoes that.
 * - `released`: the operator gave it up (ReleaseTransaction).
 *
 * A released transaction's idempotency key is set aside, so a retried send
 * with that key builds a new transaction instead of returning a dead one.
 */
import { hex } from '../../bolt/bytes.ts';
import { type Sat, sat } from '../../bolt/units.ts';
import { parseTx } from '../../chain/txid.ts';
import { type Store } from '../store.ts';

export type WalletTxState = 'held' | 'unconfirmed' | 'confirmed' | 'failed' | 'conflicted' | 'released';
export type WalletTxPurpose = 'send' | 'funding' | 'fee-bump';

export const LIVE_STATES: readonly WalletTxState[] = ['held', 'unconfirmed', 'confirmed'];
const LIVE_SQL = `('held', 'unconfirmed', 'confirmed')`;

/** Confirmations after which a wallet transaction is no longer watched (as the resolver's CLOSE_DEPTH). */
export const FINAL_DEPTH = 6;

export interface WalletTx {
  txid: string;
  raw: Uint8Array;
  purpose: WalletTxPurpose;
  state: WalletTxState;
  feeSat: Sat;
  /** Every input was confirmed or our own trusted change when it was built, and none is someone else's output. */
  trusted: boolean;
  /** Ever accepted by the chain source. */
  broadcast: boolean;
  createdAt: number;
  blockHeight?: number;
  conflictTxid?: string;
  conflictHeight?: number;
  /** The last refusal or failure seen while sending it. */
  lastError?: string;
  /** Outpoints it spends, `txid:vout`. */
  inputs: string[];
}

interface Row {
  txid: string;
  raw: Uint8Array;
  purpose: string;
  state: string;
  fee_sat: number;
  trusted: number;
  broadcast: number;
  created_at: number;
  block_height: number | null;
  conflict_txid: string | null;
  conflict_height: number | null;
  last_error: string | null;
}

export class TxLedger {
  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  private inputsOf(txid: string): string[] {
    return this.db.query<{ outpoint: string }, [string]>('SELECT outpoint FROM wallet_tx_inputs WHERE txid = ?').all(txid).map((r) => r.outpoint);
  }

  private toTx(r: Row): WalletTx {
    return {
      txid: r.txid,
      raw: new Uint8Array(r.raw),
      purpose: r.purpose as WalletTxPurpose,
      state: r.state as WalletTxState,
      feeSat: sat(r.fee_sat),
      trusted: r.trusted === 1,
      broadcast: r.broadcast === 1,
      createdAt: r.created_at,
      ...(r.block_height === null ? {} : { blockHeight: r.block_height }),
      ...(r.conflict_txid === null ? {} : { conflictTxid: r.conflict_txid }),
      ...(r.conflict_height === null ? {} : { conflictHeight: r.conflict_height }),
      ...(r.last_error === null ? {} : { lastError: r.last_error }),
      inputs: this.inputsOf(r.txid),
    };
  }

  record(t: { txid: string; raw: Uint8Array; feeSat: Sat }, purpose: WalletTxPurpose, o: { state: 'held' | 'unconfirmed'; trusted: boolean; idempotencyKey?: string; now: number }): void {
    const decoded = parseTx(t.raw);
    this.db.transaction(() => {
      this.db
        .query('INSERT INTO wallet_txs (txid, raw, purpose, idempotency_key, fee_sat, created_at, updated_at, state, trusted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(t.txid, t.raw, purpose, o.idempotencyKey ?? null, Number(t.feeSat), o.now, o.now, o.state, o.trusted ? 1 : 0);
      const ins = this.db.query('INSERT INTO wallet_tx_inputs (txid, outpoint) VALUES (?, ?)');
      for (let i = 0; i < decoded.inputsLength; i++) {
        const input = decoded.getInput(i);
        ins.run(t.txid, `${hex(input.txid!)}:${input.index}`);
      }
    })();
  }

  get(txid: string): WalletTx | undefined {
    const r = this.db.query<Row, [string]>('SELECT * FROM wallet_txs WHERE txid = ?').get(txid);
    return r ? this.toTx(r) : undefined;
  }

  /** The live transaction stored under an idempotency key. */
  byKey(key: string): WalletTx | undefined {
    const r = this.db.query<Row, [string]>(`SELECT * FROM wallet_txs WHERE idempotency_key = ? AND state IN ${LIVE_SQL}`).get(key);
    return r ? this.toTx(r) : undefined;
  }

  /** Newest first. */
  list(limit = 1_000): WalletTx[] {
    return this.db.query<Row, [number]>('SELECT * FROM wallet_txs ORDER BY created_at DESC, rowid DESC LIMIT ?').all(limit).map((r) => this.toTx(r));
  }

  /** Transactions that should be on chain and are not yet FINAL_DEPTH deep. */
  toWatch(): WalletTx[] {
    return this.db.query<Row, []>("SELECT * FROM wallet_txs WHERE state = 'unconfirmed' ORDER BY created_at, rowid").all().map((r) => this.toTx(r));
  }

  /** Outpoints spent by live transactions: not spendable, counted as reserved. */
  reservedOutpoints(): Set<string> {
    return new Set(
      this.db
        .query<{ outpoint: string }, []>(`SELECT i.outpoint FROM wallet_tx_inputs i JOIN wallet_txs t ON t.txid = i.txid WHERE t.state IN ${LIVE_SQL}`)
        .all()
        .map((r) => r.outpoint),
    );
  }

  /** Our own live transactions whose outputs may be spent before they confirm. */
  trustedTxids(): Set<string> {
    return new Set(this.db.query<{ txid: string }, []>(`SELECT txid FROM wallet_txs WHERE trusted = 1 AND state IN ${LIVE_SQL}`).all().map((r) => r.txid));
  }

  private update(txid: string, set: string, ...values: (string | number | null)[]): void {
    this.db.query(`UPDATE wallet_txs SET ${set}, updated_at = ? WHERE txid = ?`).run(...values, Math.floor(Date.now() / 1000), txid);
  }

  /** held -> unconfirmed: the channel layer wants it on chain now. */
  unhold(txid: string): void {
    this.update(txid, "state = CASE WHEN state = 'held' THEN 'unconfirmed' ELSE state END");
  }

  accepted(txid: string): void {
    this.update(txid, 'broadcast = 1, last_error = NULL');
  }

  confirmedAt(txid: string, height: number, final: boolean): void {
    this.update(txid, `broadcast = 1, last_error = NULL, block_height = ?, state = ?`, height, final ? 'confirmed' : 'unconfirmed');
  }

  /** Back out of a block a reorg removed. */
  unconfirmed(txid: string): void {
    this.update(txid, "block_height = NULL, state = CASE WHEN state = 'confirmed' THEN 'unconfirmed' ELSE state END");
  }

  error(txid: string, message: string): void {
    this.update(txid, 'last_error = ?', message.slice(0, 500));
  }

  /** Releases its inputs for good (failed, conflicted or released), setting its idempotency key aside. */
  finish(txid: string, state: 'failed' | 'conflicted' | 'released', o: { error?: string; conflictTxid?: string; conflictHeight?: number } = {}): void {
    this.update(
      txid,
      'state = ?, last_error = coalesce(?, last_error), conflict_txid = ?, conflict_height = ?, released_key = coalesce(idempotency_key, released_key), idempotency_key = NULL',
      state,
      o.error?.slice(0, 500) ?? null,
      o.conflictTxid ?? null,
      o.conflictHeight ?? null,
    );
  }

  /** Txids of transactions held back from the network (channel fundings waiting for the peer's signature). */
  held(): string[] {
    return this.db.query<{ txid: string }, []>("SELECT txid FROM wallet_txs WHERE state = 'held'").all().map((r) => r.txid);
  }

  /** Forgets a held transaction that was never handed out (an open that did not complete). */
  forgetHeld(txid: string): boolean {
    return this.db.query("DELETE FROM wallet_txs WHERE txid = ? AND state = 'held'").run(txid).changes > 0;
  }

  /**
   * After a reorg back to `forkHeight`: transactions confirmed above it are
   * watched again, and conflicts confirmed above it are undone when nothing
   * live has taken their coins since. Returns the txids reopened.
   */
  reorged(forkHeight: number): string[] {
    const reopened: string[] = [];
    this.db.transaction(() => {
      for (const r of this.db.query<{ txid: string }, [number]>(`SELECT txid FROM wallet_txs WHERE state IN ('unconfirmed', 'confirmed') AND block_height > ?`).all(forkHeight)) {
        this.unconfirmed(r.txid);
        reopened.push(r.txid);
      }
      for (const r of this.db.query<{ txid: string }, [number]>("SELECT txid FROM wallet_txs WHERE state = 'conflicted' AND conflict_height > ?").all(forkHeight)) {
        const reserved = this.reservedOutpoints();
        if (this.inputsOf(r.txid).some((o) => reserved.has(o))) continue;
        this.update(
          r.txid,
          `state = 'unconfirmed', conflict_txid = NULL, conflict_height = NULL,
           idempotency_key = CASE WHEN released_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM wallet_txs o WHERE o.idempotency_key = wallet_txs.released_key) THEN released_key ELSE NULL END`,
        );
        reopened.push(r.txid);
      }
    })();
    return reopened;
  }
}
