/**
 * Builds and submits blocks by hand, on any parent: how the lab makes a
 * competing branch (a reorg) that btcd's `generate`, which always extends
 * the tip, cannot. Blocks hold only a coinbase, so no witness commitment is
 * needed; regtest's target (bits 0x207fffff) is met by about every second nonce.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromHex, hex } from '../../src/bolt/bytes.ts';
import { type JsonRpcClient } from '../../src/chain/json-rpc.ts';
import { subsidySat } from './regtest.ts';

const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));
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
const reversed = (b: Uint8Array): Uint8Array => b.slice().reverse();

function coinbase(height: number, script: Uint8Array, tag: number): Uint8Array {
  // Height then a tag, so blocks at the same height on two branches differ.
  const heightBytes: number[] = [];
  for (let h = height; h > 0; h >>= 8) heightBytes.push(h & 0xff);
  if ((heightBytes[heightBytes.length - 1] ?? 0) & 0x80) heightBytes.push(0);
  const scriptSig = Uint8Array.from([heightBytes.length, ...heightBytes, 4, ...le32(tag)]);
  return concat(
    le32(1),
    Uint8Array.of(1),
    new Uint8Array(32),
    le32(0xffffffff),
    Uint8Array.of(scriptSig.length),
    scriptSig,
    le32(0xffffffff),
    Uint8Array.of(1),
    le64(subsidySat(height)),
    Uint8Array.of(script.length),
    script,
    le32(0),
  );
}

/** What building on a block needs to know of it (btcd will not describe side-chain blocks). */
export interface ParentBlock {
  hash: string;
  height: number;
  time: number;
  bits: string;
}

export async function mainChainBlock(rpc: JsonRpcClient, height: number): Promise<ParentBlock> {
  const hash = await rpc.call<string>('getblockhash', height);
  const h = await rpc.call<{ time: number; bits: string }>('getblockheader', hash, true);
  return { hash, height, time: h.time, bits: h.bits };
}

/** Mines one coinbase-only block on `parent` and submits it. */
export async function submitBlockOn(
  rpc: JsonRpcClient,
  parent: ParentBlock,
  payTo: Uint8Array,
  tag = Math.floor(Math.random() * 2 ** 32),
): Promise<ParentBlock> {
  const parentHash = parent.hash;
  const height = parent.height + 1;
  const cb = coinbase(height, payTo, tag);
  const merkle = dsha(cb);
  const bits = parseInt(parent.bits, 16);
  const exp = bits >>> 24;
  const target = BigInt(bits & 0xffffff) << BigInt(8 * (exp - 3));
  const time = Math.max(parent.time + 1, Math.floor(Date.now() / 1000));
  for (let nonce = 0; nonce < 1_000_000; nonce++) {
    const header = concat(le32(0x20000000), reversed(fromHex(parentHash)), merkle, le32(time), le32(bits), le32(nonce));
    const hash = reversed(dsha(header));
    if (BigInt(`0x${hex(hash)}`) > target) continue;
    const block = concat(header, Uint8Array.of(1), cb);
    const result = await rpc.call<string | null>('submitblock', hex(block));
    if (result) throw new Error(`submitblock refused block at ${height}: ${result}`);
    return { hash: hex(hash), height, time, bits: parent.bits };
  }
  throw new Error('no nonce found');
}

/** Replaces the top `depth` blocks with `depth + 1` new ones; returns the new branch. */
export async function reorg(rpc: JsonRpcClient, depth: number, payTo: Uint8Array): Promise<string[]> {
  const tipHeight = await rpc.call<number>('getblockcount');
  let parent = await mainChainBlock(rpc, tipHeight - depth);
  const branch: string[] = [];
  for (let i = 0; i <= depth; i++) {
    parent = await submitBlockOn(rpc, parent, payTo);
    branch.push(parent.hash);
  }
  return branch;
}
