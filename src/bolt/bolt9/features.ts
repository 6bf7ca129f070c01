/**
 * BOLT #9 feature bits: names, contexts, dependencies, feature vectors
 * (big-endian bit fields as carried in `init`, invoices and channel_type),
 * and the sets lnnode advertises.
 * https://github.com/lightning/bolts/blob/master/09-features.md
 */
import { DecodeError, EncodeError } from '../errors.ts';

/** The even (compulsory) bit of each pair; the odd bit (optional) is `bit + 1`. */
export const Feature = {
  option_data_loss_protect: 0,
  option_upfront_shutdown_script: 4,
  gossip_queries: 6,
  var_onion_optin: 8,
  gossip_queries_ex: 10,
  option_static_remotekey: 12,
  payment_secret: 14,
  basic_mpp: 16,
  option_support_large_channel: 18,
  option_anchors: 22,
  option_route_blinding: 24,
  option_shutdown_anysegwit: 26,
  option_dual_fund: 28,
  option_quiesce: 34,
  option_attribution_data: 36,
  option_onion_messages: 38,
  option_provide_storage: 42,
  option_channel_type: 44,
  option_scid_alias: 46,
  option_payment_metadata: 48,
  option_zeroconf: 50,
  option_simple_close: 60,
  option_splice: 62,
} as const;
export type FeatureName = keyof typeof Feature;

/** Features every node is ASSUMED to have (09-features.md); we set them compulsory. */
export const ASSUMED: readonly FeatureName[] = [
  'option_data_loss_protect',
  'var_onion_optin',
  'option_static_remotekey',
  'payment_secret',
  'option_channel_type',
];

/** Transitive dependencies from the table's Dependencies column. */
export const DEPENDENCIES: Partial<Record<FeatureName, FeatureName[]>> = {
  basic_mpp: ['payment_secret'],
  option_zeroconf: ['option_scid_alias'],
  option_simple_close: ['option_shutdown_anysegwit'],
};

const NAME_OF = new Map<number, FeatureName>(
  (Object.entries(Feature) as [FeatureName, number][]).map(([n, b]) => [b, n]),
);

export function featureName(bit: number): string {
  const name = NAME_OF.get(bit - (bit % 2));
  return name ? `${name}${bit % 2 === 0 ? ' (compulsory)' : ' (optional)'}` : `unknown bit ${bit}`;
}

/**
 * A set of feature bits, held as the bit field itself (bytes, bit 0 in the
 * first byte's least significant bit, no trailing zero bytes), so decoding,
 * OR-ing and testing a bit cost what the bytes cost: a peer's init with 65 KB
 * of optional bits is one 65 KB array, not half a million set entries.
 * Immutable; `with` and `or` return new vectors.
 */
export class FeatureVector {
  /** Little-endian by byte: bytes[i] holds bits 8i..8i+7; the last byte is non-zero. */
  private constructor(private readonly bytes: Uint8Array) {}

  private static trimmed(bytes: Uint8Array): FeatureVector {
    let n = bytes.length;
    while (n > 0 && bytes[n - 1] === 0) n--;
    return new FeatureVector(n === bytes.length ? bytes : bytes.slice(0, n));
  }

  static empty(): FeatureVector {
    return new FeatureVector(new Uint8Array(0));
  }

  static of(...bits: number[]): FeatureVector {
    let top = -1;
    for (const b of bits) {
      if (!Number.isInteger(b) || b < 0 || b > 8 * 0xffff) throw new EncodeError('features', `bad feature bit ${b}`);
      if (b > top) top = b;
    }
    const out = new Uint8Array((top >> 3) + 1);
    for (const b of bits) out[b >> 3]! |= 1 << (b & 7);
    return new FeatureVector(out);
  }

  /** Decodes a big-endian bit field: the last byte's least significant bit is bit 0. */
  static decode(bytes: Uint8Array, field = 'features'): FeatureVector {
    if (bytes.length > 0xffff) throw new DecodeError(field, 'feature vector too long');
    return FeatureVector.trimmed(bytes.slice().reverse());
  }

  /** The minimal big-endian encoding (no leading zero bytes). */
  encode(): Uint8Array {
    return this.bytes.slice().reverse();
  }

  /** Bytes of the minimal encoding. */
  get byteLength(): number {
    return this.bytes.length;
  }

  has(bit: number): boolean {
    return bit >= 0 && ((this.bytes[bit >> 3] ?? 0) & (1 << (bit & 7))) !== 0;
  }

  /** Set as compulsory or optional (either bit of the pair). */
  supports(feature: FeatureName | number): boolean {
    const even = typeof feature === 'number' ? feature - (feature % 2) : Feature[feature];
    return this.has(even) || this.has(even + 1);
  }

  requires(feature: FeatureName): boolean {
    return this.has(Feature[feature]);
  }

  with(...bits: number[]): FeatureVector {
    return this.or(FeatureVector.of(...bits));
  }

  /** Bitwise OR, as `init` combines globalfeatures and features. */
  or(other: FeatureVector): FeatureVector {
    const [long, short] = this.bytes.length >= other.bytes.length ? [this.bytes, other.bytes] : [other.bytes, this.bytes];
    if (short.length === 0) return long === this.bytes ? this : other;
    const out = long.slice();
    for (let i = 0; i < short.length; i++) out[i]! |= short[i]!;
    return new FeatureVector(out);
  }

  /** The bits set, ascending; `only` keeps the even (compulsory) or odd (optional) ones. */
  list(only?: 'even' | 'odd'): number[] {
    const mask = only === 'even' ? 0x55 : only === 'odd' ? 0xaa : 0xff;
    const out: number[] = [];
    for (let i = 0; i < this.bytes.length; i++) {
      const byte = this.bytes[i]! & mask;
      if (byte === 0) continue;
      for (let b = 0; b < 8; b++) if (byte & (1 << b)) out.push(i * 8 + b);
    }
    return out;
  }

  equals(other: FeatureVector): boolean {
    if (this.bytes.length !== other.bytes.length) return false;
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] !== other.bytes[i]) return false;
    return true;
  }
}

/** Even bits set that are not in `known` (pass the even bits we implement): the peer requires what we lack. */
export function unknownCompulsory(features: FeatureVector, known: Iterable<number>): number[] {
  const knownEven = new Set([...known].map((b) => b - (b % 2)));
  return features.list('even').filter((b) => !knownEven.has(b));
}

/** Features set whose dependencies are not set; each as [feature, missing dependency]. */
export function missingDependencies(features: FeatureVector): [FeatureName, FeatureName][] {
  const out: [FeatureName, FeatureName][] = [];
  for (const [f, deps] of Object.entries(DEPENDENCIES) as [FeatureName, FeatureName[]][]) {
    if (!features.supports(f)) continue;
    for (const d of deps) if (!features.supports(d)) out.push([f, d]);
  }
  return out;
}

/** Features both sides offered, or that one side requires (BOLT 1 "negotiated"). */
export function negotiated(local: FeatureVector, remote: FeatureVector, feature: FeatureName): boolean {
  return (local.supports(feature) && remote.supports(feature)) || local.requires(feature) || remote.requires(feature);
}

const compulsory = (f: FeatureName): number => Feature[f];
const optional = (f: FeatureName): number => Feature[f] + 1;

/**
 * What lnnode puts in `init`: the ASSUMED features as compulsory (as current
 * lnd, LDK and CLN do), plus optional upfront_shutdown_script,
 * shutdown_anysegwit, scid_alias and option_anchors (anchors_zero_fee_htlc_tx:
 * the channel type we propose to a peer that offers it).
 */
export const LNNODE_INIT_FEATURES = FeatureVector.of(
  compulsory('option_data_loss_protect'),
  compulsory('var_onion_optin'),
  compulsory('option_static_remotekey'),
  compulsory('payment_secret'),
  optional('option_channel_type'),
  optional('option_upfront_shutdown_script'),
  optional('option_shutdown_anysegwit'),
  optional('option_scid_alias'),
  optional('option_anchors'),
);

/** Feature bits lnnode understands: a peer requiring any other even bit is refused. */
export const LNNODE_KNOWN_FEATURES: readonly number[] = [
  ...ASSUMED.map(compulsory),
  compulsory('option_upfront_shutdown_script'),
  compulsory('option_shutdown_anysegwit'),
  compulsory('option_scid_alias'),
  compulsory('gossip_queries'),
  compulsory('gossip_queries_ex'),
  compulsory('option_support_large_channel'),
  compulsory('basic_mpp'),
  compulsory('option_anchors'),
];

/** What lnnode's invoices carry in their `9` field. */
export const LNNODE_INVOICE_FEATURES = FeatureVector.of(compulsory('var_onion_optin'), compulsory('payment_secret'));
