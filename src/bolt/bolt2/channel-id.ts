/**
 * channel_id: the funding txid (in the byte order it has on the wire, i.e.
 * internal order) with the funding output index XOR-ed into its last two bytes.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#definition-of-channel_id
 */
import { EncodeError } from '../errors.ts';

/** `fundingTxid` in internal byte order (the reverse of the usual display hex). */
export function channelIdFrom(fundingTxid: Uint8Array, outputIndex: number): Uint8Array {
  if (fundingTxid.length !== 32) throw new EncodeError('fundingTxid', 'expected 32 bytes');
  if (!Number.isInteger(outputIndex) || outputIndex < 0 || outputIndex > 0xffff) {
    throw new EncodeError('outputIndex', 'expected a u16');
  }
  const id = fundingTxid.slice();
  id[30]! ^= outputIndex >>> 8;
  id[31]! ^= outputIndex & 0xff;
  return id;
}
