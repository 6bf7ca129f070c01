/**
 * Bitcoin's transaction merkle tree, pure: the root of a block's txids, the
 * branch proving one of them, and the root a branch leads to. Hashes here
 * are in internal byte order (the reverse of displayed txids); `fromTxid`
 * converts. A branch checked against a header whose work we verified proves
 * the transaction is in that block, whatever the server that sent it says.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../bolt/bytes.ts';

const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));

/** More levels than this would mean over 2^32 transactions in a block. */
export const MAX_BRANCH_LENGTH = 32;

export const fromTxid = (txid: string): Uint8Array => fromHex(txid, 'txid').reverse();

function parent(left: Uint8Array, right: Uint8Array): Uint8Array {
  const pair = new Uint8Array(64);
  pair.set(left, 0);
  pair.set(right, 32);
  return dsha(pair);
}

/**
 * The merkle root of a block's txids (block order). A list with a repeated
 * txid is refused: duplicating the last entries leaves the root unchanged
 * (CVE-2012-2459), so such a list proves nothing.
 */
export function merkleRoot(txids: readonly string[]): Uint8Array {
  if (txids.length === 0) throw new Error('a block has at least one transaction');
  if (new Set(txids).size !== txids.length) throw new Error('the txid list repeats a transaction');
  let level = txids.map(fromTxid);
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(parent(level[i]!, level[i + 1] ?? level[i]!));
    level = next;
  }
  return level[0]!;
}

/** The sibling hashes from the leaf at `pos` up to the root. */
export function merkleBranch(txids: readonly string[], pos: number): Uint8Array[] {
  if (!Number.isSafeInteger(pos) || pos < 0 || pos >= txids.length) throw new Error(`position ${pos} is not in a block of ${txids.length} transactions`);
  let level = txids.map(fromTxid);
  let p = pos;
  const branch: Uint8Array[] = [];
  while (level.length > 1) {
    branch.push(level[p ^ 1] ?? level[p]!);
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(parent(level[i]!, level[i + 1] ?? level[i]!));
    level = next;
    p >>= 1;
  }
  return branch;
}

/** The root that `txid` at `pos` with `branch` leads to; throws when the position does not fit the branch. */
export function rootFromBranch(txid: string, pos: number, branch: readonly Uint8Array[]): Uint8Array {
  if (branch.length > MAX_BRANCH_LENGTH) throw new Error(`a merkle branch of ${branch.length} levels`);
  if (!Number.isSafeInteger(pos) || pos < 0 || pos >= 2 ** branch.length) throw new Error(`position ${pos} does not fit a branch of ${branch.length} levels`);
  let h = fromTxid(txid);
  let p = pos;
  for (const sibling of branch) {
    if (sibling.length !== 32) throw new Error('a merkle branch hash is not 32 bytes');
    h = p & 1 ? parent(sibling, h) : parent(h, sibling);
    p = Math.floor(p / 2);
  }
  return h;
}
