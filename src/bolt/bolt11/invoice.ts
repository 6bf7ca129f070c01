/**
 * BOLT #11 invoices: decode (with every reader requirement of the spec, and
 * signature verification or public-key recovery) and encode (signing with a
 * key and at a time the caller passes: pure).
 *
 * A decoded invoice keeps its tagged fields raw and in order (`tagged`), so
 * re-signing it reproduces the original string byte for byte; the typed
 * fields are read from them.
 * https://github.com/lightning/bolts/blob/master/11-payment-encoding.md
 */
import { bech32 } from '@scure/base';
import { curve, lowS } from '../curve.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, equalBytes } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { Feature, FeatureVector, unknownCompulsory } from '../bolt9/features.ts';
import { type Msat } from '../units.ts';
import { formatAmount, parseAmount } from './amount.ts';
import { type Fallback, type Network, fallbackAddress, validFallback } from './fallback.ts';
import { bytesToWords, exactBytes, intToFixedWords, intToWords, wordsToBytes, wordsToInt } from './words.ts';

/** Longest invoice we read; longer strings are refused before any work. */
export const MAX_INVOICE_LENGTH = 7089;
export const DEFAULT_EXPIRY_SECONDS = 3600;
export const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA = 18;

export const Tag = { p: 1, r: 3, '9': 5, x: 6, f: 9, d: 13, s: 16, n: 19, h: 23, c: 24, m: 27 } as const;

const PREFIXES: [string, Network][] = [
  ['lnbcrt', 'regtest'],
  ['lntbs', 'signet'],
  ['lntb', 'testnet'],
  ['lnbc', 'bitcoin'],
  ['lnsb', 'simnet'],
];
const PREFIX_OF: Record<Network, string> = { bitcoin: 'lnbc', testnet: 'lntb', signet: 'lntbs', regtest: 'lnbcrt', simnet: 'lnsb' };

/** Feature bits an invoice may require that we can honour when paying. */
const KNOWN_INVOICE_FEATURES = [Feature.var_onion_optin, Feature.payment_secret, Feature.basic_mpp, Feature.option_payment_metadata];

export interface RouteHintHop {
  pubkey: Uint8Array;
  shortChannelId: bigint;
  feeBaseMsat: number;
  feeProportionalMillionths: number;
  cltvExpiryDelta: number;
}

export interface TaggedField {
  type: number;
  words: number[];
}

/** What every invoice states, whether decoded or about to be encoded. */
interface InvoiceTerms {
  network: Network;
  amountMsat?: Msat;
  /** Seconds since 1970; a parameter when encoding, not the clock. */
  timestamp: number;
  paymentHash: Uint8Array;
  paymentSecret: Uint8Array;
  description?: string;
  descriptionHash?: Uint8Array;
}

export interface Invoice extends InvoiceTerms {
  expirySeconds: number;
  minFinalCltvExpiryDelta: number;
  fallbacks: (Fallback & { address?: string })[];
  routeHints: RouteHintHop[][];
  features: FeatureVector;
  paymentMetadata?: Uint8Array;
  /** The payee: the `n` field, or recovered from the signature. */
  payeePubkey: Uint8Array;
  /** 64-byte r||s and the recovery id. */
  signature: { compact: Uint8Array; recovery: number };
  /** Human-readable part and raw fields, for exact re-encoding. */
  hrp: string;
  tagged: TaggedField[];
}

const fail = (field: string, reason: string): never => {
  throw new DecodeError(field, reason);
};

function minimalInt(words: number[], field: string): number {
  if (words.length > 0 && words[0] === 0) fail(field, 'not minimally encoded (leading zero words)');
  if (words.length > 10) fail(field, 'integer too large');
  return wordsToInt(words);
}

function decodeRoute(words: number[]): RouteHintHop[] {
  const b = wordsToBytes(words);
  if (b.length === 0 || b.length % 51 !== 0) fail('r', `route hint of ${b.length} bytes is not a multiple of 51`);
  const hops: RouteHintHop[] = [];
  for (let i = 0; i < b.length; i += 51) {
    const v = new DataView(b.buffer, b.byteOffset + i, 51);
    hops.push({
      pubkey: b.slice(i, i + 33),
      shortChannelId: v.getBigUint64(33),
      feeBaseMsat: v.getUint32(41),
      feeProportionalMillionths: v.getUint32(45),
      cltvExpiryDelta: v.getUint16(49),
    });
  }
  return hops;
}

/** The bytes signed: hrp as UTF-8, then the data words with zero bits padding the last byte. */
function signingData(hrp: string, words: number[]): Uint8Array {
  const padded = words.length % 8 === 0 ? words : [...words, ...new Array<number>(8 - (words.length % 8)).fill(0)];
  return concat(new TextEncoder().encode(hrp), wordsToBytes(padded).slice(0, Math.ceil((words.length * 5) / 8)));
}

export function decodeInvoice(invoice: string): Invoice {
  if (typeof invoice !== 'string') fail('invoice', 'not a string');
  if (invoice.length > MAX_INVOICE_LENGTH) fail('invoice', `longer than ${MAX_INVOICE_LENGTH} characters`);
  if (invoice !== invoice.toLowerCase() && invoice !== invoice.toUpperCase()) fail('bech32', 'mixed case');
  const s = invoice.toLowerCase();
  const sep = s.lastIndexOf('1');
  if (sep < 1) fail('bech32', 'no separator "1"');
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32.decode(s as `${string}1${string}`, false);
  } catch (e) {
    return fail('bech32', (e as Error).message.includes('checksum') ? 'invalid checksum' : `malformed: ${(e as Error).message}`);
  }
  const hrp = decoded.prefix;
  const words = decoded.words;
  const match = PREFIXES.find(([p]) => hrp.startsWith(p));
  if (!match) return fail('prefix', `unknown currency prefix in "${hrp.slice(0, 12)}"`);
  const [prefix, network] = match;
  const amountPart = hrp.slice(prefix.length);
  const amountMsat = amountPart === '' ? undefined : parseAmount(amountPart);
  if (words.length < 7 + 104) fail('data', 'too short to hold a timestamp and a signature');

  const data = words.slice(0, words.length - 104);
  const sigBytes = wordsToBytes(words.slice(words.length - 104));
  const compact = sigBytes.slice(0, 64);
  const recovery = sigBytes[64]!;
  if (recovery > 3) fail('signature', `recovery id ${recovery} is not 0..3`);
  const timestamp = wordsToInt(data.slice(0, 7));

  const tagged: TaggedField[] = [];
  for (let i = 7; i < data.length; ) {
    if (i + 3 > data.length) fail('tagged', 'truncated field header');
    const type = data[i]!;
    const len = data[i + 1]! * 32 + data[i + 2]!;
    if (i + 3 + len > data.length) fail('tagged', `field ${type} runs past the end`);
    tagged.push({ type, words: data.slice(i + 3, i + 3 + len) });
    i += 3 + len;
  }

  const out: Partial<Invoice> & { fallbacks: Invoice['fallbacks']; routeHints: RouteHintHop[][] } = {
    network,
    timestamp,
    fallbacks: [],
    routeHints: [],
    hrp,
    tagged,
  };
  if (amountMsat !== undefined) out.amountMsat = amountMsat;
  let payee: Uint8Array | undefined;
  for (const f of tagged) {
    const w = f.words;
    switch (f.type) {
      case Tag.p:
        if (w.length !== 52) break; // wrong length: skipped, as the spec's examples require
        out.paymentHash ??= exactBytes(w, 32, 'p');
        break;
      case Tag.s:
        if (w.length !== 52) break; // wrong length: skipped, as the spec's examples require
        out.paymentSecret ??= exactBytes(w, 32, 's');
        break;
      case Tag.h:
        if (w.length !== 52) break; // wrong length: skipped, as the spec's examples require
        if (out.descriptionHash) fail('h', 'more than one description_hash');
        out.descriptionHash = exactBytes(w, 32, 'h');
        break;
      case Tag.n:
        if (w.length !== 53) break; // wrong length: skipped, as the spec's examples require
        payee ??= exactBytes(w, 33, 'n');
        break;
      case Tag.d:
        if (out.description !== undefined) fail('d', 'more than one description');
        try {
          out.description = new TextDecoder('utf-8', { fatal: true }).decode(wordsToBytes(w));
        } catch {
          fail('d', 'description is not valid UTF-8');
        }
        break;
      case Tag.x:
        out.expirySeconds ??= minimalInt(w, 'x');
        break;
      case Tag.c:
        out.minFinalCltvExpiryDelta ??= minimalInt(w, 'c');
        break;
      case Tag.f: {
        if (w.length < 1) fail('f', 'empty fallback');
        const fb = { version: w[0]!, program: wordsToBytes(w.slice(1)) };
        if (fb.version > 18) break; // unknown version: skipped, as the spec requires
        if (!validFallback(fb)) fail('f', `invalid fallback program for version ${fb.version}`);
        out.fallbacks.push({ ...fb, address: fallbackAddress(fb, network) });
        break;
      }
      case Tag.r:
        out.routeHints.push(decodeRoute(w));
        break;
      case Tag['9']: {
        if (w.length > 0 && w[0] === 0) fail('9', 'features not minimally encoded');
        // The field is big-endian 5-bit groups: bit 0 is the last word's lowest bit.
        const bits: number[] = [];
        w.forEach((word, i) => {
          for (let b = 0; b < 5; b++) if (word & (1 << b)) bits.push((w.length - 1 - i) * 5 + b);
        });
        out.features = FeatureVector.of(...bits);
        break;
      }
      case Tag.m:
        out.paymentMetadata ??= wordsToBytes(w);
        break;
      default:
        break; // unknown field: kept in `tagged`, otherwise ignored
    }
  }
  if (!out.paymentHash) fail('p', 'missing payment_hash');
  if (!out.paymentSecret) fail('s', 'missing payment_secret');
  if ((out.description === undefined) === (out.descriptionHash === undefined)) {
    fail('d', out.description === undefined ? 'neither description nor description_hash' : 'both description and description_hash');
  }
  out.features ??= FeatureVector.empty();
  const unknown = unknownCompulsory(out.features, KNOWN_INVOICE_FEATURES);
  if (unknown.length) fail('9', `unknown required feature bit ${unknown.join(', ')}`);
  out.expirySeconds ??= DEFAULT_EXPIRY_SECONDS;
  out.minFinalCltvExpiryDelta ??= DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA;

  const hash = sha256(signingData(hrp, data));
  if (payee) {
    if (!curve.verify(compact, hash, payee)) fail('signature', 'does not verify against the n field (or is high-S)');
  } else {
    // High-S signatures are accepted here: recover from their low-S twin, as the spec's example does.
    payee = curve.recover(lowS(compact), recovery, hash);
    if (!payee) fail('signature', 'public key is not recoverable');
  }
  out.payeePubkey = payee;
  out.signature = { compact, recovery };
  return out as Invoice;
}

export function isExpired(invoice: Pick<Invoice, 'timestamp' | 'expirySeconds'>, nowSeconds: number): boolean {
  return nowSeconds >= invoice.timestamp + invoice.expirySeconds;
}

/** What a payee chooses for a new invoice. */
export interface InvoiceParams extends InvoiceTerms {
  expirySeconds?: number;
  minFinalCltvExpiryDelta?: number;
  fallbacks?: Fallback[];
  routeHints?: RouteHintHop[][];
  features?: FeatureVector;
  paymentMetadata?: Uint8Array;
  /** Include the payee key as an `n` field (saves the payer a recovery). */
  includePayee?: boolean;
}

function need(cond: boolean, field: string, reason: string): void {
  if (!cond) throw new EncodeError(field, reason);
}

/** Builds the tagged fields of a new invoice in a fixed order: s p d|h x c f* r* 9 m n. */
export function taggedFields(p: InvoiceParams, payee: Uint8Array): TaggedField[] {
  need(p.paymentHash?.length === 32, 'paymentHash', 'expected 32 bytes');
  need(p.paymentSecret?.length === 32, 'paymentSecret', 'expected 32 bytes');
  need((p.description === undefined) !== (p.descriptionHash === undefined), 'description', 'exactly one of description and descriptionHash');
  const f: TaggedField[] = [
    { type: Tag.s, words: bytesToWords(p.paymentSecret) },
    { type: Tag.p, words: bytesToWords(p.paymentHash) },
  ];
  if (p.description !== undefined) {
    const d = new TextEncoder().encode(p.description);
    need(d.length <= 639, 'description', 'longer than 639 bytes: use descriptionHash');
    f.push({ type: Tag.d, words: bytesToWords(d) });
  } else {
    need(p.descriptionHash!.length === 32, 'descriptionHash', 'expected 32 bytes');
    f.push({ type: Tag.h, words: bytesToWords(p.descriptionHash!) });
  }
  if (p.expirySeconds !== undefined) {
    need(Number.isSafeInteger(p.expirySeconds) && p.expirySeconds >= 0, 'expirySeconds', 'expected a non-negative integer');
    f.push({ type: Tag.x, words: intToWords(p.expirySeconds) });
  }
  if (p.minFinalCltvExpiryDelta !== undefined) {
    need(Number.isSafeInteger(p.minFinalCltvExpiryDelta) && p.minFinalCltvExpiryDelta >= 0, 'minFinalCltvExpiryDelta', 'expected a non-negative integer');
    f.push({ type: Tag.c, words: intToWords(p.minFinalCltvExpiryDelta) });
  }
  for (const fb of p.fallbacks ?? []) {
    need(validFallback(fb), 'fallbacks', `invalid program for version ${fb.version}`);
    f.push({ type: Tag.f, words: [fb.version, ...bytesToWords(fb.program)] });
  }
  for (const route of p.routeHints ?? []) {
    need(route.length > 0 && route.length <= 12, 'routeHints', 'a route has 1 to 12 hops');
    const b = new Uint8Array(51 * route.length);
    route.forEach((h, i) => {
      need(h.pubkey.length === 33, 'routeHints.pubkey', 'expected 33 bytes');
      b.set(h.pubkey, 51 * i);
      const v = new DataView(b.buffer, 51 * i, 51);
      v.setBigUint64(33, h.shortChannelId);
      v.setUint32(41, h.feeBaseMsat);
      v.setUint32(45, h.feeProportionalMillionths);
      v.setUint16(49, h.cltvExpiryDelta);
    });
    f.push({ type: Tag.r, words: bytesToWords(b) });
  }
  const features = p.features ?? FeatureVector.empty();
  const bits = features.list();
  if (bits.length) {
    const top = Math.max(...bits);
    const words = new Array<number>(Math.floor(top / 5) + 1).fill(0);
    for (const bit of bits) words[words.length - 1 - Math.floor(bit / 5)]! |= 1 << bit % 5;
    f.push({ type: Tag['9'], words });
  }
  if (p.paymentMetadata) f.push({ type: Tag.m, words: bytesToWords(p.paymentMetadata) });
  if (p.includePayee) f.push({ type: Tag.n, words: bytesToWords(payee) });
  return f;
}

/** Signs raw parts (as kept in a decoded invoice) and returns the bech32 string. */
export function signTagged(hrp: string, timestamp: number, tagged: TaggedField[], privateKey: Uint8Array): string {
  need(Number.isSafeInteger(timestamp) && timestamp >= 0 && timestamp < 2 ** 35, 'timestamp', 'expected 0..2^35');
  const data = [...intToFixedWords(timestamp, 7)];
  for (const f of tagged) {
    need(f.words.length < 1024, `field ${f.type}`, 'data longer than 1023 words');
    data.push(f.type, f.words.length >> 5, f.words.length & 31, ...f.words);
  }
  const hash = sha256(signingData(hrp, data));
  const sig = curve.signRecoverable(hash, privateKey);
  const sigWords = bytesToWords(concat(sig.compact, Uint8Array.of(sig.recovery)));
  const out = bech32.encode(hrp, [...data, ...sigWords], false);
  if (out.length > MAX_INVOICE_LENGTH) throw new EncodeError('invoice', `longer than ${MAX_INVOICE_LENGTH} characters`);
  return out;
}

export function encodeInvoice(params: InvoiceParams, privateKey: Uint8Array): string {
  need(privateKey?.length === 32, 'privateKey', 'expected 32 bytes');
  const payee = curve.publicKey(privateKey);
  const hrp = PREFIX_OF[params.network] + (params.amountMsat === undefined ? '' : formatAmount(params.amountMsat));
  return signTagged(hrp, params.timestamp, taggedFields(params, payee), privateKey);
}

/** True when `invoice` commits to `description` through its description_hash. */
export function matchesDescription(invoice: Invoice, description: Uint8Array): boolean {
  return invoice.descriptionHash !== undefined && equalBytes(sha256(description), invoice.descriptionHash);
}
