/**
 * When the channel opener sends update_fee (BOLT 2 "Updating Fees"). The
 * commitment's fee decides whether a force close confirms before HTLCs
 * expire, so the opener follows the chain's estimate: up as soon as it is
 * 10% above the commitment's rate (lnd's threshold), down only when it is
 * under half (a high fee is merely expensive; each update costs a signature
 * round, and estimates wobble block to block). The rate is not capped on
 * anchors channels either (lnd caps it there and bumps through the anchor):
 * lnnode does not CPFP its commitments, so they must relay on their own fee.
 */
import { FEERATE_FLOOR, type FeeratePerKw } from '../../units.ts';
import { type Commitments } from './commitments.ts';

/** The rate of the newest commitment we have proposed: our last unsigned update_fee, else the peer's newest commitment. */
export function proposedFeerate(c: Commitments): FeeratePerKw {
  for (let i = c.localChanges.proposed.length - 1; i >= 0; i--) {
    const u = c.localChanges.proposed[i]!;
    if (u.kind === 'fee') return u.feeratePerKw;
  }
  return (c.nextRemoteCommit ?? c.remoteCommit).spec.feeratePerKw;
}

/** The rate to send in update_fee now, or undefined to leave the channel as it is. Only the opener sends it. */
export function feeUpdateFor(c: Commitments, estimate: FeeratePerKw): FeeratePerKw | undefined {
  if (!c.weAreOpener) return undefined;
  const target = estimate < FEERATE_FLOOR ? FEERATE_FLOOR : estimate;
  const current = proposedFeerate(c);
  if (target * 10 > current * 11 || target * 2 < current) return target;
  return undefined;
}
