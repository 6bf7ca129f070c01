/**
 * Fee-rate conversions for chain sources, which speak sat/vB (Esplora) or
 * BTC/kvB (bitcoind), into the sat/kw of BOLT #3. 1 vbyte = 4 weight units,
 * so sat/kw = sat/vB * 250; no rate goes below FEERATE_FLOOR (units.ts).
 */
import { FEERATE_FLOOR, type FeeratePerKw, feeratePerKw } from '../bolt/units.ts';

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
