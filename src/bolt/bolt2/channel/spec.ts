/**
 * What a commitment transaction pays, and the updates that change it
 * (BOLT #2 "Normal Operation"). Everything here is from the local node's
 * point of view: `out` HTLCs were offered by us, `in` HTLCs by the peer;
 * `toLocalMsat` is our balance, `toRemoteMsat` theirs. The commitment
 * builder turns a spec around for the peer's commitment.
 */
import { type CltvExpiry, type FeeratePerKw, type Msat } from '../../units.ts';

export type HtlcDirection = 'out' | 'in';

export interface HtlcEntry {
  direction: HtlcDirection;
  /** Assigned by the side that offered it, from 0 upwards. */
  id: bigint;
  amountMsat: Msat;
  paymentHash: Uint8Array;
  cltvExpiry: CltvExpiry;
  /** The 1366-byte onion, kept so an add can be retransmitted. */
  onion: Uint8Array;
  /**
   * An incoming HTLC we took into the commitments but will not settle: it
   * is failed back (temporary_channel_failure) once irrevocably committed.
   * 'dust_exposure': it was dust past max_dust_htlc_exposure (safety-policy.ts).
   */
  failBack?: 'dust_exposure';
}

export interface CommitSpec {
  htlcs: HtlcEntry[];
  toLocalMsat: Msat;
  toRemoteMsat: Msat;
  feeratePerKw: FeeratePerKw;
}

/** An update sent by one side: the HTLC ids of fulfill/fail refer to the other side's HTLCs. */
export type Update =
  | { kind: 'add'; htlc: HtlcEntry }
  | { kind: 'fulfill'; id: bigint; preimage: Uint8Array }
  | { kind: 'fail'; id: bigint; reason: Uint8Array }
  | { kind: 'fail_malformed'; id: bigint; sha256OfOnion: Uint8Array; failureCode: number }
  | { kind: 'fee'; feeratePerKw: FeeratePerKw };

export class SpecError extends Error {
  override readonly name = 'SpecError';
}

const findHtlc = (spec: CommitSpec, direction: HtlcDirection, id: bigint): HtlcEntry | undefined =>
  spec.htlcs.find((h) => h.direction === direction && h.id === id);

/**
 * Applies updates to a spec: adds first, then settlements, then fee changes,
 * as both sides do, so that the same sets of updates always give the same
 * commitment whatever order they interleaved in.
 * `ours` are updates we sent, `theirs` updates the peer sent.
 */
export function reduce(spec: CommitSpec, ours: readonly Update[], theirs: readonly Update[]): CommitSpec {
  let { toLocalMsat, toRemoteMsat, feeratePerKw } = spec;
  let htlcs = spec.htlcs.slice();
  const all: [Update, boolean][] = [...ours.map((u) => [u, true] as [Update, boolean]), ...theirs.map((u) => [u, false] as [Update, boolean])];
  for (const [u, byUs] of all) {
    if (u.kind !== 'add') continue;
    if (byUs) toLocalMsat = (toLocalMsat - u.htlc.amountMsat) as Msat;
    else toRemoteMsat = (toRemoteMsat - u.htlc.amountMsat) as Msat;
    htlcs.push(u.htlc);
  }
  for (const [u, byUs] of all) {
    if (u.kind !== 'fulfill' && u.kind !== 'fail' && u.kind !== 'fail_malformed') continue;
    // We settle HTLCs the peer offered (`in`); the peer settles ours (`out`).
    const direction: HtlcDirection = byUs ? 'in' : 'out';
    const h = findHtlc({ htlcs, toLocalMsat, toRemoteMsat, feeratePerKw }, direction, u.id);
    if (!h) throw new SpecError(`${u.kind} of unknown ${direction === 'in' ? 'incoming' : 'outgoing'} HTLC ${u.id}`);
    htlcs = htlcs.filter((x) => x !== h);
    const toSettler = u.kind === 'fulfill';
    // Fulfilled: the amount goes to whoever settled it (the receiver); failed: back to the offerer.
    if (byUs === toSettler) toLocalMsat = (toLocalMsat + h.amountMsat) as Msat;
    else toRemoteMsat = (toRemoteMsat + h.amountMsat) as Msat;
  }
  for (const [u] of all) if (u.kind === 'fee') feeratePerKw = u.feeratePerKw;
  if (toLocalMsat < 0n || toRemoteMsat < 0n) throw new SpecError('an update set drives a balance below zero');
  return { htlcs, toLocalMsat, toRemoteMsat, feeratePerKw };
}

export { findHtlc };
