// lab-peers: btcd
/**
 * channel_reestablish against a lying peer and after a real data loss, on
 * the lab (BOLT 2 "Message Retransmission", option_data_loss_protect):
 *
 * - a peer claiming a far-ahead state with a secret that proves nothing is
 *   a protocol violation: we fail the channel and broadcast our commitment;
 * - a node restored from an old copy of its database is told so by the
 *   peer's proof: it never broadcasts its (revoked) commitment, sends an
 *   error, and takes its to_remote from the commitment the peer broadcasts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { type CltvExpiry, msat, sat } from '../../../src/bolt/units.ts';
import { ourReestablish } from '../../../src/bolt/bolt2/channel/commitments.ts';
import { shachainIndex } from '../../../src/bolt/bolt2/channel/keys.ts';
import { SecretStore } from '../../../src/bolt/bolt3/shachain.ts';
import { txidOf } from '../../../src/chain/txid.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { channelSecrets } from '../../../src/node/channels/secrets.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { Inbox, textOf } from './scripted-funder.ts';
import { untypedSend } from '../../support/untyped-send.ts';

let lab: ChannelLab;
const FUNDING = sat(400_000);

beforeAll(async () => {
  lab = await ChannelLab.start('reestablish');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;

/** The liar's channel, failed by A in the first test and used by the ones after it. */
let failed: { a: LightningNode; liar: LightningNode; id: string; inbox: Inbox } | undefined;

/** Rewrites `n`'s outgoing `name` messages until undone. */
function tamper(n: LightningNode, name: string, rewrite: (m: Record<string, unknown>) => Record<string, unknown>): () => void {
  const peers = untypedSend(n.peers);
  const original = peers.send.bind(peers);
  peers.send = (peer, m, msg) => original(peer, m, m === name ? rewrite(msg as Record<string, unknown>) : msg);
  return () => (peers.send = original);
}

/** Every transaction `n` hands to its chain source, by txid. */
function recordBroadcasts(n: LightningNode, opts: { drop?: boolean } = {}): string[] {
  const sent: string[] = [];
  const chain = n.chain!;
  const original = chain.broadcast.bind(chain);
  chain.broadcast = async (raw) => {
    sent.push(txidOf(raw));
    if (opts.drop) throw new Error('dropped by the test');
    return original(raw);
  };
  return sent;
}

const inMempoolOrChain = async (txid: string): Promise<boolean> =>
  !!(await lab.btcd.rpc.call<unknown>('getrawtransaction', txid, 1).catch(() => undefined));

/** Drops the connection between two nodes and dials again. */
async function reconnect(from: LightningNode, to: LightningNode): Promise<void> {
  from.peers.sessionOf(to.nodeId)?.disconnect('test: reconnect');
  await waitFor('disconnected', () => !from.peers.isConnected(to.nodeId) && !to.peers.isConnected(from.nodeId));
  await from.connect(to.nodeId, '127.0.0.1', to.p2pPort!);
}

describe('channel_reestablish: lies and real data loss', () => {
  test('a peer claiming a far-ahead state with a garbage secret makes us fail the channel and broadcast our commitment', async () => {
    const a = lab.startNode('a1');
    const liar = lab.startNode('liar');
    const inbox = new Inbox(liar, a.nodeId);
    await lab.fund(a, 2_000_000n);
    await a.connect(liar.nodeId, '127.0.0.1', liar.p2pPort!);
    const { id } = await lab.openChannel(a, liar, FUNDING);
    await lab.pay(a, liar, msat(50_000_000n));
    await lab.settled(a, liar, id);
    const liarBroadcasts = recordBroadcasts(liar, { drop: true }); // the liar keeps its own commitment off the chain
    const untamper = tamper(liar, 'channel_reestablish', (m) => ({
      ...m,
      nextCommitmentNumber: (m.nextCommitmentNumber as bigint) + 100n,
      nextRevocationNumber: (m.nextRevocationNumber as bigint) + 100n,
      yourLastPerCommitmentSecret: crypto.getRandomValues(new Uint8Array(32)),
    }));
    try {
      await reconnect(a, liar);
      await waitFor('A fails the channel', () => summary(a, id).closingTxid !== undefined);
    } finally {
      untamper();
    }
    const s = summary(a, id);
    expect(s.closeKind).toBe('local');
    expect(s.closeReason).toMatch(/^channel_reestablish: next_revocation_number \d+ is ahead of our commitment \d+ without the secret that would prove it$/);
    await waitFor('our commitment reaches the mempool', () => inMempoolOrChain(s.closingTxid!));
    await lab.mineUntil('our commitment confirmed', async () => (await lab.btcd.rpc.call<{ confirmations?: number }>('getrawtransaction', s.closingTxid!, 1)).confirmations! > 0, 3, 100);
    expect(liarBroadcasts).not.toContain(s.closingTxid);
    failed = { a, liar, id, inbox };
  }, 120_000);

  test('a channel already force closed answers channel_reestablish with its error again, and signs or retransmits nothing', async () => {
    const { a, liar, id, inbox } = failed!;
    // A reestablish asking A to send its last revoke_and_ack again, as an honest peer that missed it would.
    const c = liar.channels!.store.load<ChannelRecord>(fromHex(id))!.state.commitments;
    const keyIndex = liar.channels!.store.load<ChannelRecord>(fromHex(id))!.keyIndex;
    const mine = ourReestablish(c, channelSecrets(liar.identity.root, 'regtest', keyIndex));
    const older = SecretStore.deserialize(c.remoteSecrets).derive(shachainIndex(c.remoteCommit.index - 2n))!;
    const from = inbox.all.length;
    liar.peers.send(a.nodeId, 'channel_reestablish', { channelId: fromHex(id), ...mine, nextRevocationNumber: mine.nextRevocationNumber - 1n, yourLastPerCommitmentSecret: older });
    await inbox.next('the error again', (r) => r.name === 'error', from);
    await Bun.sleep(500);
    const after = inbox.all.slice(from);
    expect(after.map((r) => r.name)).toEqual(['error']);
    expect(textOf(after[0]!)).toBe(summary(a, id).closeReason!);
  }, 45_000);

  test('1,000 update_add_htlc on a failed channel get no error each: one error answers the reestablish that follows them', async () => {
    const { a, liar, id, inbox } = failed!;
    await reconnect(liar, a);
    const from = inbox.all.length;
    for (let i = 0; i < 1_000; i++) {
      liar.peers.send(a.nodeId, 'update_add_htlc', {
        channelId: fromHex(id), id: 100n + BigInt(i), amountMsat: msat(1_000n), paymentHash: new Uint8Array(32).fill(i & 0xff), cltvExpiry: 1_000 as CltvExpiry, onionRoutingPacket: new Uint8Array(1366),
      });
    }
    const c = liar.channels!.store.load<ChannelRecord>(fromHex(id))!;
    liar.peers.send(a.nodeId, 'channel_reestablish', { channelId: fromHex(id), ...ourReestablish(c.state.commitments, channelSecrets(liar.identity.root, 'regtest', c.keyIndex)) });
    await inbox.next('the error answering the reestablish', (r) => r.name === 'error', from);
    await Bun.sleep(1_000);
    expect(inbox.all.slice(from).map((r) => r.name)).toEqual(['error']);
    expect(summary(a, id).phase).not.toBe('normal');
  }, 60_000);

  test('a node restored from an old database copy does not broadcast, tells the peer, and gets its to_remote once the peer closes', async () => {
    const a = lab.startNode('a2');
    let b = lab.startNode('b2');
    await lab.fund(a, 2_000_000n);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    const { id } = await lab.openChannel(a, b, FUNDING);
    await lab.pay(a, b, msat(60_000_000n));
    await lab.settled(a, b, id);
    const startB = await lab.walletBalance(b);

    // A copy of B's data directory, taken while B is stopped...
    const dir = join(lab.root, 'b2');
    const backup = join(lab.root, 'b2-backup');
    lab.stopNode(b);
    cpSync(dir, backup, { recursive: true });
    b = lab.startNode('b2');
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    await lab.active(b, id);
    // ...then the channel moves on: B's copy holds commitments A has since revoked.
    await lab.pay(a, b, msat(30_000_000n));
    await lab.pay(b, a, msat(5_000_000n));
    await lab.settled(a, b, id);
    const bMsat = summary(b, id).localBalanceMsat;
    expect(bMsat).toBe(msat(85_000_000n));
    lab.stopNode(b);
    rmSync(dir, { recursive: true, force: true });
    cpSync(backup, dir, { recursive: true });
    b = lab.startNode('b2');
    const bBroadcasts = recordBroadcasts(b);
    expect(summary(b, id).localBalanceMsat).toBe(msat(60_000_000n)); // the old state

    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    await waitFor('B concludes it lost data', () => summary(b, id).closeReason?.startsWith('data loss: ') === true);
    expect(summary(b, id).closeReason).toMatch(/the peer holds our secret for \d+: we lost data$/);
    expect(summary(b, id).closingTxid).toBeUndefined();
    await expect(b.channels!.close(fromHex(id), { force: true })).rejects.toThrow('must not broadcast its commitment');
    // A fails the channel on B's stale numbers (and on B's error) and broadcasts its latest commitment.
    await waitFor('A broadcasts', () => summary(a, id).closingTxid !== undefined);
    const aCommitment = summary(a, id).closingTxid!;
    await lab.mineUntil('B sees the peer commitment', () => summary(b, id).closingTxid === aCommitment, 5, 0);
    await lab.mineUntil('B swept its to_remote and forgot the channel', () => summary(b, id).phase === 'closed', 20, 0);
    expect(bBroadcasts.filter((t) => t !== summary(b, id).sweepTxids[0])).toEqual([]);
    expect(summary(b, id).sweepTxids).toHaveLength(1);
    // B gets its balance of the latest state, which only A had, less its sweep's fee.
    expect(await lab.walletBalance(b)).toBe(startB + bMsat / 1000n - (await lab.fees(summary(b, id).sweepTxids)));
  }, 180_000);
});
