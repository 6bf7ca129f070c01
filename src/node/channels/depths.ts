/**
 * How deep the channel layer wants things on chain before it acts on them,
 * in one place: the depth at which an on-chain outcome is reported, and the
 * deepest reorg it plans for (what it keeps watching until).
 */

/**
 * Confirmations after which an outcome on chain is reported (an HTLC
 * failed, the channel closed): LDK's ANTI_REORG_DELAY.
 */
export const CLOSE_DEPTH = 6;
/**
 * The deepest reorg we plan for: a closed channel is watched until its
 * close and sweeps are this deep, and follows a reorg up to it. (A deeper
 * one can still undo an outcome reported at CLOSE_DEPTH; a preimage seen
 * later still turns a failed payment into a paid one.)
 */
export const MAX_REORG_DEPTH = 12;
