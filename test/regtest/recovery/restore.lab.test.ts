// lab-peers: btcd lnd
/**
 * Restore from the mnemonic and the static channel backup, with an lnd and
 * an lnnode peer: node X opens a static_remotekey and an anchors channel to
 * each of lnd and lnnode Y; payments go both ways over one channel of each
 * peer so the balances are uneven, and the other never moves (its peer must
 * close it all the same), then X is stopped and its data dir deleted (the
 * backup file copied off first, as an operator would). A new X on an empty
 * data dir, from the 24 words and the backup, has the same node id, holds
 * all four channels as `recovering`, dials both peers and asks them to force
 * close (channel_reestablish with next_commitment_number 0); both do, X
 * never broadcasts a commitment, sweeps its to_remote output of each, and
 * the to_local of a fifth channel whose commitment the lost X had itself
 * broadcast (found by the commitment number it carries); and
 * its wallet ends with exactly what it had before the opens, minus the
 * peers' balances, minus every fee it paid (funding, the commitments it
 * paid for as opener, anchors, sweeps), to the sat, from the transactions.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { backupKey, decryptBackup } from '../../../src/node/backup/format.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { startLnd, type Lnd } from '../../lab/lnd.ts';
import { waitFor } from '../../lab/processes.ts';

const LND_WAIT_MS = 60_000;
let lab: ChannelLab;
let lnd: Lnd;
let x: LightningNode;
let y: LightningNode;
let words: string[] = [];

interface LndChannel {
  active: boolean;
  channel_point: string;
  chan_id: string;
  local_balance: string;
  pending_htlcs?: unknown[];
}
const lndChannelOf = async (fundingTxid: string): Promise<LndChannel | undefined> =>
  ((await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? []).find((c) => c.channel_point.startsWith(fundingTxid));

beforeAll(async () => {
  lab = await ChannelLab.start('restore');
  lnd = await startLnd(lab.btcd);
  x = lab.startNode('x', {}, { seed: { onNewMnemonic: (w) => (words = w) } });
  y = lab.startNode('y');
  await lab.fund(x, 4_500_000n);
  await x.connect(fromHex(lnd.nodeId), '127.0.0.1', lnd.p2pPort);
  await x.connect(y.nodeId, '127.0.0.1', y.p2pPort!);
}, 180_000);

afterAll(async () => {
  await lnd?.stop();
  await lab?.stop();
});

describe('restore from mnemonic + static channel backup', () => {
  const chans: { peer: 'lnd' | 'y'; channelId: Uint8Array; fundingTxid: string; anchors: boolean; ownClose?: string }[] = [];
  let walletBefore = 0n;
  /** What each peer holds in its channel with X when X is lost (sat, the commitment's output value). */
  const peerSat = new Map<string, bigint>();
  let backup: Uint8Array;

  test('X opens two channels to lnd and two to Y (static_remotekey and anchors each); payments both ways over one of each pair, the other never moves; a fifth X force closes itself; the backup names all five', async () => {
    expect(words).toHaveLength(24);
    walletBefore = await lab.walletBalance(x);
    for (const channelType of ['static_remotekey', 'anchors'] as const) {
      const opened = await x.channels!.open(fromHex(lnd.nodeId), { fundingSat: sat(1_000_000), fundingFeerate: 1000 as FeeratePerKw, channelType });
      await lab.mine(6);
      await waitFor('lnd channel active in X', () => x.channels!.get(opened.channelId)?.active, LND_WAIT_MS);
      await waitFor('active in lnd', async () => (await lndChannelOf(opened.fundingTxid))?.active, LND_WAIT_MS);
      chans.push({ peer: 'lnd', channelId: opened.channelId, fundingTxid: opened.fundingTxid, anchors: channelType === 'anchors' });
      // Each funding's change is the coin of the next: the wallet sees it confirmed first.
      await lab.walletBalance(x);
      const toY = await lab.openChannel(x, y, sat(800_000), channelType);
      chans.push({ peer: 'y', channelId: fromHex(toY.id), fundingTxid: toY.fundingTxid, anchors: channelType === 'anchors' });
      await lab.walletBalance(x);
    }
    const lndStatic = chans[0]!;
    const yAnchors = chans[3]!;

    // Over lnd's static_remotekey channel: X -> lnd 300,000 sat, lnd -> X 120,000 sat.
    const inv = await lnd.rest<{ payment_request: string }>('POST', '/v1/invoices', { value_msat: '300000000', description_hash: Buffer.from(sha256(new Uint8Array([1]))).toString('base64') });
    expect((await x.payments.pay(inv.payment_request, { outgoingChannels: [hex(lndStatic.channelId)] })).state).toBe('succeeded');
    const chanId = (await lndChannelOf(lndStatic.fundingTxid))!.chan_id;
    await waitFor(`channel ${chanId} in lnd's graph`, () => lnd.rest('GET', `/v1/graph/edge/${chanId}`).then(() => true, () => false), LND_WAIT_MS);
    const back = x.invoices.create({ amountMsat: msat(120_000_000n), descriptionHash: sha256(new Uint8Array([2])) });
    const paid = await lnd.restAll<{ status: string }>('/v2/router/send', { payment_request: back.bolt11, timeout_seconds: 30, fee_limit_sat: '10', outgoing_chan_ids: [chanId] });
    expect(paid.at(-1)!.status).toBe('SUCCEEDED');
    await waitFor('X settled lnd\'s payment', () => x.invoices.get(back.paymentHash)?.state === 'settled', LND_WAIT_MS);
    await waitFor('no HTLC left with lnd', async () => x.channels!.get(lndStatic.channelId)!.pendingHtlcs === 0 && ((await lndChannelOf(lndStatic.fundingTxid))?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);

    // Over Y's anchors channel: X -> Y 250,000 sat, Y -> X 70,000 sat.
    const toY = y.invoices.create({ amountMsat: msat(250_000_000n), descriptionHash: sha256(new Uint8Array([3])) });
    expect((await x.payments.pay(toY.bolt11, { outgoingChannels: [hex(yAnchors.channelId)] })).state).toBe('succeeded');
    await waitFor('Y settled X\'s payment', () => y.invoices.get(toY.paymentHash)?.state === 'settled');
    // Y has a balance only on that channel: its payment back takes it.
    await lab.pay(y, x, msat(70_000_000n));
    await lab.settled(x, y, hex(yAnchors.channelId));

    for (const c of chans) peerSat.set(hex(c.channelId), x.channels!.get(c.channelId)!.remoteBalanceMsat / 1000n);
    // The payments went where they were meant to; the other two channels never moved.
    expect(chans.map((c) => peerSat.get(hex(c.channelId)))).toEqual([180_000n, 0n, 0n, 180_000n]);

    // A fifth channel X force closes itself before it is lost: its commitment confirms, its to_local is not swept yet (to_self_delay).
    await lab.walletBalance(x);
    const own = await lab.openChannel(x, y, sat(500_000), 'static_remotekey');
    const toYOwn = y.invoices.create({ amountMsat: msat(100_000_000n), descriptionHash: sha256(new Uint8Array([4])) });
    expect((await x.payments.pay(toYOwn.bolt11, { outgoingChannels: [own.id] })).state).toBe('succeeded');
    await lab.settled(x, y, own.id);
    peerSat.set(own.id, x.channels!.get(fromHex(own.id))!.remoteBalanceMsat / 1000n);
    expect(peerSat.get(own.id)).toBe(100_000n);
    const { closingTxid } = await x.channels!.close(fromHex(own.id), { force: true });
    await lab.mine(1);
    expect(await lab.confirmations(closingTxid)).toBe(1);
    chans.push({ peer: 'y', channelId: fromHex(own.id), fundingTxid: own.fundingTxid, anchors: false, ownClose: closingTxid });
    backup = new Uint8Array(readFileSync(join(x.config.dataDir, 'channel.backup')));
    const b = decryptBackup(backupKey(x.identity.root, 'regtest'), backup);
    expect(b.nodeId).toBe(hex(x.nodeId));
    expect(b.channels.map((c) => [c.channelId, c.peer, c.fundingTxid, c.channelType, c.addresses.length]).sort()).toEqual(
      chans.map((c) => [hex(c.channelId), c.peer === 'lnd' ? lnd.nodeId : hex(y.nodeId), c.fundingTxid, c.anchors ? 'anchors' : 'static_remotekey', 1]).sort(),
    );
  }, 300_000);

  test('X is lost; restored from the words and the backup on an empty data dir, both peers force close every channel and X sweeps its side of each to the sat', async () => {
    const nodeId = hex(x.nodeId);
    const dataDir = x.config.dataDir;
    lab.stopNode(x);
    rmSync(dataDir, { recursive: true, force: true });

    x = lab.startNode('x-restored', {}, { seed: { restore: { words } }, restoreChannelBackup: backup });
    expect(x.seedOrigin).toBe('restored');
    expect(hex(x.nodeId)).toBe(nodeId);
    for (const c of chans) expect(x.channels!.get(c.channelId)!.phase).toBe('recovering');
    // X's own on-chain coins come back with the seed (the change of the two fundings).
    await waitFor('restored wallet found its coins', async () => {
      await x.wallet!.sync();
      return x.wallet!.balance().confirmedSat > 0n;
    });

    const commits = new Map<string, string>();
    for (const c of chans) {
      const txid = c.ownClose ?? (await waitFor(`${c.peer} broadcast its commitment`, () => lab.mempoolSpendOf(c.fundingTxid), LND_WAIT_MS));
      commits.set(hex(c.channelId), txid!);
    }
    // Y (lnnode) failed each channel with its own latest commitment; it never concluded that it lost data.
    for (const c of chans.filter((c) => c.peer === 'y' && !c.ownClose)) {
      await waitFor('Y force closed', () => y.channels!.get(c.channelId)?.closeKind === 'local');
      expect(y.channels!.get(c.channelId)!.closeReason).toContain('next_commitment_number 0');
    }

    await lab.mineUntil('X resolved every channel', () => chans.every((c) => x.channels!.get(c.channelId)!.phase === 'closed'), 40, 0);
    let expected = walletBefore;
    for (const c of chans) {
      const s = x.channels!.get(c.channelId)!;
      // The spend was the peer's commitment (X has none to broadcast), or X's own from before the loss; X took its output in one sweep.
      expect([s.closeKind, s.closingTxid]).toEqual(['unknown', commits.get(hex(c.channelId))]);
      expect(s.sweepTxids).toHaveLength(1);
      expect(await lab.confirmations(s.sweepTxids[0]!)).toBeGreaterThan(0);
      // BOLT 3: a side with no output on the commitment gets no anchor either (the channels that never moved): X as opener paid for those there are.
      const anchors = BigInt((await lab.outputs(s.closingTxid!)).filter((v) => v === ANCHOR_SAT).length);
      expect(anchors).toBe(!c.anchors ? 0n : peerSat.get(hex(c.channelId)) ? 2n : 1n);
      expected -= (await lab.fee(c.fundingTxid)) + peerSat.get(hex(c.channelId))! + (await lab.fee(s.closingTxid!)) + anchors * ANCHOR_SAT + (await lab.fee(s.sweepTxids[0]!));
    }
    expect(await lab.walletBalance(x)).toBe(expected);
  }, 300_000);
});
