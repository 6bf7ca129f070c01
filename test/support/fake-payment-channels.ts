/**
 * PaymentChannels without a peer or a chain, for unit tests of Payments: a
 * few channels with a given room, every addHtlc recorded (its persist run as
 * the channel's transaction would), state changes fired on demand, and a
 * clock whose timers run only when the test advances it.
 */
import { hex } from '../../src/bolt/bytes.ts';
import { type PartyConfig } from '../../src/bolt/bolt2/channel/commitments.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, msat, sat } from '../../src/bolt/units.ts';
import { type ChannelSummary } from '../../src/node/channels/manager.ts';
import { type ChannelPhase } from '../../src/node/channels/store.ts';
import { type Clock } from '../../src/node/clock.ts';
import { type PaymentChannels } from '../../src/node/payments/payment-channels.ts';

const PARAMS: PartyConfig = {
  dustLimitSat: sat(354),
  channelReserveSat: sat(10_000),
  htlcMinimumMsat: msat(1),
  maxHtlcValueInFlightMsat: msat(1_000_000_000),
  maxAcceptedHtlcs: 483,
  toSelfDelay: 144,
};

export interface FakeChannel {
  id: Uint8Array;
  peer: Uint8Array;
  /** What channelToPay may send now. */
  roomMsat: bigint;
  active: boolean;
  pendingHtlcs: number;
  phase: ChannelPhase;
  nextHtlcId: bigint;
}

export interface OfferedHtlc {
  channelId: Uint8Array;
  htlc: HtlcEntry;
}

export class FakeChannels implements PaymentChannels {
  height = 800_000;
  readonly channels: FakeChannel[] = [];
  readonly offered: OfferedHtlc[] = [];
  private readonly listeners = new Set<(channelId: Uint8Array) => void>();

  add(peer: Uint8Array, roomMsat: bigint, o: Partial<FakeChannel> = {}): FakeChannel {
    const c: FakeChannel = { id: crypto.getRandomValues(new Uint8Array(32)), peer, roomMsat, active: true, pendingHtlcs: 0, phase: 'normal', nextHtlcId: 0n, ...o };
    this.channels.push(c);
    return c;
  }

  list(): ChannelSummary[] {
    return this.channels.map((c) => ({
      channelId: hex(c.id),
      peer: hex(c.peer),
      phase: c.phase,
      active: c.active,
      weAreOpener: true,
      fundingTxid: '00'.repeat(32),
      fundingVout: 0,
      capacitySat: sat(1_000_000),
      localBalanceMsat: msat(c.roomMsat),
      remoteBalanceMsat: msat(0),
      channelType: 'anchors',
      feeratePerKw: 253 as FeeratePerKw,
      commitFeeSat: sat(0),
      pendingHtlcs: c.pendingHtlcs,
      localAlias: String(16_000_000n << 40n),
      sweepTxids: [],
      numbers: {
        spendableMsat: msat(c.active ? c.roomMsat : 0n),
        receivableMsat: msat(0),
        pendingOutMsat: msat(0),
        pendingInMsat: msat(0),
        localReserveSat: sat(10_000),
        remoteReserveSat: sat(10_000),
        fundingConfirmations: 6,
        fundingBlocksToGo: 0,
        limboSat: sat(0),
        settledSat: sat(0),
        timeLockedSat: sat(0),
      },
      localParams: PARAMS,
      remoteParams: PARAMS,
      minimumDepth: 3,
      commitments: { localTxid: '11'.repeat(32), remoteTxid: '22'.repeat(32) },
    }));
  }

  channelToPay(peer: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Uint8Array | undefined {
    const summaries = this.list();
    const c = this.channels.find((x, i) => hex(x.peer) === hex(peer) && x.active && x.roomMsat >= amountMsat && (!only || only(summaries[i]!)));
    return c?.id;
  }

  addHtlc(channelId: Uint8Array, add: { amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array }, persist: (htlcId: bigint) => void): bigint {
    const c = this.channels.find((x) => hex(x.id) === hex(channelId));
    if (!c?.active) throw new Error('channel is not active');
    if (c.roomMsat < add.amountMsat) throw new Error(`can send at most ${c.roomMsat} msat now`);
    const id = c.nextHtlcId++;
    persist(id);
    c.roomMsat -= add.amountMsat;
    c.pendingHtlcs++;
    this.offered.push({ channelId, htlc: { direction: 'out', id, ...add } });
    return id;
  }

  onStateChange(f: (channelId: Uint8Array) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Fires a state change for `c`, as the channel layer does after a commitment round. */
  changed(c: FakeChannel): void {
    for (const f of [...this.listeners]) f(c.id);
  }

  get listening(): number {
    return this.listeners.size;
  }
}

/** A clock that stands still until `advance`; timers fire in due order. */
export class ManualClock implements Clock {
  private t: number;
  private readonly timers = new Set<{ at: number; f: () => void }>();

  constructor(startMs = 1_800_000_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, f: () => void): () => void {
    const timer = { at: this.t + ms, f };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  advance(ms: number): void {
    this.t += ms;
    for (const timer of [...this.timers].sort((x, y) => x.at - y.at)) {
      if (timer.at > this.t || !this.timers.has(timer)) continue;
      this.timers.delete(timer);
      timer.f();
    }
  }

  get pending(): number {
    return this.timers.size;
  }
}
