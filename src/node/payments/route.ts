/**
 * A payment route as the payer builds it (BOLT 4 "Payload for the Last
 * Node", BOLT 7 "HTLC Fees"): walking back from the payee, each hop's
 * payload says what it must forward and until when, and each forwarding hop
 * adds its fee and its cltv_expiry_delta to the HTLC it receives. The HTLC we
 * offer is the first hop's; its expiry minus the tip is the route's total
 * CLTV, the number of blocks our money may stay locked, which a cap bounds
 * (2016 blocks by default, as lnd's and CLN's).
 *
 * Pure: no clock, no randomness; the tip height is a parameter.
 */
import { type HopPayload } from '../../bolt/bolt4/payload.ts';
import { type CltvExpiry, type Msat } from '../../bolt/units.ts';

/** lnd's --max-cltv-expiry and CLN's max-locktime-blocks: two weeks of blocks. */
export const DEFAULT_MAX_CLTV_DELTA = 2016;

/** A node the payment passes through, with the policy of the channel it forwards over. */
export interface ForwardingHop {
  pubkey: Uint8Array;
  /** The channel from this hop to the next one (8 bytes, BOLT 7 short_channel_id). */
  shortChannelId: Uint8Array;
  feeBaseMsat: bigint;
  feeProportionalMillionths: bigint;
  cltvExpiryDelta: number;
}

export interface FinalHop {
  pubkey: Uint8Array;
  amountMsat: Msat;
  /** Blocks the payee wants between the tip and its HTLC's expiry. */
  cltvDelta: number;
  paymentSecret: Uint8Array;
  paymentMetadata?: Uint8Array;
}

export interface Route {
  /** Node ids in order, the payee last: whose keys the onion is built for. */
  pubkeys: Uint8Array[];
  /** Each hop's payload, in the same order. */
  payloads: HopPayload[];
  /** The HTLC we offer to the first hop. */
  htlcAmountMsat: Msat;
  htlcCltvExpiry: CltvExpiry;
  /** Blocks from the tip to our HTLC's expiry. */
  totalCltvDelta: number;
  /** What the forwarding hops charge in total. */
  feeMsat: Msat;
}

/** BOLT 7: fee_base_msat + amount * fee_proportional_millionths / 1,000,000, rounded down. */
export function forwardingFee(hop: ForwardingHop, amountMsat: bigint): bigint {
  return hop.feeBaseMsat + (amountMsat * hop.feeProportionalMillionths) / 1_000_000n;
}

/** Builds the route through `via` (empty for a direct payment) to `final`, counted from `height`. */
export function buildRoute(via: ForwardingHop[], final: FinalHop, height: number): Route {
  let amount: bigint = final.amountMsat;
  let cltv = height + final.cltvDelta;
  const payloads: HopPayload[] = [
    {
      amt_to_forward: final.amountMsat,
      outgoing_cltv_value: cltv as CltvExpiry,
      payment_data: { paymentSecret: final.paymentSecret, totalMsat: final.amountMsat },
      ...(final.paymentMetadata ? { payment_metadata: final.paymentMetadata } : {}),
    },
  ];
  for (let i = via.length - 1; i >= 0; i--) {
    const hop = via[i]!;
    // This hop forwards `amount` until `cltv`; what it receives pays its fee and its delta.
    payloads.unshift({ amt_to_forward: amount as Msat, outgoing_cltv_value: cltv as CltvExpiry, short_channel_id: hop.shortChannelId });
    amount += forwardingFee(hop, amount);
    cltv += hop.cltvExpiryDelta;
  }
  return {
    pubkeys: [...via.map((h) => h.pubkey), final.pubkey],
    payloads,
    htlcAmountMsat: amount as Msat,
    htlcCltvExpiry: cltv as CltvExpiry,
    totalCltvDelta: cltv - height,
    feeMsat: (amount - final.amountMsat) as Msat,
  };
}
