/**
 * The chain source as the node sees it: every answer that can be checked
 * is checked before the node acts on it.
 *
 * - The tip is accepted only once its header, and every header since the
 *   last one we verified, passes the proof-of-work rules (header-chain.ts).
 * - A confirmation is believed only with a merkle branch that leads from the
 *   transaction to the merkle root of the header at that height on our
 *   verified chain; confirmations are counted from our verified tip. (Wallet
 *   coins confirmed too far below the first verified header to walk down to
 *   are the one exception: see proveConfirmed.)
 * - A claimed spend must be a transaction (re-hashed to its txid) with an
 *   input spending that outpoint; a claimed unspent output must exist in its
 *   transaction with that script and value; a block's txid list must hash to
 *   its header's merkle root.
 * - Fee estimates are clamped to the node's ceiling.
 *
 * What cannot be checked this way (a server can withhold a transaction, a
 * spend or a block, delay them, or lie about the mempool) is written down in
 * the README. A refused answer is a ChainSourceError: callers retry on the
 * next block, as for an unreachable server.
 */
import { equalBytes, hex } from '../bolt/bytes.ts';
import { type FeeratePerKw } from '../bolt/units.ts';
import { clampEstimates } from './feerate.ts';
import { type HeaderChain } from './header-chain.ts';
import { merkleRoot, rootFromBranch } from './merkle.ts';
import { parseHeader } from './pow.ts';
import { parseTx } from './txid.ts';
import {
  type BlockRef,
  type ChainSource,
  ChainSourceError,
  type FeeEstimates,
  type MerkleProof,
  type Outspend,
  type ScriptTx,
  type TxStatus,
  type Utxo,
  confirmationsAt,
} from './types.ts';

export interface CheckedSourceOptions {
  /** The highest fee rate any estimate may give (sat/kw). */
  maxFeerate: FeeratePerKw;
  /** Told once per distinct refusal reason (a lying or broken server), and when estimates are clamped. */
  warn?: (msg: string, fields: Record<string, unknown>) => void;
}

/** Bounds on what is remembered between calls. */
const TX_CACHE = 2_048;
const PROOF_CACHE = 8_192;

/** A non-witness serialization this long could pass for an inner merkle node (CVE-2017-12842). */
const AMBIGUOUS_TX_SIZE = 64;

export class CheckedChainSource implements ChainSource {
  readonly kind: string;
  private readonly txs = new Map<string, Uint8Array>();
  /** `txid@blockHash` proven by a merkle branch. */
  private readonly proven = new Set<string>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly source: ChainSource,
    private readonly headers: HeaderChain,
    private readonly o: CheckedSourceOptions,
  ) {
    this.kind = source.kind;
  }

  private refuse(detail: string): never {
    const key = detail.slice(0, 80);
    if (!this.warned.has(key)) {
      if (this.warned.size > 1_000) this.warned.clear();
      this.warned.add(key);
      this.o.warn?.('chain source answer refused', { source: this.source.kind, detail });
    }
    throw new ChainSourceError(this.source.kind, `refused: ${detail}`);
  }

  async tip(): Promise<BlockRef> {
    return this.headers.sync(await this.source.tip());
  }

  /** From the verified chain where we hold that height (the tip tracker's reorg walk stays there). */
  async blockHash(height: number): Promise<string> {
    return this.headers.knownHeader(height)?.hash ?? this.source.blockHash(height);
  }

  blockHeader(hash: string): Promise<Uint8Array> {
    return this.source.blockHeader(hash);
  }

  async blockTxids(hash: string): Promise<string[]> {
    const txids = await this.source.blockTxids(hash);
    const header = parseHeader(await this.source.blockHeader(hash));
    let root: Uint8Array;
    try {
      root = merkleRoot(txids);
    } catch (e) {
      this.refuse(`txids of block ${hash}: ${(e as Error).message}`);
    }
    if (!equalBytes(root, header.merkleRoot)) this.refuse(`the txids given for block ${hash} do not hash to its merkle root`);
    return txids;
  }

  async transaction(txid: string): Promise<Uint8Array | null> {
    const cached = this.txs.get(txid);
    if (cached) return cached;
    const raw = await this.source.transaction(txid);
    if (raw) this.remember(txid, raw);
    return raw;
  }

  private remember(txid: string, raw: Uint8Array): void {
    if (this.txs.size >= TX_CACHE) this.txs.delete(this.txs.keys().next().value!);
    this.txs.set(txid, raw);
  }

  async txStatus(txid: string): Promise<TxStatus | null> {
    const s = await this.source.txStatus(txid);
    if (!s?.confirmed) return s;
    return this.proveConfirmed(txid, s);
  }

  /**
   * A confirmed status only once the merkle branch leads to our verified
   * header at that height. With `oldCoin`, a confirmation too deep below the
   * first verified header to reach (a wallet restored with old coins) is
   * taken as claimed: spending a coin that does not exist only fails.
   */
  private async proveConfirmed(txid: string, claimed: TxStatus, o: { oldCoin?: boolean } = {}): Promise<TxStatus> {
    const block = claimed.block;
    if (!block) this.refuse(`${txid} claimed confirmed without a block`);
    if (o.oldCoin && this.headers.beyondBackfill(block.height)) {
      return { confirmed: true, block: { height: block.height, hash: block.hash }, confirmations: confirmationsAt(block.height, this.headers.tip!.height) };
    }
    let tip = this.headers.tip;
    let ours = tip && block.height <= tip.height ? await this.headers.hashAt(block.height) : undefined;
    if (ours !== block.hash) {
      // The source may be a block ahead of us, or on a branch we have not followed yet.
      tip = await this.tip();
      ours = block.height <= tip.height ? await this.headers.hashAt(block.height) : undefined;
    }
    if (ours !== block.hash) {
      this.refuse(`${txid} claimed in block ${block.hash} at height ${block.height}, but the verified chain has ${ours ?? 'no block'} there`);
    }
    const key = `${txid}@${block.hash}`;
    if (!this.proven.has(key)) {
      const proof = await this.source.merkleProof(txid, block.hash);
      if (!proof) this.refuse(`no merkle proof for ${txid} in block ${block.hash}`);
      this.checkProof(txid, block, proof);
      const raw = await this.transaction(txid);
      if (raw && stripped(raw) === AMBIGUOUS_TX_SIZE) this.refuse(`${txid} is ${AMBIGUOUS_TX_SIZE} bytes without witness: its merkle proof could be an inner node`);
      if (this.proven.size >= PROOF_CACHE) this.proven.clear();
      this.proven.add(key);
    }
    const height = this.headers.tip!.height;
    return { confirmed: true, block: { height: block.height, hash: block.hash }, confirmations: confirmationsAt(block.height, height) };
  }

  private checkProof(txid: string, block: BlockRef, proof: MerkleProof): void {
    if (proof.height !== undefined && proof.height !== block.height) {
      this.refuse(`merkle proof of ${txid} is for height ${proof.height}, its status says ${block.height}`);
    }
    const header = this.headers.knownHeader(block.height);
    if (!header || header.hash !== block.hash) this.refuse(`block ${block.hash} is not on the verified chain`);
    let root: Uint8Array;
    try {
      root = rootFromBranch(txid, proof.pos, proof.branch);
    } catch (e) {
      this.refuse(`merkle proof of ${txid}: ${(e as Error).message}`);
    }
    if (!equalBytes(root, header.merkleRoot)) this.refuse(`merkle path of ${txid} at position ${proof.pos} does not lead to the merkle root of block ${block.hash}`);
  }

  merkleProof(txid: string, blockHash: string): Promise<MerkleProof | null> {
    return this.source.merkleProof(txid, blockHash);
  }

  async outspend(txid: string, vout: number): Promise<Outspend> {
    const o = await this.source.outspend(txid, vout);
    if (!o.spent) return o;
    const spender = o.txid!;
    const raw = await this.transaction(spender);
    if (!raw) this.refuse(`${txid}:${vout} claimed spent by ${spender}, which the source does not have`);
    const tx = parseTx(raw);
    let vin = -1;
    for (let i = 0; i < tx.inputsLength; i++) {
      const input = tx.getInput(i);
      if (hex(input.txid!) === txid && input.index === vout) vin = i;
    }
    if (vin < 0) this.refuse(`${txid}:${vout} claimed spent by ${spender}, which does not spend it`);
    const status = o.status?.confirmed ? await this.proveConfirmed(spender, o.status) : { confirmed: false, confirmations: 0 };
    return { spent: true, txid: spender, vin, status };
  }

  scriptHistory(script: Uint8Array): Promise<ScriptTx[]> {
    // Used to find which scripts were ever used (the gap limit); a lie here adds or hides addresses, never coins.
    return this.source.scriptHistory(script);
  }

  async scriptUtxos(script: Uint8Array): Promise<Utxo[]> {
    const out: Utxo[] = [];
    for (const u of await this.source.scriptUtxos(script)) {
      const raw = await this.transaction(u.txid);
      if (!raw) this.refuse(`utxo ${u.txid}:${u.vout} is in a transaction the source does not have`);
      const tx = parseTx(raw);
      const o = u.vout < tx.outputsLength ? tx.getOutput(u.vout) : undefined;
      if (!o?.script || !equalBytes(o.script, script) || o.amount !== u.value) {
        this.refuse(`utxo ${u.txid}:${u.vout} of ${u.value} sat is not an output of that transaction paying that script`);
      }
      out.push({ ...u, status: u.status.confirmed ? await this.proveConfirmed(u.txid, u.status, { oldCoin: true }) : u.status });
    }
    return out;
  }

  broadcast(tx: Uint8Array): Promise<string> {
    return this.source.broadcast(tx);
  }

  async feeEstimates(): Promise<FeeEstimates> {
    const { estimates, clamped } = clampEstimates(await this.source.feeEstimates(), this.o.maxFeerate);
    if (clamped) this.o.warn?.('fee estimate above the ceiling, clamped', { source: this.source.kind, maxFeerateSatPerKw: this.o.maxFeerate });
    return estimates;
  }
}

/** Serialized size without the witness (what the merkle tree's leaves hash). */
function stripped(raw: Uint8Array): number {
  const tx = parseTx(raw);
  return tx.toBytes(false, false).length;
}
