/**
 * The mutual close as a pure step (src/bolt/bolt2/channel/shutdown-step.ts):
 * two channel views exchange what the step tells them to send, with no
 * node, socket or store, and end on the same signed closing transaction;
 * the receiver rules answer with warnings and failures, never a send.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { txid } from '../../src/bolt/bolt3/tx.ts';
import { type ShutdownInput, type ShutdownSend, type ShutdownState, shutdownStep, type ShutdownStepResult, type ShutdownView } from '../../src/bolt/bolt2/channel/shutdown-step.ts';
import { type FeeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from './channel-harness.ts';

const scriptOf = (b: number): Uint8Array => p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(b)));
const FEERATE = 1000 as FeeratePerKw;

/** A side's channel as the driver shows it to the step, with what earlier steps stored. */
class Party {
  phase = 'normal';
  shutdown?: ShutdownState;
  closeReason?: string;
  online = true;
  remoteUpfrontScript?: Uint8Array;
  constructor(readonly side: Side, readonly script: Uint8Array) {}
  view(): ShutdownView {
    const s = this.side.state;
    return { phase: this.phase, channelId: s.channelId, commitments: s, secrets: this.side.secrets, shutdown: this.shutdown, closeReason: this.closeReason, online: this.online, remoteUpfrontScript: this.remoteUpfrontScript };
  }
  /** Runs the step and stores its state, as ChannelManager.applyShutdown does. */
  step(input: ShutdownInput): ShutdownStepResult {
    const r = shutdownStep(this.view(), input);
    if (r.next) [this.phase, this.shutdown, this.closeReason] = [r.next.phase, r.next.shutdown, r.next.closeReason];
    return r;
  }
  /** What the peer sent, as its input here. */
  receive(m: ShutdownSend): ShutdownStepResult {
    return m.name === 'shutdown'
      ? this.step({ kind: 'shutdown', scriptpubkey: m.msg.scriptpubkey, newScript: () => this.script, feerate: FEERATE })
      : this.step({ kind: 'closing_signed', msg: m.msg });
  }
}

function parties(): { pair: Pair; a: Party; b: Party } {
  const pair = Pair.open(sat(500_000), msat(100_000_000n));
  return { pair, a: new Party(pair.a, scriptOf(0x11)), b: new Party(pair.b, scriptOf(0x22)) };
}

/** Delivers each side's sends to the other until one agrees; returns both outcomes' transactions. */
function negotiate(first: { from: Party; r: ShutdownStepResult }, other: Party): { agreed: Map<Party, string>; rounds: number } {
  const agreed = new Map<Party, string>();
  let queue: { to: Party; msg: ShutdownSend }[] = first.r.send.map((msg) => ({ to: other, msg }));
  const note = (p: Party, r: ShutdownStepResult, peer: Party): void => {
    if (r.outcome?.kind === 'agreed') {
      agreed.set(p, txid(r.outcome.done.tx));
      if (r.outcome.send) queue.push({ to: peer, msg: { name: 'closing_signed', msg: r.outcome.send } });
    }
    expect(r.outcome?.kind === 'fail' || r.outcome?.kind === 'warn').toBe(false);
    for (const msg of r.send) queue.push({ to: peer, msg });
  };
  let rounds = 0;
  while (queue.length && rounds++ < 20) {
    const [next, ...rest] = queue;
    queue = rest;
    const peer = next!.to === first.from ? other : first.from;
    note(next!.to, next!.to.receive(next!.msg), peer);
  }
  return { agreed, rounds };
}

describe('mutual close as a pure step', () => {
  test('we ask to close while offline: the wish is stored, nothing is sent; online it goes out with failAddsFrom set', () => {
    const { a } = parties();
    a.online = false;
    const r = a.step({ kind: 'close', localScript: a.script, feerate: FEERATE });
    expect(r.send).toEqual([]);
    expect(r.next).toMatchObject({ phase: 'normal', shutdown: { sent: false }, closeReason: 'mutual close requested by us' });
    a.online = true;
    const p = a.step({ kind: 'progress' });
    expect(p.send.map((m) => m.name)).toEqual(['shutdown']);
    expect(p.next).toMatchObject({ phase: 'shutdown', shutdown: { sent: true, failAddsFrom: a.side.state.remoteNextHtlcId } });
  });

  for (const starter of ['funder', 'fundee'] as const) {
    test(`started by the ${starter}: both sides end on the same closing transaction, the funder having spoken first`, () => {
      const { a, b } = parties();
      const [from, other] = starter === 'funder' ? [a, b] : [b, a];
      const r = from.step({ kind: 'close', localScript: from.script, feerate: FEERATE });
      expect(r.send.map((m) => m.name)).toEqual(['shutdown']);
      const { agreed } = negotiate({ from, r }, other);
      expect(agreed.size).toBe(2);
      expect(agreed.get(a)).toBe(agreed.get(b)!);
      expect(a.shutdown?.remoteScript).toEqual(b.script);
      expect(b.shutdown?.remoteScript).toEqual(a.script);
    });
  }

  test('the fundee stores the negotiation and waits (timer armed); the funder sends the first closing_signed', () => {
    const { a, b } = parties();
    const r = b.step({ kind: 'close', localScript: b.script, feerate: FEERATE });
    const atA = a.receive(r.send[0]!);
    expect(atA.send.map((m) => m.name)).toEqual(['shutdown', 'closing_signed']);
    expect(atA.timer).toBe('arm');
    const atB = b.receive(atA.send[0]!);
    expect(atB.send).toEqual([]);
    expect(atB.timer).toBe('arm');
    expect(b.shutdown?.negotiation).toBeDefined();
  });

  test('receiver rules: a bad script is a warning; a script other than the upfront one fails the channel and the connection', () => {
    const { a } = parties();
    const bad = a.step({ kind: 'shutdown', scriptpubkey: Uint8Array.of(0x6a, 0x01, 0x00), newScript: () => a.script, feerate: FEERATE });
    expect([bad.outcome?.kind, bad.send, bad.next]).toEqual(['warn', [], undefined]);
    a.remoteUpfrontScript = scriptOf(0x33);
    const other = a.step({ kind: 'shutdown', scriptpubkey: scriptOf(0x44), newScript: () => a.script, feerate: FEERATE });
    expect(other.outcome).toMatchObject({ kind: 'fail', closeConnection: 'shutdown scriptpubkey broke the upfront_shutdown_script' });
    expect(other.send).toEqual([]);
  });

  test('closing_signed outside shutdown is a warning; before the negotiation opened it fails the channel', () => {
    const { a, b } = parties();
    const sig = { channelId: a.side.state.channelId, feeSatoshis: sat(1_000), signature: new Uint8Array(64) };
    expect(a.step({ kind: 'closing_signed', msg: sig }).outcome).toEqual({ kind: 'warn', text: 'closing_signed in phase normal' });
    // A has our shutdown but not the peer's: no negotiation yet.
    b.step({ kind: 'close', localScript: b.script, feerate: FEERATE });
    const r = b.step({ kind: 'closing_signed', msg: sig });
    expect(r.outcome).toEqual({ kind: 'fail', reason: 'closing_signed before shutdown completed' });
  });

  test('a second shutdown with another script once the negotiation opened fails the channel', () => {
    const { a, b } = parties();
    const r = b.step({ kind: 'close', localScript: b.script, feerate: FEERATE });
    a.receive(r.send[0]!);
    expect(a.shutdown?.negotiation).toBeDefined();
    const again = a.step({ kind: 'shutdown', scriptpubkey: scriptOf(0x55), newScript: () => a.script, feerate: FEERATE });
    expect(again.outcome).toEqual({ kind: 'fail', reason: 'a second shutdown with another script' });
  });

  test('after a reconnection our shutdown goes out again and the negotiation starts over, stored in one step', () => {
    const { a, b } = parties();
    const first = a.step({ kind: 'close', localScript: a.script, feerate: FEERATE });
    for (const m of first.send) for (const m2 of b.receive(m).send) a.receive(m2);
    const old = a.shutdown?.negotiation;
    expect(old).toBeDefined();
    const r = a.step({ kind: 'reconnected' });
    // One stored state: sent again (true) with no negotiation carried over, then the funder's first closing_signed of the new round.
    expect(r.send.map((m) => m.name)).toEqual(['shutdown', 'closing_signed']);
    expect([r.next?.phase, r.next?.shutdown.sent]).toEqual(['shutdown', true]);
    expect(r.next?.shutdown.negotiation).toBeDefined();
    expect(r.next?.shutdown.negotiation).not.toBe(old);
    // Nothing to start over in a channel with no close under way.
    const { a: idle } = parties();
    expect(idle.step({ kind: 'reconnected' })).toEqual({ send: [] });
  });
});
