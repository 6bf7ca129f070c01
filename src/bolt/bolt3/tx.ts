/**
 * The transactions BOLT #3 builds, as plain data, with their serialization,
 * txid and the BIP 143 (segwit v0) signature hash. Only what Lightning's
 * own transactions need: segwit inputs with empty scriptSigs.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromHex, hex } from '../bytes.ts';
import { EncodeError } from '../errors.ts';

export interface TxInput {
  /** Previous txid, display (big-endian) hex as explorers show it. */
  txid: string;
  vout: number;
  sequence: number;
  /** Witness stack, empty until signed. */
  witness: Uint8Array[];
}

export interface TxOutput {
  value: bigint;
  script: Uint8Array;
}

export interface Tx {
  version: number;
  locktime: number;
  inputs: TxInput[];
  outputs: TxOutput[];
}

export const SIGHASH_ALL = 0x01;
export const SIGHASH_SINGLE = 0x03;
export const SIGHASH_ANYONECANPAY = 0x80;

const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
function u64le(v: bigint): Uint8Array {
  if (v < 0n) throw new EncodeError('output.value', 'negative amount');
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}
function compact(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >> 8);
  return concat(Uint8Array.of(0xfe), u32le(n));
}
const varBytes = (b: Uint8Array): Uint8Array => concat(compact(b.length), b);
const outpoint = (i: TxInput): Uint8Array => concat(fromHex(i.txid).reverse(), u32le(i.vout));
const serializeOutput = (o: TxOutput): Uint8Array => concat(u64le(o.value), varBytes(o.script));

export function serializeTx(tx: Tx, withWitness = true): Uint8Array {
  const segwit = withWitness && tx.inputs.some((i) => i.witness.length > 0);
  const parts: Uint8Array[] = [u32le(tx.version)];
  if (segwit) parts.push(Uint8Array.of(0, 1));
  parts.push(compact(tx.inputs.length));
  for (const i of tx.inputs) parts.push(outpoint(i), Uint8Array.of(0), u32le(i.sequence));
  parts.push(compact(tx.outputs.length), ...tx.outputs.map(serializeOutput));
  if (segwit) for (const i of tx.inputs) parts.push(compact(i.witness.length), ...i.witness.map(varBytes));
  parts.push(u32le(tx.locktime));
  return concat(...parts);
}

export const txid = (tx: Tx): string => hex(dsha(serializeTx(tx, false)).reverse());

/** BIP 143 signature hash of input `index` spending `amount` locked by `witnessScript`. */
export function sighashSegwitV0(tx: Tx, index: number, witnessScript: Uint8Array, amount: bigint, hashType: number): Uint8Array {
  const input = tx.inputs[index];
  if (!input) throw new EncodeError('index', `no input ${index}`);
  const anyoneCanPay = (hashType & SIGHASH_ANYONECANPAY) !== 0;
  const base = hashType & 0x1f;
  const zero: Uint8Array = new Uint8Array(32);
  const hashPrevouts = anyoneCanPay ? zero : dsha(concat(...tx.inputs.map(outpoint)));
  const hashSequence =
    anyoneCanPay || base !== SIGHASH_ALL ? zero : dsha(concat(...tx.inputs.map((i) => u32le(i.sequence))));
  let hashOutputs: Uint8Array = zero;
  if (base === SIGHASH_ALL) hashOutputs = dsha(concat(...tx.outputs.map(serializeOutput)));
  else if (base === SIGHASH_SINGLE && index < tx.outputs.length) hashOutputs = dsha(serializeOutput(tx.outputs[index]!));
  return dsha(
    concat(
      u32le(tx.version),
      hashPrevouts,
      hashSequence,
      outpoint(input),
      varBytes(witnessScript),
      u64le(amount),
      u32le(input.sequence),
      hashOutputs,
      u32le(tx.locktime),
      u32le(hashType),
    ),
  );
}

/** BIP 141 weight: stripped size x 3 + full size. */
export const weight = (tx: Tx): number => serializeTx(tx, false).length * 3 + serializeTx(tx, true).length;
