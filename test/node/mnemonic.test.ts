/**
 * The seed's mnemonic: BIP39's official English vectors (passphrase TREZOR)
 * through the library as lnnode calls it, errors that name the bad word,
 * and the seed file: created from a new mnemonic whose words restore the
 * same node id, a restore refused onto a data dir that has a seed, and a raw
 * 32-byte seed of an older lnnode that keeps its node id.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entropyToMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { HDKey } from '@scure/bip32';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../src/bolt/bytes.ts';
import { deriveIdentity, IdentityError, openSeed } from '../../src/node/identity.ts';
import { checkMnemonic, MnemonicError, newMnemonic, seedOfMnemonic } from '../../src/node/mnemonic.ts';
import vectors from '../vectors/bip39/english.json';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'lnnode-mnemonic-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

describe('BIP39 official English vectors (passphrase TREZOR)', () => {
  test(`all ${vectors.english.length} vectors: entropy -> words, words -> 64-byte seed`, () => {
    expect(vectors.english.length).toBe(24);
    for (const [entropy, words, seed] of vectors.english as [string, string, string][]) {
      expect(entropyToMnemonic(Buffer.from(entropy, 'hex'), wordlist)).toBe(words);
      expect(checkMnemonic(words)).toEqual(words.split(' '));
      expect(hex(seedOfMnemonic(words.split(' '), vectors.passphrase))).toBe(seed);
    }
  });
});

describe('reading words back', () => {
  const words = (vectors.english[8] as string[])[1]!; // 24 words: abandon x23 art
  test('case, extra spaces and newlines do not matter', () => {
    expect(checkMnemonic(`  ${words.toUpperCase().replaceAll(' ', '\n  ')}  `)).toEqual(words.split(' '));
  });

  test('a word not in the list is named with its position and what it may have meant', () => {
    const typo = words.split(' ');
    typo[6] = 'abandn';
    expect(() => checkMnemonic(typo.join(' '))).toThrow(new MnemonicError('word 7 "abandn" is not in the BIP39 English word list (did you mean "abandon"?)'));
    typo[6] = 'abandonment';
    expect(() => checkMnemonic(typo.join(' '))).toThrow('word 7 "abandonment" is not in the BIP39 English word list (did you mean "abandon"?)');
  });

  test('valid words with a wrong checksum say so and name the checksum word', () => {
    const bad = words.split(' ');
    bad[23] = 'zoo';
    expect(() => checkMnemonic(bad.join(' '))).toThrow('the checksum does not match: every word is in the list, but one is wrong or two are swapped (the last word, "zoo", carries the checksum)');
  });

  test('a wrong number of words', () => {
    expect(() => checkMnemonic(words.split(' ').slice(0, 23).join(' '))).toThrow('a mnemonic has 12, 15, 18, 21, 24 words (lnnode writes 24); got 23');
  });

  test('a new mnemonic is 24 list words that pass the checksum', () => {
    const w = newMnemonic(random);
    expect(w).toHaveLength(24);
    expect(checkMnemonic(w.join(' '))).toEqual(w);
  });
});

describe('the seed file', () => {
  test('first start: a new mnemonic is shown once, its 64-byte seed stored 0600; the words restore the same node id', () => {
    const a = tmp();
    let shown: string[] = [];
    const first = openSeed(a, random, { onNewMnemonic: (w) => (shown = w) });
    expect(first.origin).toBe('created');
    expect(shown).toHaveLength(24);
    expect(first.seed.length).toBe(64);
    expect(statSync(join(a, 'seed')).mode & 0o777).toBe(0o600);
    expect(hex(first.seed)).toBe(hex(seedOfMnemonic(shown)));
    // A restart reads the file: no words asked or shown.
    let again = false;
    const second = openSeed(a, random, { onNewMnemonic: () => (again = true) });
    expect([second.origin, again, hex(second.seed)]).toEqual(['mnemonic', false, hex(first.seed)]);

    const b = tmp();
    const restored = openSeed(b, random, { restore: { words: shown } });
    expect(restored.origin).toBe('restored');
    expect(hex(deriveIdentity(restored.seed, 'regtest').nodeId)).toBe(hex(deriveIdentity(first.seed, 'regtest').nodeId));
    expect(hex(readFileSync(join(b, 'seed')))).toBe(hex(first.seed));
  });

  test('a passphrase gives another seed and node id; the same passphrase restores it', () => {
    const w = newMnemonic(random);
    const plain = openSeed(tmp(), random, { restore: { words: w } }).seed;
    const withPass = openSeed(tmp(), random, { restore: { words: w, passphrase: 'correct horse' } }).seed;
    expect(hex(withPass)).not.toBe(hex(plain));
    expect(hex(withPass)).toBe(hex(seedOfMnemonic(w, 'correct horse')));
  });

  test('a restore onto a data dir with a seed is refused and the seed is untouched', () => {
    const d = tmp();
    const s = openSeed(d, random).seed;
    expect(() => openSeed(d, random, { restore: { words: newMnemonic(random) } })).toThrow(IdentityError);
    expect(() => openSeed(d, random, { restore: { words: newMnemonic(random) } })).toThrow('--restore needs a data dir without a seed');
    expect(hex(readFileSync(join(d, 'seed')))).toBe(hex(s));
  });

  test('a restore its check refuses writes no seed (the data dir stays new for another try)', () => {
    const d = tmp();
    expect(() => openSeed(d, random, { restore: { words: newMnemonic(random) }, check: () => { throw new Error('backup does not open'); } })).toThrow('backup does not open');
    expect(existsSync(join(d, 'seed'))).toBe(false);
  });

  test('a raw 32-byte seed of an older lnnode keeps working, with its old node id and no mnemonic', () => {
    const d = tmp();
    const raw = random(32);
    writeFileSync(join(d, 'seed'), raw, { mode: 0o600 });
    const s = openSeed(d, random, { onNewMnemonic: () => { throw new Error('no words for a raw seed'); } });
    expect(s.origin).toBe('raw');
    const nodeKey = HDKey.fromMasterSeed(raw).derive("m/1017'/1'/0'").privateKey!;
    expect(hex(deriveIdentity(s.seed, 'regtest').nodeId)).toBe(hex(secp256k1.getPublicKey(nodeKey, true)));
  });

  test('a seed file of another length is refused, naming both lengths it can be', () => {
    const d = tmp();
    writeFileSync(join(d, 'seed'), random(33), { mode: 0o600 });
    expect(() => openSeed(d, random)).toThrow('holds 33 bytes, expected 64 (from a mnemonic) or 32 (a raw seed of an older lnnode)');
  });
});
