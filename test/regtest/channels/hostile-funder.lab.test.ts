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
});

