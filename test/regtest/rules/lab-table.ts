/**
 * What every group of the lab receiver-rule table shares: one lab chain, one
 * lnnode daemon under attack (channel limits lowered where a rule waits on a
 * timer: a 3 s closing negotiation timeout, unfunded channels forgotten
 * after 30 blocks), hostile peers, fleets of channels opened to it at once,
 * and the checks every row makes: one error (or warning) on the right
 * channel id and nothing else, the channel's stored state afterwards,
 * nothing stored for a refusal, balances unchanged.
 */
import { expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { type Commitments } from '../../../src/bolt/bolt2/channel/commitments.ts';
import { type OpenChannelMessage } from '../../../src/bolt/bolt2/channel/open.ts';
import { decodeInvoice } from '../../../src/bolt/bolt11/invoice.ts';
import { type CltvExpiry, type Msat, msat, sat } from '../../../src/bolt/units.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { HostilePeer, type Received, textOf } from '../../lab/hostile-peer.ts';
import { acceptChannel, fundingSigned, type HostileChannel, openChannel, type OpenOptions, type OpeningAsFunder, paymentOnion } from '../../lab/hostile-peer-channel.ts';
import { fundOutputs, inMempool } from '../../lab/hostile-peer-chain.ts';
import { type ChannelBalances, Victim } from '../../lab/hostile-peer-victim.ts';
import { waitFor } from '../../lab/processes.ts';
import { type LabGroup, ruleById } from './receiver-rules.ts';
import { writeCheckerReport } from '../../support/receiver-rules-tally.ts';

export const LIMITS = { closingNegotiationTimeoutMs: 3_000, unfundedForgetBlocks: 30 };

export class Table {
  /**
   * `groups`: the lab groups this file runs (each lab file of the table has
   * its own daemon and chain, and its own report for the tally).
   */
  constructor(readonly groups: LabGroup[]) {}

  lab!: ChannelLab;
  victim!: Victim;
  readonly implemented = new Set<string>();
  readonly results: Record<string, 'passed' | 'failed'> = {};
  private readonly peers: HostilePeer[] = [];

  async start(): Promise<void> {
    this.lab = await ChannelLab.start(`receiver-rules-${this.groups.join('-')}`);
    // Mature coinbases for the funding transactions the hostile peers pay (one each).
    await this.lab.btcd.generate(60);
    this.victim = await Victim.start(this.lab, { limits: LIMITS });
    for (let i = 0; i < 6; i++) await this.lab.faucet.send((await this.victim.api.newAddress({})).address, 1_000_000n);
    await this.lab.btcd.generate(1);
    await waitFor('the node sees its coins confirmed', async () => (await this.victim.wallet()).confirmed >= 6_000_000n);
  }

  async stop(): Promise<void> {
    for (const p of this.peers) await p.disconnect();
    writeCheckerReport('lab', { implemented: [...this.implemented], results: this.results, groups: this.groups }, this.groups.join('-'));
    await this.victim?.stop();
    await this.lab?.stop();
  }

  async peer(label?: string): Promise<HostilePeer> {
    const p = await HostilePeer.connect(this.victim.target(), { label });
    this.peers.push(p);
    return p;
  }

  /** Registers row `id` of `group`: a test named after the row; its outcome goes to the tally. */
  row(group: LabGroup, id: string, f: () => Promise<void>, timeoutMs = 30_000): void {
    const r = ruleById(id);
    if (r.status !== 'tested' || r.lab !== group || !this.groups.includes(group)) throw new Error(`row ${id} is not a tested row of lab group ${group}`);
    this.implemented.add(id);
    test(
      `${id}: ${r.quote.at(-1)!.slice(0, 100)}`,
      async () => {
        try {
          await f();
          this.results[id] = 'passed';
        } catch (e) {
          this.results[id] = 'failed';
          throw e;
        }
      },
      timeoutMs,
    );
  }

  async mine(n: number): Promise<void> {
    await this.lab.btcd.generate(n);
    await this.victim.synced(await this.lab.btcd.height());
  }

  // ------------------------------------------------------------------ checks

  /** The one error (or warning) about `id` since `from`, checked to be alone: nothing else refuses or complains. */
  async oneRefusal(peer: HostilePeer, id: Uint8Array | string, from: number, kind: 'error' | 'warning' = 'error'): Promise<Received> {
    const key = typeof id === 'string' ? id : hex(id);
    const r = await peer.next(`${kind} on ${key.slice(0, 16)}`, (x) => (x.name === 'error' || x.name === 'warning') && hex(x.msg.channelId as Uint8Array) === key, from, () => peer.closedReason);
    await peer.barrier();
    const all = peer.since(from, (x) => x.name === 'error' || x.name === 'warning');
    expect(all.map((x) => `${x.name} ${hex(x.msg.channelId as Uint8Array).slice(0, 16)} ${textOf(x)}`)).toEqual([`${kind} ${key.slice(0, 16)} ${textOf(r)}`]);
    return r;
  }

  /**
   * The node failed the channel as BOLT 2 "fail the channel" says: one error
   * on its channel_id, stored phase closing, its latest commitment (never a
   * revoked one) broadcast, balances as before the input. Returns the error.
   */
  async expectFailed(ch: HostileChannel, from: number, before: ChannelBalances): Promise<Received> {
    const err = await this.oneRefusal(ch.peer, ch.id, from);
    const stored = await waitFor('the node to fail the channel', () => {
      const c = this.victim.channel(ch.id);
      return c?.phase === 'closing' && c.rec.close ? c : undefined;
    });
    expect(stored.rec.close!.kind).toBe('local');
    expect(stored.rec.close!.txid).toBe(stored.rec.commitments.localCommit.txid);
    expect(stored.rec.commitments.localCommit.index).toBe(before.index);
    await waitFor('its commitment in the mempool', () => inMempool(this.lab, stored.rec.close!.txid));
    expect(this.victim.balances(ch.id)).toEqual(before);
    return err;
  }

  // ------------------------------------------------------------------ channels

  /**
   * Opens `n` channels from fresh hostile peers (at most `perPeer` each: the
   * node caps unconfirmed inbound channels at 4 per peer), funds them all in
   * one transaction, mines them to depth and exchanges channel_ready.
   * `beforeDepth` runs between funding_signed and the blocks.
   */
  async fleet(n: number, o: Partial<OpenOptions> & { perPeer?: number; amount?: (i: number) => bigint; beforeDepth?: (chs: HostileChannel[]) => Promise<void>; ready?: boolean } = {}): Promise<HostileChannel[]> {
    const perPeer = o.perPeer ?? 4;
    const fundingSat = o.fundingSat ?? sat(500_000);
    const openings: OpeningAsFunder[] = [];
    let peer: HostilePeer | undefined;
    for (let i = 0; i < n; i++) {
      if (i % perPeer === 0) peer = await this.peer();
      const { opening, answer } = await openChannel(peer!, { pushMsat: msat(100_000_000n), ...o, fundingSat });
      if (!opening) throw new Error(`the node refused a fleet channel: ${textOf(answer)}`);
      openings.push(opening);
    }
    const { txid, vouts } = await fundOutputs(this.lab, openings.map((op, i) => ({ script: op.fundingOutputScript(), amount: o.amount?.(i) ?? fundingSat })));
    const chs: HostileChannel[] = [];
    for (const [i, op] of openings.entries()) {
      const { channel, answer } = await op.fundingCreated({ txid, vout: vouts[i]! });
      if (!channel) throw new Error(`funding_created refused: ${textOf(answer)}`);
      chs.push(channel);
    }
    await o.beforeDepth?.(chs);
    if (o.ready === false) return chs;
    await this.mine(3);
    for (const ch of chs) ch.sendReady();
    for (const ch of chs) await ch.run('channel_ready from the node', () => ch.theirReady);
    for (const ch of chs) await waitFor('the channel normal on the node', () => this.victim.phase(ch.id) === 'normal');
    return chs;
  }

  /** The node opens a channel to `peer` through its API; the peer accepts honestly: the channel, funded and (by default) ready. */
  async nodeOpens(peer: HostilePeer, fundingSat = 300_000n, o: { pushMsat?: bigint; ready?: boolean } = {}): Promise<HostileChannel> {
    const from = peer.mark();
    const opened = this.victim.api.openChannel({ peerPubkey: peer.nodeId, localFundingAmountSat: fundingSat, pushMsat: o.pushMsat ?? 0n, fundingFeeRateSatPerVbyte: 2n });
    const open = await peer.next('open_channel from the node', (r) => r.name === 'open_channel', from);
    const a = acceptChannel(peer, open.msg as unknown as OpenChannelMessage);
    const created = await peer.next('funding_created', (r) => r.name === 'funding_created', from);
    const ch = fundingSigned(peer, { ...a, open: open.msg as unknown as OpenChannelMessage, created });
    await opened;
    if (o.ready === false) return ch;
    await this.mine(1);
    ch.sendReady();
    await ch.run('channel_ready from the node', () => ch.theirReady);
    await waitFor('the channel normal on the node', () => this.victim.phase(ch.id) === 'normal');
    return ch;
  }

  /** An HTLC paying an invoice of the node, correctly built (to deviate from). */
  async htlcToNode(amountMsat: bigint, o: { cltvDelta?: number } = {}): Promise<{ amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array; paymentSecret: Uint8Array }> {
    const inv = await this.victim.api.createInvoice({ amountMsat, descriptionHash: sha256(crypto.getRandomValues(new Uint8Array(8))) });
    const d = decodeInvoice(inv.paymentRequest);
    const cltvExpiry = ((await this.lab.btcd.height()) + (o.cltvDelta ?? d.minFinalCltvExpiryDelta + 3)) as CltvExpiry;
    const a = msat(amountMsat);
    return { amountMsat: a, paymentHash: d.paymentHash, cltvExpiry, paymentSecret: d.paymentSecret, onion: paymentOnion({ payee: this.victim.nodeId, amountMsat: a, cltvExpiry, paymentHash: d.paymentHash, paymentSecret: d.paymentSecret }) };
  }

  /** The hostile peer pays the node honestly and settles: a commitment round trip each way. */
  async payNode(ch: HostileChannel, amountMsat: bigint): Promise<void> {
    const h = await this.htlcToNode(amountMsat);
    ch.addHtlc(h);
    ch.commit();
    const index = ch.state.localCommit.index;
    await ch.run('the HTLC settled', (c: Commitments) => ch.quiet && c.localCommit.index > index + 1n);
  }
}

