/**
 * The per-hop `payload` TLV stream (BOLT #4 "`payload` format") and the
 * reader's requirements for it ("Requirements", the reader part): what a
 * forwarding hop, a final node, and a node inside a blinded route must find.
 *
 * Route blinding is not implemented yet: `encrypted_recipient_data` and
 * `current_path_key` are parsed (the latter must be a valid point) and
 * handed back opaque.
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#payload-format
 */
import { Reader, Writer, checkBytes } from '../bytes.ts';
import { EncodeError } from '../errors.ts';
import {
  decodeTlvStream,
  encodeTlvStream,
  field,
  fixedBytes,
  point,
  tu32,
  tu64,
  varBytes,
  type TlvCodec,
  type TlvRecord,
} from '../bolt1/tlv.ts';
import { decodeTruncated, encodeTruncated } from '../bolt1/bigsize.ts';
import { type CltvExpiry, type Msat } from '../units.ts';

export interface PaymentData {
  paymentSecret: Uint8Array;
  totalMsat: Msat;
}

const msatCodec: TlvCodec<Msat> = {
  decode: (v, f) => tu64.decode(v, f) as Msat,
  encode: (v, f) => tu64.encode(v, f),
};

const cltvCodec: TlvCodec<CltvExpiry> = {
  decode: (v, f) => tu32.decode(v, f) as CltvExpiry,
  encode: (v, f) => tu32.encode(v, f),
};

/** [32*byte:payment_secret][tu64:total_msat]: a truncated integer after a fixed field. */
const paymentDataCodec: TlvCodec<PaymentData> = {
  decode: (v, f) => {
    const r = new Reader(v, f);
    const paymentSecret = r.bytes(32, 'payment_secret');
    const totalMsat = decodeTruncated(r.rest(), 8, `${f}.total_msat`) as Msat;
    return { paymentSecret, totalMsat };
  },
  encode: (v, f) => {
    checkBytes(v.paymentSecret, 32, `${f}.payment_secret`);
    return new Writer(40)
      .bytes(v.paymentSecret)
      .bytes(encodeTruncated(v.totalMsat, 8, `${f}.total_msat`))
      .finish();
  },
};

export const hopPayloadSchema = {
  amt_to_forward: field(2, msatCodec),
  outgoing_cltv_value: field(4, cltvCodec),
  /** The outgoing channel, as the 8 raw bytes of a BOLT #7 short_channel_id. */
  short_channel_id: field(6, fixedBytes(8)),
  payment_data: field(8, paymentDataCodec),
  encrypted_recipient_data: field(10, varBytes),
  current_path_key: field(12, point),
  payment_metadata: field(16, varBytes),
  total_amount_msat: field(18, msatCodec),
};

export interface HopPayload {
  amt_to_forward?: Msat;
  outgoing_cltv_value?: CltvExpiry;
  short_channel_id?: Uint8Array;
  payment_data?: PaymentData;
  encrypted_recipient_data?: Uint8Array;
  current_path_key?: Uint8Array;
  payment_metadata?: Uint8Array;
  total_amount_msat?: Msat;
  /** Unknown odd records, kept so re-encoding is byte-identical. */
  unknownTlvs?: TlvRecord[];
}

/** Decodes the payload bytes peelOnion returns. Throws only DecodeError. */
export function decodeHopPayload(bytes: Uint8Array): HopPayload {
  const { values, unknown } = decodeTlvStream(hopPayloadSchema, bytes, 'payload');
  const out: HopPayload = { ...values };
  if (unknown.length > 0) out.unknownTlvs = unknown;
  return out;
}

export function encodeHopPayload(p: HopPayload): Uint8Array {
  const { unknownTlvs, ...values } = p;
  for (const rec of unknownTlvs ?? []) {
    if (rec.type % 2n === 0n) throw new EncodeError('payload.unknownTlvs', `even type ${rec.type} is not unknown-safe`);
  }
  return encodeTlvStream(hopPayloadSchema, values, unknownTlvs ?? [], 'payload');
}

/** A hop that forwards over a channel it was told about in clear. */
export interface ForwardHop {
  kind: 'forward';
  amtToForward: Msat;
  outgoingCltvValue: CltvExpiry;
  shortChannelId: Uint8Array;
}

/** The recipient of a payment outside any blinded route. */
export interface FinalHop {
  kind: 'final';
  amtToForward: Msat;
  outgoingCltvValue: CltvExpiry;
  /** `total_msat` from payment_data (or total_amount_msat), else amt_to_forward, as the spec says to treat it. */
  totalMsat: Msat;
  paymentSecret?: Uint8Array;
  paymentMetadata?: Uint8Array;
}

/** A hop inside a blinded route; its instructions are in the encrypted data we do not yet decrypt. */
export interface BlindedHop {
  kind: 'blinded';
  isFinal: boolean;
  encryptedRecipientData: Uint8Array;
  currentPathKey?: Uint8Array;
  /** Present (and required) only at the final node of a blinded route. */
  amtToForward?: Msat;
  outgoingCltvValue?: CltvExpiry;
  totalAmountMsat?: Msat;
}

/**
 * Why a payload was refused, with the TLV type at fault (0 when the stream as
 * a whole is wrong): the data of an invalid_onion_payload failure.
 */
export interface HopPayloadProblem {
  reason:
    | 'missing_required_field'
    | 'forbidden_field'
    | 'path_key_conflict'
    | 'missing_path_key';
  tlvType: bigint;
}

export type HopPayloadCheck =
  | { ok: true; hop: ForwardHop | FinalHop | BlindedHop }
  | { ok: false; problem: HopPayloadProblem };

export interface HopPayloadContext {
  /** True when peelOnion returned 'final'. */
  isFinal: boolean;
  /** True when the incoming update_add_htlc carried a `path_key`. */
  pathKeyInUpdateAdd?: boolean;
}

const T = Object.fromEntries(Object.entries(hopPayloadSchema).map(([k, f]) => [k, f.type])) as {
  [K in keyof typeof hopPayloadSchema]: bigint;
};

function missing(tlvType: bigint): HopPayloadCheck {
  return { ok: false, problem: { reason: 'missing_required_field', tlvType } };
}

function forbidden(tlvType: bigint): HopPayloadCheck {
  return { ok: false, problem: { reason: 'forbidden_field', tlvType } };
}

/** The first known field present in `p` that is not in `allowed`. */
function firstExtra(p: HopPayload, allowed: (keyof typeof hopPayloadSchema)[]): bigint | undefined {
  const keys = (Object.keys(hopPayloadSchema) as (keyof typeof hopPayloadSchema)[]).filter(
    (k) => p[k] !== undefined && !allowed.includes(k),
  );
  return keys.length > 0 ? T[keys[0]!] : undefined;
}

/** Applies the reader's requirements of BOLT #4 "`payload` format". */
export function checkHopPayload(p: HopPayload, ctx: HopPayloadContext): HopPayloadCheck {
  if (p.encrypted_recipient_data !== undefined) {
    if (ctx.pathKeyInUpdateAdd && p.current_path_key !== undefined) {
      return { ok: false, problem: { reason: 'path_key_conflict', tlvType: T.current_path_key } };
    }
    if (!ctx.pathKeyInUpdateAdd && p.current_path_key === undefined) {
      return { ok: false, problem: { reason: 'missing_path_key', tlvType: T.current_path_key } };
    }
    if (!ctx.isFinal) {
      const extra = firstExtra(p, ['encrypted_recipient_data', 'current_path_key']);
      if (extra !== undefined) return forbidden(extra);
      const hop: BlindedHop = { kind: 'blinded', isFinal: false, encryptedRecipientData: p.encrypted_recipient_data };
      if (p.current_path_key) hop.currentPathKey = p.current_path_key;
      return { ok: true, hop };
    }
    const extra = firstExtra(p, [
      'encrypted_recipient_data',
      'current_path_key',
      'amt_to_forward',
      'outgoing_cltv_value',
      'total_amount_msat',
    ]);
    if (extra !== undefined) return forbidden(extra);
    if (p.amt_to_forward === undefined) return missing(T.amt_to_forward);
    if (p.outgoing_cltv_value === undefined) return missing(T.outgoing_cltv_value);
    if (p.total_amount_msat === undefined) return missing(T.total_amount_msat);
    const hop: BlindedHop = {
      kind: 'blinded',
      isFinal: true,
      encryptedRecipientData: p.encrypted_recipient_data,
      amtToForward: p.amt_to_forward,
      outgoingCltvValue: p.outgoing_cltv_value,
      totalAmountMsat: p.total_amount_msat,
    };
    if (p.current_path_key) hop.currentPathKey = p.current_path_key;
    return { ok: true, hop };
  }

  if (ctx.pathKeyInUpdateAdd) return { ok: false, problem: { reason: 'path_key_conflict', tlvType: 0n } };
  if (p.current_path_key !== undefined) return forbidden(T.current_path_key);
  if (p.amt_to_forward === undefined) return missing(T.amt_to_forward);
  if (p.outgoing_cltv_value === undefined) return missing(T.outgoing_cltv_value);
  if (!ctx.isFinal) {
    if (p.short_channel_id === undefined) return missing(T.short_channel_id);
    return {
      ok: true,
      hop: {
        kind: 'forward',
        amtToForward: p.amt_to_forward,
        outgoingCltvValue: p.outgoing_cltv_value,
        shortChannelId: p.short_channel_id,
      },
    };
  }
  const hop: FinalHop = {
    kind: 'final',
    amtToForward: p.amt_to_forward,
    outgoingCltvValue: p.outgoing_cltv_value,
    totalMsat: p.payment_data?.totalMsat ?? p.total_amount_msat ?? p.amt_to_forward,
  };
  if (p.payment_data) hop.paymentSecret = p.payment_data.paymentSecret;
  if (p.payment_metadata) hop.paymentMetadata = p.payment_metadata;
  return { ok: true, hop };
}
