// lab-peers: btcd lnd
/**
 * Channels and payments between lnnode and lnd v0.21 on the regtest lab:
 * lnnode opens to lnd and lnd opens to lnnode (static_remotekey, private),
 * both become active, and over each 25 invoices carrying a description_hash
 * are paid each way, lnd's channel balances agreeing with ours to the msat;
 * cooperative close started by each side, force close by each side, every
 * sat of lnnode's wallet accounted for. lnd's side is driven and read through
 * its REST API.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { lndOpenerCommitCostMsat, startLnd, type Lnd } from '../../lab/lnd.ts';
import { waitFor } from '../../lab/processes.ts';

/** lnd reacts to blocks and channel events on its own schedule; give it longer than the default. */
const LND_WAIT_MS = 60_000;

let lab: ChannelLab;
let lnd: Lnd;
let node: LightningNode;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

interface LndChannel {
  active: boolean;
  remote_pubkey: string;
  channel_point: string;
  capacity: string;
  local_balance: string;
  remote_balance: string;
  initiator: boolean;
  pending_htlcs?: unknown[];
  chan_id: string;
  commitment_type: string;
  fee_per_kw: string;
}

/** lnd adds a private channel to its own graph a moment after it is active; its router cannot use the channel before. */
async function lndRoutable(chanId: string): Promise<void> {
  await waitFor(`channel ${chanId} in lnd's graph`, () => lnd.rest('GET', `/v1/graph/edge/${chanId}`).then(() => true, () => false), LND_WAIT_MS);
}

const lndChannels = async (): Promise<LndChannel[]> => (await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? [];
const lndChannelOf = async (fundingTxid: string): Promise<LndChannel | undefined> => (await lndChannels()).find((c) => c.channel_point.startsWith(fundingTxid));

beforeAll(async () => {
  lab = await ChannelLab.start('lndch');
  lnd = await startLnd(lab.btcd);
  node = lab.startNode('n');
  await lab.fund(node, 3_000_000n);
  const { address } = await lnd.rest<{ address: string }>('GET', '/v1/newaddress?type=0');
  await lab.faucet.send(address, 3_000_000n);
  await lab.btcd.generate(1);
  await lnd.funded(3_000_000, LND_WAIT_MS);
  await node.connect(fromHex(lnd.nodeId), '127.0.0.1', lnd.p2pPort);
}, 180_000);

afterAll(async () => {
  await lnd?.stop();
  await lab?.stop();
});

async function lndPays(bolt11: string, outgoingChanId?: string): Promise<Uint8Array> {
  const updates = await lnd.restAll<{ status: string; payment_preimage: string; failure_reason: string }>('/v2/router/send', {
    payment_request: bolt11,
    timeout_seconds: 30,
    fee_limit_sat: '100',
    ...(outgoingChanId ? { outgoing_chan_ids: [outgoingChanId] } : {}),
  });
  const last = updates.at(-1)!;
  if (last.status !== 'SUCCEEDED') throw new Error(`lnd payment ${last.status}: ${last.failure_reason}`);
  return fromHex(last.payment_preimage);
}

async function lndInvoice(valueMsat: bigint, descriptionHash: Uint8Array): Promise<{ bolt11: string; rHash: Uint8Array }> {
  const r = await lnd.rest<{ payment_request: string; r_hash: string }>('POST', '/v1/invoices', { value_msat: valueMsat.toString(), description_hash: b64(descriptionHash) });
  return { bolt11: r.payment_request, rHash: unb64(r.r_hash) };
}

describe('lnnode <-> lnd channels', () => {
  let fundingTxid: string;
  let channelId: Uint8Array;
  let lndFunded: { channelId: string; fundingTxid: string; fundingVout: number };
  let walletBefore: bigint;

  test('lnnode opens a static_remotekey channel to lnd; both see it active', async () => {
    walletBefore = await lab.walletBalance(node);
    const opened = await node.channels!.open(fromHex(lnd.nodeId), { fundingSat: sat(1_000_000), fundingFeerate: 1000 as FeeratePerKw, channelType: 'static_remotekey' });
    fundingTxid = opened.fundingTxid;
    channelId = opened.channelId;
    await lab.btcd.generate(6);
    await waitFor('active in lnnode', () => node.channels!.get(channelId)?.active, LND_WAIT_MS);
    const c = await waitFor('active in lnd', async () => ((await lndChannelOf(fundingTxid))?.active ? lndChannelOf(fundingTxid) : undefined), LND_WAIT_MS);
    expect(c!.capacity).toBe('1000000');
    expect(c!.initiator).toBe(false);
    expect(c!.commitment_type).toBe('STATIC_REMOTE_KEY');
  }, 90_000);

  test('25 payments each way with description_hash invoices; lnd agrees on the balances to the msat', async () => {
    const sent: bigint[] = [];
    // 25 each way, from 1 msat precision to most of the channel.
    const out = [1_000n, 12_345_678n, 600_000_001n, ...Array.from({ length: 22 }, (_, i) => 1_000_000n + BigInt(i) * 37_013n)];
    for (const amount of out) {
      const dh = sha256(new TextEncoder().encode(`lcp job ${amount}`));
      const inv = await lndInvoice(amount, dh);
      const p = await node.payments.pay(inv.bolt11);
      expect(hex(sha256(p.preimage!))).toBe(hex(inv.rHash));
      const st = await lnd.rest<{ state: string; amt_paid_msat: string }>('GET', `/v1/invoice/${hex(inv.rHash)}`);
      expect(st.state).toBe('SETTLED');
      expect(BigInt(st.amt_paid_msat)).toBe(amount);
      sent.push(amount);
    }
    // lnd marks an invoice settled when it sends the fulfill; its balance moves once the commitment round ends.
    const paid = sent.reduce((s, x) => s + x, 0n);
    await waitFor('lnd balance reflects the payments', async () => BigInt((await lndChannelOf(fundingTxid))?.local_balance ?? '0') === paid / 1000n, LND_WAIT_MS);
    await lndRoutable((await lndChannelOf(fundingTxid))!.chan_id);
    const received: bigint[] = [];
    const back = [1_001n, 7_654_321n, 400_000_003n, ...Array.from({ length: 22 }, (_, i) => 900_000n + BigInt(i) * 41_011n)];
    for (const amount of back) {
      const inv = node.invoices.create({ amountMsat: msat(amount), descriptionHash: sha256(new TextEncoder().encode(`back ${amount}`)) });
      const preimage = await lndPays(inv.bolt11);
      expect(hex(preimage)).toBe(hex(inv.preimage));
      await waitFor('invoice settled', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LND_WAIT_MS);
      expect(node.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(amount));
      received.push(amount);
    }
    const net = sent.reduce((s, x) => s + x, 0n) - received.reduce((s, x) => s + x, 0n);
    await waitFor('no HTLCs left', async () => node.channels!.get(channelId)!.pendingHtlcs === 0 && ((await lndChannelOf(fundingTxid))?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);
    const ours = node.channels!.get(channelId)!;
    expect(ours.remoteBalanceMsat).toBe(msat(net));
    const theirs = (await lndChannelOf(fundingTxid))!;
    expect(BigInt(theirs.local_balance)).toBe(net / 1000n);
    await expectLndAgrees();
  }, 90_000);

  test('the fee estimate rises: lnnode (opener) sends update_fee, lnd takes it; payments go on, balances agree to the msat', async () => {
    try {
      lab.esplora.setFeeRate(10);
      await lab.mineUntil('lnd at 2500 sat/kw', async () => (await lndChannelOf(fundingTxid))?.fee_per_kw === '2500' && node.channels!.get(channelId)!.feeratePerKw === 2500, 10, 500);
      const inv = await lndInvoice(5_000_001n, sha256(new TextEncoder().encode('after update_fee')));
      await node.payments.pay(inv.bolt11, { outgoingChannels: [hex(channelId)] });
      const back = node.invoices.create({ amountMsat: msat(2_000_003), descriptionHash: sha256(new TextEncoder().encode('back after update_fee')) });
      await lndPays(back.bolt11);
      await waitFor('no HTLCs left', async () => node.channels!.get(channelId)!.pendingHtlcs === 0 && ((await lndChannelOf(fundingTxid))?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);
      await expectLndAgrees();
    } finally {
      lab.esplora.setFeeRate(2);
    }
  }, 120_000);

  test('lnd opens an anchors channel to lnnode; 25 payments each way over it; lnd agrees on every balance to the msat', async () => {
    await lnd.rest('POST', '/v1/channels', { node_pubkey: b64(node.nodeId), local_funding_amount: '600000', private: true, sat_per_vbyte: '2' });
    const pending = await waitFor('funding in mempool', async () => {
      const m = await lab.btcd.rpc.call<string[]>('getrawmempool');
      return m.length ? m : undefined;
    }, LND_WAIT_MS);
    expect(pending.length).toBeGreaterThan(0);
    await lab.btcd.generate(6);
    const ch = await waitFor('lnd-funded channel active in lnnode', () => node.channels!.list().find((c) => !c.weAreOpener && c.active), LND_WAIT_MS);
    expect(ch.capacitySat).toBe(sat(600_000));
    const theirs = await waitFor('active in lnd', async () => ((await lndChannelOf(ch.fundingTxid))?.active ? lndChannelOf(ch.fundingTxid) : undefined), LND_WAIT_MS);
    // lnd proposes anchors to a peer that offers them, as we do.
    expect(theirs!.commitment_type).toBe('ANCHORS');
    await lndRoutable(theirs!.chan_id);
    lndFunded = { channelId: ch.channelId, fundingTxid: ch.fundingTxid, fundingVout: ch.fundingVout };
    const id = fromHex(ch.channelId);
    let received = 0n;
    // lnd holds the whole channel: it pays first, from 1 msat precision to most of the channel.
    const inbound = [1_001n, 7_654_321n, 400_000_003n, ...Array.from({ length: 22 }, (_, i) => 900_000n + BigInt(i) * 41_011n)];
    for (const amount of inbound) {
      const inv = node.invoices.create({ amountMsat: msat(amount), descriptionHash: sha256(new TextEncoder().encode(`lnd pays ${amount}`)) });
      const preimage = await lndPays(inv.bolt11, theirs!.chan_id);
      expect(hex(preimage)).toBe(hex(inv.preimage));
      await waitFor('settled', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LND_WAIT_MS);
      expect(node.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(amount));
      received += amount;
    }
    let sent = 0n;
    const outbound = [1_000n, 12_345_678n, 300_000_007n, ...Array.from({ length: 22 }, (_, i) => 1_000_000n + BigInt(i) * 37_013n)];
    for (const amount of outbound) {
      const inv = await lndInvoice(amount, sha256(new TextEncoder().encode(`lnnode pays back ${amount}`)));
      const p = await node.payments.pay(inv.bolt11, { outgoingChannels: [ch.channelId] });
      expect(hex(sha256(p.preimage!))).toBe(hex(inv.rHash));
      const st = await lnd.rest<{ state: string; amt_paid_msat: string }>('GET', `/v1/invoice/${hex(inv.rHash)}`);
      expect([st.state, BigInt(st.amt_paid_msat)]).toEqual(['SETTLED', amount]);
      sent += amount;
    }
    await waitFor('no HTLCs left', async () => node.channels!.get(id)!.pendingHtlcs === 0 && ((await lndChannelOf(ch.fundingTxid))?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);
    const ours = node.channels!.get(id)!;
    expect(ours.localBalanceMsat).toBe(msat(received - sent));
    await expectLndAgrees();
  }, 240_000);

  test('lnnode closes its channel to lnd cooperatively: lnnode gets its balance less the fee, lnd its own', async () => {
    const ours = node.channels!.get(channelId)!;
    const { closingTxid } = await node.channels!.close(channelId);
    await lab.mineUntil('closed on both sides', async () => node.channels!.get(channelId)!.phase === 'closed' && (await lndClosed(fundingTxid)) !== undefined, 40, 500);
    const fee = await lab.fee(closingTxid);
    const outs = await lab.outputs(closingTxid);
    expect(outs.sort()).toEqual([ours.remoteBalanceMsat / 1000n, sat(1_000_000) - ours.remoteBalanceMsat / 1000n - fee].sort());
    expect((await lndClosed(fundingTxid))!.close_type).toBe('COOPERATIVE_CLOSE');
    expect(BigInt((await lndClosed(fundingTxid))!.settled_balance)).toBe(ours.remoteBalanceMsat / 1000n);
    // lnnode's wallet: before, less the funding fee, less what went to lnd, less the closing fee (it funded).
    const fundingFee = await lab.fee(fundingTxid);
    expect(await lab.walletBalance(node)).toBe(walletBefore - fundingFee - ours.remoteBalanceMsat / 1000n - fee);
  }, 120_000);

  test('lnd closes its channel to lnnode cooperatively: lnnode receives exactly its balance', async () => {
    const before = await lab.walletBalance(node);
    const ours = node.channels!.get(fromHex(lndFunded.channelId))!;
    void lnd.rest('DELETE', `/v1/channels/${lndFunded.fundingTxid}/${lndFunded.fundingVout}`).catch(() => undefined);
    await waitFor('lnnode sees the mutual close', () => node.channels!.get(fromHex(lndFunded.channelId))!.closeKind === 'mutual', LND_WAIT_MS);
    await lab.mineUntil('closed in lnnode', () => node.channels!.get(fromHex(lndFunded.channelId))!.phase === 'closed', 40, 0);
    expect(await lab.walletBalance(node)).toBe(before + ours.localBalanceMsat / 1000n);
  }, 120_000);

  for (const closer of ['lnnode', 'lnd'] as const) {
    test(`force close of an anchors channel by ${closer}: lnnode sweeps what is its own; every sat accounted for`, async () => {
      const before = await lab.walletBalance(node);
      const opened = await node.channels!.open(fromHex(lnd.nodeId), { fundingSat: sat(400_000), fundingFeerate: 1000 as FeeratePerKw });
      await lab.btcd.generate(6);
      await waitFor('active in lnnode', () => node.channels!.get(opened.channelId)?.active, LND_WAIT_MS);
      await waitFor('active in lnd', async () => (await lndChannelOf(opened.fundingTxid))?.active, LND_WAIT_MS);
      expect((await lndChannelOf(opened.fundingTxid))!.commitment_type).toBe('ANCHORS');
      const inv = await lndInvoice(123_456_789n, sha256(new TextEncoder().encode(`force ${closer}`)));
      await node.payments.pay(inv.bolt11);
      await waitFor('no HTLCs left', async () => node.channels!.get(opened.channelId)!.pendingHtlcs === 0 && ((await lndChannelOf(opened.fundingTxid))?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);
      const toLnd = node.channels!.get(opened.channelId)!.remoteBalanceMsat / 1000n;
      let commitTxid: string;
      if (closer === 'lnnode') {
        commitTxid = (await node.channels!.close(opened.channelId, { force: true })).closingTxid;
      } else {
        void lnd.rest('DELETE', `/v1/channels/${opened.fundingTxid}/${opened.fundingVout}?force=true`).catch(() => undefined);
        commitTxid = await waitFor('lnd commitment in the mempool', () => lab.mempoolSpendOf(opened.fundingTxid), LND_WAIT_MS);
      }
      await lab.btcd.generate(1);
      await waitFor('lnnode identified the commitment', () => node.channels!.get(opened.channelId)!.closeKind === (closer === 'lnnode' ? 'local' : 'remote'), LND_WAIT_MS);
      // Our to_local waits for the to_self_delay lnd asked for; to_remote is ours at once.
      const delay = closer === 'lnnode' ? lndDelay(opened.channelId) : 0;
      if (delay) await lab.btcd.generate(delay);
      await lab.mineUntil('closed in lnnode', () => node.channels!.get(opened.channelId)!.phase === 'closed', 40, 0);
      const sweeps = node.channels!.get(opened.channelId)!.sweepTxids;
      expect(sweeps).toHaveLength(1);
      const fundingFee = await lab.fee(opened.fundingTxid);
      const commitFee = await lab.fee(commitTxid);
      const sweepFee = await lab.fee(sweeps[0]!);
      // lnnode opened: both 330-sat anchors came out of its side (lnd may spend its own; ours is not worth a sweep).
      expect(await lab.walletBalance(node)).toBe(before - fundingFee - toLnd - commitFee - 2n * ANCHOR_SAT - sweepFee);
    }, 240_000);
  }
});

interface LndChannelBalance {
  local_balance: { msat: string };
  remote_balance: { msat: string };
}

/**
 * lnd's channel balances in msat (summed over its open channels, the opener's
 * side net of the commitment fee) equal lnnode's. Call with no HTLC pending.
 */
async function expectLndAgrees(): Promise<void> {
  let lndLocal = 0n;
  let lndRemote = 0n;
  for (const c of await lndChannels()) {
    const ours = node.channels!.list().find((x) => c.channel_point === `${x.fundingTxid}:${x.fundingVout}`)!;
    const fee = lndOpenerCommitCostMsat(c);
    lndLocal += ours.remoteBalanceMsat - (c.initiator ? fee : 0n);
    lndRemote += ours.localBalanceMsat - (c.initiator ? 0n : fee);
  }
  const b = await lnd.rest<LndChannelBalance>('GET', '/v1/balance/channels');
  expect([BigInt(b.local_balance.msat), BigInt(b.remote_balance.msat)]).toEqual([lndLocal, lndRemote]);
}

interface LndClosedChannel {
  channel_point: string;
  close_type: string;
  settled_balance: string;
}

async function lndClosed(fundingTxid: string): Promise<LndClosedChannel | undefined> {
  const r = await lnd.rest<{ channels?: LndClosedChannel[] }>('GET', '/v1/channels/closed');
  return (r.channels ?? []).find((c) => c.channel_point.startsWith(fundingTxid));
}

/** The to_self_delay lnd imposed on our outputs. */
function lndDelay(channelId: Uint8Array): number {
  const stored = node.channels!.store.load<{ commitments: { remote: { toSelfDelay: number } } }>(channelId)!;
  return stored.state.commitments.remote.toSelfDelay;
}
