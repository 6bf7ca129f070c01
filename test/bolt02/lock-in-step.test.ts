/**
 * Lock-in as a pure step (src/bolt/bolt2/channel/lock-in-step.ts): the
 * fundee verifies the funding output before anything else and forgets a
 * channel whose output is not what was promised; channel_ready goes out
 * only at minimum depth, on an unspent output, with the short_channel_id
 * of where the funding confirmed; the reads asked for follow the state.
 */
import { describe, expect, test } from 'bun:test';
import { p2wsh } from '../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { fundingReads, type LockInView, lockInStep } from '../../src/bolt/bolt2/channel/lock-in-step.ts';
import { sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const FUNDING = sat(500_000);
const view = (s: Side, o: Partial<LockInView> = {}): LockInView => ({ phase: 'awaiting_lock_in', commitments: s.state, readySent: false, minimumDepth: 3, ...o });
const fundingOutputs = (s: Side, amount: bigint = FUNDING) => {
  const c = s.state;
  const out = { script: p2wsh(fundingScript(c.localBasepoints.funding, c.remoteBasepoints.funding)), amount };
  return [{ script: new Uint8Array(22), amount: 1_000n }, out]; // the harness funds at output 1
};
const at = (height: number, confirmations: number) => ({ confirmations, block: { height, hash: 'aa'.repeat(32) } });

describe('lock-in as a pure step', () => {
  test('fundee: a funding output of another amount or script is forgotten, never made ready', () => {
    const { b } = Pair.open(FUNDING);
    expect(fundingReads(view(b), at(100, 5))).toEqual({ outputs: true, spentAndIndex: true });
    expect(lockInStep(view(b), { status: at(100, 5), outputs: fundingOutputs(b, 499_999n), spent: false, txIndex: 2 })).toEqual({
      kind: 'forget',
      reason: 'funding output 1 pays 499999 sat, funding_satoshis is 500000',
    });
    const wrongScript = fundingOutputs(b).map((o, i) => (i === 1 ? { ...o, script: new Uint8Array(34) } : o));
    expect(lockInStep(view(b), { status: at(100, 5), outputs: wrongScript, spent: false, txIndex: 2 }).kind).toBe('forget');
    // Without the outputs read, nothing moves (not even the confirmation height).
    expect(lockInStep(view(b), { status: at(100, 5), spent: false, txIndex: 2 })).toEqual({ kind: 'wait', changes: {} });
  });

  test('fundee: verified and confirmed below depth waits, remembering both; at depth it is ready with its short_channel_id', () => {
    const { b } = Pair.open(FUNDING);
    expect(lockInStep(view(b), { status: { confirmations: 0 }, outputs: fundingOutputs(b) })).toEqual({ kind: 'wait', changes: { fundingVerified: true } });
    expect(lockInStep(view(b), { status: at(100, 2), outputs: fundingOutputs(b) })).toEqual({ kind: 'wait', changes: { fundingVerified: true, fundingConfirmedAt: 100 } });
    const v = view(b, { fundingVerified: true, fundingConfirmedAt: 100 });
    expect(fundingReads(v, at(100, 3))).toEqual({ outputs: false, spentAndIndex: true });
    expect(lockInStep(v, { status: at(100, 3), spent: false, txIndex: 7 })).toEqual({ kind: 'ready', changes: { readySent: true, shortChannelId: '100x7x1' } });
  });

  test('funder: an output already spent (a commitment broadcast before lock-in) or an unknown spend status never gets channel_ready', () => {
    const { a } = Pair.open(FUNDING);
    expect(fundingReads(view(a), at(100, 3))).toEqual({ outputs: false, spentAndIndex: true });
    expect(lockInStep(view(a), { status: at(100, 3), spent: true })).toEqual({ kind: 'wait', changes: { fundingConfirmedAt: 100 } });
    expect(lockInStep(view(a), { status: at(100, 3) }).kind).toBe('wait');
    // Found unspent but not in the block the status named: ready, without a short_channel_id.
    expect(lockInStep(view(a), { status: at(100, 3), spent: false, txIndex: -1 })).toEqual({ kind: 'ready', changes: { fundingConfirmedAt: 100, readySent: true } });
  });

  test('a channel past lock-in, or one whose channel_ready went out, is not touched', () => {
    const { a } = Pair.open(FUNDING);
    expect(lockInStep(view(a, { readySent: true }), { status: at(100, 9), spent: false, txIndex: 1 })).toEqual({ kind: 'wait', changes: {} });
    expect(lockInStep(view(a, { phase: 'normal' }), { status: at(100, 9), spent: false, txIndex: 1 })).toEqual({ kind: 'wait', changes: {} });
  });
});
