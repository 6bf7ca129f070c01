/**
 * What the node needs to know about the chain, independent of where it comes
 * from (Esplora over HTTP, or a bitcoind-compatible JSON-RPC server).
 *
 * Txids and block hashes are the usual display hex (byte-reversed); raw
 * transactions and headers are bytes. Fee estimates are sat/kw as BOLT #3
 * uses them, since every consumer of a fee estimate in a Lightning node ends
 * up in a commitment or sweep transaction.
 */
import { type FeeratePerKw, type Sat } from '../bolt/units.ts';

export interface BlockRef {
  height: number;
  hash: string;
}

export interface TxStatus {
  confirmed: boolean;
  /** Set when confirmed. */
  block?: BlockRef;
  /** 0 when unconfirmed; tip height - block height + 1 otherwise. */
  confirmations: number;
}

export interface Outspend {
  spent: boolean;
  /** The spending transaction and input index, when spent (possibly in the mempool). */
  txid?: string;
  vin?: number;
  status?: TxStatus;
}

export interface ScriptTx {
  txid: string;
  status: TxStatus;
}

export interface Utxo {
  txid: string;
  vout: number;
  value: Sat;
  status: TxStatus;
}

/** Where a transaction sits in a block's merkle tree, as the server proves it. */
export interface MerkleProof {
  /** The block's height, when the server says it (Esplora does). */
  height?: number;
  /** Index of the transaction in its block. */
  pos: number;
  /** Sibling hashes from the transaction up to the root, internal byte order. */
  branch: Uint8Array[];
}

/** Confirmation target in blocks -> fee rate. Always has targets 1, 6 and 144. */
export type FeeEstimates = ReadonlyMap<number, FeeratePerKw>;

export interface ChainSource {
  /** Short name for logs: `esplora` or `bitcoind-rpc`. */
  readonly kind: string;
  tip(): Promise<BlockRef>;
  blockHash(height: number): Promise<string>;
  /** The 80-byte header. */
  blockHeader(hash: string): Promise<Uint8Array>;
  /** Txids of a block, in block order. */
  blockTxids(hash: string): Promise<string[]>;
  /** Raw transaction, or null when the source does not know it. */
  transaction(txid: string): Promise<Uint8Array | null>;
  /** Null when the transaction is neither confirmed nor in the mempool. */
  txStatus(txid: string): Promise<TxStatus | null>;
  outspend(txid: string, vout: number): Promise<Outspend>;
  /** The merkle branch of a confirmed transaction in the block `blockHash`; null when the server has none. */
  merkleProof(txid: string, blockHash: string): Promise<MerkleProof | null>;
  /** Transactions paying to or spending from an output script, oldest first. */
  scriptHistory(script: Uint8Array): Promise<ScriptTx[]>;
  scriptUtxos(script: Uint8Array): Promise<Utxo[]>;
  /** Returns the txid; throws BroadcastError with the server's reason. */
  broadcast(tx: Uint8Array): Promise<string>;
  feeEstimates(): Promise<FeeEstimates>;
}

/** The server refused a transaction (the reason is its message, e.g. "bad-txns-inputs-missingorspent"). */
export class BroadcastError extends Error {
  override readonly name = 'BroadcastError';
  constructor(
    readonly txid: string,
    readonly reason: string,
  ) {
    super(`broadcast of ${txid} refused: ${reason}`);
  }
}

/** The chain source could not be reached or answered something we cannot use. */
export class ChainSourceError extends Error {
  override readonly name = 'ChainSourceError';
  constructor(
    readonly source: string,
    readonly detail: string,
  ) {
    super(`${source}: ${detail}`);
  }
}

export function confirmationsAt(blockHeight: number, tipHeight: number): number {
  return tipHeight >= blockHeight ? tipHeight - blockHeight + 1 : 0;
}
