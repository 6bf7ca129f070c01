/**
 * Fallback on-chain addresses (`f` field): version 0..16 is a segwit witness
 * program, 17 a P2PKH hash and 18 a P2SH hash; shown as the address string
 * of the invoice's network.
 */
import { base58check, bech32, bech32m } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { EncodeError } from '../errors.ts';

export type Network = 'bitcoin' | 'testnet' | 'signet' | 'regtest' | 'simnet';

const PARAMS: Record<Network, { bech32: string; p2pkh: number; p2sh: number }> = {
  bitcoin: { bech32: 'bc', p2pkh: 0x00, p2sh: 0x05 },
  testnet: { bech32: 'tb', p2pkh: 0x6f, p2sh: 0xc4 },
  signet: { bech32: 'tb', p2pkh: 0x6f, p2sh: 0xc4 },
  regtest: { bech32: 'bcrt', p2pkh: 0x6f, p2sh: 0xc4 },
  simnet: { bech32: 'sb', p2pkh: 0x3f, p2sh: 0x7b },
};

export interface Fallback {
  /** 0..16 witness version, 17 P2PKH, 18 P2SH. */
  version: number;
  program: Uint8Array;
}

const b58 = base58check(sha256);

export function fallbackAddress(f: Fallback, network: Network): string {
  const p = PARAMS[network];
  if (f.version === 17 || f.version === 18) {
    const prefix = f.version === 17 ? p.p2pkh : p.p2sh;
    const payload = new Uint8Array(21);
    payload[0] = prefix;
    payload.set(f.program, 1);
    return b58.encode(payload);
  }
  if (f.version > 16) throw new EncodeError('fallback.version', `unknown fallback version ${f.version}`);
  const words = [f.version, ...bech32.toWords(f.program)];
  return (f.version === 0 ? bech32 : bech32m).encode(p.bech32, words, false);
}

/** Whether a version's program length is valid (unknown versions are kept, not checked). */
export function validFallback(f: Fallback): boolean {
  if (f.version === 17 || f.version === 18) return f.program.length === 20;
  if (f.version === 0) return f.program.length === 20 || f.program.length === 32;
  if (f.version <= 16) return f.program.length >= 2 && f.program.length <= 40;
  return false;
}
