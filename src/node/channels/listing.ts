/**
 * What the API layers read of the channels: summaries of the running ones
 * and of those closed before this process started, and the channel a
 * payment to a peer would take.
 */
import { fromHex, hex } from '../../bolt/bytes.ts';
import { availableToSend } from '../../bolt/bolt2/channel/commitments.ts';
import { type ChannelRecord } from '../../bolt/bolt2/channel/state.ts';
import { channelActive } from '../../bolt/bolt2/channel/step.ts';
import { type Msat } from '../../bolt/units.ts';
import { type Listed, type Live } from './live.ts';
import { type ChannelStore } from './store.ts';
import { channelSummary, type ChannelSummary } from './summary.ts';

export class ChannelListing {
  private closedAtStart?: Map<string, Listed>;

  constructor(
    private readonly channels: ReadonlyMap<string, Live>,
    private readonly store: ChannelStore,
    private readonly isConnected: (peer: Uint8Array) => boolean,
    private readonly height: () => number,
  ) {}

  list(): ChannelSummary[] {
    const closed = [...this.closedBefore().entries()].filter(([id]) => !this.channels.has(id));
    return [...closed, ...this.channels.entries()].map(([id, l]) => this.summary(id, l));
  }

  get(channelId: Uint8Array): ChannelSummary | undefined {
    const id = hex(channelId);
    const l = this.channels.get(id) ?? this.closedBefore().get(id);
    return l ? this.summary(id, l) : undefined;
  }

  /** Connected, reestablished and able to carry updates (step.ts). */
  isActive(l: Listed): boolean {
    return channelActive(l, this.isConnected(l.peer));
  }

  /** An active channel with `peer` that can send `amountMsat` now, if any: the one with the most to send. */
  channelToPay(peer: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Uint8Array | undefined {
    let best: { id: string; avail: bigint } | undefined;
    for (const [id, l] of this.channels) {
      if (hex(l.peer) !== hex(peer) || !this.isActive(l)) continue;
      if (only && !only(this.summary(id, l))) continue;
      const avail = availableToSend(l.rec.commitments);
      if (avail >= amountMsat && (!best || avail > best.avail)) best = { id, avail };
    }
    return best ? fromHex(best.id) : undefined;
  }

  /**
   * Channels that were closed and resolved before this process started: not
   * run (nothing is left to do on them), but listed as closed like the ones
   * that close while it runs, read from the store once, when first asked.
   */
  private closedBefore(): Map<string, Listed> {
    if (!this.closedAtStart) {
      this.closedAtStart = new Map();
      // Listed, never run: no secrets derived for them.
      for (const c of this.store.closed<ChannelRecord>()) this.closedAtStart.set(hex(c.channelId), { peer: c.peer, phase: c.phase, rec: c.state, reestablished: false });
    }
    return this.closedAtStart;
  }

  private summary(id: string, l: Listed): ChannelSummary {
    return channelSummary(id, l, this.isActive(l), this.height());
  }
}
