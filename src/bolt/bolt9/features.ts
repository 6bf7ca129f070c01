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

/** A set of feature bits. Immutable; `with` returns a new vector. */
export class FeatureVector {
  private constructor(private readonly bits: ReadonlySet<number>) {}

  static empty(): FeatureVector {
    return new FeatureVector(new Set());
  }

  static of(...bits: number[]): FeatureVector {
    for (const b of bits) {
      if (!Number.isInteger(b) || b < 0 || b > 8 * 0xffff) throw new EncodeError('features', `bad feature bit ${b}`);
    }
    return new FeatureVector(new Set(bits));
  }

  /** Decodes a big-endian bit field: the last byte's least significant bit is bit 0. */
  static decode(bytes: Uint8Array, field = 'features'): FeatureVector {
    if (bytes.length > 0xffff) throw new DecodeError(field, 'feature vector too long');
    const bits = new Set<number>();
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[bytes.length - 1 - i]!;
      for (let b = 0; b < 8; b++) if (byte & (1 << b)) bits.add(i * 8 + b);
    }
    return new FeatureVector(bits);
  }

  /** The minimal big-endian encoding (no leading zero bytes). */
  encode(): Uint8Array {
    const top = Math.max(-1, ...this.bits);
    const out = new Uint8Array(Math.floor(top / 8) + 1);
    for (const bit of this.bits) out[out.length - 1 - Math.floor(bit / 8)]! |= 1 << bit % 8;
    return out;
  }

  has(bit: number): boolean {
    return this.bits.has(bit);
  }

  /** Set as compulsory or optional (either bit of the pair). */
  supports(feature: FeatureName | number): boolean {
    const even = typeof feature === 'number' ? feature - (feature % 2) : Feature[feature];
    return this.bits.has(even) || this.bits.has(even + 1);
  }

  requires(feature: FeatureName): boolean {
    return this.bits.has(Feature[feature]);
  }

  with(...bits: number[]): FeatureVector {
    return FeatureVector.of(...this.bits, ...bits);
  }

  /** Bitwise OR, as `init` combines globalfeatures and features. */
  or(other: FeatureVector): FeatureVector {
    return FeatureVector.of(...this.bits, ...other.bits);
  }

  list(): number[] {
    return [...this.bits].sort((a, b) => a - b);
  }

  equals(other: FeatureVector): boolean {
    const a = this.list();
    const b = other.list();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
}

/** Even bits set that are not in `known` (pass the even bits we implement): the peer requires what we lack. */
export function unknownCompulsory(features: FeatureVector, known: Iterable<number>): number[] {
  const knownEven = new Set([...known].map((b) => b - (b % 2)));
  return features.list().filter((b) => b % 2 === 0 && !knownEven.has(b));
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
