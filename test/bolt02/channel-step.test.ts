/**
 * A stored channel's life through the one pure step
 * (src/bolt/bolt2/channel/step.ts), two sides wired back to back with no
 * node, socket or store: what each step sends goes to the other side, its
 * `then` and `resolve_incoming` effects run as the driver runs them. Every
 * step is checked against the driver's rule: anything it sends besides an
 * error or a warning follows a write of the state that produced it.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { hex } from '../../src/bolt/bytes.ts';
import { derFromCompact } from '../../src/bolt/bolt3/sign.ts';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { unresolvedIncoming } from '../../src/bolt/bolt2/channel/incoming.ts';
import { type ChannelEffect, type ChannelInput, type ChannelMessage, type ChannelStep, channelStep, type ChannelView, type PeerSend, type StepContext } from '../../src/bolt/bolt2/channel/step.ts';
import { type ChannelRecord, channelState, type HtlcOutcome } from '../../src/bolt/bolt2/channel/state.ts';
import { type CltvExpiry, type FeeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const FEERATE = 1000 as FeeratePerKw;
const PREIMAGE = new Uint8Array(32).fill(0x5a);
const HASH = sha256(PREIMAGE);

/** One side as the driver holds it: the view, what it stored, and what the effects did. */
class Party {
  view: ChannelView;
  connected = true;
  /** How many times a step asked for the state to be written. */
  writes = 0;
  stored?: ChannelView;
  outcomes: HtlcOutcome[] = [];
  effects: ChannelEffect[] = [];
  peer!: Party;
  constructor(readonly side: Side, readonly script: Uint8Array) {
    this.view = normalView({ commitments: side.state, minimumDepth: 1, readySent: true, theirReady: true, localAlias: 1n });
  }
  ctx(): StepContext {
    return {
      secrets: this.side.secrets,
      safety: { maxDustHtlcExposureMsat: msat(5_000_000_000n), maxUnsignedPeerUpdates: 100 },
      connected: this.connected,
      closeFeerate: FEERATE,
      newScript: () => this.script,
      preimageOf: () => undefined,
      unfundedForgetBlocks: 2016,
    };
  }
  /** Steps an input and carries the result out as ChannelManager.apply does (store, send, effects in order). */
  run(input: ChannelInput): ChannelStep {
    const s = channelStep(this.view, input, this.ctx());
    if (s.refused !== undefined) return s;
    const peerVisible = s.send.filter((m) => m.name !== 'error' && m.name !== 'warning');
    if (peerVisible.length) expect(s.persist).toBe(true);
    this.view = s.next;
    if (s.persist) [this.writes, this.stored] = [this.writes + 1, s.next];
    if (this.connected) for (const m of s.send) this.peer.inbox.push(m);
    for (const e of s.effects) {
      this.effects.push(e);
      if (e.kind === 'htlc_outcome') this.outcomes.push(e.outcome);
      if (e.kind === 'then') this.run(e.input);
      if (e.kind === 'resolve_incoming') {
        // The payments layer: the invoice's preimage settles it.
        for (const { htlc } of unresolvedIncoming(this.view.rec.commitments, this.view.rec.shutdown?.failAddsFrom)) this.run({ kind: 'settle', htlcId: htlc.id, outcome: { kind: 'fulfill', preimage: PREIMAGE } });
        this.run({ kind: 'sign' });
      }
    }
    return s;
  }
  inbox: PeerSend[] = [];
}

const normalView = (rec: ChannelRecord): ChannelView => ({ phase: 'normal', rec, reestablished: true, errorResent: false });

function parties(): { a: Party; b: Party } {
  const pair = Pair.open(sat(500_000), msat(100_000_000n));
  const a = new Party(pair.a, p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x11))));
  const b = new Party(pair.b, p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x22))));
  [a.peer, b.peer] = [b, a];
  return { a, b };
}

/** Delivers queued messages both ways until both sides are quiet; errors and warnings are collected, not stepped. */
function flow(a: Party, b: Party): PeerSend[] {
  const notices: PeerSend[] = [];
  for (let i = 0; i < 200; i++) {
    const to = a.inbox.length ? a : b.inbox.length ? b : undefined;
    if (!to) return notices;
    const m = to.inbox.shift()!;
    if (m.name === 'error' || m.name === 'warning') notices.push(m);
    else to.run({ kind: 'message', m: m as ChannelMessage });
  }
  throw new Error('messages kept flowing');
}

const add = { kind: 'add_htlc', amountMsat: msat(20_000_000n), paymentHash: HASH, cltvExpiry: 500 as CltvExpiry, onion: new Uint8Array(1366) } as const;

describe('a stored channel through one step', () => {
  test('a payment: A offers, B settles with the preimage, A learns it in the write that takes the HTLC off; balances move by the amount', () => {
    const { a, b } = parties();
    const before = [a.view.rec.commitments.localCommit.spec.toLocalMsat, b.view.rec.commitments.localCommit.spec.toLocalMsat];
    const s = a.run(add);
    expect(s.htlcId).toBe(0n);
    expect(s.send.map((m) => m.name)).toEqual(['update_add_htlc', 'commitment_signed']);
    expect(flow(a, b)).toEqual([]);
    expect(a.outcomes).toMatchObject([{ kind: 'fulfilled', preimage: PREIMAGE }]);
    expect(a.stored).toEqual(a.view);
    const after = [a.view.rec.commitments.localCommit.spec.toLocalMsat, b.view.rec.commitments.localCommit.spec.toLocalMsat];
    expect([before[0]! - after[0]!, after[1]! - before[1]!]).toEqual([20_000_000n, 20_000_000n]);
    expect(a.view.rec.commitments.localCommit.spec.htlcs).toEqual([]);
    expect(b.view.rec.commitments.localCommit.spec.htlcs).toEqual([]);
  });

  test('an update from a peer that skipped channel_reestablish fails the channel: our commitment stored as the close, the error sent, the broadcast after', () => {
    const { a, b } = parties();
    b.view = { ...b.view, reestablished: false };
    a.run(add);
    const m = b.inbox.shift()!;
    const s = b.run({ kind: 'message', m: m as ChannelMessage });
    expect(s.next.phase).toBe('closing');
    expect(s.persist).toBe(true);
    expect(s.send).toMatchObject([{ name: 'error' }]);
    expect(new TextDecoder().decode((s.send[0]!.msg as { data: Uint8Array }).data)).toBe('update_add_htlc before channel_reestablish');
    const close = s.next.rec.close!;
    expect([close.kind, close.txid]).toEqual(['local', b.view.rec.commitments.localCommit.txid]);
    const kinds = s.effects.map((e) => e.kind);
    expect(kinds.indexOf('broadcast')).toBeLessThan(kinds.indexOf('watch_close'));
    // A closing channel answers nothing more but its error, once per connection.
    expect(b.run({ kind: 'message', m: m as ChannelMessage }).persist).toBe(false);
  });

  test('a mutual close: both sides store the same closing transaction before broadcasting it', () => {
    const { a, b } = parties();
    a.run({ kind: 'close', localScript: a.script, feerate: FEERATE });
    expect(flow(a, b)).toEqual([]);
    expect([a.view.phase, b.view.phase]).toEqual(['closing', 'closing']);
    expect(a.view.rec.close!.kind).toBe('mutual');
    expect(a.view.rec.close!.txid).toBe(b.view.rec.close!.txid);
    for (const p of [a, b]) {
      const cast = p.effects.find((e) => e.kind === 'broadcast');
      expect(cast).toMatchObject({ what: 'mutual', txid: p.view.rec.close!.txid });
      expect(p.stored!.rec.close!.txid).toBe(p.view.rec.close!.txid);
    }
  });

  test('a mutual close agreed and stored answers a reconnection with our shutdown and the same closing_signed, once per connection', () => {
    const { a, b } = parties();
    a.run({ kind: 'close', localScript: a.script, feerate: FEERATE });
    flow(a, b);
    const reestablish = { name: 'channel_reestablish', msg: { channelId: b.view.rec.commitments.channelId, nextCommitmentNumber: 1n, nextRevocationNumber: 0n, yourLastPerCommitmentSecret: new Uint8Array(32), myCurrentPerCommitmentPoint: new Uint8Array(33) } } as const;
    const again = channelStep({ ...b.view, errorResent: false } as ChannelView, { kind: 'message', m: reestablish }, b.ctx());
    expect(again.send.map((m) => m.name)).toEqual(['shutdown', 'closing_signed']);
    expect(again.persist).toBe(false);
    const signed = again.send[1]!.msg as { feeSatoshis: bigint; signature: Uint8Array };
    expect(signed.feeSatoshis).toBe(b.view.rec.shutdown!.agreed!.fee);
    // Our signature in the witness of the closing transaction both stored.
    expect(hex(b.view.rec.close!.raw!)).toContain(hex(derFromCompact(signed.signature)));
    expect(a.view.rec.close!.txid).toBe(b.view.rec.close!.txid);
    expect(channelStep(again.next, { kind: 'message', m: reestablish }, b.ctx()).send).toEqual([]);
  });

  test('disconnecting forgets our unsigned add and fails its payment in the same write; an add is refused while the peer is away', () => {
    const { a } = parties();
    a.connected = false;
    expect(a.run(add).refused).toBe('channel is not active');
    a.connected = true;
    // Proposed and not signed yet (the commitment_signed that follows it was never sent).
    const proposed = sendAdd(a.view.rec.commitments, add).state;
    a.view = normalView({ ...a.view.rec, commitments: proposed });
    const d = a.run({ kind: 'disconnected' });
    expect(d.persist).toBe(true);
    expect(d.next.reestablished).toBe(false);
    expect(d.effects.filter((e) => e.kind === 'htlc_outcome')).toMatchObject([{ outcome: { kind: 'failed', htlc: { id: 0n } } }]);
    expect(d.next.rec.commitments.localChanges.proposed).toEqual([]);
  });

  test('force close is refused where our commitment must not or cannot go out; otherwise stored, then broadcast', () => {
    const { a } = parties();
    expect(channelStep(normalView({ ...a.view.rec, dataLoss: true }), { kind: 'force_close', reason: 'x' }, a.ctx()).refused).toContain('lost channel state');
    const restored: ChannelView = { ...channelState('recovering', a.view.rec), reestablished: false, errorResent: false };
    expect(channelStep(restored, { kind: 'force_close', reason: 'x' }, a.ctx()).refused).toContain('restored from backup');
    const s = channelStep(a.view, { kind: 'force_close', reason: 'closed by us (force)' }, a.ctx());
    expect(s.send).toEqual([]);
    expect(s.next.rec).toMatchObject({ closeReason: 'closed by us (force)', close: { kind: 'local', txid: a.view.rec.commitments.localCommit.txid } });
    expect(channelStep(s.next, { kind: 'force_close', reason: 'again' }, a.ctx()).refused).toBe('the channel is already closed');
  });
});
