/**
 * Proof of work and merkle proofs against known data: the genesis headers of
 * every network hash to their published hashes and meet their targets;
 * Bitcoin Core's pow_tests.cpp retarget cases (mainnet blocks 32255, 2015,
 * 68543, 46367); mainnet block 1 on genesis; compact encoding round trips;
 * merkle branches lead to the root and a wrong one does not.
 */
import { describe, expect, test } from 'bun:test';
import { concat, fromHex, hex } from '../../src/bolt/bytes.ts';
import { merkleBranch, merkleRoot, rootFromBranch } from '../../src/chain/merkle.ts';
import {
  checkHeader,
  checkWork,
  compactOf,
  type Header,
  parseHeader,
  permittedTransition,
  POW_PARAMS,
  PowError,
  retargetBits,
  targetOf,
} from '../../src/chain/pow.ts';
import { GENESIS } from '../../src/node/networks.ts';
import { REGTEST_GENESIS } from './fake-chain.ts';

const le32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const header = (prev: string, merkle: string, time: number, bits: number, nonce: number): Uint8Array =>
  concat(le32(1), fromHex(prev).reverse(), fromHex(merkle).reverse(), le32(time), le32(bits), le32(nonce));

const GENESIS_MERKLE = '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b';
const ZERO = '00'.repeat(32);
// Bitcoin Core chainparams.cpp: genesis time, bits and nonce of each network.
const MAINNET_GENESIS = header(ZERO, GENESIS_MERKLE, 1231006505, 0x1d00ffff, 2083236893);
const TESTNET_GENESIS = header(ZERO, GENESIS_MERKLE, 1296688602, 0x1d00ffff, 414098458);
const SIGNET_GENESIS = header(ZERO, GENESIS_MERKLE, 1598918400, 0x1e0377ae, 52613770);
// Mainnet block 1.
const MAINNET_1 = header(GENESIS[`mainnet`], '0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098', 1231469665, 0x1d00ffff, 2573394689);

const noFloor = { ...POW_PARAMS.mainnet, floorTarget: undefined };

describe('block header proof of work (Bitcoin Core pow.cpp rules)', () => {
  test('vector: each network genesis header hashes to its published hash and meets its target', () => {
    const cases = [
      ['mainnet', MAINNET_GENESIS],
      ['testnet', TESTNET_GENESIS],
      ['signet', SIGNET_GENESIS],
      ['regtest', REGTEST_GENESIS],
    ] as const;
    for (const [net, raw] of cases) {
      const h = parseHeader(raw);
      expect({ net, hash: h.hash }).toEqual({ net, hash: GENESIS[net] });
      checkWork(h, net === 'mainnet' ? noFloor : POW_PARAMS[net]);
    }
  });

  test('vector: mainnet block 1 builds on genesis with its work', () => {
    const g = parseHeader(MAINNET_GENESIS);
    const b1 = parseHeader(MAINNET_1);
    expect(b1.hash).toBe('00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048');
    checkHeader(b1, 1, g, (h) => (h === 0 ? g : undefined), noFloor, 1_800_000_000);
    // The same header with another nonce has no work.
    const forged = parseHeader(concat(MAINNET_1.slice(0, 76), le32(1)));
    expect(() => checkHeader(forged, 1, g, () => g, noFloor, 1_800_000_000)).toThrow(/does not meet its target/);
  });

  test('vector: Core pow_tests get_next_work, pow_limit, lower_limit_actual, upper_limit_actual', () => {
    const p = POW_PARAMS.mainnet;
    expect(retargetBits(0x1d00ffff, 1261130161, 1262152739, p)).toBe(0x1d00d86a);
    expect(retargetBits(0x1d00ffff, 1231006505, 1233061996, p)).toBe(0x1d00ffff);
    expect(retargetBits(0x1c05a3f4, 1279008237, 1279297671, p)).toBe(0x1c0168fd);
    expect(retargetBits(0x1c387f6f, 1263163443, 1269211443, p)).toBe(0x1d00e1fd);
  });

  test('compact targets: encode/decode round trip, negative and overflowing encodings refused', () => {
    for (const bits of [0x1d00ffff, 0x1c05a3f4, 0x207fffff, 0x1e0377ae, 0x17034219, 0x170fffff]) expect(compactOf(targetOf(bits))).toBe(bits);
    expect(targetOf(0x1d00ffff)).toBe(0xffffn << 208n);
    expect(() => targetOf(0x04923456)).toThrow(PowError);
    expect(() => targetOf(0xff123456)).toThrow(/overflow/);
  });

  test('inside a period the bits may not change; at a retarget only within a factor of four', () => {
    const p = POW_PARAMS.mainnet;
    expect(permittedTransition(2017, 0x1c05a3f4, 0x1c05a3f4, p)).toBe(true);
    expect(permittedTransition(2017, 0x1c05a3f4, 0x1c05a3f5, p)).toBe(false);
    expect(permittedTransition(4032, 0x1c05a3f4, 0x1c0168fd, p)).toBe(true);
    expect(permittedTransition(4032, 0x1c05a3f4, 0x1c0168fc, p)).toBe(false);
    expect(permittedTransition(4032, 0x1c387f6f, 0x1d00e1fd, p)).toBe(true);
    expect(permittedTransition(4032, 0x1c387f6f, 0x1d00e200, p)).toBe(false);
  });

  test('mainnet refuses a header easier than its floor even with valid work for its own bits', () => {
    expect(() => checkWork(parseHeader(MAINNET_1), POW_PARAMS.mainnet)).toThrow(/easier than any mainnet block in years/);
  });

  test('regtest: the target never changes; linkage, median time and future dates are checked', () => {
    const p = POW_PARAMS.regtest;
    const g = parseHeader(REGTEST_GENESIS);
    const child = (bits: number, time: number, prev: string = g.hash): Header => ({ version: 1, prevHash: prev, merkleRoot: new Uint8Array(32), time, bits, nonce: 0, hash: '00'.repeat(32) });
    expect(() => checkHeader(child(0x1d00ffff, g.time + 600), 1, g, () => g, p, g.time + 10_000)).toThrow(/bits 0x1d00ffff, the network requires 0x207fffff/);
    expect(() => checkHeader(child(0x207fffff, g.time + 600, 'ab'.repeat(32)), 1, g, () => g, p, g.time)).toThrow(/does not build on/);
    expect(() => checkHeader(child(0x207fffff, g.time + 3 * 3600), 1, g, () => g, p, g.time)).toThrow(/in the future/);
    const chain: Header[] = Array.from({ length: 11 }, (_, i) => ({ ...g, time: g.time + 600 * i }));
    expect(() => checkHeader(child(0x207fffff, g.time + 600 * 5, g.hash), 11, chain[10]!, (h) => chain[h], p, g.time + 100_000)).toThrow(/not after the median/);
  });
});

describe('merkle branches', () => {
  const ids = Array.from({ length: 7 }, (_, i) => hex(new Uint8Array(32).fill(i + 1)));

  test('every position of an odd-sized block proves to the root; a wrong position or sibling does not', () => {
    const root = merkleRoot(ids);
    for (let pos = 0; pos < ids.length; pos++) expect(hex(rootFromBranch(ids[pos]!, pos, merkleBranch(ids, pos)))).toBe(hex(root));
    const branch = merkleBranch(ids, 2);
    expect(hex(rootFromBranch(ids[2]!, 3, branch))).not.toBe(hex(root));
    const bad = branch.map((b, i) => (i === 1 ? new Uint8Array(32) : b));
    expect(hex(rootFromBranch(ids[2]!, 2, bad))).not.toBe(hex(root));
    expect(() => rootFromBranch(ids[2]!, 8, branch)).toThrow(/does not fit/);
  });

  test('vector: the genesis block merkle root is its one transaction', () => {
    expect(hex(merkleRoot([GENESIS_MERKLE]))).toBe(hex(fromHex(GENESIS_MERKLE).reverse()));
  });

  test('a txid list with a repeated transaction is refused (CVE-2012-2459)', () => {
    expect(() => merkleRoot([...ids.slice(0, 6), ids[5]!])).toThrow(/repeats/);
  });
});
