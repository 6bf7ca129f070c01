/**
 * The on-chain wallet: BIP84 (native segwit, P2WPKH) keys from the node seed
 * at m/84'/coin'/0'/{0 receive, 1 change}/i, coins found through the chain
 * source, transactions signed here.
 *
 * Funds rules (DESIGN.md): a transaction is written to the database with
 * its inputs before it is broadcast, so a crash cannot lose it and a
 * concurrent send cannot spend the same coin (tx-ledger.ts); it is sent
 * again on every block until it confirms, and its coins are released only
 * when it can never confirm (broadcaster.ts). A send with an idempotency key
 * that was seen before returns the first transaction instead of paying
 * again. No output below dust and no fee above a share of the amount is
 * built unless asked (send-policy.ts). Channel funding and fee bumps spend
 * only confirmed coins or our own change: a stranger's unconfirmed coin can
 * be replaced by its sender, and a channel or HTLC claim built on it with it.
 * Every send is BIP 125 replaceable unless asked otherwise.
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
import { type ChainSource, type TxStatus } from '../../chain/types.ts';
import { coinType, type Network } from '../identity.ts';
import { type Logger } from '../log.ts';
import { addressNetwork, type AddressNetwork } from '../networks.ts';
import { type Store } from '../store.ts';
import { Broadcaster } from './broadcaster.ts';
import { AnchorReserveError } from './anchor-reserve.ts';
import { type Coin, selectCoins, TX_OVERHEAD_WEIGHT } from './coin-selection.ts';
import { InsufficientFundsError, UnconfirmedFundsError, WalletError } from './errors.ts';
import { dustLimit, highFeeProblem, MAX_FEE_PERCENT } from './send-policy.ts';
import { TxLedger, type WalletTx } from './tx-ledger.ts';

export { WalletError } from './errors.ts';
export { type WalletTx, type WalletTxState } from './tx-ledger.ts';

/** Unused scripts watched past the last used one on each chain (BIP 44 gap limit). */
export const GAP_LIMIT = 20;
const RBF_SEQUENCE = 0xfffffffd;
const FINAL_SEQUENCE = 0xffffffff;

export type KeyChain = 0 | 1;

export interface WalletCoin extends Coin {
  chain: KeyChain;
  index: number;
  script: Uint8Array;
  /** Height of the block it confirmed in, when confirmed. */
  height?: number;
}

/** A transaction touching one of our scripts, as the chain source last showed it. */
export interface WalletHistoryEntry {
  txid: string;
  status: TxStatus;
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
  /** Pay a fee above MAX_FEE_PERCENT of the amount (refused otherwise). */
  allowHighFee?: boolean;
}

export interface SignedTx {
  txid: string;
  raw: Uint8Array;
  feeSat: Sat;
}

export interface SentTx extends SignedTx {
  /** False when it is stored but the chain source did not take it yet: it is sent again on every block. */
  broadcast: boolean;
  broadcastError?: string;
}

export interface WalletOptions {
  /** A fee above this share of the amount needs allowHighFee. Default MAX_FEE_PERCENT. */
  maxFeePercent?: bigint;
}

/** Reads of the coin list a sync makes at most while blocks keep coming (doSync). */
const SYNC_PASSES = 3;

export class Wallet {
  private readonly account: HDKey;
  private readonly net: AddressNetwork;
  private coins: WalletCoin[] = [];
  private history: WalletHistoryEntry[] = [];
  private syncing: Promise<void> | undefined;
  private blocks: Promise<void> = Promise.resolve();
  /** Resolved once a sync has read the coins (after a start they are known only from the chain source). */
  private readonly firstSync: Promise<void>;
  private firstSyncDone!: () => void;
  /** The block handling queued behind the running one, not started yet (later blocks join it), and its reorg depth. */
  private queuedBlock: Promise<void> | undefined;
  private queuedForkHeight: number | undefined;
  private readonly ledger: TxLedger;
  private readonly broadcaster: Broadcaster;
  private readonly maxFeePercent: bigint;
  /**
   * Says what still depends on one of our transactions (a channel whose
   * funding it is), so the operator cannot release it; set by the node.
   */
  dependents: (txid: string) => string | undefined = () => undefined;
  /**
   * The on-chain reserve for anchors channels (anchor-reserve.ts) with
   * `extraChannels` more of them; set by the channel layer. Sends and
   * fundings may not leave less in the wallet.
   */
  anchorReserve: (extraChannels: number) => Sat = () => sat(0);

  constructor(
    private readonly store: Store,
    root: HDKey,
    network: Network,
    private readonly chain: ChainSource,
    private readonly log: Logger,
    o: WalletOptions = {},
  ) {
    this.firstSync = new Promise((r) => (this.firstSyncDone = r));
    this.account = root.derive(`m/84'/${coinType(network)}'/0'`);
    this.net = addressNetwork(network);
    this.ledger = new TxLedger(store);
    this.broadcaster = new Broadcaster(chain, this.ledger, log);
    this.maxFeePercent = o.maxFeePercent ?? MAX_FEE_PERCENT;
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

  /**
   * The scripts are read one by one, so a block found while they are
   * spends a coin read before it and pays change read after it: both would
   * count until the next sync. A pass during which the tip moved is read
   * again (a few times at most; a chain that never stands still keeps the
   * last pass).
   */
  private async doSync(): Promise<void> {
    for (let pass = 0; pass < SYNC_PASSES; pass++) {
      const before = await this.chain.tip().catch(() => undefined);
      await this.readCoins();
      const after = await this.chain.tip().catch(() => undefined);
      if (before?.hash === after?.hash) break;
    }
    this.firstSyncDone();
  }

  private async readCoins(): Promise<void> {
    const coins: WalletCoin[] = [];
    const all = new Map<string, TxStatus>();
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
        for (const h of history) all.set(h.txid, h.status);
        if (history.length) {
          this.store.db.query('UPDATE wallet_scripts SET used = 1 WHERE chain = ? AND idx = ?').run(r.chain, r.idx);
          this.ensureScripts(r.chain as KeyChain, r.idx + 1 + GAP_LIMIT);
        }
        for (const u of utxos) {
          coins.push({
            txid: u.txid,
            vout: u.vout,
            value: u.value,
            confirmed: u.status.confirmed,
            chain: r.chain as KeyChain,
            index: r.idx,
            script: new Uint8Array(r.script),
            ...(u.status.block ? { height: u.status.block.height } : {}),
          });
        }
      }
    }
    this.coins = coins;
    this.history = [...all].map(([txid, status]) => ({ txid, status }));
  }

  /** Coins not spent by a live transaction of ours. */
  spendable(): WalletCoin[] {
    const reserved = this.ledger.reservedOutpoints();
    return this.coins.filter((c) => !reserved.has(`${c.txid}:${c.vout}`));
  }

  /** Spendable coins nobody else can take back: confirmed, or change of our own trusted transactions. */
  private trustedSpendable(): { trusted: WalletCoin[]; foreignUnconfirmedSat: bigint } {
    const ours = this.ledger.trustedTxids();
    const trusted: WalletCoin[] = [];
    let foreign = 0n;
    for (const c of this.spendable()) {
      if (c.confirmed || ours.has(c.txid)) trusted.push(c);
      else foreign += c.value;
    }
    return { trusted, foreignUnconfirmedSat: foreign };
  }

  /**
   * Confirmed and unconfirmed coins not spent by a live transaction of
   * ours; reserved: coins our live transactions spend (unconfirmed yet, or
   * held for a channel open). A failed or double-spent transaction counts in
   * neither: its inputs are back, its outputs never were.
   */
  balance(): Balance {
    const reserved = this.ledger.reservedOutpoints();
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

  /**
   * Sends to an address: checked (dust, fee share), stored, then broadcast.
   * A definite refusal by the network releases the coins and throws
   * WalletError (nothing was paid); a chain source that cannot be reached
   * leaves it stored and returned with `broadcast: false`, sent again on
   * every block. See SendRequest for the idempotency key.
   */
  async send(r: SendRequest): Promise<SentTx> {
    const prior = r.idempotencyKey === undefined ? undefined : this.ledger.byKey(r.idempotencyKey);
    if (prior) {
      if (prior.state !== 'unconfirmed') return { txid: prior.txid, raw: prior.raw, feeSat: prior.feeSat, broadcast: true };
      return this.sendNow(prior);
    }
    let script: Uint8Array;
    try {
      script = OutScript.encode(Address(this.net).decode(r.address));
    } catch (e) {
      throw new WalletError(`not an address on this network: ${r.address} (${(e as Error).message})`);
    }
    if (r.amountSat !== 'all' && r.amountSat <= 0n) throw new WalletError('amount must be positive');
    const dust = dustLimit(script);
    if (r.amountSat !== 'all' && r.amountSat < dust) {
      throw new WalletError(`${r.amountSat} sat is below the dust limit of ${dust} sat for that address: the network would refuse the transaction`);
    }
    const spendable = this.spendable();
    const built = this.build({ coins: spendable, outputs: [{ script, amountSat: r.amountSat === 'all' ? sat(0) : r.amountSat }], feerate: r.feerate, sweep: r.amountSat === 'all', rbf: r.rbf ?? true });
    const sent = r.amountSat === 'all' ? built.sweptSat : r.amountSat;
    if (sent < dust) throw new WalletError(`sweeping leaves ${sent} sat after the fee, below the dust limit of ${dust} sat for that address`);
    this.keepReserve(spendable, sent + built.tx.feeSat, 0, 'this send');
    const high = highFeeProblem(built.tx.feeSat, sent, this.maxFeePercent);
    if (high && !r.allowHighFee) throw new WalletError(high);
    const trusted = this.allTrusted(built.inputs);
    this.ledger.record(built.tx, 'send', { state: 'unconfirmed', trusted, idempotencyKey: r.idempotencyKey, now: nowSeconds() });
    return this.sendNow(this.ledger.get(built.tx.txid)!);
  }

  private async sendNow(t: WalletTx): Promise<SentTx> {
    const outcome = await this.broadcaster.send(t);
    const signed = { txid: t.txid, raw: t.raw, feeSat: t.feeSat };
    if (outcome.kind === 'released') throw new WalletError(`the network refused transaction ${t.txid} (${outcome.detail}); nothing was paid and its coins are spendable again`);
    if (outcome.kind === 'kept') return { ...signed, broadcast: false, broadcastError: outcome.detail };
    return { ...signed, broadcast: true };
  }

  private allTrusted(inputs: readonly WalletCoin[]): boolean {
    const ours = this.ledger.trustedTxids();
    return inputs.every((c) => c.confirmed || ours.has(c.txid));
  }

  /** Refuses (AnchorReserveError) spending `outSat` of `coins` when what is left is below the anchors reserve. */
  private keepReserve(coins: readonly WalletCoin[], outSat: bigint, extraChannels: number, what: string): void {
    const reserve = this.anchorReserve(extraChannels);
    if (reserve === 0n) return;
    const left = coins.reduce((s, c) => s + c.value, 0n) - outSat;
    if (left < reserve) throw new AnchorReserveError(reserve, left, what);
  }

  /** Coins for funding or a fee bump, or UnconfirmedFundsError saying what is confirmed. */
  private selectTrusted<T>(what: string, select: (coins: WalletCoin[]) => T): T {
    const { trusted, foreignUnconfirmedSat } = this.trustedSpendable();
    try {
      return select(trusted);
    } catch (e) {
      if (e instanceof InsufficientFundsError && foreignUnconfirmedSat > 0n) {
        throw new UnconfirmedFundsError(e.neededSat, e.availableSat, foreignUnconfirmedSat, what);
      }
      throw e;
    }
  }

  /**
   * A signed transaction paying `amountSat` to `script` (a channel funding
   * output), stored but not broadcast: the caller broadcasts it once the
   * peer has signed our first commitment, or abandons it.
   */
  fundingTransaction(script: Uint8Array, amountSat: Sat, feerate: FeeratePerKw, o: { anchors?: boolean } = {}): SignedTx & { vout: number } {
    const built = this.selectTrusted('a channel funding', (coins) => this.build({ coins, outputs: [{ script, amountSat }], feerate, sweep: false, rbf: false }));
    // An anchors channel raises the reserve it must leave by one channel.
    this.keepReserve(this.spendable(), amountSat + built.tx.feeSat, o.anchors ? 1 : 0, 'this channel funding');
    this.ledger.record(built.tx, 'funding', { state: 'held', trusted: true, now: nowSeconds() });
    return { ...built.tx, vout: built.vouts[0]! };
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
    const prior = this.ledger.byKey(key);
    if (prior) return { txid: prior.txid, raw: prior.raw, feeSat: prior.feeSat };
    const sel = this.selectTrusted('an HTLC transaction fee', (coins) => selectCoins(coins, { amountSat: sat(0), outputScriptLens: [], feerate, extraWeight: weight - TX_OVERHEAD_WEIGHT }));
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
    // Not trusted: the peer can take the HTLC output first, and with it this transaction's change.
    this.ledger.record(signed, 'fee-bump', { state: 'unconfirmed', trusted: false, idempotencyKey: key, now: nowSeconds() });
    return signed;
  }

  /**
   * The CPFP child of an anchors commitment: `plan` picks from our confirmed
   * coins (BIP 125 lets a replacement add no unconfirmed input, and a
   * stranger's unconfirmed coin could vanish), with `replaces`' wallet
   * coins required so that the child it replaces is wholly replaced; the
   * anchor input (index 0) is signed by `anchorWitness`. Stored under `key`
   * before it is returned, its coins reserved: asking again with the same
   * key (after a restart) gives the same transaction.
   */
  async anchorChild(
    key: string,
    plan: (coins: WalletCoin[], required: WalletCoin[], changeScript: Uint8Array) => { tx: Tx; coins: WalletCoin[]; fee: Sat; weight: number },
    anchorWitness: (final: Tx) => Uint8Array[],
    replaces?: string,
  ): Promise<SignedTx & { weight: number }> {
    const prior = this.ledger.byKey(key);
    if (prior) return { txid: prior.txid, raw: prior.raw, feeSat: prior.feeSat, weight: txWeight(prior.raw) };
    const required = replaces ? await this.coinsSpentBy(replaces) : [];
    const coins = this.spendable().filter((c) => c.confirmed);
    const p = plan(coins, required, this.newChangeScript());
    const inputs = p.tx.inputs.map((input, i) => {
      if (i === 0) return { ...input, witness: anchorWitness(p.tx) };
      const c = p.coins[i - 1]!;
      const k = this.key(c.chain, c.index);
      const sig = signInput(p.tx, i, p2pkhScriptCode(hash160(k.publicKey!)), c.value, k.privateKey!, SIGHASH_ALL);
      return { ...input, witness: [witnessSig(sig.der, SIGHASH_ALL), k.publicKey!] };
    });
    const raw = serializeTx({ ...p.tx, inputs });
    const signed = { txid: txidOf(raw), raw, feeSat: p.fee };
    // Not trusted: it confirms only with our commitment, which the peer's may beat.
    this.ledger.record(signed, 'fee-bump', { state: 'unconfirmed', trusted: false, idempotencyKey: key, now: nowSeconds() });
    return { ...signed, weight: p.weight };
  }

  /**
   * Our coins a stored transaction spends, rebuilt from the chain: once it
   * is in the mempool the chain source lists them as spent, and a
   * replacement must spend them again.
   */
  private async coinsSpentBy(txid: string): Promise<WalletCoin[]> {
    const t = this.ledger.get(txid);
    if (!t) return [];
    const tx = parseTx(t.raw);
    const out: WalletCoin[] = [];
    for (let i = 0; i < tx.inputsLength; i++) {
      const input = tx.getInput(i);
      const prevTxid = hex(input.txid!);
      const prevRaw = await this.chain.transaction(prevTxid);
      if (!prevRaw) continue;
      const o = parseTx(prevRaw).getOutput(input.index!);
      if (!o.script) continue;
      const row = this.store.db.query<{ chain: number; idx: number }, [Uint8Array]>('SELECT chain, idx FROM wallet_scripts WHERE script = ?').get(o.script);
      if (!row) continue;
      const status = await this.chain.txStatus(prevTxid);
      out.push({ txid: prevTxid, vout: input.index!, value: sat(o.amount!), confirmed: !!status?.confirmed, chain: row.chain as KeyChain, index: row.idx, script: o.script });
    }
    return out;
  }

  /**
   * A fee bump of ours that can never confirm: `by` replaced it (our own
   * higher child) or took what it spends (the peer's commitment confirmed
   * instead of ours). Its coins are released, as the broadcaster does for a
   * conflict it sees on chain.
   */
  bumpReplaced(txid: string, by: string, why: string): void {
    const t = this.ledger.get(txid);
    if (!t || (t.state !== 'unconfirmed' && t.state !== 'held')) return;
    this.ledger.finish(txid, 'conflicted', { error: why, conflictTxid: by });
    this.log.info('fee bump replaced; its coins are released', { txid, by, why });
  }

  /** Channel fundings stored but not yet handed to the network. */
  heldFundings(): string[] {
    return this.ledger.held();
  }

  /** Forgets a held funding that was never handed to the network (an open that did not complete), releasing its coins. */
  abandon(txid: string): void {
    this.ledger.forgetHeld(txid);
  }

  /**
   * Puts a stored transaction on chain now (a held funding once the peer
   * signed our commitment). Throws if it did not go out: it stays stored and
   * is sent again on every block, unless the network refused it for good
   * (then its coins are released and the error says so).
   */
  async broadcastStored(txid: string): Promise<void> {
    const t = this.ledger.get(txid);
    if (!t) throw new WalletError(`no stored transaction ${txid}`);
    this.ledger.unhold(txid);
    const outcome = await this.broadcaster.send({ ...t, state: 'unconfirmed' });
    if (outcome.kind === 'released') throw new WalletError(`the network refused transaction ${txid} (${outcome.detail}); its coins are released`);
    if (outcome.kind === 'kept') throw new WalletError(`transaction ${txid} not broadcast yet (${outcome.detail}); sent again on every block`);
  }

  /**
   * On every new block (and at start): after a reorg back to `forkHeight`,
   * transactions in the blocks undone are watched again; then the coins
   * are refreshed and every transaction not yet on chain is sent again.
   * Calls run one after another, and blocks that come while one runs are
   * handled together by one run after it (with the deepest of their reorgs),
   * so blocks arriving faster than a sync takes never pile up syncs.
   */
  onBlock(o: { forkHeight?: number } = {}): Promise<void> {
    if (o.forkHeight !== undefined) this.queuedForkHeight = Math.min(this.queuedForkHeight ?? o.forkHeight, o.forkHeight);
    if (this.queuedBlock) return this.queuedBlock;
    const run = async (): Promise<void> => {
      this.queuedBlock = undefined;
      const forkHeight = this.queuedForkHeight;
      this.queuedForkHeight = undefined;
      if (forkHeight !== undefined) {
        const reopened = this.ledger.reorged(forkHeight);
        if (reopened.length) this.log.warn('reorg: wallet transactions watched again', { forkHeight, txids: reopened });
      }
      await this.sync().catch((e: Error) => this.log.warn('wallet sync failed', { error: e.message }));
      await this.broadcaster.pass();
    };
    this.queuedBlock = this.blocks = this.blocks.then(run, run);
    return this.queuedBlock;
  }

  /**
   * Resolves once every block handed to onBlock so far shows in the coins,
   * or after `maxMs` (a slow sync, a chain source that is away): a balance
   * asked right after a block then has what the block brought, instead of
   * the figure from before it, and one asked right after a start waits for
   * the coins to be read instead of showing none.
   */
  async caughtUp(maxMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, maxMs)));
    // Right after a start the coins are known only once the first sync (queued with the first tip) has read them.
    const handled = Promise.all([this.blocks.catch(() => undefined), this.firstSync]);
    await Promise.race([handled, late]).finally(() => clearTimeout(timer));
  }

  /** The same as onBlock without a reorg (kept for callers from before it). */
  rebroadcast(): Promise<void> {
    return this.onBlock();
  }

  /** Every transaction that paid or spent one of our scripts, as of the last sync. */
  historyEntries(): WalletHistoryEntry[] {
    return this.history;
  }

  /** The address of one of our scripts. */
  addressOf(script: Uint8Array): string {
    return Address(this.net).encode(OutScript.decode(script));
  }

  /** Our transactions, newest first, with their state. */
  transactions(limit?: number): WalletTx[] {
    return this.ledger.list(limit);
  }

  transaction(txid: string): WalletTx | undefined {
    return this.ledger.get(txid);
  }

  /** The live transaction stored under an idempotency key (a channel's fee bump). */
  transactionByKey(key: string): WalletTx | undefined {
    return this.ledger.byKey(key);
  }

  /** What still needs a live transaction of ours, so that it may not be released. */
  neededBy(t: WalletTx): string | undefined {
    if (t.state !== 'held' && t.state !== 'unconfirmed') return undefined;
    if (t.purpose === 'fee-bump') return 'the channel layer, which sends this HTLC transaction or CPFP child until it confirms or can never confirm';
    return this.dependents(t.txid);
  }

  /**
   * The operator gives up one of our transactions that is not on chain
   * (never accepted, evicted, or stuck behind a parent that vanished): its
   * coins become spendable again. Refused when the chain source has it (in
   * the mempool or a block), or when something still depends on it (a
   * channel's funding; a fee bump the channel layer sends).
   */
  async release(txid: string): Promise<WalletTx> {
    const t = this.ledger.get(txid);
    if (!t) throw new WalletTxNotFoundError(`no wallet transaction ${txid}`);
    if (t.state === 'released' || t.state === 'failed' || t.state === 'conflicted') return t;
    if (t.state === 'confirmed') throw new WalletError(`transaction ${txid} is confirmed in block ${t.blockHeight}: there is nothing to release`);
    const dependent = this.neededBy(t);
    if (dependent) throw new WalletError(`transaction ${txid} is still needed by ${dependent}; it is not released`);
    const status = await this.chain.txStatus(txid);
    if (status) throw new WalletError(`transaction ${txid} is ${status.confirmed ? `confirmed at height ${status.block!.height}` : 'in the mempool'} and may still confirm; it is not released`);
    this.ledger.finish(txid, 'released', { error: 'released by the operator' });
    this.log.warn('wallet transaction released by the operator', { txid, purpose: t.purpose });
    return this.ledger.get(txid)!;
  }

  private build(p: { coins: WalletCoin[]; outputs: { script: Uint8Array; amountSat: Sat }[]; feerate: FeeratePerKw; sweep: boolean; rbf: boolean }): {
    tx: SignedTx;
    vouts: number[];
    inputs: WalletCoin[];
    sweptSat: Sat;
  } {
    const sel = selectCoins(p.coins, {
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
    let sweptSat = sat(0);
    if (p.sweep) {
      const total = sel.inputs.reduce((s, c) => s + c.value, 0n);
      sweptSat = sat(total - sel.feeSat);
      vouts.push(tx.addOutput({ script: p.outputs[0]!.script, amount: sweptSat }));
    } else {
      for (const o of p.outputs) vouts.push(tx.addOutput({ script: o.script, amount: o.amountSat }));
      if (sel.changeSat > 0n) tx.addOutput({ script: this.newChangeScript(), amount: sel.changeSat });
    }
    sel.inputs.forEach((c, i) => tx.signIdx(this.key(c.chain, c.index).privateKey!, i));
    tx.finalize();
    const raw = tx.extract();
    return { tx: { txid: txidOf(raw), raw, feeSat: sel.feeSat }, vouts, inputs: sel.inputs, sweptSat };
  }
}

export class WalletTxNotFoundError extends WalletError {
  override readonly name = 'WalletTxNotFoundError';
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** BIP 141 weight of a raw transaction: stripped size x 3 + full size. */
function txWeight(raw: Uint8Array): number {
  const tx = parseTx(raw);
  return tx.toBytes(true, false).length * 3 + raw.length;
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
