/**
 * BIP39 mnemonics for the node's seed: 24 English words (256 bits of
 * entropy) and an optional passphrase, turned into the 64-byte BIP39 seed
 * from which the node key, the wallet and every channel key derive
 * (identity.ts). The words are what a person writes down; reading them back
 * must say which word is wrong, so a typo costs a minute, not the funds.
 */
import { entropyToMnemonic, mnemonicToEntropy, mnemonicToSeedSync } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';

/** Words of a new mnemonic: 256 bits of entropy plus an 8-bit checksum, as lnd's and most wallets' 24 words. */
export const MNEMONIC_WORDS = 24;
/** Word counts BIP39 defines (128..256 bits); any of them restores. */
const VALID_COUNTS: readonly number[] = [12, 15, 18, 21, 24];

export class MnemonicError extends Error {
  override readonly name = 'MnemonicError';
}

/** A new 24-word mnemonic from 32 random bytes. */
export function newMnemonic(random: (n: number) => Uint8Array): string[] {
  return entropyToMnemonic(random(32), wordlist).split(' ');
}

/** Lower case, NFKD (BIP39's normalisation), one space between words. */
export function normalizeWords(text: string): string[] {
  return text.normalize('NFKD').toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}

/**
 * Checks words read from a person: the count, every word in the list (the
 * first one that is not is named, with its position and the list words it
 * may have meant), then the checksum. Returns the normalised words.
 */
export function checkMnemonic(text: string): string[] {
  const words = normalizeWords(text);
  if (!VALID_COUNTS.includes(words.length)) {
    throw new MnemonicError(`a mnemonic has ${VALID_COUNTS.join(', ')} words (lnnode writes ${MNEMONIC_WORDS}); got ${words.length}`);
  }
  const known = new Set(wordlist);
  for (const [i, w] of words.entries()) {
    if (known.has(w)) continue;
    const near = suggestions(w);
    throw new MnemonicError(`word ${i + 1} "${w}" is not in the BIP39 English word list${near.length ? ` (did you mean ${near.map((s) => `"${s}"`).join(' or ')}?)` : ''}`);
  }
  try {
    mnemonicToEntropy(words.join(' '), wordlist);
  } catch {
    throw new MnemonicError(
      `the checksum does not match: every word is in the list, but one is wrong or two are swapped (the last word, "${words[words.length - 1]}", carries the checksum); check them against your backup in order`,
    );
  }
  return words;
}

/** The 64-byte BIP39 seed of checked words and a passphrase ("" when none). */
export function seedOfMnemonic(words: readonly string[], passphrase = ''): Uint8Array {
  return mnemonicToSeedSync(words.join(' '), passphrase.normalize('NFKD'));
}

/**
 * List words a mistyped word may have meant: those sharing its first four
 * letters (unique in the English list), else those one edit away.
 */
function suggestions(w: string): string[] {
  if (w.length >= 4) {
    const byPrefix = wordlist.filter((x) => x.startsWith(w.slice(0, 4)));
    if (byPrefix.length) return byPrefix.slice(0, 3);
  }
  return wordlist.filter((x) => editDistanceAtMostOne(w, x)).slice(0, 3);
}

function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}
