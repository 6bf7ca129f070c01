/**
 * Bitcoin script assembly for the few scripts BOLT #3 needs: opcodes by
 * name, minimal data pushes and minimal number pushes, and the P2WSH /
 * P2WPKH output scripts wrapping them.
 */
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../bytes.ts';
import { EncodeError } from '../errors.ts';

export const OP = {
  0: 0x00,
  1: 0x51,
  2: 0x52,
  16: 0x60,
  IF: 0x63,
  NOTIF: 0x64,
  ELSE: 0x67,
  ENDIF: 0x68,
  DROP: 0x75,
  DUP: 0x76,
  IFDUP: 0x73,
  SWAP: 0x7c,
  SIZE: 0x82,
  EQUAL: 0x87,
  EQUALVERIFY: 0x88,
  HASH160: 0xa9,
  CHECKSIG: 0xac,
  CHECKSIGVERIFY: 0xad,
  CHECKMULTISIG: 0xae,
  CHECKLOCKTIMEVERIFY: 0xb1,
  CHECKSEQUENCEVERIFY: 0xb2,
} as const;

/** A script item: an opcode byte (number tagged by `op`), data to push, or a number to push. */
export type Item = { op: number } | Uint8Array | bigint;

export const op = (code: number): Item => ({ op: code });

function pushData(d: Uint8Array): Uint8Array {
  if (d.length < 0x4c) return concat(Uint8Array.of(d.length), d);
  if (d.length <= 0xff) return concat(Uint8Array.of(0x4c, d.length), d);
  throw new EncodeError('script', 'pushes over 255 bytes are not needed here');
}

/** Minimal CScriptNum push: OP_0, OP_1..OP_16, or little-endian magnitude with a sign bit. */
function pushNumber(n: bigint): Uint8Array {
  if (n === 0n) return Uint8Array.of(OP[0]);
  if (n >= 1n && n <= 16n) return Uint8Array.of(0x50 + Number(n));
  if (n < 0n) throw new EncodeError('script', 'negative numbers are not needed here');
  const bytes: number[] = [];
  for (let x = n; x > 0n; x >>= 8n) bytes.push(Number(x & 0xffn));
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return pushData(Uint8Array.from(bytes));
}

export function script(...items: Item[]): Uint8Array {
  return concat(
    ...items.map((it) => {
      if (typeof it === 'bigint') return pushNumber(it);
      if (it instanceof Uint8Array) return pushData(it);
      return Uint8Array.of(it.op);
    }),
  );
}

export const hash160 = (b: Uint8Array): Uint8Array => ripemd160(sha256(b));

/** OP_0 <sha256(witnessScript)> */
export const p2wsh = (witnessScript: Uint8Array): Uint8Array => script(op(OP[0]), sha256(witnessScript));

/** OP_0 <hash160(pubkey)> */
export const p2wpkh = (pubkey: Uint8Array): Uint8Array => script(op(OP[0]), hash160(pubkey));
