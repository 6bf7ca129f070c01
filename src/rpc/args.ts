/**
 * Arguments both APIs take in the same form, checked the same way: amounts
 * in sat and msat, a fee rate in sat/vB, a wait in seconds, a memo, a BOLT 11
 * invoice, a peer address to dial. Each refusal is InvalidArgument naming the
 * field, before the call looks at anything the node has (a wallet, a
 * channel), so the same bad call gets the same answer on every node.
 */
import { decodeInvoice, type Invoice } from '../bolt/bolt11/invoice.ts';
import { type FeeratePerKw, MAX_MONEY_MSAT, MAX_MONEY_SAT, type Msat, msat, type Sat, sat } from '../bolt/units.ts';
import { satPerVbToPerKw } from '../chain/feerate.ts';
import { parseHostPort } from '../node/config.ts';
import { invalidArgument } from './errors.ts';

/**
 * The longest wait a call may ask for: a timer holds at most 2^31-1 ms
 * (~24.8 days) and fires at once past it, so a larger wait would end
 * immediately instead of late.
 */
export const MAX_WAIT_SECONDS = 2_000_000;
/** BOLT 11 `d`: a tagged field holds at most 1023 five-bit words, 639 whole bytes. */
export const MAX_DESCRIPTION_BYTES = 639;

/**
 * An amount in satoshis: not negative, at most 21 million bitcoin; 0 only
 * when `zero` says what 0 means (else it is required).
 */
export function satArg(field: string, v: bigint, o: { zero?: 'allowed' } = {}): Sat {
  if (v < 0n) throw invalidArgument(`${field} must not be negative, got ${v}`);
  if (v === 0n && !o.zero) throw invalidArgument(`${field} is required (a positive number of sat)`);
  if (v > MAX_MONEY_SAT) throw invalidArgument(`${field} of ${v} sat is more than 21 million bitcoin (${MAX_MONEY_SAT} sat)`);
  return sat(v);
}

/** An amount in millisatoshis, bounded as satArg. */
export function msatArg(field: string, v: bigint, o: { zero?: 'allowed' } = {}): Msat {
  if (v < 0n) throw invalidArgument(`${field} must not be negative, got ${v}`);
  if (v === 0n && !o.zero) throw invalidArgument(`${field} is required (a positive number of msat)`);
  if (v > MAX_MONEY_MSAT) throw invalidArgument(`${field} of ${v} msat is more than 21 million bitcoin (${MAX_MONEY_MSAT} msat)`);
  return msat(v);
}

/** A wait in seconds (0: the call's default), at most MAX_WAIT_SECONDS. */
export function waitSecondsArg(field: string, v: number | bigint): number {
  if (v < 0) throw invalidArgument(`${field} must not be negative, got ${v}`);
  if (v > MAX_WAIT_SECONDS) throw invalidArgument(`${field} of ${v} s is more than the longest wait, ${MAX_WAIT_SECONDS} s`);
  return Number(v);
}

/** A text that goes into a BOLT 11 invoice's description. */
export function descriptionArg(field: string, s: string): string {
  const bytes = new TextEncoder().encode(s).length;
  if (bytes > MAX_DESCRIPTION_BYTES) throw invalidArgument(`${field} is ${bytes} bytes; BOLT 11 allows at most ${MAX_DESCRIPTION_BYTES} (use a description hash for more)`);
  return s;
}

/** A byte string of at most `max` bytes. */
export function maxBytesArg(field: string, b: Uint8Array, max: number): Uint8Array {
  if (b.length > max) throw invalidArgument(`${field} is ${b.length} bytes; at most ${max}`);
  return b;
}

/**
 * A fee rate in sat/vB (0: let the node choose), converted as the chain
 * sources' estimates are; above the node's ceiling (--max-feerate, the same
 * one estimates are clamped to) it is refused rather than paid.
 */
export function feerateArg(field: string, satPerVbyte: bigint, maxSatPerVbyte: number): FeeratePerKw | undefined {
  if (satPerVbyte === 0n) return undefined;
  if (satPerVbyte < 0n) throw invalidArgument(`${field} of ${satPerVbyte} sat/vB is not plausible`);
  if (satPerVbyte > BigInt(maxSatPerVbyte)) throw invalidArgument(`${field} of ${satPerVbyte} sat/vB is above the node's maximum of ${maxSatPerVbyte} sat/vB (--max-feerate)`);
  return satPerVbToPerKw(Number(satPerVbyte));
}

/**
 * A BOLT 11 invoice, trimmed and decoded; `text` is the string decoded.
 * lnd's API also takes it as a `lightning:` URI.
 */
export function invoiceArg(field: string, s: string, o: { uri?: boolean } = {}): { text: string; invoice: Invoice } {
  if (!s) throw invalidArgument(`${field} is required`);
  const text = o.uri ? s.trim().replace(/^lightning:/i, '') : s.trim();
  try {
    return { text, invoice: decodeInvoice(text) };
  } catch (e) {
    throw invalidArgument(`${field} is not a valid BOLT 11 invoice: ${(e as Error).message}`);
  }
}

/** A peer's host:port to dial; with `defaultPort` (as lnd) the port may be left out. */
export function dialAddressArg(field: string, s: string, defaultPort?: number): { host: string; port: number } {
  let withPort = s;
  if (defaultPort !== undefined) {
    const bareIpv6 = !s.startsWith('[') && s.split(':').length > 2;
    if (bareIpv6) withPort = `[${s}]:${defaultPort}`;
    else if (!/:\d+$/.test(s)) withPort = `${s}:${defaultPort}`;
  }
  let a: { host: string; port: number } | undefined;
  try {
    a = parseHostPort(withPort, field);
  } catch {
    a = undefined;
  }
  if (!a || a.port === 0) throw invalidArgument(`${field} must be ${defaultPort === undefined ? 'host:port' : 'host or host:port'} (port not 0), got "${s}"`);
  return a;
}
