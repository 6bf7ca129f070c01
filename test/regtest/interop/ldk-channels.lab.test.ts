// lab-peers: btcd ldk-peer
/**
 * Channels and payments between lnnode and LDK (ldk-node 0.7.1, the lab's
 * ldk-peer) on regtest: lnnode opens to LDK (static_remotekey) and LDK
 * opens to lnnode (anchors, LDK's choice), both usable; over each, 25 invoices with a description_hash paid each way,
 * amounts to the msat on both sides; a cooperative close started by each
 * side and a force close by each, with lnnode's wallet accounted to the sat
 * from the transactions. LDK's side is driven through the ldk-peer control API.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { startLdk, type Ldk, type LdkPayment } from '../../lab/ldk.ts';
import { waitFor } from '../../lab/processes.ts';

const LDK_WAIT_MS = 90_000;
let lab: ChannelLab;
let ldk: Ldk;
let node: LightningNode;

interface LdkChannel {
  channel_id: string;
  user_channel_id: string;
  counterparty_node_id: string;
  is_usable: boolean;
  is_outbound: boolean;
  outbound_capacity_msat: number;
  channel_value_sat: number;
  funding_txo?: string;
}
const ldkChannels = (): Promise<LdkChannel[]> => ldk.api<LdkChannel[]>('GET', '/channels');
const ldkPayment = async (hash: string): Promise<LdkPayment | undefined> => (await ldk.api<LdkPayment[]>('GET', '/payments')).find((p) => p.payment_hash === hash);

beforeAll(async () => {
  lab = await ChannelLab.start('ldk-channels');
  await lab.btcd.generate(10);
  ldk = await startLdk(lab.esplora.url);
  node = lab.startNode('n');
  await lab.fund(node, 3_000_000n);
  const { address } = await ldk.api<{ address: string }>('POST', '/new_address');
  await lab.faucet.send(address, 2_000_000n);
  await lab.btcd.generate(1);
  await ldk.funded(2_000_000, LDK_WAIT_MS);
  await node.connect(fromHex(ldk.nodeId), '127.0.0.1', ldk.p2pPort);
}, 180_000);

afterAll(async () => {
  await ldk?.stop();
  await lab?.stop();
});

async function ldkInvoice(amountMsat: bigint, tag: string): Promise<{ invoice: string; payment_hash: string }> {
  return ldk.api('POST', '/invoice', { amount_msat: Number(amountMsat), description_hash: hex(sha256(new TextEncoder().encode(tag))) });
}

describe('lnnode <-> LDK channels', () => {
  let toLdk: Uint8Array;
  let fromLdk: Uint8Array;

  test('lnnode opens a static_remotekey channel to LDK; both see it usable', async () => {
    const opened = await node.channels!.open(fromHex(ldk.nodeId), { fundingSat: sat(1_000_000), fundingFeerate: 1000 as FeeratePerKw, channelType: 'static_remotekey' });
    toLdk = opened.channelId;
    await lab.btcd.generate(6);
    await waitFor('usable in LDK', async () => {
      await ldk.api('POST', '/sync');
      return (await ldkChannels()).some((c) => c.channel_id === hex(toLdk) && c.is_usable);
    }, LDK_WAIT_MS);
    await waitFor('active in lnnode', () => node.channels!.get(toLdk)?.active, LDK_WAIT_MS);
    // LDK refuses an HTLC whose expiry is too close to its tip; ours must not lag behind it.
    await lab.synced(node);
  }, 180_000);

  test('25 payments each way over it; amounts to the msat on both sides', async () => {
    let sent = 0n;
    // LDK limits what may be in flight to a share of the channel (max_inbound_htlc_value_in_flight_percent_of_channel): pay up to its limit.
    const limit = node.channels!.store.load<{ commitments: { remote: { maxHtlcValueInFlightMsat: bigint } } }>(toLdk)!.state.commitments.remote.maxHtlcValueInFlightMsat;
    // 25 each way. A payment right after one at the limit waits (in lnnode) for the previous HTLC's removal.
    const out = [1_000n, 12_345_678n, limit - 7n, limit - 1n, ...Array.from({ length: 21 }, (_, i) => 1_000_000n + BigInt(i) * 37_013n)];
    for (const amount of out) {
      const inv = await ldkInvoice(amount, `ldk job ${amount}`);
      const p = await node.payments.pay(inv.invoice, { outgoingChannels: [hex(toLdk)] });
      expect(hex(sha256(p.preimage!))).toBe(inv.payment_hash);
      await waitFor('LDK received it', async () => (await ldkPayment(inv.payment_hash))?.status === 'Succeeded', LDK_WAIT_MS);
      expect((await ldkPayment(inv.payment_hash))!.amount_msat).toBe(Number(amount));
      sent += amount;
    }
    let received = 0n;
    const back = [1_001n, 7_654_321n, ...Array.from({ length: 23 }, (_, i) => 900_000n + BigInt(i) * 41_011n)];
    for (const amount of back) {
      const inv = node.invoices.create({ amountMsat: msat(amount), descriptionHash: sha256(new TextEncoder().encode(`back ${amount}`)) });
      await ldk.api('POST', '/pay', { invoice: inv.bolt11 });
      await waitFor('settled in lnnode', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LDK_WAIT_MS);
      await waitFor('LDK sees success', async () => (await ldkPayment(hex(inv.paymentHash)))?.status === 'Succeeded', LDK_WAIT_MS);
      expect(node.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(amount));
      received += amount;
    }
    await waitFor('no HTLCs left', () => node.channels!.get(toLdk)!.pendingHtlcs === 0, LDK_WAIT_MS);
    expect(node.channels!.get(toLdk)!.remoteBalanceMsat).toBe(msat(sent - received));
  }, 180_000);

  test('the fee estimate rises, then falls: lnnode (opener) sends update_fee, LDK takes it; payments go on', async () => {
    try {
      for (const [satPerVb, perKw] of [[10, 2500], [3, 750]] as const) {
        lab.esplora.setFeeRate(satPerVb);
        // LDK refuses a rate under its own floor, which it derives from its cached estimate: let it see the new one first
        // (its /sync is ldk-node's sync_wallets, which updates the fee rate cache before the wallets).
        await ldk.api('POST', '/sync');
        await lab.mineUntil(`lnnode's commitment at ${perKw} sat/kw`, () => node.channels!.get(toLdk)!.feeratePerKw === perKw, 10, 500);
        const inv = await ldkInvoice(5_000_001n, `after update_fee ${perKw}`);
        const p = await node.payments.pay(inv.invoice);
        expect(hex(sha256(p.preimage!))).toBe(inv.payment_hash);
        const back = node.invoices.create({ amountMsat: msat(2_000_003), descriptionHash: sha256(new TextEncoder().encode(`back ${perKw}`)) });
        await ldk.api('POST', '/pay', { invoice: back.bolt11 });
        await waitFor('settled in lnnode', () => node.invoices.get(back.paymentHash)?.state === 'settled', LDK_WAIT_MS);
        expect((await ldkChannels()).find((c) => c.channel_id === hex(toLdk))?.is_usable).toBe(true);
      }
    } finally {
      lab.esplora.setFeeRate(2);
    }
  }, 180_000);

  test('lnnode closes its channel to LDK cooperatively; its output pays exactly its balance less the fee', async () => {
    const ours = node.channels!.get(toLdk)!;
    const { closingTxid } = await node.channels!.close(toLdk);
    await lab.mineUntil('closed in lnnode', () => node.channels!.get(toLdk)!.phase === 'closed', 60, 0);
    const fee = await lab.fee(closingTxid);
    const outs = (await lab.outputs(closingTxid)).sort((x, y) => (x < y ? -1 : 1));
    const toLdkSat = ours.remoteBalanceMsat / 1000n;
    expect(outs).toEqual([toLdkSat, ours.capacitySat - toLdkSat - fee].sort((x, y) => (x < y ? -1 : 1)));
    await waitFor('LDK forgot the channel', async () => {
      await ldk.api('POST', '/sync');
      return !(await ldkChannels()).some((c) => c.channel_id === hex(toLdk));
    }, LDK_WAIT_MS);
  }, 180_000);

  test('LDK opens an anchors channel to lnnode; 25 payments each way over it, amounts to the msat', async () => {
    await ldk.api('POST', '/open_channel', { node_id: hex(node.nodeId), addr: `127.0.0.1:${node.p2pPort}`, amount_sat: 500_000 });
    await waitFor('LDK funding in the mempool', async () => ((await lab.btcd.rpc.call<string[]>('getrawmempool')).length ? true : undefined), LDK_WAIT_MS);
    await lab.btcd.generate(6);
    const ch = await waitFor('LDK-funded channel active in lnnode', () => node.channels!.list().find((c) => !c.weAreOpener && c.active), LDK_WAIT_MS);
    expect(ch.capacitySat).toBe(sat(500_000));
    // LDK proposes anchors to a peer that offers them, as we do.
    expect(ch.channelType).toBe('anchors');
    await waitFor('usable in LDK', async () => {
      await ldk.api('POST', '/sync');
      return (await ldkChannels()).some((c) => c.channel_id === ch.channelId && c.is_usable);
    }, LDK_WAIT_MS);
    await lab.synced(node);
    fromLdk = fromHex(ch.channelId);
    let received = 0n;
    // LDK pays first (it holds the whole channel): from 1 msat precision to most of what it can send.
    const inbound = [1_001n, 7_654_321n, 300_000_003n, ...Array.from({ length: 22 }, (_, i) => 900_000n + BigInt(i) * 41_011n)];
    for (const amount of inbound) {
      const inv = node.invoices.create({ amountMsat: msat(amount), descriptionHash: sha256(new TextEncoder().encode(`ldk pays ${amount}`)) });
      await ldk.api('POST', '/pay', { invoice: inv.bolt11 });
      await waitFor('settled in lnnode', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LDK_WAIT_MS);
      await waitFor('LDK sees success', async () => (await ldkPayment(hex(inv.paymentHash)))?.status === 'Succeeded', LDK_WAIT_MS);
      expect(node.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(amount));
      expect((await ldkPayment(hex(inv.paymentHash)))!.amount_msat).toBe(Number(amount));
      received += amount;
    }
    let sent = 0n;
    const outbound = [1_000n, 12_345_678n, 250_000_003n, ...Array.from({ length: 22 }, (_, i) => 1_000_000n + BigInt(i) * 37_013n)];
    for (const amount of outbound) {
      const inv = await ldkInvoice(amount, `lnnode pays back ${amount}`);
      const p = await node.payments.pay(inv.invoice, { outgoingChannels: [hex(fromLdk)] });
      expect(hex(sha256(p.preimage!))).toBe(inv.payment_hash);
      await waitFor('LDK received it', async () => (await ldkPayment(inv.payment_hash))?.status === 'Succeeded', LDK_WAIT_MS);
      expect((await ldkPayment(inv.payment_hash))!.amount_msat).toBe(Number(amount));
      sent += amount;
    }
    await waitFor('no HTLCs left', () => node.channels!.get(fromLdk)!.pendingHtlcs === 0, LDK_WAIT_MS);
    const ours = node.channels!.get(fromLdk)!;
    expect(ours.localBalanceMsat).toBe(msat(received - sent));
    // LDK's outbound capacity is its balance less its reserve and the commitment fee it pays as opener: its balance is at least that.
    const theirs = (await ldkChannels()).find((c) => c.channel_id === ch.channelId)!;
    expect(BigInt(theirs.outbound_capacity_msat)).toBeLessThanOrEqual(ours.remoteBalanceMsat);
    expect(ours.remoteBalanceMsat).toBe(msat(500_000_000n - received + sent));
  }, 300_000);

  test('LDK closes its channel to lnnode cooperatively: lnnode receives exactly its balance, LDK pays the fee', async () => {
    const before = await lab.walletBalance(node);
    const ours = node.channels!.get(fromLdk)!;
    const theirs = (await ldkChannels()).find((c) => c.channel_id === hex(fromLdk))!;
    await ldk.api('POST', '/close_channel', { user_channel_id: theirs.user_channel_id, node_id: hex(node.nodeId) });
    await waitFor('lnnode sees the mutual close', () => node.channels!.get(fromLdk)!.closeKind === 'mutual', LDK_WAIT_MS);
    await lab.mineUntil('closed in lnnode', () => node.channels!.get(fromLdk)!.phase === 'closed', 40, 0);
    const closingTxid = node.channels!.get(fromLdk)!.closingTxid!;
    const fee = await lab.fee(closingTxid);
    const outs = (await lab.outputs(closingTxid)).sort((x, y) => (x < y ? -1 : 1));
    const oursSat = ours.localBalanceMsat / 1000n;
    expect(outs).toEqual([oursSat, ours.capacitySat - oursSat - fee].sort((x, y) => (x < y ? -1 : 1)));
    expect(await lab.walletBalance(node)).toBe(before + oursSat);
  }, 180_000);

  for (const closer of ['lnnode', 'LDK'] as const) {
    test(`force close of an anchors channel by ${closer}: lnnode sweeps what is its own; every sat accounted for`, async () => {
      const before = await lab.walletBalance(node);
      const opened = await node.channels!.open(fromHex(ldk.nodeId), { fundingSat: sat(400_000), fundingFeerate: 1000 as FeeratePerKw });
      await lab.btcd.generate(6);
      await waitFor('usable in LDK', async () => {
        await ldk.api('POST', '/sync');
        return (await ldkChannels()).some((c) => c.channel_id === hex(opened.channelId) && c.is_usable);
      }, LDK_WAIT_MS);
      await waitFor('active in lnnode', () => node.channels!.get(opened.channelId)?.active, LDK_WAIT_MS);
      expect(node.channels!.get(opened.channelId)!.channelType).toBe('anchors');
      await lab.synced(node);
      const inv = await ldkInvoice(23_456_789n, `force ${closer}`);
      await node.payments.pay(inv.invoice);
      await waitFor('LDK received it', async () => (await ldkPayment(inv.payment_hash))?.status === 'Succeeded', LDK_WAIT_MS);
      await waitFor('no HTLCs left', () => node.channels!.get(opened.channelId)!.pendingHtlcs === 0, LDK_WAIT_MS);
      const toLdk = node.channels!.get(opened.channelId)!.remoteBalanceMsat / 1000n;
      let commitTxid: string;
      if (closer === 'lnnode') {
        commitTxid = (await node.channels!.close(opened.channelId, { force: true })).closingTxid;
      } else {
        const theirs = (await ldkChannels()).find((c) => c.channel_id === hex(opened.channelId))!;
        await ldk.api('POST', '/close_channel', { user_channel_id: theirs.user_channel_id, node_id: hex(node.nodeId), force: true });
        commitTxid = await waitFor('LDK commitment in the mempool', () => lab.mempoolSpendOf(opened.fundingTxid), LDK_WAIT_MS);
      }
      await lab.btcd.generate(1);
      const kind = await waitFor('lnnode identified the confirmed commitment', () => {
        const c = node.channels!.get(opened.channelId)!;
        return c.closingTxid === commitTxid && (c.closeKind === 'local' || c.closeKind === 'remote') ? c.closeKind : undefined;
      }, LDK_WAIT_MS);
      // LDK's force close comes with an error, on which lnnode broadcasts its own commitment: the first in the mempool is the one mined.
      if (closer === 'lnnode') expect(kind).toBe('local');
      else console.log(`LDK force close: ${kind === 'remote' ? "LDK's" : "lnnode's"} commitment was mined`);
      // Our to_local waits for the to_self_delay LDK asked for; to_remote is ours at once.
      if (kind === 'local') await lab.btcd.generate(remoteDelay(opened.channelId));
      await lab.mineUntil('closed in lnnode', () => node.channels!.get(opened.channelId)!.phase === 'closed', 40, 0);
      const sweeps = node.channels!.get(opened.channelId)!.sweepTxids;
      expect(sweeps).toHaveLength(1);
      const fundingFee = await lab.fee(opened.fundingTxid);
      const commitFee = await lab.fee(commitTxid);
      const sweepFee = await lab.fee(sweeps[0]!);
      // The commitment pays LDK exactly its balance (to_remote on ours, to_local on theirs), and the rest less fees is ours.
      expect((await lab.outputs(commitTxid)).includes(toLdk)).toBe(true);
      // lnnode opened: both 330-sat anchors came out of its side.
      expect(await lab.walletBalance(node)).toBe(before - fundingFee - toLdk - commitFee - 2n * ANCHOR_SAT - sweepFee);
    }, 300_000);
  }
});

/** The to_self_delay the peer imposed on our outputs. */
function remoteDelay(channelId: Uint8Array): number {
  return node.channels!.store.load<{ commitments: { remote: { toSelfDelay: number } } }>(channelId)!.state.commitments.remote.toSelfDelay;
}
