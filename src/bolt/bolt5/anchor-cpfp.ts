/**
 * Child-pays-for-parent through our anchor (BOLT 5 "Failing a Channel":
 * "MUST spend any `to_local_anchor` output, providing sufficient fees as
 * incentive to include the commitment transaction in a block", and "SHOULD
 * use replace-by-fee ... if it proves insufficient"). An anchors commitment
 * pays the feerate agreed when it was signed, which may be far below what
 * the chain wants when we need it on chain; the child spends our anchor and
 * wallet coins so that commitment and child together (the package) pay the
 * target feerate.
 *
 * Three pure pieces, the node decides nothing the numbers do not say:
 * - `pacedFeerate`: the target, from the current estimate up to a ceiling as
 *   the earliest HTLC deadline nears (lnd's sweeper fee function: linear over
 *   the blocks from the first bump to the deadline; LDK also raises the
 *   package feerate block by block towards its deadline).
 * - `anchorBumpTarget`: whether the package needs a (new) child at all.
 * - `planAnchorCpfp`: the child itself, coins picked for exact weights, with
 *   the BIP 125 floor when it replaces an earlier child.
 * https://github.com/lightning/bolts/blob/master/05-onchain.md#failing-a-channel
 */
import { signInput, witnessSig } from '../bolt3/sign.ts';
import { SIGHASH_ALL, type Tx } from '../bolt3/tx.ts';
import { FEERATE_FLOOR, type FeeratePerKw, feeratePerKw, type Sat, sat } from '../units.ts';
import { type Claim } from './claim.ts';

/** Version, locktime, one-byte input and output counts (4 * 10), segwit marker and flag. */
export const CHILD_OVERHEAD_WEIGHT = 42;
/** Outpoint, empty scriptSig, sequence (4 * 41) + witness: count, <sig> (<= 73), <anchor script> (40 bytes). */
export const ANCHOR_INPUT_WEIGHT = 164 + (1 + 1 + 73 + 1 + 40);
/** A P2WPKH wallet input: 4 * 41 + witness (count, 72-byte low-S signature with sighash, 33-byte key). */
export const P2WPKH_INPUT_WEIGHT = 164 + 108;
/** A P2WPKH change output: 4 * (8 + 1 + 22). */
export const P2WPKH_OUTPUT_WEIGHT = 124;
/** The change must be relayable: Bitcoin Core's dust limit for P2WPKH. */
export const CHILD_CHANGE_MIN_SAT = sat(294);
/** BIP 125 rule 4: a replacement pays for its own size at the incremental relay feerate (1 sat/vB). */
export const INCREMENTAL_RELAY_FEERATE = feeratePerKw(250);
/** lnd's anchor CPFP budget: at most half the value the commitment must confirm for goes to fees. */
export const CPFP_BUDGET_PERCENT = 50n;

/** Weight of a child with `walletInputs` P2WPKH inputs and one change output (the upper bound once signed). */
export const childWeight = (walletInputs: number): number =>
  CHILD_OVERHEAD_WEIGHT + ANCHOR_INPUT_WEIGHT + walletInputs * P2WPKH_INPUT_WEIGHT + P2WPKH_OUTPUT_WEIGHT;

const ceilFee = (feerate: number, weight: number): bigint => (BigInt(feerate) * BigInt(weight) + 999n) / 1000n;
/** Feerate of `fee` over `weight`, rounded down (so "at least the target" is never claimed when it is not). */
export const feerateOf = (fee: bigint, weight: number): FeeratePerKw => feeratePerKw(Number((fee * 1000n) / BigInt(weight)));

export interface PaceInput {
  /** The chain's estimate now. */
  estimate: FeeratePerKw;
  /** The most we pay per kw (the node's fee ceiling, and the budget). */
  max: FeeratePerKw;
  /** The height of the first bump: where the ramp starts. */
  startHeight: number;
  /** The earliest HTLC deadline; undefined when no HTLC is at stake (the estimate is enough). */
  deadline?: number;
  height: number;
}

/**
 * The package feerate to reach at `height`: the estimate, raised linearly
 * from it (at startHeight) to `max` (at the deadline, and after it). A
 * ceiling below the estimate leaves the estimate: never below what the
 * chain asks.
 */
export function pacedFeerate(p: PaceInput): FeeratePerKw {
  const floor = Math.max(p.estimate, FEERATE_FLOOR);
  if (p.deadline === undefined || p.max <= floor) return feeratePerKw(floor);
  const width = Math.max(1, p.deadline - p.startHeight);
  const elapsed = Math.min(width, Math.max(0, p.height - p.startHeight));
  return feeratePerKw(floor + Math.floor(((p.max - floor) * elapsed) / width));
}

/** The package feerate at most `budget` pays for a commitment of `commitmentWeight` and a one-input child. */
export function budgetFeerate(budget: Sat, commitmentWeight: number): FeeratePerKw {
  return feerateOf(budget, commitmentWeight + childWeight(1));
}

export interface BumpInput {
  commitment: { weight: number; fee: Sat };
  /** The child already sent, if any: its fee and weight. */
  previous?: { fee: Sat; weight: number };
  target: FeeratePerKw;
}

/**
 * The feerate a new child must bring the package to, or undefined when none
 * is needed: the commitment alone (or with the child already sent) reaches
 * the target.
 */
export function anchorBumpTarget(b: BumpInput): FeeratePerKw | undefined {
  const fee = b.commitment.fee + (b.previous?.fee ?? 0n);
  const weight = b.commitment.weight + (b.previous?.weight ?? 0);
  return feerateOf(fee, weight) >= b.target ? undefined : b.target;
}

export interface CpfpCoin {
  txid: string;
  vout: number;
  value: Sat;
}

export interface CpfpRequest<C extends CpfpCoin> {
  /** Our anchor on the commitment (ourCommitment().anchor). */
  anchor: Claim;
  commitment: { weight: number; fee: Sat };
  /** Coins the child must spend: those of the child it replaces, so that one is wholly replaced. */
  required?: readonly C[];
  /** Other wallet coins it may add, largest first. */
  coins: readonly C[];
  changeScript: Uint8Array;
  /** Package feerate to reach. */
  feerate: FeeratePerKw;
  /** The fee of the child it replaces (BIP 125: more, plus the incremental relay fee for its own size). */
  replaces?: Sat;
}

export interface CpfpPlan<C extends CpfpCoin> {
  /** Unsigned: input 0 the anchor (see signAnchor), then `coins` in order; one change output. */
  tx: Tx;
  coins: C[];
  fee: Sat;
  change: Sat;
  /** Weight the child has at most once signed. */
  weight: number;
  /** What commitment and child pay together per kw, at that weight. */
  packageFeerate: FeeratePerKw;
}

export class CpfpFundsError extends Error {
  override readonly name = 'CpfpFundsError';
  constructor(
    readonly neededSat: bigint,
    readonly availableSat: bigint,
  ) {
    super(`insufficient confirmed funds for the anchor CPFP child: need ${neededSat} sat, have ${availableSat} sat`);
  }
}

/** The child's fee at a given weight: the package's shortfall, its own relay fee, and the replacement floor. */
function childFee(r: CpfpRequest<CpfpCoin>, weight: number): bigint {
  const pkg = ceilFee(r.feerate, r.commitment.weight + weight) - r.commitment.fee;
  const own = ceilFee(FEERATE_FLOOR, weight);
  const rbf = r.replaces === undefined ? 0n : r.replaces + ceilFee(INCREMENTAL_RELAY_FEERATE, weight);
  return [pkg, own, rbf].reduce((m, x) => (x > m ? x : m));
}

/**
 * The child spending our anchor and enough wallet coins to pay its fee and
 * leave change of at least CHILD_CHANGE_MIN_SAT (the anchor's 330 sat count
 * towards it). Throws CpfpFundsError when the coins are not enough.
 */
export function planAnchorCpfp<C extends CpfpCoin>(r: CpfpRequest<C>): CpfpPlan<C> {
  const chosen: C[] = [...(r.required ?? [])];
  const seen = new Set(chosen.map((c) => `${c.txid}:${c.vout}`));
  const rest = r.coins.filter((c) => !seen.has(`${c.txid}:${c.vout}`)).sort((a, b) => (b.value > a.value ? 1 : b.value < a.value ? -1 : 0));
  let total: bigint = r.anchor.amount + chosen.reduce((s, c) => s + c.value, 0n);
  for (let i = 0; ; i++) {
    const weight = childWeight(chosen.length);
    const fee = childFee(r, weight);
    if (chosen.length > 0 && total - fee >= CHILD_CHANGE_MIN_SAT) {
      const change = sat(total - fee);
      const tx: Tx = {
        version: 2,
        locktime: 0,
        inputs: [
          { txid: r.anchor.txid, vout: r.anchor.vout, sequence: 0xfffffffd, witness: [] },
          ...chosen.map((c) => ({ txid: c.txid, vout: c.vout, sequence: 0xfffffffd, witness: [] })),
        ],
        outputs: [{ value: change, script: r.changeScript }],
      };
      return { tx, coins: chosen, fee: sat(fee), change, weight, packageFeerate: feerateOf(r.commitment.fee + fee, r.commitment.weight + weight) };
    }
    const next = rest[i];
    if (!next) throw new CpfpFundsError(fee + CHILD_CHANGE_MIN_SAT, total);
    chosen.push(next);
    total += next.value;
  }
}

/** The anchor input's witness in the final child (every input and output in place): `<sig> <anchor script>`. */
export function signAnchor(anchor: Claim, final: Tx): Uint8Array[] {
  const sig = signInput(final, 0, anchor.scriptCode, anchor.amount, anchor.privkey, SIGHASH_ALL);
  return anchor.witness(witnessSig(sig.der, SIGHASH_ALL));
}

/** The earliest deadline of the HTLCs at stake, or undefined when there are none. */
export const earliestDeadline = (atStake: readonly { cltvExpiry: number }[]): number | undefined =>
  atStake.length ? Math.min(...atStake.map((h) => h.cltvExpiry)) : undefined;

/**
 * The ceiling of the ramp: the node's fee ceiling, and no more than
 * CPFP_BUDGET_PERCENT of the HTLC value at stake spent on the package. With
 * nothing at stake there is no ramp (the estimate is the target).
 */
export function rampCeiling(maxFeerate: FeeratePerKw, atStake: readonly { amount: Sat }[], commitmentWeight: number): FeeratePerKw {
  const value = atStake.reduce((s, h) => s + h.amount, 0n);
  const budget = budgetFeerate(sat((value * CPFP_BUDGET_PERCENT) / 100n), commitmentWeight);
  return feeratePerKw(Math.min(maxFeerate, budget));
}
