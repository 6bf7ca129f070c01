/**
 * The node's identity: a 32-byte seed created on first start in the data
 * directory (file mode 0600, never logged), from which every key is derived.
 * The node key is the BIP32 key at m/1017'/0'/0' for the chosen network
 * (coin type 0 mainnet, 1 otherwise) so the same seed never yields the same
 * node id on two networks; the on-chain wallet uses BIP84 from the same seed.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { secp256k1 } from '@noble/curves/secp256k1.js';

export type Network = 'mainnet' | 'testnet' | 'signet' | 'regtest';

export interface NodeIdentity {
  /** 33-byte compressed node public key. */
  nodeId: Uint8Array;
  /** The node's static key for BOLT 8. Keep in memory only. */
  nodeSecret: Uint8Array;
  /** Root of all other keys (wallet, channels). */
  root: HDKey;
}

const SEED_FILE = 'seed';
const SEED_LEN = 32;

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/** Reads the seed from `dataDir`, creating it (0600) if absent. */
export function loadOrCreateSeed(dataDir: string, random: (n: number) => Uint8Array): Uint8Array {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, SEED_FILE);
  if (!existsSync(path)) {
    const seed = random(SEED_LEN);
    // 'wx' fails if another process created it meanwhile; never overwrite a seed.
    writeFileSync(path, seed, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new IdentityError(`${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  const seed = new Uint8Array(readFileSync(path));
  if (seed.length !== SEED_LEN) throw new IdentityError(`${path} holds ${seed.length} bytes, expected ${SEED_LEN}`);
  return seed;
}

export function coinType(network: Network): number {
  return network === 'mainnet' ? 0 : 1;
}

export function deriveIdentity(seed: Uint8Array, network: Network): NodeIdentity {
  const root = HDKey.fromMasterSeed(seed);
  const nodeKey = root.derive(`m/1017'/${coinType(network)}'/0'`);
  const nodeSecret = nodeKey.privateKey;
  if (!nodeSecret) throw new IdentityError('node key derivation gave no private key');
  return { nodeId: secp256k1.getPublicKey(nodeSecret, true), nodeSecret, root };
}
