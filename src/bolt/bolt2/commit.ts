/**
 * Committing updates: commitment_signed and revoke_and_ack; and
 * channel_reestablish, which resumes them after a reconnection.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#committing-updates-so-far-commitment_signed
 */
import { DecodeError, EncodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { field, fixedBytes, type TlvCodec } from '../bolt1/tlv.ts';
import { bytes, channelId, message, point, signature, u16Array, u64, u8 } from '../struct.ts';
import { Bolt2Type } from './types.ts';

export const commitmentSigned = message(
  Bolt2Type.commitment_signed,
  'commitment_signed',
  { channelId, signature, htlcSignatures: u16Array(signature, 64) },
  { fundingTxid: field(1, fixedBytes(32)) },
);

export const revokeAndAck = message(Bolt2Type.revoke_and_ack, 'revoke_and_ack', {
  channelId,
  perCommitmentSecret: bytes(32),
  nextPerCommitmentPoint: point,
});

export interface FundingTxidFlags {
  txid: Uint8Array;
  retransmitFlags: number;
}

const txidAndFlags: TlvCodec<FundingTxidFlags> = {
  decode(v, f) {
    if (v.length !== 33) throw new DecodeError(f, `expected 33 bytes, got ${v.length}`);
    const r = new Reader(v, f);
    return { txid: r.bytes(32, 'txid'), retransmitFlags: r.u8('retransmit_flags') };
  },
  encode(v, f) {
    if (v.txid.length !== 32) throw new EncodeError(f, 'txid must be 32 bytes');
    return new Writer(33).bytes(v.txid).u8(v.retransmitFlags).finish();
  },
};

export const channelReestablish = message(
  Bolt2Type.channel_reestablish,
  'channel_reestablish',
  {
    channelId,
    nextCommitmentNumber: u64,
    nextRevocationNumber: u64,
    yourLastPerCommitmentSecret: bytes(32),
    myCurrentPerCommitmentPoint: point,
  },
  { nextFunding: field(1, txidAndFlags), myCurrentFundingLocked: field(5, txidAndFlags) },
);

export const stfu = message(Bolt2Type.stfu, 'stfu', { channelId, initiator: u8 });
