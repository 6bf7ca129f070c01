/**
 * ChainSource over a bitcoind-compatible JSON-RPC server: Bitcoin Core, or
 * btcd (which the regtest lab runs, with --txindex).
 *
 * JSON-RPC has no index of scripts or spends, so those answers come from
 * scanning blocks from `birthdayHeight` (the wallet's first block) to the tip,
 * plus the mempool. Decoded blocks are cached by hash (bounded), so repeated
 * queries only fetch new blocks; a reorg changes hashes and so the cache
 * simply misses. Fee estimation uses estimatesmartfee (Core), then btcd's
 * estimatefee; a node that knows nothing (regtest) yields the 253 sat/kw floor.
 */
import { fromHex, hex } from '../bolt/bytes.ts';
import { type FeeratePerKw, type Sat, sat } from '../bolt/units.ts';
import { btcPerKvbToPerKw, FEE_TARGETS } from './feerate.ts';
import { fillTargets } from './esplora.ts';
import { JsonRpcClient, type JsonRpcOptions, RpcError } from './json-rpc.ts';
import { merkleBranch } from './merkle.ts';
import { headerHash } from './pow.ts';
import { insecureUrlProblem } from './secure-url.ts';
import { parseTx, txidOf, isTxid } from './txid.ts';
import {
  BroadcastError,
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

export interface BitcoindRpcOptions extends JsonRpcOptions {
  /** First block that can hold anything of ours; scans start here. Default 0. */
  birthdayHeight?: number;
  /** Blocks kept decoded in memory. Default 5000. */
  blockCacheSize?: number;
}

interface ScannedTx {
  txid: string;
  /** Output scripts (hex) with values in sat. */
  outputs: { script: string; value: bigint }[];
  /** Outpoints spent, as `txid:vout`. */
  spends: string[];
}

interface ScannedBlock {
  ref: BlockRef;
  txs: ScannedTx[];
}

const MAX_MEMPOOL_SCAN = 10_000;
const RPC_IN_WARMUP = -28;

export class BitcoindRpcChainSource implements ChainSource {
  readonly kind = 'bitcoind-rpc';
  private readonly rpc: JsonRpcClient;
  private readonly birthday: number;
  private readonly cacheSize: number;
  private readonly blocks = new Map<string, ScannedBlock>();

  constructor(opts: BitcoindRpcOptions) {
    const insecure = insecureUrlProblem(opts.url);
    if (insecure) throw new ChainSourceError('bitcoind-rpc', insecure);
    this.rpc = new JsonRpcClient(opts);
    this.birthday = opts.birthdayHeight ?? 0;
    this.cacheSize = opts.blockCacheSize ?? 5000;
  }

  private fail(detail: string): never {
    throw new ChainSourceError('bitcoind-rpc', detail);
  }

  async tip(): Promise<BlockRef> {
    for (let i = 0; i < 5; i++) {
      const hash = await this.rpc.call<string>('getbestblockhash');
      const header = await this.rpc.call<{ height?: unknown; hash?: unknown }>('getblockheader', hash, true);
      if (header.hash === hash && Number.isSafeInteger(header.height)) return { height: header.height as number, hash };
    }
    this.fail('could not read a consistent tip');
  }

  async blockHash(height: number): Promise<string> {
    const hash = await this.rpc.call<string>('getblockhash', height);
    if (!isTxid(hash)) this.fail(`bad block hash at ${height}`);
    return hash;
  }

  async blockHeader(hash: string): Promise<Uint8Array> {
    const h = fromHex(await this.rpc.call<string>('getblockheader', hash, false), 'header');
    if (h.length !== 80) this.fail(`header of ${hash} is ${h.length} bytes`);
    if (headerHash(h) !== hash) this.fail(`header does not hash to ${hash}`);
    return h;
  }

  async blockTxids(hash: string): Promise<string[]> {
    return (await this.scanBlock(hash)).txs.map((t) => t.txid);
  }

  async transaction(txid: string): Promise<Uint8Array | null> {
    let hexTx: string;
    try {
      hexTx = await this.rpc.call<string>('getrawtransaction', txid, 0);
    } catch (e) {
      if (e instanceof RpcError) return null; // unknown (or not indexed) transaction
      throw e;
    }
    const raw = fromHex(hexTx, 'tx');
    if (txidOf(raw) !== txid) this.fail(`getrawtransaction ${txid} returned another tx`);
    return raw;
  }

  private async heightOf(blockHash: string): Promise<number> {
    const header = await this.rpc.call<{ height?: unknown }>('getblockheader', blockHash, true);
    if (!Number.isSafeInteger(header.height)) this.fail(`no height for block ${blockHash}`);
    return header.height as number;
  }

  async txStatus(txid: string): Promise<TxStatus | null> {
    let v: { blockhash?: unknown; confirmations?: unknown };
    try {
      v = await this.rpc.call('getrawtransaction', txid, 1);
    } catch (e) {
      if (e instanceof RpcError) return null;
      throw e;
    }
    if (!isTxid(v.blockhash)) return { confirmed: false, confirmations: 0 };
    const height = await this.heightOf(v.blockhash);
    const tip = await this.tip();
    // A tx in a block no longer on the best chain counts as unconfirmed.
    if (height > tip.height || (await this.blockHash(height)) !== v.blockhash) {
      return { confirmed: false, confirmations: 0 };
    }
    return { confirmed: true, block: { height, hash: v.blockhash }, confirmations: confirmationsAt(height, tip.height) };
  }

  /** From the whole block: btcd has no gettxoutproof, and the block is what a proof would be checked against anyway. */
  async merkleProof(txid: string, blockHash: string): Promise<MerkleProof | null> {
    const txids = (await this.scanBlock(blockHash)).txs.map((t) => t.txid);
    const pos = txids.indexOf(txid);
    return pos < 0 ? null : { pos, branch: merkleBranch(txids, pos) };
  }

  /** Decodes a block (verbosity 0: raw hex, understood by Core and btcd alike). */
  private async scanBlock(hash: string, knownHeight?: number): Promise<ScannedBlock> {
    const cached = this.blocks.get(hash);
    if (cached) return cached;
    const raw = fromHex(await this.rpc.call<string>('getblock', hash, 0), 'block');
    if (raw.length < 80 || headerHash(raw.subarray(0, 80)) !== hash) this.fail(`getblock ${hash} returned another block`);
    const height = knownHeight ?? (await this.heightOf(hash));
    const block: ScannedBlock = { ref: { height, hash }, txs: decodeBlockTxs(raw) };
    if (this.blocks.size >= this.cacheSize) {
      const oldest = this.blocks.keys().next().value;
      if (oldest !== undefined) this.blocks.delete(oldest);
    }
    this.blocks.set(hash, block);
    return block;
  }

  /** Best-chain blocks from `from` to the tip, oldest first. */
  private async *chainBlocks(from: number): AsyncGenerator<ScannedBlock> {
    const tip = await this.tip();
    for (let h = Math.max(0, from); h <= tip.height; h++) {
      yield await this.scanBlock(await this.blockHash(h), h);
    }
  }

  private async mempoolTxs(): Promise<ScannedTx[]> {
    const ids = await this.rpc.call<string[]>('getrawmempool');
    const out: ScannedTx[] = [];
    for (const id of ids.slice(0, MAX_MEMPOOL_SCAN)) {
      const raw = await this.transaction(id);
      if (raw) out.push(scanTx(raw));
    }
    return out;
  }

  async outspend(txid: string, vout: number): Promise<Outspend> {
    // The mempool first: btcd's gettxout still reports an output that a mempool tx spends.
    const key = `${txid}:${vout}`;
    for (const tx of await this.mempoolTxs()) {
      const vin = tx.spends.indexOf(key);
      if (vin >= 0) return { spent: true, txid: tx.txid, vin, status: { confirmed: false, confirmations: 0 } };
    }
    const utxo = await this.rpc.call<unknown>('gettxout', txid, vout, true);
    if (utxo) return { spent: false };
    const status = await this.txStatus(txid);
    if (!status?.block) return { spent: false };
    const tip = await this.tip();
    for await (const block of this.chainBlocks(status.block.height)) {
      for (const tx of block.txs) {
        const vin = tx.spends.indexOf(key);
        if (vin >= 0) {
          const confirmations = confirmationsAt(block.ref.height, tip.height);
          return { spent: true, txid: tx.txid, vin, status: { confirmed: true, block: block.ref, confirmations } };
        }
      }
    }
    return { spent: false };
  }

  private async scriptActivity(script: Uint8Array): Promise<{ history: ScriptTx[]; utxos: Utxo[] }> {
    const target = hex(script);
    const tip = await this.tip();
    const history: ScriptTx[] = [];
    const funded = new Map<string, Utxo>();
    const spent = new Set<string>();
    const visit = (tx: ScannedTx, status: TxStatus): void => {
      let touches = false;
      tx.outputs.forEach((o, vout) => {
        if (o.script !== target) return;
        touches = true;
        funded.set(`${tx.txid}:${vout}`, { txid: tx.txid, vout, value: sat(o.value) as Sat, status });
      });
      for (const s of tx.spends) {
        if (funded.has(s)) {
          touches = true;
          spent.add(s);
        }
      }
      if (touches) history.push({ txid: tx.txid, status });
    };
    for await (const block of this.chainBlocks(this.birthday)) {
      const status: TxStatus = { confirmed: true, block: block.ref, confirmations: confirmationsAt(block.ref.height, tip.height) };
      for (const tx of block.txs) visit(tx, status);
    }
    // Mempool transactions may spend each other; two passes catch parents listed after children.
    const mempool = await this.mempoolTxs();
    const seen = new Set<string>();
    for (let pass = 0; pass < 2; pass++) {
      for (const tx of mempool) {
        if (seen.has(tx.txid)) continue;
        const before = history.length;
        visit(tx, { confirmed: false, confirmations: 0 });
        if (history.length > before) seen.add(tx.txid);
      }
    }
    const utxos = [...funded.entries()].filter(([k]) => !spent.has(k)).map(([, u]) => u);
    return { history, utxos };
  }

  async scriptHistory(script: Uint8Array): Promise<ScriptTx[]> {
    return (await this.scriptActivity(script)).history;
  }

  async scriptUtxos(script: Uint8Array): Promise<Utxo[]> {
    return (await this.scriptActivity(script)).utxos;
  }

  async broadcast(tx: Uint8Array): Promise<string> {
    const txid = txidOf(tx);
    try {
      const answered = await this.rpc.call<string>('sendrawtransaction', hex(tx));
      if (answered !== txid) this.fail(`sendrawtransaction answered ${answered} for ${txid}`);
    } catch (e) {
      // -28: still warming up, which says nothing about the transaction.
      if (e instanceof RpcError && e.code !== RPC_IN_WARMUP) throw new BroadcastError(txid, e.rpcMessage);
      throw e;
    }
    return txid;
  }

  async feeEstimates(): Promise<FeeEstimates> {
    const known = new Map<number, FeeratePerKw>();
    for (const target of FEE_TARGETS) {
      const rate = await this.estimate(target);
      if (rate !== null) known.set(target, rate);
    }
    return fillTargets(known);
  }

  private async estimate(target: number): Promise<FeeratePerKw | null> {
    try {
      const r = await this.rpc.call<{ feerate?: unknown }>('estimatesmartfee', target);
      if (typeof r?.feerate === 'number' && r.feerate > 0) return btcPerKvbToPerKw(r.feerate);
      return null;
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
    }
    try {
      const r = await this.rpc.call<number>('estimatefee', target);
      return typeof r === 'number' && r > 0 ? btcPerKvbToPerKw(r) : null;
    } catch (e) {
      if (e instanceof RpcError) return null;
      throw e;
    }
  }
}

function scanTx(raw: Uint8Array): ScannedTx {
  const tx = parseTx(raw);
  const outputs: ScannedTx['outputs'] = [];
  for (let i = 0; i < tx.outputsLength; i++) {
    const o = tx.getOutput(i);
    outputs.push({ script: hex(o.script ?? new Uint8Array()), value: o.amount ?? 0n });
  }
  const spends: string[] = [];
  for (let i = 0; i < tx.inputsLength; i++) {
    const inp = tx.getInput(i);
    spends.push(`${hex(inp.txid ?? new Uint8Array())}:${inp.index ?? 0}`);
  }
  return { txid: tx.id, outputs, spends };
}

/** Little-endian CompactSize at `pos` of `b`; returns the value and the position after it. */
function readCompactSize(b: Uint8Array, pos: number): [number, number] {
  const first = b[pos];
  if (first === undefined) throw new ChainSourceError('block', 'truncated');
  if (first < 0xfd) return [first, pos + 1];
  const n = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
  if (pos + 1 + n > b.length) throw new ChainSourceError('block', 'truncated');
  let v = 0;
  for (let i = 0; i < n; i++) v += b[pos + 1 + i]! * 2 ** (8 * i);
  return [v, pos + 1 + n];
}

/** Splits a raw block into its raw transactions: 80-byte header, CompactSize count, then txs. */
export function splitBlock(raw: Uint8Array): Uint8Array[] {
  let [count, pos] = readCompactSize(raw, 80);
  const txs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = txLength(raw, pos);
    txs.push(raw.subarray(pos, pos + len));
    pos += len;
  }
  if (pos !== raw.length) throw new ChainSourceError('block', `${raw.length - pos} trailing bytes`);
  return txs;
}

export const decodeBlockTxs = (raw: Uint8Array): ScannedTx[] => splitBlock(raw).map(scanTx);

/** Length of the serialized transaction starting at `start` (with or without witness). */
function txLength(b: Uint8Array, start: number): number {
  let p = start + 4;
  let n: number;
  const segwit = b[p] === 0 && b[p + 1] === 1;
  if (segwit) p += 2;
  let nIn: number;
  [nIn, p] = readCompactSize(b, p);
  for (let i = 0; i < nIn; i++) {
    [n, p] = readCompactSize(b, p + 36);
    p += n + 4;
  }
  let nOut: number;
  [nOut, p] = readCompactSize(b, p);
  for (let i = 0; i < nOut; i++) {
    [n, p] = readCompactSize(b, p + 8);
    p += n;
  }
  if (segwit) {
    for (let i = 0; i < nIn; i++) {
      let items: number;
      [items, p] = readCompactSize(b, p);
      for (let j = 0; j < items; j++) {
        [n, p] = readCompactSize(b, p);
        p += n;
      }
    }
  }
  p += 4;
  if (p > b.length) throw new ChainSourceError('block', 'transaction runs past the block');
  return p - start;
}
