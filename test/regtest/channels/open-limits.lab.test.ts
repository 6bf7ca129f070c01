// lab-peers: btcd
/**
 * Open floods on the lab (issue 13 "Peer and client resource holes"): scripted
 * peers open channels they never fund, or fund with transactions that exist
 * nowhere, against an lnnode whose caps are lowered for the test
 * (channels/limits.ts). Each cap is crossed, and a well-behaved peer's
 * channel is still accepted once the flood's state has expired. Also: a
 * node without a chain source answers open_channel with an error, and a
 * warning does not abort an open in progress.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelLimits } from '../../../src/node/channels/limits.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { startNodeWith } from './lab-node.ts';
import { Inbox, ScriptedFunder, startTransport, textOf } from './scripted-funder.ts';

const LIMITS: Partial<ChannelLimits> = {
  pendingInboundOpensPerPeer: 4,
  pendingInboundOpensTotal: 6,
  pendingOpenTimeoutMs: 8_000,
  unfundedInboundPerPeer: 2,
  unfundedInboundTotal: 3,
  unfundedForgetBlocks: 10,
};
const FUNDING = sat(100_000);

let lab: ChannelLab;
let v: LightningNode;
let w: LightningNode;
let h1: LightningNode;
let h2: LightningNode;
let in1: Inbox;
let in2: Inbox;

beforeAll(async () => {
  lab = await ChannelLab.start('open-limits');
  v = startNodeWith(lab, 'v', { channelLimits: LIMITS });
  w = lab.startNode('w');
  h1 = startTransport(lab.root, 'h1');
  h2 = startTransport(lab.root, 'h2');
  await lab.fund(w, 2_000_000n);
  await w.connect(v.nodeId, '127.0.0.1', v.p2pPort!);
  in1 = new Inbox(h1, v.nodeId);
  in2 = new Inbox(h2, v.nodeId);
  await h1.connect(v.nodeId, '127.0.0.1', v.p2pPort!, false);
  await h2.connect(v.nodeId, '127.0.0.1', v.p2pPort!, false);
}, 60_000);

afterAll(async () => {
  h1?.stop();
  h2?.stop();
  await lab?.stop();
});

const opener = (h: LightningNode, inbox: Inbox) => new ScriptedFunder(h, v.nodeId, inbox);

/** One scripted open_channel: the answer's name and, for an error, its text. */
async function openOnce(h: LightningNode, inbox: Inbox, temporaryChannelId?: Uint8Array): Promise<{ f: ScriptedFunder; name: string; text?: string }> {
  const f = opener(h, inbox);
  const r = await f.sendOpen(f.openMessage({ fundingSat: FUNDING, temporaryChannelId }));
  return { f, name: r.name, text: r.name === 'error' ? textOf(r) : undefined };
}

/** W opens a channel to V and pays over it: what a well-behaved peer does. */
async function wellBehaved(): Promise<void> {
  await w.wallet!.sync();
  const { id } = await lab.openChannel(w, v, sat(200_000));
  await lab.pay(w, v, msat(1_000_000));
  await lab.settled(w, v, id);
  expect(v.channels!.get(fromHex(id))!.localBalanceMsat).toBe(msat(1_000_000));
}

describe('inbound open caps', () => {
  test('a repeated temporary_channel_id replaces the earlier open and reuses its key index', async () => {
    const temp = crypto.getRandomValues(new Uint8Array(32));
    const keys = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await openOnce(h2, in2, temp);
      expect(r.name).toBe('accept_channel');
      keys.add(hex(r.f.accept!.fundingPubkey));
    }
    // One key index for all twenty: each open discarded the one before it.
    expect(keys.size).toBe(1);
  }, 60_000);

  test('per peer: the fifth open in progress from one peer is refused, another peer is not', async () => {
    for (let i = 0; i < 4; i++) expect((await openOnce(h1, in1)).name).toBe('accept_channel');
    expect(await openOnce(h1, in1)).toMatchObject({ name: 'error', text: 'too many channel opens in progress from this peer (4)' });
    // h2 has one open in progress (the test above): it may still open.
    expect((await openOnce(h2, in2)).name).toBe('accept_channel');
  }, 60_000);

  test('in total: with 6 opens in progress the next is refused, a well-behaved peer\'s too, until they time out; then it opens and pays', async () => {
    // h1 holds 4; h2 opens until the total of 6 is reached (its earliest may have timed out already).
    let last = await openOnce(h2, in2);
    for (let i = 0; i < 4 && last.name === 'accept_channel'; i++) last = await openOnce(h2, in2);
    expect(last).toMatchObject({ name: 'error', text: 'too many channel opens in progress; try again later' });
    const refused = await w.channels!.open(v.nodeId, { fundingSat: sat(200_000) }).catch((e: Error) => e);
    expect(String(refused)).toContain('too many channel opens in progress; try again later');
    // 8 s after they were answered, opens without funding_created are forgotten: room again, and a late funding_created is for no open at all.
    await Bun.sleep(8_500);
    const late = await openOnce(h1, in1);
    expect(late.name).toBe('accept_channel');
    await Bun.sleep(8_500);
    const from = in1.all.length;
    h1.peers.send(v.nodeId, 'funding_created', {
      temporaryChannelId: late.f.open!.temporaryChannelId, fundingTxid: new Uint8Array(32).fill(1), fundingOutputIndex: 0, signature: new Uint8Array(64),
    });
    const answer = await in1.next('an answer to the stale funding_created', (r) => r.name === 'warning', from);
    expect(textOf(answer)).toBe('funding_created for no open we accepted');
    await wellBehaved();
  }, 120_000);

  test('unfunded channels: capped per peer and in total, forgotten 10 blocks later (also across a restart) and never polled again; then a well-behaved peer opens', async () => {
    const fund = async (h: LightningNode, inbox: Inbox): Promise<{ name: string; text?: string; id?: string }> => {
      const r = await openOnce(h, inbox);
      if (r.name !== 'accept_channel') return r;
      // A transaction that exists nowhere, correctly signed for.
      const answer = await r.f.sendFundingCreated({ txid: hex(crypto.getRandomValues(new Uint8Array(32))), vout: 0 });
      return { name: answer.name, text: answer.name === 'error' ? textOf(answer) : undefined, id: r.f.state ? hex(r.f.state.channelId) : undefined };
    };
    const unfunded: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await fund(h1, in1);
      expect(r.name).toBe('funding_signed');
      unfunded.push(r.id!);
    }
    expect(await fund(h1, in1)).toMatchObject({ name: 'error', text: 'too many unconfirmed channels from this peer (2); confirm one first' });
    const third = await fund(h2, in2);
    expect(third.name).toBe('funding_signed');
    unfunded.push(third.id!);
    expect(await fund(h2, in2)).toMatchObject({ name: 'error', text: 'too many unconfirmed channels; try again later' });
    const refused = await w.channels!.open(v.nodeId, { fundingSat: sat(200_000) }).catch((e: Error) => e);
    expect(String(refused)).toContain('too many unconfirmed channels; try again later');

    // V restarts before the 10 blocks are up: the channels come back and are still forgotten on time.
    const startHeight = await lab.btcd.height();
    lab.stopNode(v);
    v = startNodeWith(lab, 'v', { channelLimits: LIMITS });
    for (const id of unfunded) expect(v.channels!.get(fromHex(id))!.phase).toBe('awaiting_lock_in');
    const polled: string[] = [];
    const status = v.chain!.txStatus.bind(v.chain);
    v.chain!.txStatus = (txid) => {
      polled.push(txid);
      return status(txid);
    };
    await w.connect(v.nodeId, '127.0.0.1', v.p2pPort!);
    await lab.mineUntil('V forgets the unfunded channels', () => unfunded.every((id) => v.channels!.get(fromHex(id))!.phase === 'closed'), 15, 0);
    expect((await lab.btcd.height()) - startHeight).toBeGreaterThanOrEqual(10);
    for (const id of unfunded) {
      expect(v.channels!.get(fromHex(id))!.closeReason).toBe('funding not confirmed within 10 blocks');
      expect(v.channels!.store.load(fromHex(id))!.phase).toBe('closed');
    }
    const fundingTxids = unfunded.map((id) => v.channels!.get(fromHex(id))!.fundingTxid);
    polled.length = 0;
    await lab.mineUntil('three more blocks', () => false, 3, 0).catch(() => undefined);
    expect(polled.filter((t) => fundingTxids.includes(t))).toEqual([]);
    await wellBehaved();
  }, 180_000);
});

describe('answers', () => {
  test('a node without a chain source answers open_channel with an error', async () => {
    const x = startTransport(lab.root, 'chainless');
    try {
      const inbox = new Inbox(h1, x.nodeId);
      await h1.connect(x.nodeId, '127.0.0.1', x.p2pPort!, false);
      const f = new ScriptedFunder(h1, x.nodeId, inbox);
      const r = await f.sendOpen(f.openMessage({ fundingSat: FUNDING }));
      expect([r.name, textOf(r)]).toEqual(['error', 'no chain source: cannot accept channels']);
      expect(hex(r.msg.channelId as Uint8Array)).toBe(hex(f.open!.temporaryChannelId));
    } finally {
      x.stop();
    }
  }, 30_000);

  test('a warning does not abort our open in progress; the channel opens', async () => {
    const original = v.peers.send.bind(v.peers);
    v.peers.send = (peer, name, msg) => {
      if (name === 'accept_channel') {
        const temp = (msg as { temporaryChannelId: Uint8Array }).temporaryChannelId;
        for (const channelId of [temp, new Uint8Array(32)]) original(peer, 'warning', { channelId, data: new TextEncoder().encode('just so you know') });
      }
      original(peer, name, msg);
    };
    try {
      await wellBehaved();
    } finally {
      v.peers.send = original;
    }
  }, 60_000);
});

