/**
 * The on-chain wallet: BIP84 (native segwit, P2WPKH) keys from the node seed
 * at m/84'/coin'/0'/{0 receive, 1 change}/i, coins found through the chain
 * source, transactions signed here.
 *
 * Funds rules (DESIGN.md): a transaction is written to the database with
 * its inputs before it is broadcast, so a crash cannot lose it and a
 * concurrent send cannot spend the same coin; a send with an idempotency key
 * that was seen before returns the first transaction instead of paying
 * again. Every send is BIP 125 replaceable unless asked otherwise.
 */
import { HDKey } from '@scure/bip32';
import { Address, OutScript, p2wpkh, Transaction } from '@scure/btc-signer';
import { fromHex, hex } from '../../bolt/bytes.ts';
import { hash160 } from '../../bolt/bolt3/script.ts';
import { signInput, witnessSig } from '../../bolt/bolt3/sign.ts';
import { SIGHASH_ALL, serializeTx, type Tx } from '../../bolt/bolt3/tx.ts';
import { p2pkhScriptCode } from '../../bolt/bolt5/sweep.ts';
import { type FeeratePerKw, type Sat, sat } from '../../bolt/units.ts';
import { parseTx, txidOf } from '../../chain/txid.ts';
import { type ChainSource } from '../../chain/types.ts';
import { coinType, type Network } from '../identity.ts';
import { type Logger } from '../log.ts';
import { addressNetwork, type AddressNetwork } from '../networks.ts';
import { type Store } from '../store.ts';
import { type Coin, selectCoins, TX_OVERHEAD_WEIGHT } from './coin-selection.ts';

/** Unused scripts watched past the last used one on each chain (BIP 44 gap limit). */
export const GAP_LIMIT = 20;
const RBF_SEQUENCE = 0xfffffffd;
const FINAL_SEQUENCE = 0xffffffff;

export type KeyChain = 0 | 1;

export interface WalletCoin extends Coin {
  chain: KeyChain;
  index: number;
  script: Uint8Array;
}

export interface Balance {
  confirmedSat: Sat;
  unconfirmedSat: Sat;
  /** Coins spent by transactions we signed that the chain source does not show yet. */
  reservedSat: Sat;
}

export interface SendRequest {
  address: string;
  /** 'all' sweeps every spendable coin into the address. */
  amountSat: Sat | 'all';
  feerate: FeeratePerKw;
  /** A retried send with the same key returns the first transaction and pays nothing more. */
  idempotencyKey?: string;
  /** BIP 125 opt-in replaceability (default true). */
  rbf?: boolean;
}

export interface SignedTx {
  txid: string;
  raw: Uint8Array;
  feeSat: Sat;
}

export class WalletError extends Error {
  override readonly name = 'WalletError';
}

export class Wallet {
  private readonly account: HDKey;
  private readonly net: AddressNetwork;
  private coins: WalletCoin[] = [];
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    root: HDKey,
    network: Network,
    private readonly chain: ChainSource,
    private readonly log: Logger,
  ) {
    this.account = root.derive(`m/84'/${coinType(network)}'/0'`);
    this.net = addressNetwork(network);
    for (const chain of [0, 1] as const) this.ensureScripts(chain, GAP_LIMIT);
  }

  private key(chain: KeyChain, index: number): HDKey {
    return this.account.deriveChild(chain).deriveChild(index);
  }

  private scriptOf(chain: KeyChain, index: number): Uint8Array {
    return p2wpkh(this.key(chain, index).publicKey!, this.net).script;
  }

  /** Makes sure scripts 0..count-1 of `chain` are stored. */
  private ensureScripts(chain: KeyChain, count: number): void {
    const have = this.store.db.query<{ n: number }, [number]>('SELECT count(*) AS n FROM wallet_scripts WHERE chain = ?').get(chain)?.n ?? 0;
    const insert = this.store.db.query('INSERT OR IGNORE INTO wallet_scripts (chain, idx, script) VALUES (?, ?, ?)');
    this.store.db.transaction(() => {
      for (let i = have; i < count; i++) insert.run(chain, i, this.scriptOf(chain, i));
    })();
  }

  /** The first unused script of a chain, marked used so it is handed out once; the gap is extended. */
  private nextScript(chain: KeyChain): { index: number; script: Uint8Array } {
    return this.store.db.transaction(() => {
      const row = this.store.db
        .query<{ idx: number; script: Uint8Array }, [number]>('SELECT idx, script FROM wallet_scripts WHERE chain = ? AND used = 0 ORDER BY idx LIMIT 1')
        .get(chain)!;
      this.store.db.query('UPDATE wallet_scripts SET used = 1 WHERE chain = ? AND idx = ?').run(chain, row.idx);
      this.ensureScripts(chain, row.idx + 1 + GAP_LIMIT);
      return { index: row.idx, script: new Uint8Array(row.script) };
    })();
  }

  newAddress(): string {
    return Address(this.net).encode(OutScript.decode(this.nextScript(0).script));
  }

  /** A fresh change script (also used for channel close outputs and sweeps). */
  newChangeScript(): Uint8Array {
    return this.nextScript(1).script;
  }

  isOurScript(script: Uint8Array): boolean {
    return this.store.db.query<{ n: number }, [Uint8Array]>('SELECT count(*) AS n FROM wallet_scripts WHERE script = ?').get(script)!.n > 0;
  }

  /**
   * Refreshes the coin list from the chain source: every stored script is
   * queried; scripts seen in history are marked used and the gap extended,
   * until a full gap of unused scripts follows the last used one.
   */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    const coins: WalletCoin[] = [];
    const seen = new Set<string>();
    for (;;) {
      const rows = this.store.db
        .query<{ chain: number; idx: number; script: Uint8Array }, []>('SELECT chain, idx, script FROM wallet_scripts ORDER BY chain, idx')
        .all()
        .filter((r) => !seen.has(`${r.chain}/${r.idx}`));
      if (rows.length === 0) break;
      const results = await mapLimit(rows, 8, async (r) => ({ r, utxos: await this.chain.scriptUtxos(r.script), history: await this.chain.scriptHistory(r.script) }));
      for (const { r, utxos, history } of results) {
        seen.add(`${r.chain}/${r.idx}`);
        if (history.length) {
          this.store.db.query('UPDATE wallet_scripts SET used = 1 WHERE chain = ? AND idx = ?').run(r.chain, r.idx);
          this.ensureScripts(r.chain as KeyChain, r.idx + 1 + GAP_LIMIT);
        }
        for (const u of utxos) {
          coins.push({ txid: u.txid, vout: u.vout, value: u.value, confirmed: u.status.confirmed, chain: r.chain as KeyChain, index: r.idx, script: new Uint8Array(r.script) });
        }
      }
    }
    this.coins = coins;
  }

  private reservedOutpoints(): Set<string> {
    return new Set(this.store.db.query<{ outpoint: string }, []>('SELECT outpoint FROM wallet_tx_inputs').all().map((r) => r.outpoint));
  }

  /** Coins not spent by a transaction we signed. */
  spendable(): WalletCoin[] {
    const reserved = this.reservedOutpoints();
    return this.coins.filter((c) => !reserved.has(`${c.txid}:${c.vout}`));
  }

  balance(): Balance {
    const reserved = this.reservedOutpoints();
    let confirmed = 0n;
    let unconfirmed = 0n;
    let held = 0n;
    for (const c of this.coins) {
      if (reserved.has(`${c.txid}:${c.vout}`)) held += c.value;
      else if (c.confirmed) confirmed += c.value;
      else unconfirmed += c.value;
    }
    return { confirmedSat: sat(confirmed), unconfirmedSat: sat(unconfirmed), reservedSat: sat(held) };
  }

  /** Sends to an address: stored, then broadcast. See SendRequest for the idempotency key. */
  async send(r: SendRequest): Promise<SignedTx> {
    const prior = r.idempotencyKey === undefined ? undefined : this.storedByKey(r.idempotencyKey);
    if (prior) {
      await this.broadcastStored(prior.txid);
      return prior;
    }
    let script: Uint8Array;
    try {
      script = OutScript.encode(Address(this.net).decode(r.address));
    } catch (e) {
      throw new WalletError(`not an address on this network: ${r.address} (${(e as Error).message})`);
    }
    if (r.amountSat !== 'all' && r.amountSat <= 0n) throw new WalletError('amount must be positive');
    const signed = this.build({ outputs: [{ script, amountSat: r.amountSat === 'all' ? sat(0) : r.amountSat }], feerate: r.feerate, sweep: r.amountSat === 'all', rbf: r.rbf ?? true });
    this.record(signed.tx, 'send', r.idempotencyKey);
    await this.broadcastStored(signed.tx.txid);
    return signed.tx;
  }

  /**
   * A signed transaction paying `amountSat` to `script` (a channel funding
   * output), stored but not broadcast: the caller broadcasts it once the
   * peer has signed our first commitment, or abandons it.
   */
  fundingTransaction(script: Uint8Array, amountSat: Sat, feerate: FeeratePerKw): SignedTx & { vout: number } {
    const signed = this.build({ outputs: [{ script, amountSat }], feerate, sweep: false, rbf: false });
    this.record(signed.tx, 'funding');
    return { ...signed.tx, vout: signed.vouts[0]! };
  }

  /**
   * Adds wallet coins (and change) to a transaction that pays no fee of its
   * own, such as an anchors HTLC second stage, so that the whole pays
   * `feerate` for `weight` (what `tx` will weigh once signed) plus our
   * inputs. `witness` signs the inputs `tx` already has, for the final
   * transaction. Stored under `key` before it is returned: asking again
   * with the same key (after a restart) gives the same transaction.
   */
  bringFee(key: string, tx: Tx, weight: number, feerate: FeeratePerKw, witness: (final: Tx) => Uint8Array[][]): SignedTx {
    const prior = this.storedByKey(key);
    if (prior) return prior;
    const sel = selectCoins(this.spendable(), { amountSat: sat(0), outputScriptLens: [], feerate, extraWeight: weight - TX_OVERHEAD_WEIGHT });
    const unsigned: Tx = {
      ...tx,
      inputs: [...tx.inputs, ...sel.inputs.map((c) => ({ txid: c.txid, vout: c.vout, sequence: RBF_SEQUENCE, witness: [] }))],
      outputs: sel.changeSat > 0n ? [...tx.outputs, { value: sel.changeSat, script: this.newChangeScript() }] : tx.outputs,
    };
    const theirs = witness(unsigned);
    const n = tx.inputs.length;
    const inputs = unsigned.inputs.map((input, i) => {
      if (i < n) return { ...input, witness: theirs[i]! };
      const c = sel.inputs[i - n]!;
      const k = this.key(c.chain, c.index);
      const sig = signInput(unsigned, i, p2pkhScriptCode(hash160(k.publicKey!)), c.value, k.privateKey!, SIGHASH_ALL);
      return { ...input, witness: [witnessSig(sig.der, SIGHASH_ALL), k.publicKey!] };
    });
    const raw = serializeTx({ ...unsigned, inputs });
    const signed = { txid: txidOf(raw), raw, feeSat: sel.feeSat };
    this.record(signed, 'fee-bump', key);
    return signed;
  }

  /** Forgets a stored transaction that was never broadcast, releasing its coins. */
  abandon(txid: string): void {
    this.store.db.query('DELETE FROM wallet_txs WHERE txid = ? AND broadcast = 0').run(txid);
  }

  /** Broadcasts a stored transaction; a refusal because it is already known or mined counts as done. */
  async broadcastStored(txid: string): Promise<void> {
    const row = this.store.db.query<{ raw: Uint8Array }, [string]>('SELECT raw FROM wallet_txs WHERE txid = ?').get(txid);
    if (!row) throw new WalletError(`no stored transaction ${txid}`);
    try {
      await this.chain.broadcast(new Uint8Array(row.raw));
    } catch (e) {
      if (!(await this.chain.txStatus(txid))) throw e;
    }
    this.store.db.query('UPDATE wallet_txs SET broadcast = 1 WHERE txid = ?').run(txid);
  }

  /** After a restart: transactions stored as broadcast but not seen by the chain source are sent again. */
  async rebroadcast(): Promise<void> {
    for (const { txid } of this.store.db.query<{ txid: string }, []>('SELECT txid FROM wallet_txs WHERE broadcast = 1').all()) {
      const status = await this.chain.txStatus(txid).catch(() => undefined);
      if (status === null) {
        await this.broadcastStored(txid).catch((e: Error) => this.log.warn('rebroadcast refused', { txid, error: e.message }));
      }
    }
  }

  /** The transaction stored under an idempotency key, if any. */
  private storedByKey(key: string): SignedTx | undefined {
    const row = this.store.db.query<{ txid: string; raw: Uint8Array; fee_sat: number }, [string]>('SELECT txid, raw, fee_sat FROM wallet_txs WHERE idempotency_key = ?').get(key);
    return row ? { txid: row.txid, raw: new Uint8Array(row.raw), feeSat: sat(row.fee_sat) } : undefined;
  }

  private record(tx: SignedTx, purpose: string, idempotencyKey?: string): void {
    const decoded = parseTx(tx.raw);
    this.store.db.transaction(() => {
      this.store.db
        .query('INSERT INTO wallet_txs (txid, raw, purpose, idempotency_key, fee_sat, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(tx.txid, tx.raw, purpose, idempotencyKey ?? null, Number(tx.feeSat), Math.floor(Date.now() / 1000));
      const ins = this.store.db.query('INSERT INTO wallet_tx_inputs (txid, outpoint) VALUES (?, ?)');
      for (let i = 0; i < decoded.inputsLength; i++) {
        const input = decoded.getInput(i);
        ins.run(tx.txid, `${hex(input.txid!)}:${input.index}`);
      }
    })();
  }

  private build(p: { outputs: { script: Uint8Array; amountSat: Sat }[]; feerate: FeeratePerKw; sweep: boolean; rbf: boolean }): { tx: SignedTx; vouts: number[] } {
    const sel = selectCoins(this.spendable(), {
      amountSat: sat(p.outputs.reduce((s, o) => s + o.amountSat, 0n)),
      outputScriptLens: p.outputs.map((o) => o.script.length),
      feerate: p.feerate,
      sweep: p.sweep,
    });
    const tx = new Transaction({ allowUnknownOutputs: true });
    for (const c of sel.inputs) {
      tx.addInput({ txid: fromHex(c.txid), index: c.vout, witnessUtxo: { script: c.script, amount: c.value }, sequence: p.rbf ? RBF_SEQUENCE : FINAL_SEQUENCE });
    }
    const vouts: number[] = [];
    if (p.sweep) {
      const total = sel.inputs.reduce((s, c) => s + c.value, 0n);
      vouts.push(tx.addOutput({ script: p.outputs[0]!.script, amount: total - sel.feeSat }));
    } else {
      for (const o of p.outputs) vouts.push(tx.addOutput({ script: o.script, amount: o.amountSat }));
      if (sel.changeSat > 0n) tx.addOutput({ script: this.newChangeScript(), amount: sel.changeSat });
    }
    sel.inputs.forEach((c, i) => tx.signIdx(this.key(c.chain, c.index).privateKey!, i));
    tx.finalize();
    const raw = tx.extract();
    return { tx: { txid: txidOf(raw), raw, feeSat: sel.feeSat }, vouts };
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
