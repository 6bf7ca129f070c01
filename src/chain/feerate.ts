/**
 * Fee-rate conversions for chain sources, which speak sat/vB (Esplora) or
 * BTC/kvB (bitcoind), into the sat/kw of BOLT #3. 1 vbyte = 4 weight units,
 * so sat/kw = sat/vB * 250; no rate goes below FEERATE_FLOOR (units.ts),
 * and none the node uses goes above its configured ceiling (clampEstimates).
 */
import { FEERATE_FLOOR, type FeeratePerKw, feeratePerKw } from '../bolt/units.ts';
import { type FeeEstimates } from './types.ts';

export function satPerVbToPerKw(satPerVb: number): FeeratePerKw {
  if (!Number.isFinite(satPerVb) || satPerVb < 0) return FEERATE_FLOOR;
  return feeratePerKw(Math.max(FEERATE_FLOOR, Math.ceil(satPerVb * 250)));
}

export function btcPerKvbToPerKw(btcPerKvb: number): FeeratePerKw {
  // BTC/kvB * 1e8 sat/BTC / 1000 vB/kvB = sat/vB.
  return satPerVbToPerKw((btcPerKvb * 1e8) / 1000);
}

/** Required targets for FeeEstimates; a missing one takes the next faster known rate. */
export const FEE_TARGETS = [1, 2, 3, 6, 12, 24, 144, 504, 1008] as const;

/**
 * The highest fee rate the node pays unless its operator raises it, in
 * sat/vB: lnd's default sweeper ceiling, a tenth of Bitcoin Core's
 * `maxfeerate`. A chain source quoting more is clamped to it.
 */
export const DEFAULT_MAX_FEERATE_SAT_VB = 1_000;
/** What --max-feerate accepts: Bitcoin Core's own `maxfeerate` default is the top. */
export const MAX_FEERATE_LIMIT_SAT_VB = 10_000;

/** Every estimate at most `max`; `clamped` says whether any was above it. */
export function clampEstimates(estimates: FeeEstimates, max: FeeratePerKw): { estimates: FeeEstimates; clamped: boolean } {
  let clamped = false;
  const out = new Map<number, FeeratePerKw>();
  for (const [target, rate] of estimates) {
    if (rate > max) clamped = true;
    out.set(target, rate > max ? max : rate);
  }
  return { estimates: out, clamped };
}
