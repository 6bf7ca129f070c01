/**
 * BOLT #4 Sphinx throughput: building payment onions (the 1-hop direct payment
 * lnnode sends, and a 5-hop route) and peeling one hop.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { constructOnion, peelOnion, type OnionHop } from '../src/bolt/bolt4/sphinx.ts';
import { opsPerSecond } from './measure.ts';
import type { Figure } from './run.ts';

function key(i: number): Uint8Array {
  return new Uint8Array(32).fill(i + 1);
}

export default async function bench(): Promise<Figure[]> {
  const paymentHash = new Uint8Array(32).fill(0x42);
  const sessionKey = new Uint8Array(32).fill(0x41);
  const hops: OnionHop[] = Array.from({ length: 5 }, (_, i) => ({
    pubkey: secp256k1.getPublicKey(key(i), true),
    // A typical TLV payload: amount, cltv, scid (or payment_data at the end).
    payload: new Uint8Array(i === 4 ? 50 : 19).fill(i),
  }));
  const oneHop = [{ ...hops[0]!, payload: new Uint8Array(50) }];
  const onion1 = constructOnion({ sessionKey, hops: oneHop, associatedData: paymentHash }).packet;
  const onion5 = constructOnion({ sessionKey, hops, associatedData: paymentHash }).packet;
  return [
    {
      name: 'construct 1-hop onion',
      value: opsPerSecond(() => constructOnion({ sessionKey, hops: oneHop, associatedData: paymentHash })),
      unit: 'onions/s',
    },
    {
      name: 'construct 5-hop onion',
      value: opsPerSecond(() => constructOnion({ sessionKey, hops, associatedData: paymentHash })),
      unit: 'onions/s',
    },
    {
      name: 'peel final hop (1-hop onion)',
      value: opsPerSecond(() => peelOnion(onion1, key(0), paymentHash)),
      unit: 'peels/s',
    },
    {
      name: 'peel forwarding hop (first of 5)',
      value: opsPerSecond(() => peelOnion(onion5, key(0), paymentHash)),
      unit: 'peels/s',
    },
  ];
}
