/**
 * Reconnection as pure steps (src/bolt/bolt2/channel/reconnect-step.ts): two
 * channel views exchange channel_reestablish with no node, socket or store;
 * the answer resumes with what the peer missed, in the order first sent,
 * fails the channel on numbers that cannot be reconciled, and stops at data
 * loss only when the peer proves it; channel_ready locks the channel in.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { type Commitments, sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { channelReadyStep, ourChannelReestablish, type ReconnectView, reestablishStep } from '../../src/bolt/bolt2/channel/reconnect-step.ts';
import { type CltvExpiry, msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const view = (s: Side, o: Partial<ReconnectView> = {}): ReconnectView => ({ phase: 'normal', commitments: s.state, secrets: s.secrets, readySent: true, theirReady: true, ...o });
const reestablishOf = (s: Side, o: Partial<ReconnectView> = {}) => ourChannelReestablish(view(s, o))!.msg;

/** A's add of one HTLC, signed by A, with B's answer lost: A must send both again. */
function addSignedUnanswered(pair: Pair): void {
  const r = sendAdd(pair.a.state, { amountMsat: msat(5_000_000n), paymentHash: sha256(Uint8Array.of(1)), cltvExpiry: 600_000 as CltvExpiry, onion: new Uint8Array(1366) });
  pair.a.state = r.state;
  pair.sign(pair.a);
  pair.b.inbox.length = 0;
}

describe('channel_reestablish as a pure step', () => {
  test('equal states resume with nothing to send again; at commitment 0 our channel_ready goes out again first', () => {
    const pair = Pair.open(sat(500_000), msat(100_000_000n));
    const r = reestablishStep(view(pair.a), reestablishOf(pair.b));
    expect(r.kind).toBe('resume');
    // Both at the first commitment (BOLT 2): channel_ready is sent again, and only it.
    expect(r.kind === 'resume' && r.send.map((m) => m.name)).toEqual(['channel_ready']);
    expect(reestablishStep(view(pair.a, { readySent: false }), reestablishOf(pair.b))).toEqual({ kind: 'resume', send: [] });
  });

  test('an add and commitment_signed the peer never received go out again, in order, with the same signature', () => {
    const pair = Pair.open(sat(500_000), msat(100_000_000n));
    addSignedUnanswered(pair);
    const r = reestablishStep(view(pair.a), reestablishOf(pair.b));
    if (r.kind !== 'resume') throw new Error(r.kind);
    expect(r.send.map((m) => m.name)).toEqual(['channel_ready', 'update_add_htlc', 'commitment_signed']);
    const sig = r.send.at(-1)!.msg as { signature: Uint8Array };
    expect(hex(sig.signature)).toBe(hex(pair.a.state.nextRemoteCommit!.sig));
  });

  test('numbers that cannot be reconciled fail the channel; the peer holding our secret for a later state proves data loss', () => {
    const pair = Pair.open(sat(500_000), msat(100_000_000n));
    const theirs = reestablishOf(pair.b);
    expect(reestablishStep(view(pair.a), { ...theirs, nextCommitmentNumber: 0n }).kind).toBe('fail');
    expect(reestablishStep(view(pair.a), { ...theirs, nextCommitmentNumber: 7n }).kind).toBe('fail');
    // Ahead of us without the secret that would prove it: fail (our latest commitment is safe to broadcast).
    expect(reestablishStep(view(pair.a), { ...theirs, nextRevocationNumber: 1n }).kind).toBe('fail');
    // A moves on by one round of commitments; an A restored from before it is behind B, and B holds A's secret for commitment 0.
    const before: Commitments = pair.a.state;
    const r = sendAdd(pair.a.state, { amountMsat: msat(5_000_000n), paymentHash: sha256(Uint8Array.of(2)), cltvExpiry: 600_000 as CltvExpiry, onion: new Uint8Array(1366) });
    pair.a.state = r.state;
    pair.send(pair.a, r.send);
    pair.sign(pair.a);
    pair.settle();
    pair.sign(pair.b);
    pair.settle();
    expect(pair.a.state.localCommit.index).toBe(1n);
    expect(reestablishStep(view(pair.a, { commitments: before }), reestablishOf(pair.b)).kind).toBe('data_loss');
    // The same claim with a wrong secret proves nothing: fail, not data loss.
    expect(reestablishStep(view(pair.a, { commitments: before }), { ...reestablishOf(pair.b), yourLastPerCommitmentSecret: new Uint8Array(32).fill(9) }).kind).toBe('fail');
  });

  test('no channel_reestablish in a phase that cannot resume', () => {
    const pair = Pair.open(sat(500_000));
    for (const phase of ['awaiting_funding_signed', 'closing', 'closed', 'recovering']) expect(ourChannelReestablish(view(pair.a, { phase }))).toBeUndefined();
    for (const phase of ['awaiting_lock_in', 'normal', 'shutdown']) expect(ourChannelReestablish(view(pair.a, { phase }))?.name).toBe('channel_reestablish');
  });
});

describe('channel_ready as a pure step', () => {
  test('locks in only once ours went out; keeps the alias the peer gave before when it gives none', () => {
    const pair = Pair.open(sat(500_000));
    const m = { secondPerCommitmentPoint: pair.b.state.remoteNextPoint! };
    expect(channelReadyStep(view(pair.a, { phase: 'awaiting_lock_in', readySent: false }), m).normal).toBe(false);
    const r = channelReadyStep(view(pair.a, { phase: 'awaiting_lock_in', readySent: true, remoteAlias: 42n }), m);
    expect([r.normal, r.theirReady, r.remoteAlias]).toEqual([true, true, 42n]);
    expect(channelReadyStep(view(pair.a, { phase: 'awaiting_lock_in', readySent: true }), { ...m, shortChannelIdAlias: 7n }).remoteAlias).toBe(7n);
    // A retransmission after the channel is in use changes nothing.
    expect(channelReadyStep(view(pair.a), m).normal).toBe(false);
  });
});
