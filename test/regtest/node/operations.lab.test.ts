// lab-peers: btcd
/**
 * Running a node, on the lab: a daemon A (a process, --log-level debug,
 * --metrics-listen) funded, with a channel to B and a payment over it.
 * - /metrics is scraped and its numbers are the API's: one channel, normal;
 *   one payment, succeeded, with its latency observed; channel balances to
 *   the msat as ListChannels gives them, the wallet to the sat as
 *   WalletBalance does; the calls made, by method and code; on the payee,
 *   the invoice settled.
 * - A's debug log shows the payment's protocol flow (update_add_htlc,
 *   commitment_signed, revoke_and_ack each way, update_fulfill_htlc in,
 *   the channel's phase changes) and never the preimage.
 * - Stop: A answers, exits 0 within seconds, and restarts on the same data
 *   dir with the channel, its balances and the payment intact; the channel
 *   comes back usable and pays again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat } from '../../../src/bolt/units.ts';
import { collectMetrics } from '../../../src/node/metrics/collect.ts';
import { msatAsSat, renderExposition } from '../../../src/node/metrics/exposition.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PayInvoiceResponse_Status, Payment_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { freePort, waitFor } from '../../lab/processes.ts';
import { parseExposition, sampleOf } from '../../support/prometheus.ts';

const FUNDING_SAT = 500_000n;
const PAY_MSAT = msat(12_345_678n);

let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let metricsPort: number;
let args: string[];
let channelId: Uint8Array;
let preimage: Uint8Array;

const scrape = async () => {
  const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(r.status).toBe(200);
  return parseExposition(await r.text());
};

async function atTip(d: LnnodeProcess): Promise<void> {
  const h = await lab.btcd.height();
  await waitFor('A at the tip', async () => (await d.client().getNodeInfo({})).blockHeight >= h);
}

beforeAll(async () => {
  lab = await ChannelLab.start('operations');
  b = lab.startNode('b');
  metricsPort = await freePort();
  args = ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '100', '--metrics-listen', `127.0.0.1:${metricsPort}`, '--log-level', 'debug'];
  a = await startLnnode({ args });
  const client = a.client();
  await lab.faucet.send((await client.newAddress({})).address, 1_000_000n);
  await lab.mine(1);
  await waitFor('A funded', async () => (await client.walletBalance({})).confirmedSat === 1_000_000n);
  await client.connectPeer({ peerPubkey: b.nodeId, addr: `127.0.0.1:${b.p2pPort}` });
  const opened = await client.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: FUNDING_SAT, fundingFeeRateSatPerVbyte: 2n });
  channelId = opened.channelId;
  await lab.mine(3);
  await waitFor('channel usable on A', async () => (await client.listChannels({})).channels.some((c) => c.usable));
  await lab.active(b, hex(channelId));
  await atTip(a);
  const inv = b.invoices.create({ amountMsat: PAY_MSAT, descriptionHash: sha256(new TextEncoder().encode('operations')) });
  const paid = await client.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 60 });
  expect(paid.status).toBe(PayInvoiceResponse_Status.SUCCEEDED);
  preimage = paid.paymentPreimage;
  expect(hex(sha256(preimage))).toBe(hex(inv.paymentHash));
  await waitFor('commitments settled', async () => {
    const c = (await client.listChannels({})).channels[0]!;
    const cb = b.channels!.get(channelId)!;
    return c.pendingHtlcs === 0 && cb.pendingHtlcs === 0 && c.outboundCapacityMsat === cb.remoteBalanceMsat;
  });
}, 180_000);

afterAll(async () => {
  await a?.stop();
  await lab?.stop();
});

describe('a funded daemon with a channel and a payment', () => {
  test('/metrics matches the API: channels by phase, payments, balances to the msat and sat, calls by method and code', async () => {
    const client = a.client();
    // The wallet may still be taking in the last block: compare a scrape with API answers that did not change around it.
    const api = async () => {
      const [channels, wallet, peers, info] = [await client.listChannels({}), await client.walletBalance({}), await client.listPeers({}), await client.getNodeInfo({})];
      return { channels, wallet, peers, info, key: JSON.stringify([wallet, channels], (_k, v) => (typeof v === 'bigint' ? String(v) : v)) };
    };
    let [before, f, after] = [await api(), await scrape(), await api()];
    for (let i = 0; before.key !== after.key && i < 20; i++) {
      await Bun.sleep(250);
      [before, f, after] = [after, await scrape(), await api()];
    }
    expect(after.key).toBe(before.key);
    const { channels, wallet, peers, info } = after;
    expect(channels.channels).toHaveLength(1);
    const ch = channels.channels[0]!;
    expect(ch.state).toBe('normal');
    expect(['awaiting_funding_signed', 'awaiting_lock_in', 'normal', 'shutdown', 'closing', 'closed'].map((phase) => sampleOf(f, 'lnnode_channels', { phase }).value)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(sampleOf(f, 'lnnode_channels_active').value).toBe(1);
    expect(sampleOf(f, 'lnnode_channel_balance_sat', { phase: 'normal', side: 'local' }).raw).toBe(msatAsSat(ch.outboundCapacityMsat));
    expect(sampleOf(f, 'lnnode_channel_balance_sat', { phase: 'normal', side: 'remote' }).raw).toBe(msatAsSat(ch.inboundCapacityMsat));
    expect(ch.inboundCapacityMsat).toBe(PAY_MSAT);
    expect(['confirmed', 'unconfirmed', 'reserved', 'limbo'].map((state) => sampleOf(f, 'lnnode_wallet_balance_sat', { state }).raw)).toEqual(
      [wallet.confirmedSat, wallet.unconfirmedSat, wallet.reservedSat, wallet.limboSat].map(String),
    );
    expect(sampleOf(f, 'lnnode_channel_sendable_sat', { direction: 'send' }).raw).toBe(msatAsSat(ch.spendableMsat));
    expect(sampleOf(f, 'lnnode_channel_sendable_sat', { direction: 'receive' }).raw).toBe(msatAsSat(ch.receivableMsat));
    expect(ch.spendableMsat).toBeGreaterThan(0n);
    expect(['in_flight', 'succeeded', 'failed'].map((state) => sampleOf(f, 'lnnode_payments', { state }).value)).toEqual([0, 1, 0]);
    expect(sampleOf(f, 'lnnode_payment_latency_seconds_count', { outcome: 'succeeded' }).value).toBe(1);
    const latency = sampleOf(f, 'lnnode_payment_latency_seconds_sum', { outcome: 'succeeded' }).value;
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThan(60);
    expect(sampleOf(f, 'lnnode_peers_connected').value).toBe(peers.peers.length);
    expect(sampleOf(f, 'lnnode_chain_height').value).toBeGreaterThanOrEqual(info.blockHeight);
    const calls = (method: string, code = 'ok'): number => sampleOf(f, 'lnnode_rpc_calls_total', { service: 'lnnode.v1.LightningNodeService', method, code }).value;
    expect([calls('OpenChannel'), calls('PayInvoice'), calls('ConnectPeer')]).toEqual([1, 1, 1]);
    expect(sampleOf(f, 'lnnode_store_commits_total').value).toBeGreaterThan(10);
    const wire = (direction: string, message: string): number => sampleOf(f, 'lnnode_p2p_messages_total', { direction, message }).value;
    expect([wire('out', 'open_channel'), wire('in', 'accept_channel'), wire('out', 'update_add_htlc'), wire('in', 'update_fulfill_htlc')]).toEqual([1, 1, 1, 1]);
    for (const m of ['commitment_signed', 'revoke_and_ack']) for (const d of ['in', 'out']) expect(wire(d, m)).toBeGreaterThanOrEqual(1);
    console.log(
      `A: ${sampleOf(f, 'lnnode_store_commits_total').value} durable commits, payment in ${Math.round(latency * 1000)} ms, RSS ${Math.round(sampleOf(f, 'process_resident_memory_bytes').value / 1e6)} MB`,
    );
    // The payee's side, collected in process: the invoice settled, the amount on its side of the channel.
    const fb = parseExposition(renderExposition(collectMetrics(b)));
    expect(['open', 'settled', 'canceled'].map((state) => sampleOf(fb, 'lnnode_invoices', { state }).value)).toEqual([0, 1, 0]);
    expect(sampleOf(fb, 'lnnode_channel_balance_sat', { phase: 'normal', side: 'local' }).raw).toBe(msatAsSat(PAY_MSAT));
    expect(sampleOf(fb, 'lnnode_p2p_messages_total', { direction: 'out', message: 'update_fulfill_htlc' }).value).toBe(1);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: { chain: { detail: string } } }).checks.chain.detail).toMatch(/^synced to height \d+$/);
  }, 30_000);

  test("A's debug log shows the payment's messages each way and the channel's phases, and never the preimage", () => {
    const text = readFileSync(a.proc.logFile, 'utf8');
    const lines = a.logs();
    const wire = (dir: 'in' | 'out', message: string) => lines.filter((l) => l.msg === `p2p ${dir}` && l.message === message && l.channelId === hex(channelId) && l.peer === hex(b.nodeId)).length;
    expect(wire('out', 'update_add_htlc')).toBe(1);
    expect(wire('in', 'update_fulfill_htlc')).toBe(1);
    for (const m of ['commitment_signed', 'revoke_and_ack']) for (const dir of ['in', 'out'] as const) expect(wire(dir, m)).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.msg === 'channel phase' && l.channelId === hex(channelId)).map((l) => `${l.from}->${l.to}`)).toEqual([
      'none->awaiting_funding_signed',
      'awaiting_funding_signed->awaiting_lock_in',
      'awaiting_lock_in->normal',
    ]);
    expect(text).not.toContain(hex(preimage));
    expect(text.toLowerCase()).not.toContain(Buffer.from(preimage).toString('base64').toLowerCase());
  });

  test('Stop: exit 0 within seconds; restarted on the same data dir, the channel, balances and payment are intact and it pays again', async () => {
    const client = a.client();
    const before = (await client.listChannels({})).channels[0]!;
    const balance = await client.walletBalance({});
    const t0 = performance.now();
    expect((await client.stop({})).status).toBe('shutdown initiated, check logs for progress');
    const code = await Promise.race([a.proc.exited, Bun.sleep(5_000).then(() => 'still running')]);
    const ms = performance.now() - t0;
    expect(code).toBe(0);
    await waitFor('B to see A go', () => !b.peers.isConnected(Buffer.from(a.nodeId, 'hex')));

    const nodeId = a.nodeId;
    a = await startLnnode({ dataDir: a.dataDir, p2pPort: a.p2pPort, rpcPort: a.rpcPort, args });
    expect(a.nodeId).toBe(nodeId);
    const again = a.client();
    await waitFor('channel usable again', async () => (await again.listChannels({})).channels[0]?.usable === true, 30_000);
    const after = (await again.listChannels({})).channels[0]!;
    expect([hex(after.channelId), after.state, after.outboundCapacityMsat, after.inboundCapacityMsat]).toEqual([hex(before.channelId), 'normal', before.outboundCapacityMsat, before.inboundCapacityMsat]);
    // The wallet's coins come back once it has synced with the chain source again.
    await waitFor('wallet balance back', async () => {
      const w = await again.walletBalance({});
      return w.confirmedSat + w.unconfirmedSat === balance.confirmedSat + balance.unconfirmedSat;
    });
    const payments = (await again.listPayments({})).payments;
    expect(payments.map((p) => [p.status, p.amountMsat, hex(p.paymentPreimage)])).toEqual([[Payment_Status.SUCCEEDED, PAY_MSAT, hex(preimage)]]);
    const f = await scrape();
    expect(sampleOf(f, 'lnnode_payments', { state: 'succeeded' }).value).toBe(1);
    expect(sampleOf(f, 'lnnode_channels', { phase: 'normal' }).value).toBe(1);

    await atTip(a);
    const inv = b.invoices.create({ amountMsat: msat(1_000_000n), description: 'after the restart' });
    expect((await again.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 60 })).status).toBe(PayInvoiceResponse_Status.SUCCEEDED);
    console.log(`Stop: answered and exited 0 in ${Math.round(ms)} ms`);
  }, 90_000);
});
