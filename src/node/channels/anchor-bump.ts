/**
 * Fee bumping our anchors commitment through its anchor (issue 13 hole 7,
 * BOLT 5 "Failing a Channel"). While our commitment is broadcast and not
 * confirmed, on every tip (and at once when we force close): the target
 * package feerate is the estimate, raised as the earliest HTLC deadline
 * nears (anchor-cpfp.ts); when the commitment, with the child already sent,
 * pays less, a child spending our anchor and wallet coins is built, stored
 * (wallet ledger: its coins reserved; close record: what it is) and only
 * then broadcast. A later, higher target replaces it (BIP 125), spending
 * the same coins. Once the commitment confirms nothing more is built; if
 * another transaction spends the funding output instead, every child can
 * never confirm and its coins are released (`release`).
 */
import { hex } from '../../bolt/bytes.ts';
import { type Commitments } from '../../bolt/bolt2/channel/commitments.ts';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import {
  anchorBumpTarget,
  CpfpFundsError,
  earliestDeadline,
  pacedFeerate,
  planAnchorCpfp,
  rampCeiling,
  signAnchor,
} from '../../bolt/bolt5/anchor-cpfp.ts';
import { ourCommitment } from '../../bolt/bolt5/our-commitment.ts';
import { type FeeratePerKw } from '../../bolt/units.ts';
import { DEFAULT_MAX_FEERATE_SAT_VB, satPerVbToPerKw } from '../../chain/feerate.ts';
import { BroadcastError, type ChainSource } from '../../chain/types.ts';
import { type Logger } from '../log.ts';
import { type Wallet } from '../wallet/wallet.ts';

import { type AnchorBumpRecord } from '../../bolt/bolt2/channel/state.ts';
export type { AnchorBumpRecord } from '../../bolt/bolt2/channel/state.ts';

/** What of a close record the bumper reads and writes. */
export interface BumpableClose {
  kind: string;
  txid: string;
  /** Height of the first tip the commitment was seen unconfirmed: the deadline ramp starts here. */
  bumpFrom?: number;
  anchorBump?: AnchorBumpRecord;
}

export const bumpKey = (commitmentTxid: string, round: number): string => `anchor-cpfp:${commitmentTxid}:${round}`;

export class AnchorBumper {
  constructor(
    private readonly chain: ChainSource,
    private readonly wallet: Wallet,
    private readonly log: Logger,
    private readonly maxFeerate: FeeratePerKw = satPerVbToPerKw(DEFAULT_MAX_FEERATE_SAT_VB),
  ) {}

  /** One tip with our commitment unconfirmed; returns the record (persisted before any broadcast). */
  async step<R extends BumpableClose>(
    ch: { channelId: Uint8Array; commitments: Commitments; secrets: ChannelSecrets },
    r: R,
    height: number,
    estimate: FeeratePerKw,
    preimageOf: (paymentHash: Uint8Array) => Uint8Array | undefined,
    persist: (r: R) => void,
  ): Promise<R> {
    // No tip seen yet (a force close at start-up): the ramp must not start at height 0.
    if (r.kind !== 'local' || ch.commitments.variant !== 'anchors' || height <= 0) return r;
    const oc = ourCommitment(ch.commitments, ch.secrets, preimageOf);
    const anchor = oc.anchor;
    if (oc.txid !== r.txid || !anchor) return r;
    if (r.bumpFrom === undefined) {
      r = { ...r, bumpFrom: height };
      persist(r);
    }
    const deadline = earliestDeadline(oc.atStake);
    const paced = pacedFeerate({
      estimate,
      max: rampCeiling(this.maxFeerate, oc.atStake, oc.weight),
      startHeight: r.bumpFrom!,
      ...(deadline === undefined ? {} : { deadline }),
      height,
    });
    const prev = r.anchorBump;
    const target = anchorBumpTarget({ commitment: oc, ...(prev ? { previous: { fee: prev.fee, weight: prev.weight } } : {}), target: paced });
    if (target === undefined) return r;
    const round = (prev?.round ?? -1) + 1;
    let child;
    try {
      child = await this.wallet.anchorChild(
        bumpKey(r.txid, round),
        (coins, required, changeScript) =>
          planAnchorCpfp({ anchor, commitment: oc, required, coins, changeScript, feerate: target, ...(prev ? { replaces: prev.fee } : {}) }),
        (final) => signAnchor(anchor, final),
        prev?.txid,
      );
    } catch (e) {
      if (!(e instanceof CpfpFundsError)) throw e;
      this.log.error('the wallet cannot pay the CPFP child of our commitment; retried on the next block', {
        channelId: hex(ch.channelId), commitment: r.txid, targetFeerate: target, error: e.message,
      });
      return r;
    }
    const next: R = { ...r, anchorBump: { round, txid: child.txid, fee: child.feeSat, weight: child.weight, feerate: target } };
    persist(next);
    this.log.warn(prev ? 'replacing the CPFP child of our commitment with a higher fee' : 'bumping our commitment: CPFP child through our anchor', {
      channelId: hex(ch.channelId), commitment: r.txid, child: child.txid, feeSat: child.feeSat, packageFeerate: target, deadline, height,
    });
    try {
      await this.chain.broadcast(child.raw);
      if (prev) this.wallet.bumpReplaced(prev.txid, child.txid, `replaced by CPFP child ${child.txid}`);
    } catch (e) {
      // Kept by the wallet and sent again each block; the older child stays live until one of them confirms.
      if (!(e instanceof BroadcastError)) throw e;
      this.log.warn('CPFP child refused; the wallet sends it again on the next block', { child: child.txid, reason: e.reason });
    }
    return next;
  }

  /** Another transaction spent the funding output: no child of our commitment can ever confirm. */
  release(r: BumpableClose, spender: string): void {
    if (!r.anchorBump) return;
    for (let round = 0; round <= r.anchorBump.round; round++) {
      const t = this.wallet.transactionByKey(bumpKey(r.txid, round));
      if (t) this.wallet.bumpReplaced(t.txid, spender, `the funding output was spent by ${spender}, not by our commitment ${r.txid}`);
    }
  }
}
