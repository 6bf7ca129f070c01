// lab-peers: btcd
/**
 * A hostile funder against an lnnode fundee, on the lab (BOLT 2 funding_created
 * and channel_ready receiver rules, the CVE-2019-12998 class): the funder is
 * a scripted peer (scripted-funder.ts) that signs its first commitment
 * correctly but names a funding outpoint it should not.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { p2wsh } from '../../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../../src/bolt/bolt3/scripts.ts';
import { Inbox, ScriptedFunder, startTransport, textOf } from './scripted-funder.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let h: LightningNode;
let inbox: Inbox;
const FUNDING = sat(300_000);

beforeAll(async () => {
  lab = await ChannelLab.start('hostile-funder');
  a = lab.startNode('a');
  b = lab.startNode('b');
  h = startTransport(lab.root, 'hostile');
  await lab.fund(a, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
  inbox = new Inbox(h, b.nodeId);
  await h.connect(b.nodeId, '127.0.0.1', b.p2pPort!, false);
}, 60_000);

afterAll(async () => {
  h?.stop();
  await lab?.stop();
});

/** Everything B stores about one channel, as the bytes SQLite holds. */
function rowsOf(n: LightningNode, id: string) {
  const channelId = fromHex(id);
  return {
    channel: n.store.db.query('SELECT channel_id, peer, key_index, phase, state, created_at FROM channels WHERE channel_id = ?').all(channelId),
    revoked: n.store.db.query('SELECT * FROM revoked_commitments WHERE channel_id = ? ORDER BY commitment_number').all(channelId),
  };
}

/** The faucet pays `amount` to `script`: returns the outpoint, not mined. */
async function payTo(script: Uint8Array, amount: bigint, f: ScriptedFunder): Promise<{ txid: string; vout: number }> {
  const txid = await lab.faucet.send(f.fundingAddress(script), amount);
  const tx = await lab.btcd.rpc.call<{ vout: { scriptPubKey: { hex: string } }[] }>('getrawtransaction', txid, 1);
  return { txid, vout: tx.vout.findIndex((o) => o.scriptPubKey.hex === hex(script)) };
}

/** A scripted open up to B's funding_signed, on a funding output the faucet pays (wrong amount or script if asked). */
async function openOn(f: ScriptedFunder, o: { amount?: bigint; script?: () => Uint8Array } = {}): Promise<string> {
  expect((await f.sendOpen(f.openMessage({ fundingSat: FUNDING }))).name).toBe('accept_channel');
  const outpoint = await payTo(o.script?.() ?? f.fundingOutputScript(), o.amount ?? FUNDING, f);
  const answer = await f.sendFundingCreated(outpoint);
  expect(answer.name).toBe('funding_signed');
  return hex(f.state!.channelId);
}

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;

const channelCount = (n: LightningNode): number => n.store.db.query<{ n: number }, []>('SELECT count(*) AS n FROM channels').get()!.n;

describe('a hostile funder', () => {
  test('funding_created naming the outpoint of an existing channel is refused with an error; that channel stays byte-identical and still pays', async () => {
    const { id, fundingTxid } = await lab.openChannel(a, b, sat(500_000));
    for (const x of [40_000_000n, 1_234_567n]) await lab.pay(a, b, msat(x));
    await lab.pay(b, a, msat(5_000_000n));
    await lab.settled(a, b, id);
    const before = rowsOf(b, id);
    expect(before.revoked.length).toBeGreaterThan(2);
    const count = channelCount(b);
    const vout = b.channels!.get(fromHex(id))!.fundingVout;

    const f = new ScriptedFunder(h, b.nodeId, inbox);
    expect((await f.sendOpen(f.openMessage({ fundingSat: FUNDING }))).name).toBe('accept_channel');
    const answer = await f.sendFundingCreated({ txid: fundingTxid, vout });
    expect(answer.name).toBe('error');
    expect(hex(answer.msg.channelId as Uint8Array)).toBe(hex(f.open!.temporaryChannelId));
    expect(textOf(answer)).toBe('funding_created: that funding outpoint belongs to an existing channel');
    expect(inbox.all.filter((r) => r.name === 'funding_signed')).toEqual([]);

    expect(rowsOf(b, id)).toEqual(before);
    expect(channelCount(b)).toBe(count);
    expect(hex(fromHex(b.channels!.get(fromHex(id))!.peer))).toBe(hex(a.nodeId));
    await lab.pay(a, b, msat(7_000_000n));
    await lab.pay(b, a, msat(1_000n));
    await lab.settled(a, b, id);
    expect(b.channels!.get(fromHex(id))!.localBalanceMsat).toBe(msat(40_000_000n + 1_234_567n - 5_000_000n + 7_000_000n - 1_000n));
  }, 120_000);

  for (const wrong of ['amount', 'script'] as const) {
    test(`a funding output with the wrong ${wrong}: B sends an error, never channel_ready, and forgets the channel`, async () => {
      const f = new ScriptedFunder(h, b.nodeId, inbox);
      // Another 2-of-2: the right shape, but B's funding key is not in it.
      const other = () => p2wsh(fundingScript(f.open!.fundingPubkey, f.open!.revocationBasepoint));
      const id = await openOn(f, wrong === 'amount' ? { amount: FUNDING - 1_000n } : { script: other });
      await lab.mine(4);
      await waitFor('B refuses the funding output', () => inbox.about('error', fromHex(id)).length > 0);
      const expected = wrong === 'amount' ? `funding output 0 pays ${FUNDING - 1_000n} sat, funding_satoshis is ${FUNDING}` : 'does not pay the 2-of-2 of both funding keys';
      expect(textOf(inbox.about('error', fromHex(id))[0]!)).toContain(expected);
      expect(summary(b, id).phase).toBe('closed');
      expect(summary(b, id).closeReason).toContain(expected);
      // Nothing goes forward on it: the funder's channel_ready and an HTLC change nothing.
      h.peers.send(b.nodeId, 'channel_ready', { channelId: fromHex(id), secondPerCommitmentPoint: f.open!.firstPerCommitmentPoint });
      await lab.mineUntil('a few more blocks', () => false, 3, 100).catch(() => undefined);
      expect(inbox.about('channel_ready', fromHex(id))).toEqual([]);
      expect(summary(b, id).phase).toBe('closed');
      expect(b.channels!.list().filter((c) => c.active)).toHaveLength(1);
    }, 60_000);
  }

  test('the funder spends the funding output before lock-in (its commitment): B never sends channel_ready, resolves the close and forgets the channel', async () => {
    const f = new ScriptedFunder(h, b.nodeId, inbox);
    const id = await openOn(f);
    // Depth 2 of the 3 B asks for: seen by B, no channel_ready yet.
    // B's work on that tip (fee estimates, funding status, outspends) finishes before the spend appears.
    await lab.mine(2);
    expect(summary(b, id).phase).toBe('awaiting_lock_in');
    const commitment = f.commitmentTx();
    await lab.btcd.rpc.call('sendrawtransaction', hex(commitment.raw));
    // The block that brings the funding to depth 3 also confirms its spend.
    await lab.mine(1);
    await waitFor('B sees the funding output spent', () => summary(b, id).closingTxid === commitment.txid);
    expect(summary(b, id).closeKind).toBe('remote');
    await lab.mineUntil('B forgets the channel', () => summary(b, id).phase === 'closed', 10, 0);
    expect(inbox.about('channel_ready', fromHex(id))).toEqual([]);
    expect(summary(b, id).sweepTxids).toEqual([]);
  }, 60_000);
});
