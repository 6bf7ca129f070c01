/**
 * Channels and payments between lnnode and LDK (ldk-node 0.7.1, the lab's
 * ldk-peer) on regtest: lnnode opens to LDK and LDK opens to lnnode, both
 * usable; invoices with a description_hash paid both ways, amounts to the
 * msat on both sides. LDK's side is driven through the ldk-peer control API.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { type LightningNode } from '../../src/node/node.ts';
import { ChannelLab } from '../lab/channel-lab.ts';
import { startLdk, type Ldk } from '../lab/ldk.ts';
import { waitFor } from '../lab/processes.ts';

const LDK_WAIT_MS = 90_000;
let lab: ChannelLab;
let ldk: Ldk;
let node: LightningNode;

interface LdkChannel {
  channel_id: string;
  counterparty_node_id: string;
  is_usable: boolean;
  is_outbound: boolean;
  outbound_capacity_msat: number;
  channel_value_sat: number;
  funding_txo?: string;
}
interface LdkPayment {
  payment_hash?: string;
  preimage?: string;
  status: string;
  amount_msat?: number;
  direction: string;
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
  await waitFor('LDK funded', async () => {
    await ldk.api('POST', '/sync');
    return (await ldk.api<{ spendable_onchain_sat: number }>('GET', '/balances')).spendable_onchain_sat >= 2_000_000;
  }, LDK_WAIT_MS);
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

  test('lnnode opens a channel to LDK; both see it usable', async () => {
    const opened = await node.channels!.open(fromHex(ldk.nodeId), { fundingSat: sat(1_000_000), fundingFeerate: 1000 as FeeratePerKw });
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
      const p = await node.payments.pay(inv.invoice);
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

  test('LDK opens a channel to lnnode; LDK pays over it', async () => {
    await ldk.api('POST', '/open_channel', { node_id: hex(node.nodeId), addr: `127.0.0.1:${node.p2pPort}`, amount_sat: 500_000 });
    await waitFor('LDK funding in the mempool', async () => ((await lab.btcd.rpc.call<string[]>('getrawmempool')).length ? true : undefined), LDK_WAIT_MS);
    await lab.btcd.generate(6);
    const ch = await waitFor('LDK-funded channel active in lnnode', () => node.channels!.list().find((c) => !c.weAreOpener && c.active), LDK_WAIT_MS);
    expect(ch.capacitySat).toBe(sat(500_000));
    await waitFor('usable in LDK', async () => {
      await ldk.api('POST', '/sync');
      return (await ldkChannels()).some((c) => c.channel_id === ch.channelId && c.is_usable);
    }, LDK_WAIT_MS);
    const inv = node.invoices.create({ amountMsat: msat(45_000_000), descriptionHash: sha256(new TextEncoder().encode('big one')) });
    await ldk.api('POST', '/pay', { invoice: inv.bolt11 });
    await waitFor('settled in lnnode', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LDK_WAIT_MS);
  }, 180_000);

  test('lnnode closes its channel to LDK cooperatively; its output pays exactly its balance less the fee', async () => {
    const ours = node.channels!.get(toLdk)!;
    const { closingTxid } = await node.channels!.close(toLdk);
    await lab.mineUntil('closed in lnnode', () => node.channels!.get(toLdk)!.phase === 'closed');
    const fee = await lab.fee(closingTxid);
    const outs = (await lab.outputs(closingTxid)).sort((x, y) => (x < y ? -1 : 1));
    const toLdkSat = ours.remoteBalanceMsat / 1000n;
    expect(outs).toEqual([toLdkSat, ours.capacitySat - toLdkSat - fee].sort((x, y) => (x < y ? -1 : 1)));
    await waitFor('LDK forgot the channel', async () => {
      await ldk.api('POST', '/sync');
      return !(await ldkChannels()).some((c) => c.channel_id === hex(toLdk));
    }, LDK_WAIT_MS);
  }, 180_000);
});
