/**
 * BOLT #3 Appendix D (per-commitment secret generation and compact storage)
 * and Appendix E (key derivation), every vector; plus the obscured
 * commitment number of Appendix C's commitment number 42.
 */
import { describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { EncodeError } from '../../src/bolt/errors.ts';
import {
  derivePrivkey,
  derivePubkey,
  deriveRevocationPrivkey,
  deriveRevocationPubkey,
  pointFromSecret,
} from '../../src/bolt/bolt3/keys.ts';
import { SecretStore, SecretStoreError, generateSecret } from '../../src/bolt/bolt3/shachain.ts';
import { obscureCommitmentNumber, obscuringFactor, revealCommitmentNumber } from '../../src/bolt/bolt3/commitment-number.ts';
import { fuzzDecoder } from '../support/fuzz.ts';
import keys from '../vectors/bolt03/keys.json';
import shachain from '../vectors/bolt03/shachain.json';

describe('per-commitment secrets', () => {
  for (const v of shachain.generation) {
    test(`vector: ${v.name}`, () => {
      expect(hex(generateSecret(fromHex(v.seed), v.index))).toBe(v.output);
    });
  }
  for (const s of shachain.storage) {
    test(`vector: ${s.name}`, () => {
      const store = new SecretStore();
      for (const step of s.steps) {
        if (step.ok) {
          store.insert(fromHex(step.secret), step.index);
          // Every secret inserted so far can be derived back.
          expect(hex(store.derive(step.index)!)).toBe(step.secret);
        } else {
          expect(() => store.insert(fromHex(step.secret), step.index)).toThrow(SecretStoreError);
          return;
        }
      }
    });
  }

  test('a store fed a whole chain derives every earlier secret, and survives serialization', () => {
    const seed = new Uint8Array(32).fill(7);
    const store = new SecretStore();
    const first = 2 ** 48 - 1;
    for (let i = first; i > first - 300; i--) store.insert(generateSecret(seed, i), i);
    const copy = SecretStore.deserialize(store.serialize());
    for (const i of [first, first - 1, first - 150, first - 299]) {
      expect(hex(copy.derive(i)!)).toBe(hex(generateSecret(seed, i)));
    }
    expect(copy.derive(first - 300)).toBeUndefined();
    expect(store.serialize().length).toBeLessThanOrEqual(1 + 8 + 49 * 40);
  });

  test('bad input: the store deserializer only throws DecodeError', () => {
    const store = new SecretStore();
    const seed = new Uint8Array(32).fill(9);
    for (let i = 2 ** 48 - 1; i > 2 ** 48 - 20; i--) store.insert(generateSecret(seed, i), i);
    fuzzDecoder((b) => SecretStore.deserialize(b), { seeds: [store.serialize()], iterations: 3000 });
    expect(() => generateSecret(seed, 2 ** 48)).toThrow(EncodeError);
  });
});

describe('key derivation', () => {
  const base = fromHex(keys.base_secret);
  const pcs = fromHex(keys.per_commitment_secret);
  test('vector: basepoint and per_commitment_point from their secrets', () => {
    expect(hex(pointFromSecret(base))).toBe(keys.base_point);
    expect(hex(pointFromSecret(pcs))).toBe(keys.per_commitment_point);
  });
  test('vector: derivation of pubkey from basepoint and per_commitment_point', () => {
    expect(hex(derivePubkey(fromHex(keys.base_point), fromHex(keys.per_commitment_point)))).toBe(keys.localpubkey);
  });
  test('vector: derivation of private key from basepoint secret and per_commitment_secret', () => {
    const priv = derivePrivkey(base, fromHex(keys.per_commitment_point));
    expect(hex(priv)).toBe(keys.localprivkey);
    expect(hex(pointFromSecret(priv))).toBe(keys.localpubkey);
  });
  test('vector: derivation of revocation pubkey from basepoint and per_commitment_point', () => {
    expect(hex(deriveRevocationPubkey(fromHex(keys.base_point), fromHex(keys.per_commitment_point)))).toBe(keys.revocationpubkey);
  });
  test('vector: derivation of revocation secret from basepoint_secret and per_commitment_secret', () => {
    const priv = deriveRevocationPrivkey(base, pcs);
    expect(hex(priv)).toBe(keys.revocationprivkey);
    expect(hex(pointFromSecret(priv))).toBe(keys.revocationpubkey);
  });
  test('bad keys are refused naming the parameter', () => {
    expect(() => derivePubkey(new Uint8Array(33), fromHex(keys.per_commitment_point))).toThrow('basepoint');
    expect(() => deriveRevocationPrivkey(new Uint8Array(32), pcs)).toThrow('revocationBasepointSecret');
  });
});

describe('obscured commitment number', () => {
  // Appendix C: commitment number 42, locktime 0x20 + low 24 bits, sequence 0x80 + high 24 bits.
  const opener = fromHex('034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa');
  const accepter = fromHex('032c0b7cf95324a07d05398b240174dc0c2be444d96b159aa6c7f7b1e668680991');
  test('vector: commitment number 42 of Appendix C', () => {
    const f = obscuringFactor(opener, accepter);
    expect(f).toBe(0x2bb038521914n);
    const { locktime, sequence } = obscureCommitmentNumber(42n, f);
    expect([locktime.toString(16), sequence.toString(16)]).toEqual(['2052193e', '802bb038']);
    expect(revealCommitmentNumber(locktime, sequence, f)).toBe(42n);
  });
});
