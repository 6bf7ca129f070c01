/**
 * Arguments both APIs take in the same form, checked the same way: a fee
 * rate in sat/vB, a BOLT 11 invoice, a peer address to dial. Each refusal is
 * InvalidArgument naming the field.
 */
import { decodeInvoice, type Invoice } from '../bolt/bolt11/invoice.ts';
import { type FeeratePerKw } from '../bolt/units.ts';
import { satPerVbToPerKw } from '../chain/feerate.ts';
import { parseHostPort } from '../node/config.ts';
import { invalidArgument } from './errors.ts';

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
