/**
 * The amount in a BOLT #11 human-readable part: decimal bitcoin with an
 * optional multiplier (m, u, n, p), always converted to millisatoshis.
 * https://github.com/lightning/bolts/blob/master/11-payment-encoding.md#human-readable-part
 */
import { DecodeError, EncodeError } from '../errors.ts';
import { type Msat, msat, MAX_MONEY_MSAT } from '../units.ts';

/** Millisatoshis per unit of each multiplier, times 10 so pico (0.1 msat) stays integral. */
const DECI_MSAT_PER_UNIT: Record<string, bigint> = {
  '': 1_000_000_000_000n, // 1 BTC = 10^11 msat
  m: 1_000_000_000n,
  u: 1_000_000n,
  n: 1_000n,
  p: 1n,
};

export function parseAmount(s: string): Msat {
  const m = /^([0-9]+)([munp]?)$/.exec(s);
  if (!m) throw new DecodeError('amount', `invalid amount or multiplier "${s.slice(0, 30)}"`);
  const [, digits, mult] = m as unknown as [string, string, string];
  if (digits.startsWith('0')) throw new DecodeError('amount', 'amount has leading zeros');
  if (digits.length > 20) throw new DecodeError('amount', 'amount too large');
  const deci = BigInt(digits) * DECI_MSAT_PER_UNIT[mult]!;
  if (deci % 10n !== 0n) throw new DecodeError('amount', 'sub-millisatoshi precision (pico amount must end in 0)');
  const v = deci / 10n;
  if (v > MAX_MONEY_MSAT) throw new DecodeError('amount', 'amount exceeds 21 million BTC');
  return msat(v);
}

/** The shortest encoding: the largest multiplier that represents the amount exactly. */
export function formatAmount(amount: Msat): string {
  if (amount <= 0n) throw new EncodeError('amountMsat', 'amount must be positive');
  if (amount > MAX_MONEY_MSAT) throw new EncodeError('amountMsat', 'amount exceeds 21 million BTC');
  const deci = amount * 10n;
  for (const mult of ['', 'm', 'u', 'n', 'p']) {
    const unit = DECI_MSAT_PER_UNIT[mult]!;
    if (deci % unit === 0n) return `${deci / unit}${mult}`;
  }
  throw new EncodeError('amountMsat', 'unreachable');
}
