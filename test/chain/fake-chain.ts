/**
 * A regtest chain built in memory for unit tests of what checks chain data:
 * real headers (mined against regtest's target from the real genesis), real
 * merkle roots, raw transactions, and a ChainSource over them whose answers
 * a test can replace with lies, one method at a time.
 */
import { concat, fromHex, hex } from '../../src/bolt/bytes.ts';
import { type Sat, sat } from '../../src/bolt/units.ts';
import { merkleBranch, merkleRoot } from '../../src/chain/merkle.ts';
import { headerHash } from '../../src/chain/pow.ts';
import { parseTx, txidOf } from '../../src/chain/txid.ts';
import { fillTargets } from '../../src/chain/esplora.ts';
import { BroadcastError, type ChainSource, type FeeEstimates, type MerkleProof, type Outspend, type TxStatus, type Utxo, confirmationsAt } from '../../src/chain/types.ts';

const le32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const le64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

/** The regtest genesis header (Bitcoin Core's chainparams: time 1296688602, bits 0x207fffff, nonce 2). */
export const REGTEST_GENESIS = concat(
  le32(1),
  new Uint8Array(32),
  fromHex('4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b').reverse(),
  le32(1296688602),
  le32(0x207fffff),
  le32(2),
);

export interface TxOut {
  script: Uint8Array;
  value: bigint;
}

/** A raw legacy-format transaction (no witness): enough for ids, outputs and spends. */
export function rawTx(inputs: { txid: string; vout: number }[], outputs: TxOut[], locktime = 0): Uint8Array {
  const parts: Uint8Array[] = [le32(2), Uint8Array.of(inputs.length)];
  for (const i of inputs) parts.push(fromHex(i.txid).reverse(), le32(i.vout), Uint8Array.of(0), le32(0xfffffffd));
  parts.push(Uint8Array.of(outputs.length));
  for (const o of outputs) parts.push(le64(o.value), Uint8Array.of(o.script.length), o.script);
  parts.push(le32(locktime));
  return concat(...parts);
}

function coinbase(height: number, tag: number): Uint8Array {
  const scriptSig = concat(Uint8Array.of(4), le32(height), Uint8Array.of(4), le32(tag));
  return concat(le32(1), Uint8Array.of(1), new Uint8Array(32), le32(0xffffffff), Uint8Array.of(scriptSig.length), scriptSig, le32(0xffffffff), Uint8Array.of(1), le64(50n), Uint8Array.of(1), Uint8Array.of(0x51), le32(0));
}

/** Mines a header on `prevHash` over `root` meeting `bits` (or, with `noWork`, one that misses it). */
export function mineHeader(prevHash: string, root: Uint8Array, time: number, bits = 0x207fffff, noWork = false): Uint8Array {
  const exp = bits >>> 24;
  const target = BigInt(bits & 0xffffff) << BigInt(8 * (exp - 3));
  for (let nonce = 0; ; nonce++) {
    const header = concat(le32(0x20000000), fromHex(prevHash).reverse(), root, le32(time), le32(bits), le32(nonce));
    const ok = BigInt(`0x${headerHash(header)}`) <= target;
    if (ok !== noWork) return header;
  }
}

export interface FakeBlock {
  height: number;
  hash: string;
  header: Uint8Array;
  txids: string[];
}

export class FakeChain {
  readonly blocks: FakeBlock[] = [];
  readonly txs = new Map<string, Uint8Array>();
  readonly mempool = new Map<string, Uint8Array>();
  readonly broadcasts: string[] = [];
  feeSatPerKw = 1_000;
  private tag = 0;

  constructor() {
    this.blocks.push({ height: 0, hash: headerHash(REGTEST_GENESIS), header: REGTEST_GENESIS, txids: ['4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'] });
  }

  get tip(): FakeBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  /** Mines the mempool (or `txs`) into a block on the tip, or on block `on` (then the chain above it is replaced). */
  mine(opts: { txs?: Uint8Array[]; on?: number } = {}): FakeBlock {
    if (opts.on !== undefined) this.blocks.length = opts.on + 1;
    const parent = this.tip;
    const cb = coinbase(parent.height + 1, this.tag++);
    const txs = [cb, ...(opts.txs ?? [...this.mempool.values()])];
    if (!opts.txs) this.mempool.clear();
    const txids = txs.map(txidOf);
    txs.forEach((t, i) => {
      this.txs.set(txids[i]!, t);
      this.mempool.delete(txids[i]!);
    });
    const header = mineHeader(parent.hash, merkleRoot(txids), 1296688602 + 600 * (parent.height + 1));
    const block = { height: parent.height + 1, hash: headerHash(header), header, txids };
    this.blocks.push(block);
    return block;
  }

  mineMany(n: number): void {
    for (let i = 0; i < n; i++) this.mine({ txs: [] });
  }

  /** A transaction paying `outputs` from nothing real (its input is a made-up outpoint), put in the mempool. */
  fund(outputs: TxOut[]): { txid: string; raw: Uint8Array } {
    const raw = rawTx([{ txid: hex(crypto.getRandomValues(new Uint8Array(32))), vout: 0 }], outputs);
    const txid = txidOf(raw);
    this.mempool.set(txid, raw);
    return { txid, raw };
  }

  blockOf(txid: string): FakeBlock | undefined {
    return this.blocks.find((b) => b.txids.includes(txid));
  }

  status(txid: string): TxStatus | null {
    const b = this.blockOf(txid);
    if (b) return { confirmed: true, block: { height: b.height, hash: b.hash }, confirmations: confirmationsAt(b.height, this.tip.height) };
    return this.mempool.has(txid) ? { confirmed: false, confirmations: 0 } : null;
  }

  private known(txid: string): Uint8Array | undefined {
    return this.blockOf(txid) ? this.txs.get(txid) : this.mempool.get(txid);
  }

  private allTxs(): [string, Uint8Array][] {
    const out: [string, Uint8Array][] = [];
    for (const b of this.blocks) for (const id of b.txids) if (this.txs.has(id)) out.push([id, this.txs.get(id)!]);
    return [...out, ...this.mempool];
  }

  spender(txid: string, vout: number): { txid: string; vin: number } | undefined {
    for (const [id, raw] of this.allTxs()) {
      const tx = parseTx(raw);
      for (let i = 0; i < tx.inputsLength; i++) {
        const inp = tx.getInput(i);
        if (hex(inp.txid!) === txid && inp.index === vout) return { txid: id, vin: i };
      }
    }
    return undefined;
  }

  /** An honest ChainSource over this chain; `lies` replaces any method. */
  source(lies: Partial<ChainSource> = {}): ChainSource {
    const honest: ChainSource = {
      kind: 'fake',
      tip: async () => ({ height: this.tip.height, hash: this.tip.hash }),
      blockHash: async (h) => {
        const b = this.blocks[h];
        if (!b) throw new Error(`no block ${h}`);
        return b.hash;
      },
      blockHeader: async (hash) => {
        const b = this.blocks.find((x) => x.hash === hash);
        if (!b) throw new Error(`no block ${hash}`);
        return b.header;
      },
      blockTxids: async (hash) => this.blocks.find((x) => x.hash === hash)?.txids ?? [],
      transaction: async (txid) => this.known(txid) ?? null,
      txStatus: async (txid) => this.status(txid),
      outspend: async (txid, vout): Promise<Outspend> => {
        const s = this.spender(txid, vout);
        return s ? { spent: true, txid: s.txid, vin: s.vin, status: this.status(s.txid)! } : { spent: false };
      },
      merkleProof: async (txid, blockHash): Promise<MerkleProof | null> => {
        const b = this.blocks.find((x) => x.hash === blockHash);
        const pos = b?.txids.indexOf(txid) ?? -1;
        return b && pos >= 0 ? { height: b.height, pos, branch: merkleBranch(b.txids, pos) } : null;
      },
      scriptHistory: async () => [],
      scriptUtxos: async (script): Promise<Utxo[]> => {
        const out: Utxo[] = [];
        for (const [id, raw] of this.allTxs()) {
          const tx = parseTx(raw);
          for (let v = 0; v < tx.outputsLength; v++) {
            const o = tx.getOutput(v);
            if (o.script && hex(o.script) === hex(script) && !this.spender(id, v)) out.push({ txid: id, vout: v, value: sat(o.amount!) as Sat, status: this.status(id)! });
          }
        }
        return out;
      },
      broadcast: async (raw) => {
        const txid = txidOf(raw);
        this.broadcasts.push(txid);
        if (this.known(txid)) return txid;
        const refusal = this.refusal?.(raw);
        if (refusal) throw new BroadcastError(txid, refusal);
        const tx = parseTx(raw);
        for (let i = 0; i < tx.inputsLength; i++) {
          const inp = tx.getInput(i);
          const prev = hex(inp.txid!);
          if (!this.known(prev) && !this.externalCoins.has(`${prev}:${inp.index}`)) throw new BroadcastError(txid, 'bad-txns-inputs-missingorspent');
          const other = this.spender(prev, inp.index!);
          if (other && this.replaceByFee && this.mempool.has(other.txid)) this.mempool.delete(other.txid);
          else if (other) throw new BroadcastError(txid, 'txn-mempool-conflict');
        }
        this.mempool.set(txid, raw);
        return txid;
      },
      feeEstimates: async (): Promise<FeeEstimates> => fillTargets(new Map([[6, this.feeSatPerKw as never]])),
    };
    return { ...honest, ...lies };
  }

  /** When set, a transaction conflicting with mempool ones replaces them (BIP 125, fee rules not checked). */
  replaceByFee = false;
  /** Set to refuse broadcasts with a reason, as a node's policy would. */
  refusal: ((raw: Uint8Array) => string | undefined) | undefined;
  /** Outpoints that exist outside this chain's transactions (spent by `fund`'s made-up inputs). */
  readonly externalCoins = new Set<string>();
}
