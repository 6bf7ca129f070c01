/**
 * An in-memory index of a regtest chain read over JSON-RPC: what an Esplora
 * server keeps in its database (tx locations, spends, script histories),
 * rebuilt from blocks. It follows reorgs: before answering, `sync()` walks
 * back from the node's tip to the last block it indexed on the same branch,
 * unindexes the blocks above, and indexes the new ones.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { splitBlock } from '../../src/chain/bitcoind-rpc.ts';
import { type JsonRpcClient } from '../../src/chain/json-rpc.ts';
import { parseTx } from '../../src/chain/txid.ts';

export interface IndexedTx {
  txid: string;
  raw: Uint8Array;
  /** Position in its block (block order), for merkle proofs. */
  pos: number;
}

export interface IndexedBlock {
  hash: string;
  height: number;
  header: Uint8Array;
  raw: Uint8Array;
  txids: string[];
  time: number;
}

export interface Location {
  block: IndexedBlock;
  pos: number;
}

/** Esplora's scripthash: SHA256 of the script in natural byte order (Electrum's protocol reverses it; Esplora does not). */
export const scripthashOf = (script: Uint8Array): string => hex(sha256(script));

export class ChainIndex {
  readonly chain: IndexedBlock[] = [];
  readonly txs = new Map<string, { raw: Uint8Array; loc: Location }>();
  /** `txid:vout` -> spender `{txid, vin}` (confirmed only). */
  readonly spends = new Map<string, { txid: string; vin: number }>();
  /** scripthash -> txids in chain order (confirmed only). */
  readonly scripts = new Map<string, string[]>();
  private syncing: Promise<void> | undefined;

  constructor(private readonly rpc: JsonRpcClient) {}

  /** Brings the index to the node's current tip; concurrent callers share one sync. */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    // Most requests find the tip where it was: one call says so.
    if (this.chain.length && (await this.rpc.call<string>('getbestblockhash')) === this.chain[this.chain.length - 1]!.hash) return;
    const tipHeight = await this.rpc.call<number>('getblockcount');
    // Unindex blocks no longer on the best chain.
    while (this.chain.length > 0) {
      const top = this.chain[this.chain.length - 1]!;
      const hash = top.height <= tipHeight ? await this.rpc.call<string>('getblockhash', top.height) : undefined;
      if (hash === top.hash) break;
      this.unindex(this.chain.pop()!);
    }
    for (let h = this.chain.length; h <= tipHeight; h++) {
      const hash = await this.rpc.call<string>('getblockhash', h);
      const raw = fromHex(await this.rpc.call<string>('getblock', hash, 0));
      this.index(hash, h, raw);
    }
  }

  private index(hash: string, height: number, raw: Uint8Array): void {
    const header = raw.slice(0, 80);
    const block: IndexedBlock = {
      hash,
      height,
      header,
      raw,
      txids: [],
      time: new DataView(header.buffer, header.byteOffset).getUint32(68, true),
    };
    splitBlock(raw).forEach((txRaw, pos) => {
      const tx = parseTx(txRaw);
      const txid = tx.id;
      block.txids.push(txid);
      this.txs.set(txid, { raw: txRaw.slice(), loc: { block, pos } });
      for (let i = 0; i < tx.inputsLength; i++) {
        const inp = tx.getInput(i);
        const prev = `${hex(inp.txid!)}:${inp.index}`;
        this.spends.set(prev, { txid, vin: i });
        const funding = this.txs.get(hex(inp.txid!));
        if (funding) {
          const out = parseTx(funding.raw).getOutput(inp.index!);
          if (out.script) this.addScript(scripthashOf(out.script), txid);
        }
      }
      for (let i = 0; i < tx.outputsLength; i++) {
        const script = tx.getOutput(i).script;
        if (script) this.addScript(scripthashOf(script), txid);
      }
    });
    this.chain.push(block);
  }

  private addScript(sh: string, txid: string): void {
    const list = this.scripts.get(sh) ?? [];
    if (list[list.length - 1] !== txid) list.push(txid);
    this.scripts.set(sh, list);
  }

  private unindex(block: IndexedBlock): void {
    const gone = new Set(block.txids);
    for (const txid of block.txids) this.txs.delete(txid);
    for (const [k, v] of this.spends) if (gone.has(v.txid)) this.spends.delete(k);
    for (const [sh, list] of this.scripts) {
      const kept = list.filter((t) => !gone.has(t));
      if (kept.length) this.scripts.set(sh, kept);
      else this.scripts.delete(sh);
    }
  }

  get tip(): IndexedBlock | undefined {
    return this.chain[this.chain.length - 1];
  }

  blockByHash(hash: string): IndexedBlock | undefined {
    // Regtest chains are short; a linear scan from the top is fine.
    for (let i = this.chain.length - 1; i >= 0; i--) if (this.chain[i]!.hash === hash) return this.chain[i];
    return undefined;
  }

  /** Merkle branch of a confirmed tx, hashes in display (reversed) hex as Esplora gives them. */
  merkleProof(txid: string): { block_height: number; merkle: string[]; pos: number } | undefined {
    const t = this.txs.get(txid);
    if (!t) return undefined;
    const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));
    let level = t.loc.block.txids.map((id) => fromHex(id).reverse());
    let pos = t.loc.pos;
    const merkle: string[] = [];
    while (level.length > 1) {
      if (level.length % 2 === 1) level.push(level[level.length - 1]!);
      merkle.push(hex(level[pos ^ 1]!.slice().reverse()));
      const next: Uint8Array[] = [];
      for (let i = 0; i < level.length; i += 2) {
        const pair = new Uint8Array(64);
        pair.set(level[i]!, 0);
        pair.set(level[i + 1]!, 32);
        next.push(dsha(pair));
      }
      level = next;
      pos >>= 1;
    }
    return { block_height: t.loc.block.height, merkle, pos: t.loc.pos };
  }

  /**
   * BIP37 merkleblock proving one transaction: the block header, the
   * transaction count, and the partial merkle tree (hashes and flag bits in
   * depth-first order), as Esplora's /tx/:txid/merkleblock-proof serves it.
   */
  merkleBlock(txid: string): Uint8Array | undefined {
    const t = this.txs.get(txid);
    if (!t) return undefined;
    const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));
    const leaves = t.loc.block.txids.map((id) => fromHex(id).reverse());
    const n = leaves.length;
    const width = (h: number): number => (n + (1 << h) - 1) >> h;
    const hashAt = (h: number, pos: number): Uint8Array => {
      if (h === 0) return leaves[pos]!;
      const left = hashAt(h - 1, 2 * pos);
      const right = 2 * pos + 1 < width(h - 1) ? hashAt(h - 1, 2 * pos + 1) : left;
      const pair = new Uint8Array(64);
      pair.set(left, 0);
      pair.set(right, 32);
      return dsha(pair);
    };
    let height = 0;
    while (width(height) > 1) height++;
    const bits: boolean[] = [];
    const hashes: Uint8Array[] = [];
    const walk = (h: number, pos: number): void => {
      const matchInside = t.loc.pos >> h === pos;
      bits.push(matchInside);
      if (h === 0 || !matchInside) {
        hashes.push(hashAt(h, pos));
        return;
      }
      walk(h - 1, 2 * pos);
      if (2 * pos + 1 < width(h - 1)) walk(h - 1, 2 * pos + 1);
    };
    walk(height, 0);
    const flags = new Uint8Array(Math.ceil(bits.length / 8));
    bits.forEach((b, i) => {
      if (b) flags[i >> 3]! |= 1 << (i & 7);
    });
    const varint = (v: number): number[] => (v < 0xfd ? [v] : [0xfd, v & 0xff, v >> 8]);
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, n, true);
    const parts = [t.loc.block.header, count, Uint8Array.from(varint(hashes.length)), ...hashes, Uint8Array.from(varint(flags.length)), flags];
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
