/**
 * Per-channel keys from the node seed: channel n uses the hardened subtree
 * m/1017'/coin'/1'/n', one hardened child per basepoint secret and one for
 * the shachain seed. Hardened all the way, so a leaked channel key reveals
 * nothing about other channels or the node key (m/1017'/coin'/0').
 */
import { type HDKey } from '@scure/bip32';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { coinType, type Network } from '../identity.ts';

export function channelSecrets(root: HDKey, network: Network, keyIndex: number): ChannelSecrets {
  const base = root.derive(`m/1017'/${coinType(network)}'/1'/${keyIndex}'`);
  const k = (i: number): Uint8Array => base.deriveChild(0x80000000 + i).privateKey!;
  return { funding: k(0), revocation: k(1), payment: k(2), delayedPayment: k(3), htlc: k(4), shachainSeed: k(5) };
}
