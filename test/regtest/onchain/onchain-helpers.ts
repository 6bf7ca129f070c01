/**
 * What the on-chain lab tests share: holding an incoming HTLC unresolved on
 * a running node (so that commitments carry it), muting a node's updates,
 * and reading transactions off btcd.
 */
import { equalBytes, hex } from '../../../src/bolt/bytes.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type ChannelLab } from '../../lab/channel-lab.ts';

/**
 * Until the returned function is called, `n` leaves incoming HTLCs paying
 * `paymentHash` unresolved: its invoice hook throws, so the channel layer
 * keeps the HTLC on both commitments and tries again after the next
 * channel_reestablish (resolvePendingIncoming). No other HTLC is affected.
 */
export function holdIncoming(n: LightningNode, paymentHash: Uint8Array): () => void {
  const original = n.invoices.resolve.bind(n.invoices);
  n.invoices.resolve = (channelId, htlc, height) => {
    if (equalBytes(htlc.paymentHash, paymentHash)) throw new Error('held by the test');
    return original(channelId, htlc, height);
  };
  return () => (n.invoices.resolve = original);
}

/** From `n`'s first message named in `from` on, its peer hears nothing more from it. Returns the function that lets messages through again. */
export function muteFrom(n: LightningNode, from: readonly string[]): () => void {
  const original = n.peers.send.bind(n.peers);
  let muted = false;
  n.peers.send = (peer, name, msg) => {
    if (from.includes(name)) muted = true;
    if (!muted) original(peer, name, msg);
  };
  return () => (n.peers.send = original);
}

/** Drops and re-opens the connection between two nodes (a reestablish on both sides follows). */
export async function reconnect(a: LightningNode, b: LightningNode): Promise<void> {
  a.disconnect(b.nodeId);
  await Bun.sleep(300);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}

export interface DecodedTx {
  txid: string;
  vin: { txid: string; vout: number }[];
  vout: { value: number }[];
  confirmations?: number;
}

export const decoded = (lab: ChannelLab, txid: string): Promise<DecodedTx> => lab.btcd.rpc.call<DecodedTx>('getrawtransaction', txid, 1);

export const sendRaw = (lab: ChannelLab, raw: Uint8Array): Promise<string> => lab.btcd.rpc.call<string>('sendrawtransaction', hex(raw));
