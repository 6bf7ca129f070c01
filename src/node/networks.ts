/**
 * The chains lnnode runs on and their BOLT chain hashes. A chain hash is the
 * genesis block hash in internal byte order (the reverse of how explorers
 * print it); init's `networks` TLV and open_channel's chain_hash carry it.
 */
import { fromHex } from '../bolt/bytes.ts';
import { type Network as Bolt11Network } from '../bolt/bolt11/fallback.ts';
import { type Network } from './identity.ts';

/** Genesis block hashes as block explorers print them. */
export const GENESIS: Readonly<Record<Network, string>> = {
  mainnet: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  testnet: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
};

export const NETWORKS: readonly Network[] = ['mainnet', 'testnet', 'signet', 'regtest'];

export function isNetwork(s: string): s is Network {
  return (NETWORKS as readonly string[]).includes(s);
}

/** The network name a BOLT 11 invoice carries (its prefix: lnbc is "bitcoin"). */
export function bolt11Network(network: Network): Bolt11Network {
  return network === 'mainnet' ? 'bitcoin' : network;
}

export function chainHash(network: Network): Uint8Array {
  return fromHex(GENESIS[network]).reverse();
}

/** Address encoding parameters (@scure/btc-signer's network shape). */
export interface AddressNetwork {
  bech32: string;
  pubKeyHash: number;
  scriptHash: number;
  wif: number;
}

export function addressNetwork(network: Network): AddressNetwork {
  switch (network) {
    case 'mainnet':
      return { bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, wif: 0x80 };
    case 'testnet':
    case 'signet':
      return { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
    case 'regtest':
      return { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
  }
}
