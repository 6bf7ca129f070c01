/**
 * Per-commitment secrets (BOLT #3): generated from one seed by flipping and
 * hashing along the bits of a 48-bit index, counting down from 2^48 - 1; and
 * the receiver's compact store, which keeps at most 49 secrets and can derive
 * every earlier one from them.
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#per-commitment-secret-requirements
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Reader, Writer, equalBytes } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';

export const MAX_INDEX = 2 ** 48 - 1;
/** The first commitment's secret index; each next commitment decrements it. */
export const FIRST_INDEX = MAX_INDEX;

function checkIndex(i: number, name: string): void {
  if (!Number.isSafeInteger(i) || i < 0 || i > MAX_INDEX) throw new EncodeError(name, 'expected a 48-bit index');
}

/** Bit b of a 48-bit index (numbers above 2^32 do not fit bitwise operators). */
const bit = (i: number, b: number): boolean => Math.floor(i / 2 ** b) % 2 === 1;

/** Derives from `base` (the secret at a prefix of `index` with `bits` low bits free) down to `index`. */
function deriveFrom(base: Uint8Array, bits: number, index: number): Uint8Array {
  const p = base.slice();
  for (let b = bits - 1; b >= 0; b--) {
    if (bit(index, b)) {
      p[b >> 3]! ^= 1 << (b & 7);
      p.set(sha256(p));
    }
  }
  return p;
}

export function generateSecret(seed: Uint8Array, index: number): Uint8Array {
  if (seed.length !== 32) throw new EncodeError('seed', 'expected 32 bytes');
  checkIndex(index, 'index');
  return deriveFrom(seed, 48, index);
}

/** Count of trailing zero bits of the index, i.e. which bucket a secret goes in. */
function bucketOf(index: number): number {
  for (let b = 0; b < 48; b++) if (bit(index, b)) return b;
  return 48;
}

/** Why a revealed secret was refused: it does not derive one stored earlier. */
export class SecretStoreError extends Error {
  override readonly name = 'SecretStoreError';
  constructor(readonly index: number) {
    super(`per-commitment secret for index ${index} does not derive the secrets received before`);
  }
}

interface Entry {
  secret: Uint8Array;
  index: number;
}

export class SecretStore {
  private readonly known: (Entry | undefined)[] = new Array(49).fill(undefined);

  /** Stores the secret for `index`; throws SecretStoreError if it contradicts an earlier one. */
  insert(secret: Uint8Array, index: number): void {
    if (secret.length !== 32) throw new EncodeError('secret', 'expected 32 bytes');
    checkIndex(index, 'index');
    const b = bucketOf(index);
    for (let i = 0; i < b; i++) {
      const e = this.known[i];
      if (e && !equalBytes(deriveFrom(secret, b, e.index), e.secret)) throw new SecretStoreError(index);
    }
    this.known[b] = { secret: secret.slice(), index };
  }

  /** The secret for `index`, if it was received or can be derived. */
  derive(index: number): Uint8Array | undefined {
    checkIndex(index, 'index');
    for (let b = 0; b < 49; b++) {
      const e = this.known[b];
      if (!e) continue;
      // e covers every index that shares its bits above b.
      const mask = 2 ** b;
      if (Math.floor(index / mask) === Math.floor(e.index / mask)) return deriveFrom(e.secret, b, index);
    }
    return undefined;
  }

  /** Versioned bytes for the database: version 1, then a bitmap of filled buckets and their entries. */
  serialize(): Uint8Array {
    const w = new Writer(8 + 49 * 40).u8(1);
    const filled = this.known.map((e) => (e ? 1 : 0));
    let mask = 0n;
    filled.forEach((f, i) => (mask |= BigInt(f) << BigInt(i)));
    w.u64(mask);
    for (const e of this.known) if (e) w.u64(BigInt(e.index)).bytes(e.secret);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): SecretStore {
    const r = new Reader(bytes, 'secret_store');
    const version = r.u8('version');
    if (version !== 1) throw new DecodeError('secret_store.version', `unknown version ${version}`);
    const mask = r.u64('buckets');
    if (mask >> 49n) throw new DecodeError('secret_store.buckets', 'more than 49 buckets');
    const store = new SecretStore();
    for (let i = 0; i < 49; i++) {
      if (!((mask >> BigInt(i)) & 1n)) continue;
      const index = Number(r.u64(`bucket[${i}].index`));
      if (index > MAX_INDEX || bucketOf(index) !== i) throw new DecodeError(`secret_store.bucket[${i}]`, 'index does not belong in this bucket');
      store.known[i] = { index, secret: r.bytes(32, `bucket[${i}].secret`) };
    }
    r.end();
    return store;
  }
}
