/**
 * Macaroons as lnd issues and checks them (libmacaroons v2 binary format,
 * HMAC-SHA256 chain), so lnd clients authenticate to lnnode with an
 * admin.macaroon file and their usual flags.
 *
 * A macaroon's signature is HMAC(key, identifier), then HMAC(previous
 * signature, caveat) for each caveat, where key = HMAC("macaroons-key-generator",
 * root key). A holder can add caveats (lncli adds "time-before <now+60s>" to
 * every call) but cannot remove one without the root key. We accept the
 * first-party caveats lnd clients add and refuse every other.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { timingSafeEqual } from 'node:crypto';
import { concat as concatBytes } from '../../bolt/bytes.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Caveat {
  id: Uint8Array;
  /** Set only on third-party caveats, which lnnode never accepts. */
  verificationId?: Uint8Array;
  location?: string;
}

export interface Macaroon {
  location: string;
  identifier: Uint8Array;
  caveats: Caveat[];
  signature: Uint8Array;
}

export class MacaroonError extends Error {
  override readonly name = 'MacaroonError';
}

const VERSION_2 = 2;
const FIELD_EOS = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VERIFICATION_ID = 4;
const FIELD_SIGNATURE = 6;
const KEY_GENERATOR = utf8('macaroons-key-generator');

const rootSignature = (rootKey: Uint8Array, identifier: Uint8Array): Uint8Array => hmac(sha256, hmac(sha256, KEY_GENERATOR, rootKey), identifier);

/** A new macaroon without caveats. */
export function bake(rootKey: Uint8Array, identifier: Uint8Array, location: string): Macaroon {
  return { location, identifier, caveats: [], signature: rootSignature(rootKey, identifier) };
}

/** A copy with one more first-party caveat (what clients do to narrow a macaroon). */
export function addFirstPartyCaveat(m: Macaroon, condition: string): Macaroon {
  const id = utf8(condition);
  return { ...m, caveats: [...m.caveats, { id }], signature: hmac(sha256, m.signature, id) };
}

// ------------------------------------------------------------------ binary v2

function uvarint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

const field = (type: number, data: Uint8Array): Uint8Array => concatBytes(uvarint(type), uvarint(data.length), data);
const EOS = Uint8Array.of(FIELD_EOS);

export function encodeMacaroon(m: Macaroon): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(VERSION_2)];
  if (m.location) parts.push(field(FIELD_LOCATION, utf8(m.location)));
  parts.push(field(FIELD_IDENTIFIER, m.identifier), EOS);
  for (const c of m.caveats) {
    if (c.location) parts.push(field(FIELD_LOCATION, utf8(c.location)));
    parts.push(field(FIELD_IDENTIFIER, c.id));
    if (c.verificationId) parts.push(field(FIELD_VERIFICATION_ID, c.verificationId));
    parts.push(EOS);
  }
  parts.push(EOS, field(FIELD_SIGNATURE, m.signature));
  return concatBytes(...parts);
}

class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.b.length;
  }

  varint(): number {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.at >= this.b.length) throw new MacaroonError('truncated varint');
      if (shift > 28) throw new MacaroonError('varint too large');
      const byte = this.b[this.at++]!;
      n += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return n;
    }
  }

  /** One field; type 0 (end of section) has no length or data. */
  field(): { type: number; data: Uint8Array } {
    const type = this.varint();
    if (type === FIELD_EOS) return { type, data: new Uint8Array() };
    const len = this.varint();
    if (this.at + len > this.b.length) throw new MacaroonError('field runs past the end');
    const data = this.b.subarray(this.at, this.at + len);
    this.at += len;
    return { type, data };
  }

  /** The fields of one section, in strictly increasing type order, up to its end marker. */
  section(): Map<number, Uint8Array> {
    const fields = new Map<number, Uint8Array>();
    let last = -1;
    for (;;) {
      const f = this.field();
      if (f.type === FIELD_EOS) return fields;
      if (f.type <= last) throw new MacaroonError('fields out of order');
      last = f.type;
      fields.set(f.type, f.data);
    }
  }
}

const text = (b: Uint8Array | undefined): string => (b ? new TextDecoder('utf-8', { fatal: true }).decode(b) : '');

export function decodeMacaroon(b: Uint8Array): Macaroon {
  if (b[0] !== VERSION_2) throw new MacaroonError(`unsupported macaroon version byte ${b[0] ?? 'none'} (expected 2)`);
  const r = new Reader(b.subarray(1));
  const head = r.section();
  const identifier = head.get(FIELD_IDENTIFIER);
  if (!identifier || [...head.keys()].some((k) => k !== FIELD_LOCATION && k !== FIELD_IDENTIFIER)) throw new MacaroonError('invalid macaroon header');
  const caveats: Caveat[] = [];
  for (;;) {
    const s = r.section();
    if (s.size === 0) break;
    const id = s.get(FIELD_IDENTIFIER);
    if (!id || [...s.keys()].some((k) => k !== FIELD_LOCATION && k !== FIELD_IDENTIFIER && k !== FIELD_VERIFICATION_ID)) {
      throw new MacaroonError('invalid caveat');
    }
    caveats.push({ id, verificationId: s.get(FIELD_VERIFICATION_ID), location: s.has(FIELD_LOCATION) ? text(s.get(FIELD_LOCATION)) : undefined });
  }
  const sig = r.field();
  if (sig.type !== FIELD_SIGNATURE || sig.data.length !== 32) throw new MacaroonError('missing or malformed signature');
  if (!r.done) throw new MacaroonError('trailing bytes after the signature');
  return { location: text(head.get(FIELD_LOCATION)), identifier, caveats, signature: sig.data };
}

// ------------------------------------------------------------------ checking

/**
 * Why `m` is refused under `rootKey` at `now`, or undefined if it is valid.
 * Caveats understood: "time-before <RFC 3339 time>" (lncli's per-call
 * timeout). Anything else, including third-party caveats and IP locks we
 * cannot check, refuses the macaroon: an unknown restriction is never ignored.
 */
export function macaroonRefusal(m: Macaroon, rootKey: Uint8Array, now: Date): string | undefined {
  // Only the holder of the root key can make a signature that verifies, so this also proves we issued it.
  let sig = rootSignature(rootKey, m.identifier);
  for (const c of m.caveats) sig = hmac(sha256, sig, c.id);
  if (!timingSafeEqual(sig, m.signature)) return 'macaroon signature does not verify (not issued by this node, or altered)';
  for (const c of m.caveats) {
    if (c.verificationId) return 'third-party caveats are not supported';
    const cond = text(c.id);
    const tb = /^time-before (\S+)$/.exec(cond);
    if (tb) {
      const t = Date.parse(tb[1]!);
      if (Number.isNaN(t)) return `caveat "${cond}" has an unreadable time`;
      if (now.getTime() >= t) return 'macaroon has expired (time-before caveat)';
      continue;
    }
    return `caveat "${cond}" is not supported by lnnode`;
  }
  return undefined;
}
