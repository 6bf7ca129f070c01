/**
 * Closing: shutdown, the legacy closing_signed fee negotiation (with
 * fee_range), and option_simple_close's closing_complete / closing_sig.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#channel-close
 */
import { DecodeError, EncodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { field, fixedBytes, type TlvCodec } from '../bolt1/tlv.ts';
import { type Sat, sat } from '../units.ts';
import { channelId, message, satoshis, signature, u16Bytes, u32 } from '../struct.ts';
import { Bolt2Type } from './types.ts';

export const shutdown = message(Bolt2Type.shutdown, 'shutdown', { channelId, scriptpubkey: u16Bytes });

export interface FeeRange {
  minFeeSatoshis: Sat;
  maxFeeSatoshis: Sat;
}

const feeRange: TlvCodec<FeeRange> = {
  decode(v, f) {
    if (v.length !== 16) throw new DecodeError(f, `expected 16 bytes, got ${v.length}`);
    const r = new Reader(v, f);
    return { minFeeSatoshis: sat(r.u64('min_fee_satoshis')), maxFeeSatoshis: sat(r.u64('max_fee_satoshis')) };
  },
  encode(v, f) {
    if (v.minFeeSatoshis > v.maxFeeSatoshis) throw new EncodeError(f, 'min_fee_satoshis exceeds max_fee_satoshis');
    return new Writer(16).u64(v.minFeeSatoshis).u64(v.maxFeeSatoshis).finish();
  },
};

export const closingSigned = message(
  Bolt2Type.closing_signed,
  'closing_signed',
  { channelId, feeSatoshis: satoshis, signature },
  { feeRange: field(1, feeRange) },
);

const closingTlvs = {
  closerOutputOnly: field(1, fixedBytes(64)),
  closeeOutputOnly: field(2, fixedBytes(64)),
  closerAndCloseeOutputs: field(3, fixedBytes(64)),
};

const closingFields = {
  channelId,
  closerScriptpubkey: u16Bytes,
  closeeScriptpubkey: u16Bytes,
  feeSatoshis: satoshis,
  locktime: u32,
};

export const closingComplete = message(Bolt2Type.closing_complete, 'closing_complete', closingFields, closingTlvs);
export const closingSig = message(Bolt2Type.closing_sig, 'closing_sig', closingFields, closingTlvs);
