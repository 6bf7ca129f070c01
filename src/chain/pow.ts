/**
 * Bitcoin's proof of work for block headers, pure: the 80-byte header's
 * fields, the compact target ("bits"), the work a target stands for, and
 * the target each network requires at a height, as Bitcoin Core's pow.cpp
 * computes it: a retarget every 2016 blocks bounded to a factor of four,
 * testnet's minimum-difficulty blocks after 20 minutes, regtest's fixed
 * target. A chain source cannot fake a confirmation without redoing this
 * work (header-chain.ts applies these rules to every header it accepts).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../bolt/bytes.ts';

export type PowNetwork = 'mainnet' | 'testnet' | 'signet' | 'regtest';

export interface Header {
  version: number;
  /** Display hex (byte-reversed), as block explorers print it. */
  prevHash: string;
  /** Internal byte order, as the merkle tree hashes it. */
  merkleRoot: Uint8Array;
  time: number;
  bits: number;
  nonce: number;
  /** Display hex of the header's double SHA-256. */
  hash: string;
}

export const HEADER_SIZE = 80;

export function headerHash(raw: Uint8Array): string {
  return hex(sha256(sha256(raw)).reverse());
}

export function parseHeader(raw: Uint8Array): Header {
  if (raw.length !== HEADER_SIZE) throw new PowError(`a header is ${HEADER_SIZE} bytes, got ${raw.length}`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    version: v.getInt32(0, true),
    prevHash: hex(raw.slice(4, 36).reverse()),
    merkleRoot: raw.slice(36, 68),
    time: v.getUint32(68, true),
    bits: v.getUint32(72, true),
    nonce: v.getUint32(76, true),
    hash: headerHash(raw),
  };
}

/** A header that breaks a proof-of-work rule (the message names the rule and the values). */
export class PowError extends Error {
  override readonly name = 'PowError';
}

/** The 256-bit target a compact `bits` value encodes; refuses negative and overflowing encodings as Core does. */
export function targetOf(bits: number): bigint {
  const exponent = bits >>> 24;
  const mantissa = bits & 0x007fffff;
  if (bits & 0x00800000 && mantissa !== 0) throw new PowError(`bits 0x${bits.toString(16)} encode a negative target`);
  const target = exponent <= 3 ? BigInt(mantissa >>> (8 * (3 - exponent))) : BigInt(mantissa) << BigInt(8 * (exponent - 3));
  if (target >= 1n << 256n) throw new PowError(`bits 0x${bits.toString(16)} overflow 256 bits`);
  return target;
}

/** The compact encoding of a target (Core's arith_uint256::GetCompact for non-negative values). */
export function compactOf(target: bigint): number {
  let size = 0;
  for (let t = target; t > 0n; t >>= 8n) size++;
  let mantissa = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)));
  // The mantissa's top bit is a sign bit: move one byte into the exponent instead.
  if (mantissa & 0x00800000) {
    mantissa >>>= 8;
    size++;
  }
  return ((size << 24) | mantissa) >>> 0;
}

/** Expected hashes to find a header meeting the target: 2^256 / (target + 1). */
export function workOf(bits: number): bigint {
  return (1n << 256n) / (targetOf(bits) + 1n);
}

export function meetsTarget(hash: string, bits: number): boolean {
  return BigInt(`0x${hash}`) <= targetOf(bits);
}

export interface PowParams {
  network: PowNetwork;
  powLimit: bigint;
  /** Blocks between retargets (2016) and the time they should take (two weeks). */
  interval: number;
  targetTimespan: number;
  targetSpacing: number;
  /** testnet and regtest: a block more than 20 minutes after its parent may use the easiest target. */
  allowMinDifficulty: boolean;
  /** regtest: the target never changes. */
  noRetargeting: boolean;
  /**
   * The easiest target a header may have on this network, if stricter than
   * powLimit: mainnet's difficulty has been above it for years, so a source
   * cannot start us on a cheaply mined chain of its own.
   */
  floorTarget?: bigint;
}

const TWO_WEEKS = 14 * 24 * 60 * 60;
const MAINNET_POW_LIMIT = (1n << 224n) - 1n;

export const POW_PARAMS: Readonly<Record<PowNetwork, PowParams>> = {
  mainnet: {
    network: 'mainnet',
    powLimit: MAINNET_POW_LIMIT,
    interval: 2016,
    targetTimespan: TWO_WEEKS,
    targetSpacing: 600,
    allowMinDifficulty: false,
    noRetargeting: false,
    // bits 0x170fffff: difficulty about 1.8e13, passed in early 2021 (80e12 and more since 2024).
    floorTarget: targetOf(0x170fffff),
  },
  testnet: { network: 'testnet', powLimit: MAINNET_POW_LIMIT, interval: 2016, targetTimespan: TWO_WEEKS, targetSpacing: 600, allowMinDifficulty: true, noRetargeting: false },
  signet: {
    network: 'signet',
    powLimit: 0x377aen << 216n,
    interval: 2016,
    targetTimespan: TWO_WEEKS,
    targetSpacing: 600,
    allowMinDifficulty: false,
    noRetargeting: false,
  },
  regtest: { network: 'regtest', powLimit: (1n << 255n) - 1n, interval: 2016, targetTimespan: TWO_WEEKS, targetSpacing: 600, allowMinDifficulty: true, noRetargeting: true },
};

/** Core's CalculateNextWorkRequired: the target after a period that took `lastTime - firstTime` seconds. */
export function retargetBits(lastBits: number, firstTime: number, lastTime: number, p: PowParams): number {
  if (p.noRetargeting) return lastBits;
  const actual = Math.min(Math.max(lastTime - firstTime, p.targetTimespan / 4), p.targetTimespan * 4);
  let target = (targetOf(lastBits) * BigInt(actual)) / BigInt(p.targetTimespan);
  if (target > p.powLimit) target = p.powLimit;
  return compactOf(target);
}

/** Ancestors of the header being checked, by height; undefined where we do not hold one. */
export type AncestorAt = (height: number) => Header | undefined;

/**
 * The bits the header at `height` (child of `prev` at height - 1) must
 * carry, as Core's GetNextWorkRequired; undefined when that needs an
 * ancestor we do not hold (then `permittedTransition` bounds them instead).
 */
export function requiredBits(height: number, time: number, prev: Header, at: AncestorAt, p: PowParams): number | undefined {
  const limitBits = compactOf(p.powLimit);
  if (height % p.interval !== 0) {
    if (!p.allowMinDifficulty) return prev.bits;
    if (time > prev.time + 2 * p.targetSpacing) return limitBits;
    // Otherwise the last target that was not a minimum-difficulty exception.
    let h = height - 1;
    let cur: Header | undefined = prev;
    while (cur && h % p.interval !== 0 && cur.bits === limitBits) {
      h--;
      cur = at(h);
    }
    return cur?.bits;
  }
  if (p.noRetargeting) return prev.bits;
  const first = at(height - p.interval);
  return first ? retargetBits(prev.bits, first.time, prev.time, p) : undefined;
}

/**
 * What any header's bits may be relative to its parent's without knowing
 * the period's start (Core's PermittedDifficultyTransition): unchanged
 * inside a period, and at a retarget within the factor-of-four bound.
 */
export function permittedTransition(height: number, oldBits: number, newBits: number, p: PowParams): boolean {
  if (p.allowMinDifficulty) return true;
  if (height % p.interval !== 0) return newBits === oldBits;
  const largest = targetOf(retargetBits(oldBits, 0, p.targetTimespan * 4, p));
  const smallest = targetOf(retargetBits(oldBits, 0, p.targetTimespan / 4, p));
  const t = targetOf(newBits);
  return t <= largest && t >= smallest;
}

/** Headers whose median time the next header must exceed (BIP 113's median-time-past). */
export const MEDIAN_TIME_SPAN = 11;
/** How far ahead of our clock a header's time may be (Core's MAX_FUTURE_BLOCK_TIME). */
export const MAX_FUTURE_SECONDS = 2 * 60 * 60;

/**
 * Checks a header against its parent: linked, its own hash meeting its
 * target, the target the network requires there (or a permitted
 * transition), no easier than the network's floor, after the median time of
 * the last 11 blocks and not more than two hours ahead of `now` (seconds).
 * Throws PowError naming what failed.
 */
export function checkHeader(h: Header, height: number, prev: Header, at: AncestorAt, p: PowParams, now: number): void {
  if (h.prevHash !== prev.hash) throw new PowError(`header ${h.hash} at ${height} does not build on ${prev.hash}`);
  checkWork(h, p);
  const required = requiredBits(height, h.time, prev, at, p);
  if (required !== undefined ? h.bits !== required : !permittedTransition(height, prev.bits, h.bits, p)) {
    throw new PowError(`header ${h.hash} at ${height} has bits 0x${h.bits.toString(16)}, the network requires ${required === undefined ? 'a permitted transition' : `0x${required.toString(16)}`}`);
  }
  const times: number[] = [prev.time];
  for (let i = 2; i <= MEDIAN_TIME_SPAN; i++) {
    const a = at(height - i);
    if (!a) break;
    times.push(a.time);
  }
  if (times.length === MEDIAN_TIME_SPAN) {
    const median = times.sort((a, b) => a - b)[Math.floor(MEDIAN_TIME_SPAN / 2)]!;
    if (h.time <= median) throw new PowError(`header ${h.hash} at ${height} has time ${h.time}, not after the median ${median} of the 11 before it`);
  }
  if (h.time > now + MAX_FUTURE_SECONDS) throw new PowError(`header ${h.hash} at ${height} is dated ${h.time - now} s in the future`);
}

/** The header's hash meets its own target, which is within the network's limit and floor. */
export function checkWork(h: Header, p: PowParams): void {
  const target = targetOf(h.bits);
  if (target === 0n || target > p.powLimit) throw new PowError(`header ${h.hash} has bits 0x${h.bits.toString(16)} outside the ${p.network} limit`);
  if (p.floorTarget !== undefined && target > p.floorTarget) {
    throw new PowError(`header ${h.hash} has bits 0x${h.bits.toString(16)}, easier than any ${p.network} block in years`);
  }
  if (!meetsTarget(h.hash, h.bits)) throw new PowError(`header ${h.hash} does not meet its target (bits 0x${h.bits.toString(16)}): no proof of work`);
}
