/**
 * A channel in use whose funding transaction a reorg took off the chain, or
 * back below its minimum depth (issue 16 item 11): no HTLC of ours is added
 * on it until the funding is deep again, and its short_channel_id is
 * recomputed from the block it confirms in then (BOLT 7: block height,
 * transaction index, output index). The funder's wallet sends the funding
 * again meanwhile. Pure: the caller reads the chain.
 */
import { type TxStatus } from '../../chain/types.ts';
import { MAX_REORG_DEPTH } from './depths.ts';

export interface FundingWatch {
  /** Height of the block the funding was last seen confirmed in. */
  fundingConfirmedAt?: number;
  /** The funding fell below its minimum depth after the channel was ready. */
  fundingDepthLost?: boolean;
}

/**
 * Whether the funding must be looked at on this tip: while it is within the
 * deepest reorg we plan for, after a reorg back to `forkHeight` at or below
 * its block, and while it is lost. A funding deeper than that is not polled.
 */
export function fundingNeedsCheck(w: FundingWatch, height: number, forkHeight?: number): boolean {
  if (w.fundingDepthLost || w.fundingConfirmedAt === undefined) return true;
  if (forkHeight !== undefined && forkHeight < w.fundingConfirmedAt) return true;
  return height - w.fundingConfirmedAt + 1 <= MAX_REORG_DEPTH;
}

export type FundingDepth =
  /** At or past the minimum depth, in block `height` (`hash`). */
  | { kind: 'deep'; height: number; hash: string }
  /** Unconfirmed, unknown to the chain source, or below the minimum depth. */
  | { kind: 'shallow'; confirmations: number };

export function fundingDepth(status: TxStatus | null, minimumDepth: number): FundingDepth {
  if (status?.confirmed && status.block && status.confirmations >= minimumDepth) return { kind: 'deep', height: status.block.height, hash: status.block.hash };
  return { kind: 'shallow', confirmations: status?.confirmations ?? 0 };
}
