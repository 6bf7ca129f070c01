/**
 * An in-memory chain for driving the on-chain resolver at the pure level
 * (test/bolt02/receiver-rules.test.ts, BOLT 5 rows): blocks, a mempool,
 * and the consensus rules a sweep can get wrong without a signature check:
 * every input must exist and be unspent (a conflict is refused), BIP 68
 * relative locks (CSV in the input's sequence) and BIP 65 absolute locks
 * (locktime) must have passed for the next block, and outputs may not pay
 * more than the inputs; a conflict with mempool transactions replaces them
 * when it pays more than all of them together plus 1 sat/vB of its own
 * size (BIP 125 rules 3 and 4). Scripts and signatures are NOT checked here; the
 * lab tests against btcd do that (test/regtest/onchain/*.lab.test.ts).
 * A reorg drops the last blocks and empties the mempool.
 */
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { serializeTx, type Tx, txid as txidOf } from '../../src/bolt/bolt3/tx.ts';
import { type FeeratePerKw } from '../../src/bolt/units.ts';
import { type BlockRef, BroadcastError, type ChainSource, type FeeEstimates, type Outspend, type TxStatus } from '../../src/chain/types.ts';

/** Parses a serialized transaction (segwit or not) into the plain form of src/bolt/bolt3/tx.ts. */
export function parseTx(raw: Uint8Array): Tx {
  let p = 0;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u32 = (): number => {
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const varint = (): number => {
    const b = raw[p++]!;
    if (b < 0xfd) return b;
    if (b === 0xfd) {
      const v = dv.getUint16(p, true);
      p += 2;
      return v;
    }
    return u32();
  };
  const bytes = (n: number): Uint8Array => {
    const b = raw.slice(p, p + n);
    p += n;
    return b;
  };
  const version = u32();
  const segwit = raw[p] === 0 && raw[p + 1] === 1;
  if (segwit) p += 2;
  const inputs = Array.from({ length: varint() }, () => {
    const txid = hex(bytes(32).reverse());
    const vout = u32();
    bytes(varint());
    return { txid, vout, sequence: u32(), witness: [] as Uint8Array[] };
  });
  const outputs = Array.from({ length: varint() }, () => {
    const value = dv.getBigUint64(p, true);
    p += 8;
    return { value, script: bytes(varint()) };
  });
  if (segwit) for (const i of inputs) i.witness = Array.from({ length: varint() }, () => bytes(varint()));
  return { version, locktime: u32(), inputs, outputs };
}

interface Known {
  tx: Tx;
  raw: Uint8Array;
  /** Height of its block; undefined in the mempool. */
  height?: number;
}

export class SimChain implements ChainSource {
  readonly kind = 'sim';
  /** Txids per block, from `base + 1` up. */
  private readonly blocks: string[][] = [];
  private readonly txs = new Map<string, Known>();
  private readonly mempool = new Set<string>();
  /** Every transaction ever accepted, in order: what the node broadcast, and what the test did. */
  readonly accepted: string[] = [];
  /** Refusals (txid and reason), as a node's broadcast would see them. */
  readonly refused: { txid: string; reason: string }[] = [];
  feerate = 1000 as FeeratePerKw;
  /** Mempool transactions no block takes (a pinned transaction that never confirms). */
  readonly held = new Set<string>();

  constructor(private readonly base = 300) {}

  get height(): number {
    return this.base + this.blocks.length;
  }

  /** A confirmed transaction with only outputs (a funding transaction), at the current height. */
  fund(txid: string, outputs: { value: bigint; script: Uint8Array }[]): void {
    const tx: Tx = { version: 2, locktime: 0, inputs: [], outputs };
    this.txs.set(txid, { tx, raw: serializeTx(tx), height: this.height });
  }

  /** Mines `n` blocks; the first takes the whole mempool (everything in it is valid for the next block). */
  mine(n = 1): void {
    for (let i = 0; i < n; i++) {
      const ids = [...this.mempool].filter((id) => !this.held.has(id));
      for (const id of ids) this.mempool.delete(id);
      this.blocks.push(ids);
      for (const id of ids) this.txs.get(id)!.height = this.height;
    }
  }

  /** The last `depth` blocks are replaced by empty ones, and the mempool is lost: their transactions are gone. */
  reorg(depth: number): void {
    const gone = this.blocks.splice(this.blocks.length - depth, depth).flat();
    for (const id of [...gone, ...this.mempool]) this.txs.delete(id);
    this.mempool.clear();
    for (let i = 0; i < depth; i++) this.blocks.push([]);
  }

  /** The mempool is lost (a restart, or eviction): what was in it must be sent again. */
  dropMempool(): void {
    for (const id of this.mempool) this.txs.delete(id);
    this.mempool.clear();
  }

  /** A transaction as the chain has it (throws when it has none). */
  tx(txid: string): Tx {
    const k = this.txs.get(txid);
    if (!k) throw new Error(`the chain has no transaction ${txid}`);
    return k.tx;
  }

  inMempool(txid: string): boolean {
    return this.mempool.has(txid);
  }

  confirmations(txid: string): number | undefined {
    const h = this.txs.get(txid)?.height;
    return h === undefined ? undefined : this.height - h + 1;
  }

  /** The transaction spending `txid:vout` (mempool or block). */
  spender(txid: string, vout: number): string | undefined {
    for (const [id, k] of this.txs) if (k.tx.inputs.some((i) => i.txid === txid && i.vout === vout)) return id;
    return undefined;
  }

  /** Transactions spending any output of `txid`. */
  spenders(txid: string): string[] {
    return [...this.txs].filter(([, k]) => k.tx.inputs.some((i) => i.txid === txid)).map(([id]) => id);
  }

  /** Accepts a transaction into the mempool, or says why not. */
  submit(raw: Uint8Array): { txid: string; refused?: string } {
    const tx = parseTx(raw);
    const id = txidOf(tx);
    const refuse = (reason: string) => {
      this.refused.push({ txid: id, reason });
      return { txid: id, refused: reason };
    };
    if (this.txs.has(id)) return refuse('txn-already-known');
    const next = this.height + 1;
    let inSum = 0n;
    const conflicts = new Set<string>();
    for (const i of tx.inputs) {
      const parent = this.txs.get(i.txid);
      const out = parent?.tx.outputs[i.vout];
      if (!parent || !out) return refuse('bad-txns-inputs-missingorspent');
      const other = this.spender(i.txid, i.vout);
      if (other && !this.mempool.has(other)) return refuse(`bad-txns-inputs-missingorspent (spent by ${other} in a block)`);
      if (other) conflicts.add(other);
      inSum += out.value;
      // BIP 68: a relative lock in blocks when bit 31 is clear (version 2).
      const csv = tx.version >= 2 && !(i.sequence & 0x80000000) ? i.sequence & 0xffff : 0;
      if (csv > 0 && (parent.height === undefined || next - parent.height < csv)) return refuse('non-BIP68-final');
    }
    if (tx.locktime > 0 && tx.locktime < 500_000_000 && tx.locktime >= next && tx.inputs.some((i) => i.sequence !== 0xffffffff)) return refuse('non-final');
    const fee = inSum - tx.outputs.reduce((s, o) => s + o.value, 0n);
    if (tx.inputs.length && fee < 0n) return refuse('bad-txns-in-belowout');
    if (conflicts.size) {
      const theirs = [...conflicts].reduce((s, c) => s + this.feeOf(c), 0n);
      const vsize = BigInt(Math.ceil((serializeTx(tx, false).length * 3 + raw.length) / 4));
      if (fee < theirs + vsize) return refuse(`insufficient fee to replace ${[...conflicts].join(',')}`);
      for (const c of conflicts) this.evict(c);
    }
    this.txs.set(id, { tx, raw });
    this.mempool.add(id);
    this.accepted.push(id);
    return { txid: id };
  }

  /** Fee of a known transaction. */
  feeOf(txid: string): bigint {
    const tx = this.tx(txid);
    return tx.inputs.reduce((s, i) => s + this.tx(i.txid).outputs[i.vout]!.value, 0n) - tx.outputs.reduce((s, o) => s + o.value, 0n);
  }

  /** Removes a mempool transaction and what spends it. */
  private evict(txid: string): void {
    for (const child of this.spenders(txid)) this.evict(child);
    this.txs.delete(txid);
    this.mempool.delete(txid);
    this.held.delete(txid);
  }

  // ------------------------------------------------------------------ ChainSource

  async tip(): Promise<BlockRef> {
    return { height: this.height, hash: this.hashAt(this.height) };
  }
  async blockHash(height: number): Promise<string> {
    return this.hashAt(height);
  }
  async blockHeader(): Promise<Uint8Array> {
    throw new Error('SimChain has no headers');
  }
  async blockTxids(hash: string): Promise<string[]> {
    const h = Number.parseInt(hash.slice(0, 8), 16);
    return this.blocks[h - this.base - 1] ?? [];
  }
  async transaction(txid: string): Promise<Uint8Array | null> {
    return this.txs.get(txid)?.raw ?? null;
  }
  async txStatus(txid: string): Promise<TxStatus | null> {
    const k = this.txs.get(txid);
    if (!k) return null;
    if (k.height === undefined) return { confirmed: false, confirmations: 0 };
    return { confirmed: true, block: { height: k.height, hash: this.hashAt(k.height) }, confirmations: this.height - k.height + 1 };
  }
  async outspend(txid: string, vout: number): Promise<Outspend> {
    const s = this.spender(txid, vout);
    if (!s) return { spent: false };
    return { spent: true, txid: s, vin: this.txs.get(s)!.tx.inputs.findIndex((i) => i.txid === txid && i.vout === vout), status: (await this.txStatus(s))! };
  }
  async merkleProof(): Promise<null> {
    return null;
  }
  async scriptHistory(): Promise<[]> {
    return [];
  }
  async scriptUtxos(): Promise<[]> {
    return [];
  }
  async broadcast(raw: Uint8Array): Promise<string> {
    const r = this.submit(raw);
    if (r.refused) throw new BroadcastError(r.txid, r.refused);
    return r.txid;
  }
  async feeEstimates(): Promise<FeeEstimates> {
    return new Map([1, 6, 144].map((t) => [t, this.feerate]));
  }

  /** A block hash that says its height (and changes when a reorg replaces the block). */
  private hashAt(height: number): string {
    const ids = this.blocks[height - this.base - 1] ?? [];
    return height.toString(16).padStart(8, '0') + hex(fromHex((ids[0] ?? '00'.repeat(32)).slice(0, 56)));
  }
}
