/**
 * What a send must satisfy before it is built or signed, pure: no output
 * the network would refuse as dust (Bitcoin Core's GetDustThreshold at its
 * default 3 sat/vB dust relay fee), and no fee above a set share of what is
 * sent unless the caller said so (a lying fee estimate or a typo must not
 * turn a payment into a gift to miners).
 */
import { type Sat, sat } from '../../bolt/units.ts';

const DUST_RELAY_SAT_PER_KVB = 3_000n;

/** A witness program: version opcode (OP_0 or OP_1..OP_16), then one push of 2 to 40 bytes. */
function isWitnessProgram(script: Uint8Array): boolean {
  const v = script[0];
  const len = script[1];
  if (v === undefined || len === undefined || script.length < 4 || script.length > 42) return false;
  return (v === 0 || (v >= 0x51 && v <= 0x60)) && len + 2 === script.length;
}

const compactSizeLen = (n: number): number => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);

/** Below this an output of `script` is dust: worth less than the fee to spend it (P2WPKH 294, P2WSH/P2TR 330, P2PKH 546). */
export function dustLimit(script: Uint8Array): Sat {
  // OP_RETURN outputs are unspendable and exempt.
  if (script[0] === 0x6a) return sat(0);
  const output = 8 + compactSizeLen(script.length) + script.length;
  // Spending it later: outpoint + sequence + scriptSig length, plus a signature and key (witness discounted by 4).
  const input = isWitnessProgram(script) ? 32 + 4 + 1 + Math.floor(107 / 4) + 4 : 32 + 4 + 1 + 107 + 4;
  return sat((BigInt(output + input) * DUST_RELAY_SAT_PER_KVB) / 1000n);
}

/** The share of the amount sent a fee may take before the caller must allow it explicitly. */
export const MAX_FEE_PERCENT = 10n;

/** Why a fee of `feeSat` for sending `amountSat` needs the caller's explicit consent, or undefined. */
export function highFeeProblem(feeSat: bigint, amountSat: bigint, maxPercent: bigint = MAX_FEE_PERCENT): string | undefined {
  if (feeSat * 100n <= amountSat * maxPercent) return undefined;
  return `the fee of ${feeSat} sat is more than ${maxPercent}% of the ${amountSat} sat sent; lower the fee rate or allow a high fee explicitly (allow_high_fee in lnnode.v1 SendToAddress)`;
}
