/**
 * `failuremsg`: a u16 failure code, the data fields that code defines, then an
 * optional TLV stream (BOLT #4 "Failure Messages").
 *
 * Each code's fields are declared once in a table that drives both decode and
 * encode. Bytes after the declared fields are kept verbatim in `extra` (the
 * origin node MUST ignore extra bytes; keeping them makes re-encoding exact);
 * `failureTlvs` reads them as TLV records when they are well formed.
 * Codes this spec version does not define decode to `name: 'unknown'` with the
 * data opaque, so the origin node can still act on the flag bits.
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#failure-messages
 */
import { Reader, Writer, checkBytes } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { readBigSize, writeBigSize } from '../bolt1/bigsize.ts';
import { readTlvRecords, type TlvRecord } from '../bolt1/tlv.ts';
import { type CltvExpiry, type Msat } from '../units.ts';
import { FailureCode, failureName, type FailureName } from './failure-codes.ts';

type OnionHashName = 'invalid_onion_version' | 'invalid_onion_hmac' | 'invalid_onion_key' | 'invalid_onion_blinding';
type NoDataName =
  | 'temporary_node_failure'
  | 'permanent_node_failure'
  | 'required_node_feature_missing'
  | 'permanent_channel_failure'
  | 'required_channel_feature_missing'
  | 'unknown_next_peer'
  | 'expiry_too_far'
  | 'mpp_timeout';

/** One decoded failure message; `channelUpdate` is opaque (BOLT #7 decodes it). */
export type FailureMessage = { extra?: Uint8Array } & (
  | { name: NoDataName }
  | { name: OnionHashName; sha256OfOnion: Uint8Array }
  | { name: 'temporary_channel_failure' | 'expiry_too_soon'; channelUpdate: Uint8Array }
  | { name: 'amount_below_minimum' | 'fee_insufficient'; htlcMsat: Msat; channelUpdate: Uint8Array }
  | { name: 'incorrect_cltv_expiry'; cltvExpiry: CltvExpiry; channelUpdate: Uint8Array }
  | { name: 'incorrect_or_unknown_payment_details'; htlcMsat: Msat; height: number }
  | { name: 'final_incorrect_cltv_expiry'; cltvExpiry: CltvExpiry }
  | { name: 'final_incorrect_htlc_amount'; incomingHtlcAmt: Msat }
  | { name: 'channel_disabled'; disabledFlags: number; channelUpdate: Uint8Array }
  | { name: 'invalid_onion_payload'; tlvType: bigint; offset: number }
  | { name: 'unknown'; code: number; data: Uint8Array }
);

type FieldKind = 'sha256' | 'u64' | 'u32' | 'u16' | 'bigsize' | 'u16bytes';
type Layout = Array<[key: string, wireName: string, kind: FieldKind]>;

const onionHash: Layout = [['sha256OfOnion', 'sha256_of_onion', 'sha256']];
const update: [string, string, FieldKind] = ['channelUpdate', 'channel_update', 'u16bytes'];

/** The data fields of every defined code, in wire order. */
const LAYOUTS: Record<FailureName, Layout> = {
  temporary_node_failure: [],
  permanent_node_failure: [],
  required_node_feature_missing: [],
  invalid_onion_version: onionHash,
  invalid_onion_hmac: onionHash,
  invalid_onion_key: onionHash,
  temporary_channel_failure: [update],
  permanent_channel_failure: [],
  required_channel_feature_missing: [],
  unknown_next_peer: [],
  amount_below_minimum: [['htlcMsat', 'htlc_msat', 'u64'], update],
  fee_insufficient: [['htlcMsat', 'htlc_msat', 'u64'], update],
  incorrect_cltv_expiry: [['cltvExpiry', 'cltv_expiry', 'u32'], update],
  expiry_too_soon: [update],
  incorrect_or_unknown_payment_details: [
    ['htlcMsat', 'htlc_msat', 'u64'],
    ['height', 'height', 'u32'],
  ],
  final_incorrect_cltv_expiry: [['cltvExpiry', 'cltv_expiry', 'u32']],
  final_incorrect_htlc_amount: [['incomingHtlcAmt', 'incoming_htlc_amt', 'u64']],
  channel_disabled: [['disabledFlags', 'disabled_flags', 'u16'], update],
  expiry_too_far: [],
  invalid_onion_payload: [
    ['tlvType', 'type', 'bigsize'],
    ['offset', 'offset', 'u16'],
  ],
  mpp_timeout: [],
  invalid_onion_blinding: onionHash,
};

/** Throws only DecodeError. */
export function decodeFailureMessage(bytes: Uint8Array): FailureMessage {
  const r = new Reader(bytes, 'failuremsg');
  const code = r.u16('failure_code');
  const name = failureName(code);
  if (name === undefined) return { name: 'unknown', code, data: r.rest() };
  const out: Record<string, unknown> = { name };
  for (const [key, wire, kind] of LAYOUTS[name]) {
    switch (kind) {
      case 'sha256':
        out[key] = r.bytes(32, wire);
        break;
      case 'u64':
        out[key] = r.u64(wire);
        break;
      case 'u32':
        out[key] = r.u32(wire);
        break;
      case 'u16':
        out[key] = r.u16(wire);
        break;
      case 'bigsize':
        out[key] = readBigSize(r, wire);
        break;
      case 'u16bytes':
        out[key] = r.u16Bytes(wire);
        break;
    }
  }
  if (r.remaining > 0) out.extra = r.rest();
  return out as FailureMessage;
}

export function encodeFailureMessage(msg: FailureMessage): Uint8Array {
  const w = new Writer();
  if (msg.name === 'unknown') {
    w.u16(msg.code, 'code').bytes(checkBytes(msg.data, undefined, 'data'));
  } else {
    const layout = LAYOUTS[msg.name];
    if (layout === undefined) throw new EncodeError('name', `unknown failure ${String(msg.name)}`);
    w.u16(FailureCode[msg.name], 'failure_code');
    const m = msg as unknown as Record<string, unknown>;
    for (const [key, , kind] of layout) {
      const v = m[key];
      switch (kind) {
        case 'sha256':
          w.bytes(checkBytes(v, 32, key));
          break;
        case 'u64':
          w.u64(v as bigint, key);
          break;
        case 'u32':
          w.u32(v as number, key);
          break;
        case 'u16':
          w.u16(v as number, key);
          break;
        case 'bigsize':
          writeBigSize(w, v as bigint, key);
          break;
        case 'u16bytes':
          w.u16Bytes(checkBytes(v, undefined, key), key);
          break;
      }
    }
  }
  if (msg.extra) w.bytes(checkBytes(msg.extra, undefined, 'extra'));
  return w.finish();
}

/** The trailing TLV stream of a failure message, or undefined if the extra bytes are not one. */
export function failureTlvs(msg: FailureMessage): TlvRecord[] | undefined {
  if (!msg.extra) return [];
  try {
    return readTlvRecords(msg.extra, 'failuremsg.tlvs');
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    throw e;
  }
}

/** The u16 code of any failure message, defined or not. */
export function failureMessageCode(msg: FailureMessage): number {
  return msg.name === 'unknown' ? msg.code : FailureCode[msg.name];
}
