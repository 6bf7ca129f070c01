// lab-peers: btcd
/**
 * Issue 13 "operator mistakes that cost channels": peers we have a channel
 * with are redialled after a restart and after a disconnect, without being
 * added as persistent and without any API call (as lnd, CLN and LDK do).
 * A dials B once, not persistent, opens a channel; then
 * - A restarts: it dials B from its address book and the channel carries a payment;
 * - B restarts on the same port: A redials it (backoff from 1 s) and the channel carries another.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { freePort, waitFor } from '../../lab/processes.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let bPort: number;
let channelId: string;

beforeAll(async () => {
  lab = await ChannelLab.start('redial');
  bPort = await freePort();
  a = lab.startNode('a');
  b = lab.startNode('b', { p2pListen: { host: '127.0.0.1', port: bPort } });
  await lab.fund(a, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', bPort, false);
  expect(a.addressBook.persistent()).toEqual([]);
  channelId = (await lab.openChannel(a, b, sat(300_000))).id;
  await lab.pay(a, b, msat(1_000_000n));
}, 90_000);

afterAll(async () => {
  await lab?.stop();
});

describe('channel peers are redialled', () => {
  test('after our restart, the channel is usable again without a connect call', async () => {
    lab.stopNode(a);
    a = lab.startNode('a');
    await waitFor('A back online with B', () => a.peers.isConnected(b.nodeId), 30_000);
    await lab.active(a, channelId);
    await lab.synced(a);
    await waitFor('the channels at the tip', () => a.channels!.height > 0);
    await lab.pay(a, b, msat(2_000_000n));
    await lab.settled(a, b, channelId);
    expect(Number(a.channels!.get(Buffer.from(channelId, 'hex'))!.remoteBalanceMsat)).toBe(3_000_000);
    expect(a.peers.redialReason(b.nodeId)).toBe('channel');
  }, 60_000);

  test("after the peer's restart, we redial it and the channel is usable again", async () => {
    lab.stopNode(b);
    await waitFor('A sees B gone', () => !a.peers.isConnected(b.nodeId));
    b = lab.startNode('b', { p2pListen: { host: '127.0.0.1', port: bPort } });
    await waitFor('A redials B', () => a.peers.isConnected(b.nodeId), 60_000);
    await lab.active(a, channelId);
    await lab.active(b, channelId);
    await lab.synced(b);
    await waitFor('the channels at the tip', () => b.channels!.height > 0);
    await lab.pay(a, b, msat(3_000_000n));
    await lab.settled(a, b, channelId);
    expect(b.channels!.list().find((c) => c.channelId === channelId)!.peer).toBe(hex(a.nodeId));
    expect(Number(b.channels!.get(Buffer.from(channelId, 'hex'))!.localBalanceMsat)).toBe(6_000_000);
  }, 90_000);
});
