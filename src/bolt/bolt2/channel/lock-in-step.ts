/**
 * Lock-in as a pure step (BOLT 2 "The channel_ready Message"): what a
 * channel awaiting lock-in does with what the chain says of its funding.
 * The fundee checks the funding output before anything else; the block the
 * funding confirmed in is remembered (to forget an unfunded channel, and to
 * follow reorgs); at minimum depth, on an output not already spent, our
 * channel_ready goes out with the short_channel_id. The driver reads the
 * chain (only what `fundingReads` asks for), stores the result, then sends.
 */
import { type Commitments } from './commitments.ts';
import { fundingOutputProblem, type TxOut } from './funding-output.ts';

export interface LockInView {
  phase: string;
  commitments: Commitments;
  readySent: boolean;
  minimumDepth: number;
  fundingVerified?: boolean;
  fundingConfirmedAt?: number;
}

/** Where the chain source has the funding transaction. */
export interface FundingStatus {
  confirmations: number;
  block?: { height: number; hash: string };
}

/** What the driver read of the chain for the step; each field only when `fundingReads` asked for it. */
export interface FundingSeen {
  status: FundingStatus;
  /** The funding transaction's outputs (fundee, before it verified them). */
  outputs?: readonly TxOut[];
  /** Whether the funding output is spent (once deep enough); undefined when the chain source did not say. */
  spent?: boolean;
  /** The funding's position in its block, -1 when not found there (once deep enough and unspent). */
  txIndex?: number;
}

export interface LockInChanges {
  fundingVerified?: true;
  fundingConfirmedAt?: number;
  readySent?: true;
  shortChannelId?: string;
}

export type LockInResult =
  /** Not yet: store `changes` (if any) and look again on the next tip. */
  | { kind: 'wait'; changes: LockInChanges }
  /** The funding output is not what the funder promised: tell the peer and never use the channel (none of our funds are in it). */
  | { kind: 'forget'; reason: string }
  /** Store `changes`, then send our channel_ready. */
  | { kind: 'ready'; changes: LockInChanges & { readySent: true } };

/** The chain reads the step needs besides the funding's status. */
export function fundingReads(v: LockInView, status: FundingStatus): { outputs: boolean; spentAndIndex: boolean } {
  return { outputs: !v.commitments.weAreOpener && !v.fundingVerified, spentAndIndex: deepEnough(v, status) };
}

export function lockInStep(v: LockInView, seen: FundingSeen): LockInResult {
  if (v.phase !== 'awaiting_lock_in' || v.readySent) return { kind: 'wait', changes: {} };
  const changes: LockInChanges = {};
  if (!v.commitments.weAreOpener && !v.fundingVerified) {
    if (!seen.outputs) return { kind: 'wait', changes };
    const problem = fundingOutputProblem(v.commitments, seen.outputs);
    // BOLT 2 channel_ready sender: MUST NOT send channel_ready unless the outpoint pays exactly funding_satoshis to the funding script.
    if (problem) return { kind: 'forget', reason: problem };
    changes.fundingVerified = true;
  }
  const block = seen.status.block;
  if (block && v.fundingConfirmedAt === undefined) changes.fundingConfirmedAt = block.height;
  // BOLT 2 channel_ready sender: never on a funding output already spent (a commitment broadcast before lock-in); the close watcher resolves that.
  if (!block || !deepEnough(v, seen.status) || seen.spent !== false) return { kind: 'wait', changes };
  const index = seen.txIndex ?? -1;
  const shortChannelId = index >= 0 ? shortChannelIdOf(block.height, index, v.commitments.fundingVout) : undefined;
  return { kind: 'ready', changes: { ...changes, readySent: true, ...(shortChannelId ? { shortChannelId } : {}) } };
}

const deepEnough = (v: LockInView, s: FundingStatus): boolean => s.block !== undefined && s.confirmations >= v.minimumDepth;

/** BOLT 7 short_channel_id of the funding output, `block x tx x output`. */
export const shortChannelIdOf = (blockHeight: number, txIndex: number, vout: number): string => `${blockHeight}x${txIndex}x${vout}`;
