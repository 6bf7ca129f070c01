/**
 * Coin selection and fee arithmetic for a P2WPKH wallet, pure.
 *
 * Weights are exact for what we spend and create (BIP 141): a P2WPKH input
 * with a 72-byte DER signature (the worst case, so we never underpay) and a
 * 33-byte key; outputs are 8 + 1 + script bytes. Selection prefers
 * confirmed coins, then larger ones, which keeps transactions small; change
 * below the dust limit is left to the miner instead of creating an output
 * nobody can spend economically.
 */
import { type FeeratePerKw, type Sat, sat } from '../../bolt/units.ts';
import { InsufficientFundsError } from './errors.ts';

export { InsufficientFundsError } from './errors.ts';

/** Version, locktime, input and output counts (4 * 10) plus the segwit marker and flag. */
export const TX_OVERHEAD_WEIGHT = 42;
/** Outpoint, empty scriptSig, sequence (4 * 41) + witness (1 + 1 + 72 + 1 + 33). */
export const P2WPKH_INPUT_WEIGHT = 164 + 108;
export const P2WPKH_SCRIPT_LEN = 22;
/** Below this a P2WPKH change output is not worth creating (Bitcoin Core's dust limit for P2WPKH). */
export const CHANGE_DUST_SAT = sat(294);

export const outputWeight = (scriptLen: number): number => 4 * (8 + 1 + scriptLen);

export function feeForWeight(weight: number, feerate: FeeratePerKw): Sat {
  return sat(BigInt(Math.ceil((weight * feerate) / 1000)));
}

export interface Coin {
  txid: string;
  vout: number;
  value: Sat;
  confirmed: boolean;
}

export interface Selection<C extends Coin> {
  inputs: C[];
  /** 0 when there is no change output. */
  changeSat: Sat;
  feeSat: Sat;
}

/**
 * Picks coins paying `outputs` (their script lengths and total) at `feerate`.
 * `sweep` spends every coin into the single output instead (its amount is
 * what is left after the fee). `extraWeight` counts inputs and outputs the
 * transaction has besides ours (whose fee we bring).
 */
export function selectCoins<C extends Coin>(
  coins: readonly C[],
  p: { amountSat: Sat; outputScriptLens: readonly number[]; feerate: FeeratePerKw; sweep?: boolean; extraWeight?: number },
): Selection<C> {
  const base = TX_OVERHEAD_WEIGHT + (p.extraWeight ?? 0) + p.outputScriptLens.reduce((w, l) => w + outputWeight(l), 0);
  const total = (cs: readonly C[]): bigint => cs.reduce((s, c) => s + c.value, 0n);
  if (p.sweep) {
    const fee = feeForWeight(base + coins.length * P2WPKH_INPUT_WEIGHT, p.feerate);
    if (coins.length === 0 || total(coins) - fee < CHANGE_DUST_SAT) throw new InsufficientFundsError(fee + CHANGE_DUST_SAT, total(coins));
    return { inputs: [...coins], changeSat: sat(0), feeSat: fee };
  }
  const ordered = [...coins].sort((a, b) => Number(b.confirmed) - Number(a.confirmed) || (b.value > a.value ? 1 : b.value < a.value ? -1 : 0));
  const changeWeight = outputWeight(P2WPKH_SCRIPT_LEN);
  const chosen: C[] = [];
  let sum = 0n;
  for (const c of ordered) {
    chosen.push(c);
    sum += c.value;
    const weight = base + chosen.length * P2WPKH_INPUT_WEIGHT;
    const feeNoChange = feeForWeight(weight, p.feerate);
    if (sum < p.amountSat + feeNoChange) continue;
    const feeWithChange = feeForWeight(weight + changeWeight, p.feerate);
    const change = sum - p.amountSat - feeWithChange;
    if (change >= CHANGE_DUST_SAT) return { inputs: chosen, changeSat: sat(change), feeSat: feeWithChange };
    return { inputs: chosen, changeSat: sat(0), feeSat: sat(sum - p.amountSat) };
  }
  const needed = p.amountSat + feeForWeight(base + Math.max(1, ordered.length) * P2WPKH_INPUT_WEIGHT, p.feerate);
  throw new InsufficientFundsError(needed, sum);
}
