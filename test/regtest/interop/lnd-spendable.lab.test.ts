// lab-peers: btcd lnd
/**
 * The numbers people act on, checked against lnd v0.21 as the channel peer
 * (issue 15): on a 500k-sat anchors channel lnnode opens to lnd, what our
 * lnd-compatible ListChannels reports as each side's reserve and constraints
 * is what lnd reports for the other side; the maximum we report as
 * spendable is paid to lnd (lnd, the receiver, accepts it) and one sat more
 * is refused before anything is sent, naming that maximum; then what we
 * report as receivable is exactly what lnd can pay us. Then lnd opens a
 * 500k anchors channel to us: as opener it keeps the fee spike buffer, and
 * what we report as receivable (its balance less our reserve, the fee at
 * twice the feerate with the new HTLC and a future one, the anchors) is the most lnd will
 * send: that much arrives, one sat more lnd does not send.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type ChannelSummary } from '../../../src/node/channels/manager.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { channelMessage } from '../../../src/rpc/lnd/convert.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { startLnd, type Lnd } from '../../lab/lnd.ts';
import { waitFor } from '../../lab/processes.ts';

const LND_WAIT_MS = 60_000;
const FUNDING_SAT = 500_000n;

interface LndConstraints {
  csv_delay: number;
  chan_reserve_sat: string;
  dust_limit_sat: string;
  max_pending_amt_msat: string;
  min_htlc_msat: string;
  max_accepted_htlcs: number;
}
interface LndChannel {
  active: boolean;
  channel_point: string;
  chan_id: string;
  local_balance: string;
  local_chan_reserve_sat: string;
  remote_chan_reserve_sat: string;
  local_constraints: LndConstraints;
  remote_constraints: LndConstraints;
  pending_htlcs?: unknown[];
}

let lab: ChannelLab;
let lnd: Lnd;
let node: LightningNode;
let channelId: Uint8Array;
let fundingTxid: string;

const ours = (): ChannelSummary => node.channels!.get(channelId)!;
const lndChannel = async (): Promise<LndChannel | undefined> =>
  ((await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? []).find((c) => c.channel_point.startsWith(fundingTxid));

/** Constraints as lnd's JSON prints them, from our generated message. */
function asLnd(c: { csvDelay?: number; chanReserveSat?: bigint; dustLimitSat?: bigint; maxPendingAmtMsat?: bigint; minHtlcMsat?: bigint; maxAcceptedHtlcs?: number } | undefined): LndConstraints {
  return {
    csv_delay: c?.csvDelay ?? 0,
    chan_reserve_sat: String(c?.chanReserveSat ?? 0n),
    dust_limit_sat: String(c?.dustLimitSat ?? 0n),
    max_pending_amt_msat: String(c?.maxPendingAmtMsat ?? 0n),
    min_htlc_msat: String(c?.minHtlcMsat ?? 0n),
    max_accepted_htlcs: c?.maxAcceptedHtlcs ?? 0,
  };
}

beforeAll(async () => {
  lab = await ChannelLab.start('lnd-spendable');
  lnd = await startLnd(lab.btcd);
  node = lab.startNode('n');
  await lab.fund(node, 1_000_000n);
  const { address } = await lnd.rest<{ address: string }>('GET', '/v1/newaddress?type=0');
  await lab.faucet.send(address, 1_000_000n);
  await lab.mine(1);
  await lnd.funded(1_000_000, LND_WAIT_MS);
  await node.connect(fromHex(lnd.nodeId), '127.0.0.1', lnd.p2pPort);
}, 180_000);

afterAll(async () => {
  await lnd?.stop();
  await lab?.stop();
});

describe('spendable and receivable against lnd', () => {
  test('a 500k anchors channel: our reserves and constraints are lnd\'s, side for side', async () => {
    const opened = await node.channels!.open(fromHex(lnd.nodeId), { fundingSat: sat(FUNDING_SAT), fundingFeerate: 1000 as FeeratePerKw, channelType: 'anchors' });
    channelId = opened.channelId;
    fundingTxid = opened.fundingTxid;
    await lab.mine(6);
    await waitFor('active in lnnode', () => ours()?.active, LND_WAIT_MS);
    const theirs = (await waitFor('active in lnd', async () => ((await lndChannel())?.active ? lndChannel() : undefined), LND_WAIT_MS))!;
    const m = channelMessage(ours());
    expect([String(m.localChanReserveSat), String(m.remoteChanReserveSat)]).toEqual([theirs.remote_chan_reserve_sat, theirs.local_chan_reserve_sat]);
    expect(asLnd(m.localConstraints)).toEqual(theirs.remote_constraints);
    expect(asLnd(m.remoteConstraints)).toEqual(theirs.local_constraints);
  }, 120_000);

  test('the reported maximum is paid to lnd; one sat more is refused naming it', async () => {
    const maxMsat = ours().numbers.spendableMsat;
    const maxSat = maxMsat / 1000n;
    const c = ours();
    const bufferSat = (2n * BigInt(c.feeratePerKw) * (1124n + 2n * 172n)) / 1000n;
    expect(maxMsat).toBe(msat((FUNDING_SAT - c.numbers.localReserveSat - bufferSat - 660n) * 1000n));
    const invoice = async (sat: bigint): Promise<string> => (await lnd.rest<{ payment_request: string }>('POST', '/v1/invoices', { value: sat.toString() })).payment_request;
    const refused = await node.payments.pay(await invoice(maxSat + 1n)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PaymentError);
    expect((refused as PaymentError).message).toContain(`at most ${maxMsat} msat (${maxSat} sat) can be sent now`);
    const paid = await node.payments.pay(await invoice(maxSat));
    expect(paid.state).toBe('succeeded');
    await waitFor('lnd holds the payment', async () => (await lndChannel())?.local_balance === String(maxSat) && ((await lndChannel())?.pending_htlcs ?? []).length === 0, LND_WAIT_MS);
    await waitFor('no HTLC left in lnnode', () => ours().pendingHtlcs === 0, LND_WAIT_MS);
    expect(ours().remoteBalanceMsat).toBe(msat(maxSat * 1000n));
  }, 120_000);

  test('what we report as receivable is what lnd can pay us', async () => {
    const theirs = (await lndChannel())!;
    await waitFor(`channel ${theirs.chan_id} in lnd's graph`, () => lnd.rest('GET', `/v1/graph/edge/${theirs.chan_id}`).then(() => true, () => false), LND_WAIT_MS);
    // lnd pays no fee (we opened): its balance less the reserve we ask of it.
    const receivable = ours().numbers.receivableMsat;
    expect(receivable).toBe(msat(ours().remoteBalanceMsat - ours().numbers.remoteReserveSat * 1000n));
    const inv = node.invoices.create({ amountMsat: receivable });
    const updates = await lnd.restAll<{ status: string; payment_preimage: string; failure_reason: string }>('/v2/router/send', { payment_request: inv.bolt11, timeout_seconds: 30, fee_limit_sat: '0' });
    const last = updates.at(-1)!;
    expect([last.status, last.payment_preimage]).toEqual(['SUCCEEDED', hex(inv.preimage)]);
    await waitFor('invoice settled', () => node.invoices.get(inv.paymentHash)?.state === 'settled', LND_WAIT_MS);
    expect(node.invoices.get(inv.paymentHash)!.receivedMsat).toBe(receivable);
    await waitFor('no HTLC left', () => ours().pendingHtlcs === 0, LND_WAIT_MS);
    expect(ours().numbers.receivableMsat).toBe(msat(0));
  }, 120_000);

  test('lnd as opener: it sends exactly what we report as receivable, not one sat more', async () => {
    await lnd.rest('POST', '/v1/channels', { node_pubkey: Buffer.from(node.nodeId).toString('base64'), local_funding_amount: FUNDING_SAT.toString(), private: true, sat_per_vbyte: '2' });
    await waitFor('funding in mempool', async () => ((await lab.btcd.rpc.call<string[]>('getrawmempool')).length ? true : undefined), LND_WAIT_MS);
    await lab.mine(6);
    const ch = await waitFor('lnd-funded channel active in lnnode', () => node.channels!.list().find((c) => !c.weAreOpener && c.active), LND_WAIT_MS);
    const theirs = await waitFor('active in lnd', async () => {
      const l = ((await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? []).find((c) => c.channel_point.startsWith(ch.fundingTxid));
      return l?.active ? l : undefined;
    }, LND_WAIT_MS);
    await waitFor(`channel ${theirs.chan_id} in lnd's graph`, () => lnd.rest('GET', `/v1/graph/edge/${theirs.chan_id}`).then(() => true, () => false), LND_WAIT_MS);
    const receivable = node.channels!.get(fromHex(ch.channelId))!.numbers.receivableMsat;
    const bufferSat = (2n * BigInt(ch.feeratePerKw) * (1124n + 2n * 172n)) / 1000n;
    expect(receivable).toBe(msat(FUNDING_SAT * 1000n - ch.numbers.remoteReserveSat * 1000n - (bufferSat + 660n) * 1000n));
    const send = async (amountMsat: bigint): Promise<{ status: string; failure_reason: string }> => {
      const inv = node.invoices.create({ amountMsat: msat(amountMsat) });
      const updates = await lnd.restAll<{ status: string; failure_reason: string }>('/v2/router/send', { payment_request: inv.bolt11, timeout_seconds: 30, fee_limit_sat: '0', outgoing_chan_ids: [theirs.chan_id] });
      return updates.at(-1)!;
    };
    const over = await send(receivable + 1000n);
    expect(over.status).toBe('FAILED');
    expect((await send(receivable)).status).toBe('SUCCEEDED');
    await waitFor('no HTLC left', () => node.channels!.get(fromHex(ch.channelId))!.pendingHtlcs === 0, LND_WAIT_MS);
    expect(node.channels!.get(fromHex(ch.channelId))!.localBalanceMsat).toBe(receivable);
  }, 120_000);
});
