/**
 * What a peer may make a channel risk through fees and dust, and the
 * numbers for it (BOLT #2 "Bounding exposure to trimmed in-flight HTLCs:
 * max_dust_htlc_exposure_msat", "Updating Fees: update_fee"; issue 13
 * hole 6, CVE-2021-41591..3).
 *
 * Dust exposure: an HTLC below the trim threshold of a commitment (BOLT 3)
 * has no output there; if that commitment confirms, its value goes to the
 * miners. Many such HTLCs at once are a griefing (or miner-extractable)
 * attack, and a feerate rise on a non-anchors channel trims HTLCs that had
 * outputs. The exposure of a commitment is the sum of the HTLCs trimmed on
 * it, counted over every HTLC that is on, or proposed for, either side's
 * commitment (an HTLC being removed still counts until both sides revoked
 * the commitments that hold it), at the highest feerate any of them has.
 * Both our commitment and theirs are bounded by the same limit, as LDK and
 * CLN do:
 *   - an HTLC we would offer that takes either past it is not offered;
 *   - an HTLC the peer offers that does is accepted into the commitments
 *     (refusing it is not ours to do) but failed back with
 *     temporary_channel_failure once irrevocably committed, never fulfilled;
 *   - an update_fee from the peer (non-anchors: with zero-fee HTLC
 *     transactions the feerate trims nothing) that takes either past it
 *     fails the channel, as LDK does. BOLT 2 allows that ("MAY fail the
 *     channel"); a warning and disconnection would not help: the update is
 *     forgotten and the funder sends it again on the next connection while
 *     our HTLCs run towards their expiry. Failing now broadcasts our latest
 *     commitment, signed before the rise, where those HTLCs still have
 *     outputs.
 *   - our own update_fee that would do so is not sent (BOLT 2 "MAY NOT send").
 * HTLCs we offer or accept are checked at a buffered feerate on non-anchors
 * channels (LDK's dust_buffer_feerate: +2530 sat/kw or +25%, the larger), so
 * an ordinary fee rise does not push a full channel over the limit.
 *
 * The default limit, 50,000 sat, is CLN's max-dust-htlc-exposure-msat
 * (lnd's default is 500,000 sat; LDK scales with the feerate, about
 * 5,000 sat per sat/vB).
 *
 * update_fee bounds (receiver: "too low for timely processing, or
 * unreasonably large: send an error and fail the channel"):
 *   - too high: above 10 x our fastest estimate, and above 25,000 sat/kw
 *     (100 sat/vB). LDK uses the same 10x with a 6,250 sat/kw floor; ours is
 *     higher so lnd's static regtest/fallback rate (12,500 sat/kw) passes.
 *     Anything under it only costs the funder; dust it causes is bounded
 *     above.
 *   - too low: below the 253 sat/kw relay floor always; on non-anchors
 *     channels also below half our economy (1008-block) estimate, since
 *     such a commitment cannot be bumped (CLN's feerate_min is the same
 *     idea). Anchors channels are CPFPed through their anchor, so only the
 *     relay floor applies there (LDK's MinAllowedAnchorChannelRemoteFee,
 *     CLN's feerate floor).
 *   Until the chain gave an estimate only the two fixed numbers apply.
 *
 * Unsigned updates: only the latest update_fee matters (BOLT 2: "never
 * closed but simply replaced"), so a new one replaces the one before it in
 * the same list; and the updates a peer has us keep without our signature
 * (proposed plus acked) are capped. An honest peer stays under the default
 * cap: it can add at most max_accepted_htlcs HTLCs, settle at most the 483
 * HTLCs we may offer, and have one fee in each list.
 */
import { htlcSuccessFee, htlcTimeoutFee, type Variant } from '../../bolt3/fees.ts';
import { FEERATE_FLOOR, type FeeratePerKw, type Msat, type Sat, msatToSatFloor } from '../../units.ts';
import { type Commitments } from './commitments.ts';
import { type HtlcEntry, type Update } from './spec.ts';

export interface FeeEstimateView {
  /** The fastest-target estimate (1-2 blocks). */
  fast: FeeratePerKw;
  /** The slowest-target estimate (1008 blocks). */
  economy: FeeratePerKw;
}

export interface SafetyPolicy {
  /** Most msat of trimmed HTLCs either commitment may carry. */
  maxDustHtlcExposureMsat: Msat;
  /** Most updates from the peer we keep without having signed them (proposed + acked). */
  maxUnsignedPeerUpdates: number;
  /** The chain's estimates as last seen; undefined until the first arrives. */
  estimates?: FeeEstimateView;
}

export const DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT = 50_000_000n as Msat;
/** 483 adds + 483 settles + one fee in each of proposed and acked: more than an honest peer can have. */
export const DEFAULT_MAX_UNSIGNED_PEER_UPDATES = 483 + 483 + 2;
/** An update_fee at or below this is never "unreasonably large", whatever our estimate. */
export const UPDATE_FEE_CEILING_FLOOR = 25_000 as FeeratePerKw;
export const UPDATE_FEE_MAX_MULTIPLE = 10;

export const DEFAULT_SAFETY_POLICY: SafetyPolicy = {
  maxDustHtlcExposureMsat: DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT,
  maxUnsignedPeerUpdates: DEFAULT_MAX_UNSIGNED_PEER_UPDATES,
};

// ------------------------------------------------------------------- trimming

/** BOLT 3 trimming: no output on `owner`'s commitment when the amount is below its dust limit plus the second-stage fee. */
export function isTrimmed(dustLimit: Sat, variant: Variant, h: HtlcEntry, owner: 'local' | 'remote', feerate: FeeratePerKw): boolean {
  const offeredByOwner = (h.direction === 'out') === (owner === 'local');
  const fee = offeredByOwner ? htlcTimeoutFee(feerate, variant) : htlcSuccessFee(feerate, variant);
  return msatToSatFloor(h.amountMsat) < dustLimit + fee;
}

/** LDK's dust_buffer_feerate: room for fee rises before an HTLC we take on could be trimmed. */
export function dustBufferFeerate(feerate: FeeratePerKw, variant: Variant): FeeratePerKw {
  if (variant === 'anchors') return feerate;
  const plus = feerate + 2530;
  const scaled = Math.ceil((feerate * 5) / 4);
  return (plus > scaled ? plus : scaled) as FeeratePerKw;
}

const allChanges = (c: Commitments): Update[] => [
  ...c.localChanges.proposed,
  ...c.localChanges.signed,
  ...c.localChanges.acked,
  ...c.remoteChanges.proposed,
  ...c.remoteChanges.acked,
  ...c.remoteChanges.signed,
];

/** Every HTLC on a commitment of either side or proposed for one, once each. */
export function htlcsAtStake(c: Commitments): HtlcEntry[] {
  const seen = new Map<string, HtlcEntry>();
  const add = (h: HtlcEntry): void => {
    const key = `${h.direction}:${h.id}`;
    if (!seen.has(key)) seen.set(key, h);
  };
  for (const spec of [c.localCommit.spec, c.remoteCommit.spec, c.nextRemoteCommit?.spec]) for (const h of spec?.htlcs ?? []) add(h);
  for (const u of allChanges(c)) if (u.kind === 'add') add(u.htlc);
  return [...seen.values()];
}

/** The highest feerate of the commitments both sides hold now (pending update_fee not included). */
export function committedFeerate(c: Commitments): FeeratePerKw {
  let f = c.localCommit.spec.feeratePerKw;
  for (const x of [c.remoteCommit.spec.feeratePerKw, c.nextRemoteCommit?.spec.feeratePerKw]) if (x !== undefined && x > f) f = x;
  return f;
}

/** The highest feerate any commitment has or is proposed to have. */
export function stakeFeerate(c: Commitments): FeeratePerKw {
  let f = committedFeerate(c);
  for (const u of allChanges(c)) if (u.kind === 'fee' && u.feeratePerKw > f) f = u.feeratePerKw;
  return f;
}

export interface DustExposure {
  /** Trimmed HTLCs on our commitment. */
  localMsat: Msat;
  /** Trimmed HTLCs on the peer's commitment. */
  remoteMsat: Msat;
}

/** The dust exposure of both commitments over `htlcs` at `feerate`. */
export function dustExposure(c: Commitments, htlcs: readonly HtlcEntry[], feerate: FeeratePerKw): DustExposure {
  let localMsat = 0n;
  let remoteMsat = 0n;
  for (const h of htlcs) {
    if (isTrimmed(c.local.dustLimitSat, c.variant, h, 'local', feerate)) localMsat += h.amountMsat;
    if (isTrimmed(c.remote.dustLimitSat, c.variant, h, 'remote', feerate)) remoteMsat += h.amountMsat;
  }
  return { localMsat: localMsat as Msat, remoteMsat: remoteMsat as Msat };
}

/**
 * Why adding `h` (one side's new HTLC, not yet in `c`) would take a
 * commitment on which it is trimmed past the limit; undefined when it may
 * be added. BOLT 2: only an HTLC that is itself dust there is refused.
 */
export function addDustProblem(c: Commitments, h: HtlcEntry, limit: Msat): string | undefined {
  const feerate = dustBufferFeerate(stakeFeerate(c), c.variant);
  const e = dustExposure(c, [...htlcsAtStake(c), h], feerate);
  const sides = [
    ['our', 'local', c.local.dustLimitSat, e.localMsat],
    ["the peer's", 'remote', c.remote.dustLimitSat, e.remoteMsat],
  ] as const;
  for (const [whose, owner, dust, exposure] of sides) {
    if (isTrimmed(dust, c.variant, h, owner, feerate) && exposure > limit) {
      return `dust HTLC exposure on ${whose} commitment would be ${exposure} msat with this ${h.amountMsat} msat HTLC, above the limit of ${limit} msat`;
    }
  }
  return undefined;
}

/** Why moving the commitments to `feerate` would take either past the limit; undefined when it may. */
export function feeDustProblem(c: Commitments, feerate: FeeratePerKw, limit: Msat): string | undefined {
  // BOLT 2 update_fee: the dust rules apply when option_anchors was not negotiated and the rate increases.
  if (c.variant === 'anchors' || feerate <= committedFeerate(c)) return undefined;
  const e = dustExposure(c, htlcsAtStake(c), feerate);
  const ours = e.localMsat >= e.remoteMsat;
  const worst = ours ? e.localMsat : e.remoteMsat;
  if (worst <= limit) return undefined;
  const whose = ours ? 'our' : "the peer's";
  return `at ${feerate} sat/kw the dust HTLC exposure on ${whose} commitment would be ${worst} msat, above the limit of ${limit} msat`;
}

// ------------------------------------------------------------------ update_fee

/** The range of update_fee rates we accept from the funder. */
export function updateFeeBounds(variant: Variant, estimates: FeeEstimateView | undefined): { min: FeeratePerKw; max: FeeratePerKw } {
  const tenfold = estimates ? estimates.fast * UPDATE_FEE_MAX_MULTIPLE : 0;
  const max = (tenfold > UPDATE_FEE_CEILING_FLOOR ? tenfold : UPDATE_FEE_CEILING_FLOOR) as FeeratePerKw;
  const half = variant === 'anchors' || !estimates ? 0 : Math.floor(estimates.economy / 2);
  const min = (half > FEERATE_FLOOR ? half : FEERATE_FLOOR) as FeeratePerKw;
  return { min, max };
}

/** Why the peer's update_fee of `feerate` is too low for timely processing or unreasonably large; undefined when acceptable. */
export function updateFeeBoundsProblem(variant: Variant, feerate: FeeratePerKw, estimates: FeeEstimateView | undefined): string | undefined {
  const { min, max } = updateFeeBounds(variant, estimates);
  if (feerate < min) return `update_fee of ${feerate} sat/kw is too low for timely processing (at least ${min} sat/kw)`;
  if (feerate > max) return `update_fee of ${feerate} sat/kw is unreasonably large (at most ${max} sat/kw)`;
  return undefined;
}

/** The list with any earlier update_fee dropped: only the latest one matters. */
export function withoutFee(changes: readonly Update[]): Update[] {
  return changes.filter((u) => u.kind !== 'fee');
}

/** A list with only its last update_fee kept, in its place. */
export function latestFeeOnly(changes: readonly Update[]): Update[] {
  let last = -1;
  changes.forEach((u, i) => {
    if (u.kind === 'fee') last = i;
  });
  return changes.filter((u, i) => u.kind !== 'fee' || i === last);
}
