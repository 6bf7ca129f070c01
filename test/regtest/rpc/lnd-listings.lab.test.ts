// lab-peers: btcd lnd
/**
 * The numbers people act on and the wider lnd-compatible API (issue 15),
 * through lncli on the regtest lab: an in-process lnnode A serves the lnd API
 * (TLS, admin.macaroon) and opens a 500k-sat anchors channel to lnnode B.
 * While it opens, pendingchannels counts confirmations to go; once open, the
 * reported maximum sendable (reserve, commitment fee at twice the feerate
 * with the new HTLC and a future one, anchors) is paid with lncli payinvoice and one sat more
 * is refused naming that maximum; the payment shows its amount, fee and HTLC
 * (payinvoice, trackpayment, listpayments); listinvoices, channelbalance,
 * listunspent, listchaintxns, feereport and version answer with the values
 * the lab knows; a force close shows its maturity height and limbo balance
 * in pendingchannels (and lnnode.v1's wallet limbo), then closedchannels its
 * close height, type and settled balance. lnnode-cli's listchannels,
 * pendingchannels, closedchannels and walletbalance show the same numbers
 * from lnnode.v1.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type ChannelSummary } from '../../../src/node/channels/manager.ts';
import { CLTV_SAFETY_BLOCKS } from '../../../src/node/payments/payment-plan.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { createLogger } from '../../../src/node/log.ts';
import { startApi } from '../../../src/rpc/api.ts';
import { startLndApi } from '../../../src/rpc/lnd/api.ts';
import { limboSat } from '../../../src/rpc/lnnode-service.ts';
import { type RpcServer } from '../../../src/rpc/server.ts';
import { ChannelLab, LAB_TO_SELF_DELAY } from '../../lab/channel-lab.ts';
import { Lncli } from '../../lab/lncli.ts';
import { freePort, waitFor } from '../../lab/processes.ts';

const WALLET_SAT = 1_000_000n;
const FUNDING_SAT = 500_000n;
const FUNDING_FEERATE = 1000 as FeeratePerKw;
const RECEIVED_SAT = 1_234n;
/** The on-chain reserve A keeps per anchors channel (the lab's default is none). */
const ANCHOR_RESERVE_SAT = 25_000n;

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let api: RpcServer;
let lnnodeApi: RpcServer;
let cli: Lncli;
let channelId: string;
let fundingTxid: string;
let fundingFee: bigint;
let scid: string;

/** lnnode-cli against A (its data dir holds rpc.addr and rpc.token), printing JSON. */
async function lnnodeCli<T>(...args: string[]): Promise<T> {
  const p = Bun.spawn([process.execPath, 'src/cli.ts', '--data-dir', a.config.dataDir, ...args, '--json'], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`lnnode-cli ${args.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out) as T;
}
type CliChannels = { channels: Record<string, string | number>[] };

const channel = (): ChannelSummary => a.channels!.get(Buffer.from(channelId, 'hex'))!;

beforeAll(async () => {
  lab = await ChannelLab.start('lnd-listings');
  a = lab.startNode('a', { channelLimits: { anchorReservePerChannelSat: sat(ANCHOR_RESERVE_SAT) } });
  b = lab.startNode('b');
  const port = await freePort();
  api = (await startLndApi(a, { ...a.config, lndRpcListen: { host: '127.0.0.1', port } }, createLogger({ level: 'error' })))!;
  cli = new Lncli(api.port, a.config.dataDir);
  lnnodeApi = (await startApi(a, { ...a.config, rpcListen: { host: '127.0.0.1', port: 0 } }, createLogger({ level: 'error' })))!;
  await lab.fund(a, WALLET_SAT);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await lnnodeApi?.stop();
  await lab?.stop();
});

describe('lncli against lnnode: numbers and listings', () => {
  test('listunspent shows the funded coin; version names the lnd API release and lnnode', async () => {
    // lncli prints its own Utxo shape: numbers, and the address type as its enum number (0: WITNESS_PUBKEY_HASH).
    const u = await cli.json<{ utxos: { address: string; amount_sat: number; confirmations: number; address_type: number }[] }>(['listunspent']);
    expect(u.utxos.map((x) => [x.amount_sat, x.confirmations, x.address_type])).toEqual([[Number(WALLET_SAT), 1, 0]]);
    expect(u.utxos[0]!.address).toStartWith('bcrt1q');
    const v = await cli.json<{ lnd: { version: string; app_minor: number; build_tags: string[] } }>(['version']);
    expect(v.lnd.version).toStartWith('0.21.3-beta lnnode-');
    expect(v.lnd.app_minor).toBe(21);
    expect(v.lnd.build_tags).toEqual(['routerrpc', 'invoicesrpc']);
  }, 120_000);

  test('pendingchannels counts the funding\'s confirmations to go', async () => {
    const opened = await a.channels!.open(b.nodeId, { fundingSat: sat(FUNDING_SAT), fundingFeerate: FUNDING_FEERATE, channelType: 'anchors' });
    channelId = hex(opened.channelId);
    fundingTxid = opened.fundingTxid;
    fundingFee = await lab.fee(fundingTxid);
    type Pending = { pending_open_channels: { channel: { channel_point: string; capacity: string; initiator: string; commitment_type: string; local_chan_reserve_sat: string }; confirmations_until_active: number; confirmation_height: number }[] };
    const before = await cli.json<Pending>(['pendingchannels']);
    expect(before.pending_open_channels.map((p) => [p.channel.channel_point, p.channel.capacity, p.channel.initiator, p.channel.commitment_type, p.confirmations_until_active])).toEqual([
      [`${fundingTxid}:${opened.fundingVout}`, String(FUNDING_SAT), 'INITIATOR_LOCAL', 'ANCHORS', 3],
    ]);
    await lab.mine(1);
    const height = await lab.btcd.height();
    const one = await waitFor('one confirmation counted', async () => {
      const p = (await cli.json<Pending>(['pendingchannels'])).pending_open_channels[0];
      return p && p.confirmations_until_active === 2 ? p : undefined;
    });
    expect(one.confirmation_height).toBe(height);
    expect([channel().numbers.fundingConfirmations, channel().numbers.fundingBlocksToGo]).toEqual([1, 2]);
    const viaCli = (await lnnodeCli<CliChannels>('pendingchannels')).channels;
    expect(viaCli.map((c) => [c.state, c.funding_confirmations, c.funding_blocks_to_go, c.channel_value_sat])).toEqual([['awaiting_lock_in', 1, 2, String(FUNDING_SAT)]]);
    await lab.mine(2);
    for (const n of [a, b]) await lab.active(n, channelId);
    expect((await cli.json<Pending>(['pendingchannels'])).pending_open_channels).toEqual([]);
    scid = channel().shortChannelId!;
  }, 120_000);

  test('listchannels: reserves and csv delay; the maximum sendable is the balance less reserve, fee buffer and anchors', async () => {
    const ch = (await cli.json<{ channels: Record<string, unknown>[] }>(['listchannels'])).channels[0]!;
    expect([ch.local_chan_reserve_sat, ch.remote_chan_reserve_sat, ch.csv_delay]).toEqual(['5000', '5000', LAB_TO_SELF_DELAY]);
    expect((ch.local_constraints as Record<string, unknown>).chan_reserve_sat).toBe('5000');
    const c = channel();
    const bufferSat = (2n * BigInt(c.feeratePerKw) * (1124n + 2n * 172n)) / 1000n;
    expect(c.numbers.spendableMsat).toBe(msat((FUNDING_SAT - 5_000n - bufferSat - 660n) * 1000n));
    expect(c.numbers.receivableMsat).toBe(msat(0));
    const viaCli = (await lnnodeCli<CliChannels>('listchannels')).channels[0]!;
    expect([viaCli.spendable_msat, viaCli.receivable_msat, viaCli.local_reserve_sat, viaCli.csv_delay, viaCli.outbound_capacity_msat]).toEqual([
      String(c.numbers.spendableMsat),
      '0',
      '5000',
      LAB_TO_SELF_DELAY,
      String(FUNDING_SAT * 1000n),
    ]);
    expect((await lnnodeCli<CliChannels>('pendingchannels')).channels).toEqual([]);
    // One anchors channel: the wallet keeps the per-channel reserve for bumping its commitment.
    const w = await cli.json<{ reserved_balance_anchor_chan: string }>(['walletbalance']);
    expect(w.reserved_balance_anchor_chan).toBe(String(ANCHOR_RESERVE_SAT));
  }, 120_000);

  test('one sat more than the maximum is refused naming it; the maximum is paid with payinvoice, its HTLC shown', async () => {
    const maxMsat = channel().numbers.spendableMsat;
    const maxSat = maxMsat / 1000n;
    const tooMuch = b.invoices.create({ amountMsat: msat((maxSat + 1n) * 1000n) });
    const refused = await a.payments.pay(tooMuch.bolt11).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PaymentError);
    expect((refused as PaymentError).message).toContain(`at most ${maxMsat} msat (${maxSat} sat) can be sent now`);
    const cliRefused = await lnnodeCli('payinvoice', tooMuch.bolt11).catch((e: Error) => e.message);
    expect(cliRefused).toContain('FAILED_PRECONDITION');
    expect(cliRefused).toContain(`at most ${maxMsat} msat (${maxSat} sat) can be sent now`);
    const lncliRefused = await cli.run(['payinvoice', '--force', '--json', tooMuch.bolt11]);
    // lncli prints the failed payment (no HTLC went out) and exits 1.
    expect(lncliRefused.code).toBe(1);
    const failed = JSON.parse(lncliRefused.stdout) as { status: string; failure_reason: string; htlcs: unknown[]; value_sat: string };
    expect([failed.status, failed.failure_reason, failed.htlcs, failed.value_sat]).toEqual(['FAILED', 'FAILURE_REASON_NO_ROUTE', [], String(maxSat + 1n)]);

    const inv = b.invoices.create({ amountMsat: msat(maxSat * 1000n) });
    await lab.synced(a);
    type Pay = { status: string; value_sat: string; fee_sat: string; payment_preimage: string; htlcs: { status: string; route: { total_time_lock: number; total_amt: string; total_fees: string; hops: { chan_id: string; amt_to_forward: string; pub_key: string; expiry: number }[] } }[] };
    const paid = await cli.json<Pay>(['payinvoice', '--force', '--json', inv.bolt11]);
    expect([paid.status, paid.value_sat, paid.fee_sat, paid.payment_preimage]).toEqual(['SUCCEEDED', String(maxSat), '0', hex(inv.preimage)]);
    const scidU64 = (BigInt(scid.split('x')[0]!) << 40n) | (BigInt(scid.split('x')[1]!) << 16n) | BigInt(scid.split('x')[2]!);
    expect(paid.htlcs.map((h) => [h.status, h.route.total_amt, h.route.total_fees, h.route.hops.map((x) => [x.chan_id, x.amt_to_forward, x.pub_key])])).toEqual([
      ['SUCCEEDED', String(maxSat), '0', [[String(scidU64), String(maxSat), hex(b.nodeId)]]],
    ]);
    expect(b.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(maxSat * 1000n));
    // The HTLC's expiry: the tip plus the invoice's min_final_cltv_expiry_delta and the payer's safety blocks.
    const expiry = a.payments.get(inv.paymentHash)!.htlcCltvExpiry!;
    expect(expiry).toBe((await lab.btcd.height()) + inv.minFinalCltv + CLTV_SAFETY_BLOCKS);
    expect([paid.htlcs[0]!.route.total_time_lock, paid.htlcs[0]!.route.hops[0]!.expiry]).toEqual([expiry, expiry]);
    // lncli's table view: "Amount + fee" and one HTLC row.
    const tracked = await cli.run(['trackpayment', hex(inv.paymentHash)]);
    expect(tracked.code).toBe(0);
    expect(tracked.stdout).toMatch(new RegExp(`Amount \\+ fee:\\s+${maxSat} \\+ 0 sat`));
    expect(tracked.stdout).toContain('SUCCEEDED');
    expect(tracked.stdout).toMatch(new RegExp(`\\| SUCCEEDED +\\|.*\\| ${maxSat} +\\| 0 +\\| +${expiry} \\| ${scidU64} +\\| ${hex(b.nodeId).slice(0, 6)}`));
    const list = await cli.json<{ payments: (Pay & { payment_index: string })[] }>(['listpayments']);
    expect(list.payments.map((p) => [p.payment_index, p.status, p.value_sat, p.htlcs.length])).toEqual([['1', 'SUCCEEDED', String(maxSat), 1]]);
    const withFailed = await cli.json<{ payments: Pay[] }>(['listpayments', '--include_incomplete']);
    // The refused payment sent nothing and stored nothing (no_route before any HTLC): only the paid one is listed.
    expect(withFailed.payments.map((p) => p.status)).toEqual(['SUCCEEDED']);
    await lab.settled(a, b, channelId);
  }, 120_000);

  test('listinvoices and channelbalance after B pays A', async () => {
    const inv = await cli.json<{ payment_request: string; r_hash: string }>(['addinvoice', '--amt', String(RECEIVED_SAT)]);
    await lab.synced(b);
    await b.payments.pay(inv.payment_request);
    await lab.settled(a, b, channelId);
    const l = await cli.json<{ invoices: { r_hash: string; state: string; amt_paid_sat: string; add_index: string }[]; last_index_offset: string }>(['listinvoices']);
    expect(l.invoices.map((i) => [i.r_hash, i.state, i.amt_paid_sat, i.add_index])).toEqual([[inv.r_hash, 'SETTLED', String(RECEIVED_SAT), '1']]);
    expect(l.last_index_offset).toBe('1');
    const c = channel();
    const bal = await cli.json<{ local_balance: { sat: string }; remote_balance: { sat: string }; pending_open_local_balance: { sat: string } }>(['channelbalance']);
    const netLocal = c.localBalanceMsat / 1000n - c.commitFeeSat - 660n;
    expect([bal.local_balance.sat, bal.remote_balance.sat, bal.pending_open_local_balance.sat]).toEqual([String(netLocal), String(c.remoteBalanceMsat / 1000n), '0']);
    // Now A can receive what B can send: B's balance less the reserve A asks of it (B pays no fee).
    expect(c.numbers.receivableMsat).toBe(msat(c.remoteBalanceMsat - 5_000_000n));
  }, 120_000);

  test('listchaintxns: the faucet\'s coin in, the funding out with its fee; feereport: one channel at zero fees', async () => {
    const txs = await cli.json<{ transactions: { tx_hash: string; amount: string; total_fees: string; num_confirmations: number }[] }>(['listchaintxns']);
    const funding = txs.transactions.find((t) => t.tx_hash === fundingTxid)!;
    expect([funding.amount, funding.total_fees]).toEqual([String(-(FUNDING_SAT + fundingFee)), String(fundingFee)]);
    expect(funding.num_confirmations).toBeGreaterThanOrEqual(3);
    expect(txs.transactions.filter((t) => t.amount === String(WALLET_SAT)).length).toBe(1);
    // Paged: the oldest first, index_offset and max_transactions as lnd's.
    const first = await cli.json<{ transactions: { tx_hash: string }[]; last_index: string }>(['listchaintxns', '--max_transactions', '1']);
    const second = await cli.json<{ transactions: { tx_hash: string }[]; first_index: string }>(['listchaintxns', '--max_transactions', '1', '--index_offset', '1']);
    expect([first.transactions.length, first.last_index, second.first_index]).toEqual([1, '1', '1']);
    expect([first.transactions[0]!.tx_hash, second.transactions[0]!.tx_hash]).toEqual(txs.transactions.slice(0, 2).map((t) => t.tx_hash));
    const fees = await cli.json<{ channel_fees: { channel_point: string; base_fee_msat: string; fee_per_mil: string }[] }>(['feereport']);
    expect(fees.channel_fees.map((f) => [f.channel_point.split(':')[0], f.base_fee_msat, f.fee_per_mil])).toEqual([[fundingTxid, '0', '0']]);
  }, 120_000);

  test('force close: maturity height and limbo in pendingchannels, then closedchannels with height, type and settled balance', async () => {
    const [txid, vout] = [fundingTxid, String(channel().fundingVout)];
    const closing = await cli.json<{ closing_txid: string }>(['closechannel', '--force', '--funding_txid', txid, '--output_index', vout]);
    const c0 = channel();
    const toLocal = c0.localBalanceMsat / 1000n - c0.commitFeeSat - 660n;
    type Pending = {
      total_limbo_balance: string;
      waiting_close_channels: { closing_txid: string; limbo_balance: string; commitments: { local_txid: string } }[];
      pending_force_closing_channels: { closing_txid: string; limbo_balance: string; maturity_height: number; blocks_til_maturity: number; recovered_balance: string }[];
    };
    const waiting = await cli.json<Pending>(['pendingchannels']);
    expect(waiting.waiting_close_channels.map((w) => [w.closing_txid, w.limbo_balance, w.commitments.local_txid])).toEqual([[closing.closing_txid, String(toLocal), closing.closing_txid]]);
    await lab.mine(1);
    const closeHeight = await lab.btcd.height();
    const forced = await waitFor('the force close in pending_force_closing_channels', async () => {
      const p = await cli.json<Pending>(['pendingchannels']);
      return p.pending_force_closing_channels[0] ? p : undefined;
    });
    const f = forced.pending_force_closing_channels[0]!;
    expect([f.closing_txid, f.limbo_balance, f.maturity_height, f.blocks_til_maturity, f.recovered_balance]).toEqual([
      closing.closing_txid,
      String(toLocal),
      closeHeight + LAB_TO_SELF_DELAY,
      LAB_TO_SELF_DELAY,
      '0',
    ]);
    expect(forced.total_limbo_balance).toBe(String(toLocal));
    expect(limboSat(a)).toBe(toLocal);
    expect(channel().numbers.maturityHeight).toBe(closeHeight + LAB_TO_SELF_DELAY);
    const pendingCli = (await lnnodeCli<CliChannels>('pendingchannels')).channels;
    expect(pendingCli.map((x) => [x.state, x.close_kind, x.close_height, x.maturity_height, x.blocks_til_maturity, x.limbo_sat])).toEqual([
      ['closing', 'local', closeHeight, closeHeight + LAB_TO_SELF_DELAY, LAB_TO_SELF_DELAY, String(toLocal)],
    ]);
    expect((await lnnodeCli<{ limbo_sat: string }>('walletbalance')).limbo_sat).toBe(String(toLocal));

    await lab.mineUntil('the channel closed', () => channel().phase === 'closed', 40, 0);
    const sweeps = channel().sweepTxids;
    expect(sweeps.length).toBeGreaterThanOrEqual(1);
    const sweptSat = (await Promise.all(sweeps.map((s) => lab.outputs(s)))).flat().reduce((s, v) => s + v, 0n);
    const closed = await cli.json<{ channels: Record<string, unknown>[] }>(['closedchannels']);
    expect(closed.channels.map((x) => [x.channel_point, x.closing_tx_hash, x.close_height, x.close_type, x.open_initiator, x.close_initiator, x.settled_balance, x.time_locked_balance])).toEqual([
      [`${txid}:${vout}`, closing.closing_txid, closeHeight, 'LOCAL_FORCE_CLOSE', 'INITIATOR_LOCAL', 'INITIATOR_LOCAL', String(sweptSat), String(toLocal)],
    ]);
    expect((await cli.json<{ channels: unknown[] }>(['closedchannels', '--cooperative'])).channels).toEqual([]);
    const closedCli = (await lnnodeCli<CliChannels>('closedchannels')).channels;
    expect(closedCli.map((x) => [x.state, x.close_kind, x.close_height, x.settled_sat, x.time_locked_sat, x.limbo_sat])).toEqual([
      ['closed', 'local', closeHeight, String(sweptSat), String(toLocal), '0'],
    ]);
    expect((await lnnodeCli<{ limbo_sat: string }>('walletbalance')).limbo_sat).toBe('0');
    const after = await cli.json<Pending>(['pendingchannels']);
    expect([after.total_limbo_balance, after.pending_force_closing_channels.length]).toEqual(['0', 0]);
  }, 180_000);
});
