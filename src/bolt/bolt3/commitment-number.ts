/**
 * The obscured commitment number: the 48-bit commitment number XOR the low
 * 48 bits of SHA256(opener payment_basepoint || accepter payment_basepoint),
 * carried in the commitment tx's locktime (upper byte 0x20) and its input's
 * sequence (upper byte 0x80).
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#commitment-transaction
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../bytes.ts';
import { EncodeError } from '../errors.ts';

export function obscuringFactor(openerPaymentBasepoint: Uint8Array, accepterPaymentBasepoint: Uint8Array): bigint {
  const h = sha256(concat(openerPaymentBasepoint, accepterPaymentBasepoint));
  let v = 0n;
  for (const b of h.subarray(26)) v = (v << 8n) | BigInt(b);
  return v;
}

export function obscureCommitmentNumber(commitmentNumber: bigint, factor: bigint): { locktime: number; sequence: number } {
  if (commitmentNumber < 0n || commitmentNumber >= 1n << 48n) throw new EncodeError('commitmentNumber', 'expected 48 bits');
  const obscured = commitmentNumber ^ factor;
  return {
    locktime: Number((0x20n << 24n) | (obscured & 0xffffffn)),
    sequence: Number((0x80n << 24n) | (obscured >> 24n)),
  };
}

export function revealCommitmentNumber(locktime: number, sequence: number, factor: bigint): bigint {
  const obscured = (BigInt(sequence & 0xffffff) << 24n) | BigInt(locktime & 0xffffff);
  return obscured ^ factor;
}
