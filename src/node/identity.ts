/**
 * The node's identity: a seed created on first start in the data directory
 * (file mode 0600, never logged), from which every key is derived. A new
 * node's seed is the 64-byte BIP39 seed of a 24-word mnemonic (mnemonic.ts)
 * shown once to the operator, so the words alone bring every key back; data
 * dirs made before mnemonics hold a raw 32-byte seed, which keeps working
 * but has no words (back up the file itself).
 * The node key is the BIP32 key at m/1017'/0'/0' for the chosen network
 * (coin type 0 mainnet, 1 otherwise) so the same seed never yields the same
 * node id on two networks; the on-chain wallet uses BIP84 from the same seed.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { curve } from '../bolt/curve.ts';
import { newMnemonic, seedOfMnemonic } from './mnemonic.ts';

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
/** A raw random seed, as lnnode wrote before mnemonics: no words exist for it. */
const RAW_SEED_LEN = 32;
/** The BIP39 seed of a mnemonic (PBKDF2-HMAC-SHA512 output). */
const BIP39_SEED_LEN = 64;

/** Where the seed came from on this start. */
export type SeedOrigin = 'created' | 'restored' | 'mnemonic' | 'raw';

export interface SeedSetup {
  /** Restore from these (checked) words instead of creating a seed; the data dir must hold none. */
  restore?: { words: string[]; passphrase?: string };
  /** Called with a restored seed before it is written: throws to refuse it (e.g. a channel backup it cannot open), leaving the data dir without a seed. */
  check?(seed: Uint8Array): void;
  /** BIP39 passphrase of a new mnemonic ("" when none). */
  passphrase?: string;
  /** Called once with the words of a new mnemonic, before anything else uses the seed: the one chance to show them. */
  onNewMnemonic?(words: string[]): void;
}

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/** Reads the seed from `dataDir`, creating one from a new mnemonic (0600) if absent. */
export function loadOrCreateSeed(dataDir: string, random: (n: number) => Uint8Array): Uint8Array {
  return openSeed(dataDir, random).seed;
}

/**
 * The seed of `dataDir`: the stored one; or, when there is none, one
 * restored from `setup.restore` or created from a new mnemonic (whose words
 * go to `setup.onNewMnemonic` before the file is written). A restore onto a
 * data dir that has a seed is refused: it would replace every key.
 */
export function openSeed(dataDir: string, random: (n: number) => Uint8Array, setup: SeedSetup = {}): { seed: Uint8Array; origin: SeedOrigin } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, SEED_FILE);
  let origin: SeedOrigin | undefined;
  if (!existsSync(path)) {
    let seed: Uint8Array;
    if (setup.restore) {
      seed = seedOfMnemonic(setup.restore.words, setup.restore.passphrase);
      setup.check?.(seed);
      origin = 'restored';
    } else {
      const words = newMnemonic(random);
      seed = seedOfMnemonic(words, setup.passphrase);
      setup.onNewMnemonic?.(words);
      origin = 'created';
    }
    // 'wx' fails if another process created it meanwhile; never overwrite a seed.
    writeFileSync(path, seed, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  } else if (setup.restore) {
    throw new IdentityError(`${path} exists: --restore needs a data dir without a seed (restoring would replace this node's keys); give an empty --data-dir`);
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new IdentityError(`${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  const seed = new Uint8Array(readFileSync(path));
  if (seed.length !== RAW_SEED_LEN && seed.length !== BIP39_SEED_LEN) {
    throw new IdentityError(`${path} holds ${seed.length} bytes, expected ${BIP39_SEED_LEN} (from a mnemonic) or ${RAW_SEED_LEN} (a raw seed of an older lnnode)`);
  }
  return { seed, origin: origin ?? (seed.length === RAW_SEED_LEN ? 'raw' : 'mnemonic') };
}

export function coinType(network: Network): number {
  return network === 'mainnet' ? 0 : 1;
}

export function deriveIdentity(seed: Uint8Array, network: Network): NodeIdentity {
  const root = HDKey.fromMasterSeed(seed);
  const nodeKey = root.derive(`m/1017'/${coinType(network)}'/0'`);
  const nodeSecret = nodeKey.privateKey;
  if (!nodeSecret) throw new IdentityError('node key derivation gave no private key');
  return { nodeId: curve.publicKey(nodeSecret), nodeSecret, root };
}
