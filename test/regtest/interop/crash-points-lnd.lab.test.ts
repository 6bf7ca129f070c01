// lab-peers: btcd lnd
/**
 * Issue 14 "crash at every persistence point", against lnd: the lnnode
 * daemon A (a real process) with a channel to a real lnd is SIGKILLed
 * right after a sample of its durable writes while paying lnd and while
 * being paid by it, restarted on its data dir, and checked against lnd:
 * - the payer's outcome matches the payee's (succeeded with the preimage
 *   iff the invoice settled), nothing paid twice;
 * - no msat lost: lnd's balances agree with A's, and A's moved by exactly
 *   the amount iff the payment succeeded;
 * - no force close: lnd still has the channel active, nothing waiting to
 *   close, and the channel pays both ways afterwards.
 * Every point is run against an lnnode peer (test/regtest/node/crash-points);
 * here a seeded sample is, each run another one: the seed is printed, and
 * `LNNODE_CRASH_SEED=<seed>` runs that sample again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { ConnectError } from '@connectrpc/connect';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { Payment_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { lndOpenerCommitCostMsat, startLnd, type Lnd } from '../../lab/lnd.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';
import { type CrashScenario, diedWithin, everyCrashPoint, sampledPoints, withLogOf } from '../node/crash-round.ts';

const WAIT_MS = 90_000;
const FUNDING_SAT = 1_000_000n;
const PUSH_MSAT = 400_000_000n;
/** Points per scenario: each round costs a restart and a reestablish with lnd (a few seconds). */
const SAMPLE = 6;
const SEED = Number(process.env.LNNODE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

let lab: ChannelLab;
let lnd: Lnd;
let a: LnnodeProcess;
let channelId: Uint8Array;
const fault = faultArm('lab-crash-lnd-');

interface LndChannel {
  chan_id: string;
  active: boolean;
  fee_per_kw: string;
  commitment_type: string;
  pending_htlcs?: unknown[];
}
const lndChannels = async (): Promise<LndChannel[]> => (await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? [];

beforeAll(async () => {
  console.log(`crash points against lnd: seed ${SEED} (LNNODE_CRASH_SEED=${SEED} draws the same points)`);
  lab = await ChannelLab.start('crash-points-lnd');
  lnd = await startLnd(lab.btcd);
  a = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200', '--log-level', 'debug'], env: fault.env });
  const api = a.client();
  const { address } = await api.newAddress({});
  await lab.faucet.send(address, 3_000_000n);
  await lab.btcd.generate(1);
  await waitFor('A funded', async () => (await api.walletBalance({})).confirmedSat === 3_000_000n);
  await api.connectPeer({ peerPubkey: fromHex(lnd.nodeId), addr: `127.0.0.1:${lnd.p2pPort}`, persistent: true });
  ({ channelId } = await api.openChannel({ peerPubkey: fromHex(lnd.nodeId), localFundingAmountSat: FUNDING_SAT, pushMsat: PUSH_MSAT }));
  await lab.btcd.generate(6);
  await waitFor('channel usable on A', async () => (await channelOf(api))?.usable, WAIT_MS);
  // lnd pays over the channel only once it has it in its graph.
  const probe = await api.createInvoice({ amountMsat: 1_000n, descriptionHash: sha256(new TextEncoder().encode('probe')) });
  await waitFor('lnd can pay over the channel', async () => (await lndPays(probe.paymentRequest)).ok, WAIT_MS);
}, 240_000);

afterAll(async () => {
  fault.remove();
  await a?.stop();
  await lnd?.stop();
  await lab?.stop();
});

const channelOf = async (api: LnnodeClient) => (await api.listChannels({})).channels.find((c) => hex(c.channelId) === hex(channelId));

async function lndPays(bolt11: string): Promise<{ ok: boolean; preimage?: string }> {
  const updates = await lnd.restAll<{ status: string; payment_preimage: string }>('/v2/router/send', { payment_request: bolt11, timeout_seconds: 60, fee_limit_sat: '100' });
  const last = updates.at(-1);
  return last?.status === 'SUCCEEDED' ? { ok: true, preimage: last.payment_preimage } : { ok: false };
}

/** A's balance (msat) once neither side has an HTLC pending, after checking lnd agrees to the msat. */
async function settledBalance(api: LnnodeClient, why: string): Promise<bigint> {
  const c = await withLogOf(a, waitFor(`the channel usable without pending HTLCs on both sides${why}`, async () => {
    const x = await channelOf(api);
    const [l] = await lndChannels();
    if (x?.usable && x.pendingHtlcs === 0 && l?.active && (l.pending_htlcs ?? []).length === 0) return x;
    throw new Error(`A: usable ${x?.usable}, ${x?.pendingHtlcs} HTLCs pending; lnd: active ${l?.active}, ${(l?.pending_htlcs ?? []).length} HTLCs pending`);
  }, WAIT_MS));
  const [l] = await lndChannels();
  // We opened: lnd's view of our side is net of the commitment's fee and anchors.
  const fee = lndOpenerCommitCostMsat(l!);
  const b = await lnd.rest<{ local_balance: { msat: string }; remote_balance: { msat: string } }>('GET', '/v1/balance/channels');
  expect([BigInt(b.local_balance.msat), BigInt(b.remote_balance.msat)]).toEqual([c.inboundCapacityMsat, c.outboundCapacityMsat - fee]);
  return c.outboundCapacityMsat;
}

/** lnd never saw cause to close: the one channel still open and active, nothing pending close. */
async function expectNoForceClose(killAt: number | undefined): Promise<void> {
  const pending = await lnd.rest<{ waiting_close_channels?: unknown[]; pending_force_closing_channels?: unknown[] }>('GET', '/v1/channels/pending');
  const [l] = await lndChannels();
  expect([killAt, l?.active, pending.waiting_close_channels ?? [], pending.pending_force_closing_channels ?? []]).toEqual([killAt, true, [], []]);
}

async function restartA(): Promise<LnnodeClient> {
  fault.disarm();
  await a.restart({ kill: true });
  return a.client();
}

let round = 0;
const amountOf = (): bigint => 2_000_000n + BigInt(++round) * 1_013n;

/** A pays lnd one invoice; A is killed after its `killAt`-th write (none when undefined). Returns whether it was. */
async function aPays(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of paying lnd, seed ${SEED})`;
  const before = await settledBalance(api, why);
  const amount = amountOf();
  const inv = await lnd.rest<{ payment_request: string; r_hash: string }>('POST', '/v1/invoices', {
    value_msat: amount.toString(),
    description_hash: Buffer.from(sha256(new TextEncoder().encode(`a pays lnd ${round}`))).toString('base64'),
  });
  const hash = Buffer.from(inv.r_hash, 'base64').toString('hex');
  fault.arm(killAt);
  const call = api.payInvoice({ paymentRequest: inv.payment_request, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e));
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  const answer = await call;
  if (killed) api = await restartA();
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, why);
  if (!killed) fault.disarm();
  const p = await withLogOf(a, waitFor(`the payment resolved on A${why}`, async () => {
    const x = (await api.listPayments({})).payments.find((y) => hex(y.paymentHash) === hash);
    if (!x && !killed && answer instanceof ConnectError) return 'refused' as const;
    return x && x.status !== Payment_Status.IN_FLIGHT ? x : undefined;
  }));
  const onLnd = await lnd.rest<{ state: string; amt_paid_msat: string }>('GET', `/v1/invoice/${hash}`);
  const settled = onLnd.state === 'SETTLED';
  expect([killAt, p !== 'refused' && p.status === Payment_Status.SUCCEEDED]).toEqual([killAt, settled]);
  if (settled && p !== 'refused') {
    expect(hex(sha256(p.paymentPreimage))).toBe(hash);
    expect(BigInt(onLnd.amt_paid_msat)).toBe(amount);
  }
  expect([killAt, before - after]).toEqual([killAt, settled ? amount : 0n]);
  await expectNoForceClose(killAt);
  return killed;
}

/** lnd pays A one invoice; A (the payee) is killed after its `killAt`-th write. */
async function lndPaysA(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of being paid by lnd, seed ${SEED})`;
  const before = await settledBalance(api, why);
  const amount = amountOf();
  const inv = await api.createInvoice({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`lnd pays a ${round}`)) });
  fault.arm(killAt);
  const paying = lndPays(inv.paymentRequest).catch(() => ({ ok: false, preimage: undefined }));
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  if (killed) api = await restartA();
  const outcome = await paying;
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, why);
  if (!killed) fault.disarm();
  const onA = (await api.listInvoices({})).invoices.find((x) => hex(x.paymentHash) === hex(inv.paymentHash))!;
  const settled = onA.amountReceivedMsat > 0n;
  const paid = await lndPayment(hex(inv.paymentHash), why);
  expect([killAt, paid.status === 'SUCCEEDED']).toEqual([killAt, settled]);
  if (outcome.ok) expect([killAt, settled]).toEqual([killAt, true]);
  if (settled) {
    expect(hex(sha256(fromHex(paid.payment_preimage)))).toBe(hex(inv.paymentHash));
    expect(onA.amountReceivedMsat).toBe(amount);
  }
  expect([killAt, after - before]).toEqual([killAt, settled ? amount : 0n]);
  await expectNoForceClose(killAt);
  return killed;
}

type LndPayment = { payment_hash: string; status: string; payment_preimage: string };
/** lnd's record of its payment of `hash` once it is over (its send stream can end first, on its own timeout while A was down). */
const lndPayment = (hash: string, why: string): Promise<LndPayment> =>
  waitFor(`lnd's payment resolved${why}`, async () => {
    const r = await lnd.rest<{ payments?: LndPayment[] }>('GET', '/v1/payments?include_incomplete=true');
    const x = (r.payments ?? []).find((y) => y.payment_hash === hash);
    return x && x.status !== 'IN_FLIGHT' ? x : undefined;
  }, WAIT_MS);

/** Two payments each way at once, A killed after its `killAt`-th write: each checked on both sides, A's balance moved by exactly what it received less what it paid. */
async function interleaved(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of four payments at once with lnd, seed ${SEED})`;
  const before = await settledBalance(api, why);
  const out = await Promise.all(
    [amountOf(), amountOf()].map(async (amount, i) => {
      const inv = await lnd.rest<{ payment_request: string; r_hash: string }>('POST', '/v1/invoices', {
        value_msat: amount.toString(),
        description_hash: Buffer.from(sha256(new TextEncoder().encode(`mix to lnd ${round} ${i}`))).toString('base64'),
      });
      return { amount, bolt11: inv.payment_request, hash: Buffer.from(inv.r_hash, 'base64').toString('hex') };
    }),
  );
  const inn = await Promise.all(
    [amountOf(), amountOf()].map(async (amount, i) => ({ amount, inv: await api.createInvoice({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`mix from lnd ${round} ${i}`)) }) })),
  );
  fault.arm(killAt);
  const calls: Promise<unknown>[] = [
    ...out.map((o) => api.payInvoice({ paymentRequest: o.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e))),
    ...inn.map((o) => lndPays(o.inv.paymentRequest).catch(() => undefined)),
  ];
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  if (killed) api = await restartA();
  await Promise.all(calls);
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, why);
  if (!killed) fault.disarm();
  const ours = new Set(out.map((o) => o.hash));
  // A call the kill cut off before A stored it never became a payment: it must not be paid either.
  const payments = await withLogOf(a, waitFor(`no payment in flight on A${why}`, async () => {
    const ps = (await api.listPayments({})).payments.filter((p) => ours.has(hex(p.paymentHash)));
    return ps.some((p) => p.status === Payment_Status.IN_FLIGHT) ? undefined : ps;
  }));
  let delta = 0n;
  for (const o of out) {
    const p = payments.find((y) => hex(y.paymentHash) === o.hash);
    const settled = (await lnd.rest<{ state: string }>('GET', `/v1/invoice/${o.hash}`)).state === 'SETTLED';
    expect([killAt, 'to lnd', p?.status === Payment_Status.SUCCEEDED]).toEqual([killAt, 'to lnd', settled]);
    if (settled) delta -= o.amount;
  }
  const listed = (await api.listInvoices({})).invoices;
  for (const o of inn) {
    const settled = listed.find((x) => hex(x.paymentHash) === hex(o.inv.paymentHash))!.amountReceivedMsat > 0n;
    expect([killAt, 'from lnd', (await lndPayment(hex(o.inv.paymentHash), why)).status === 'SUCCEEDED']).toEqual([killAt, 'from lnd', settled]);
    if (settled) delta += o.amount;
  }
  expect([killAt, after - before]).toEqual([killAt, delta]);
  await expectNoForceClose(killAt);
  return killed;
}

const SCENARIOS: [string, CrashScenario][] = [
  ['A pays lnd', aPays],
  ['lnd pays A', lndPaysA],
  ['four payments at once, two each way', interleaved],
];

describe('lnnode SIGKILLed right after a sample of its durable writes of a payment with lnd, then restarted', () => {
  for (const [i, [name, run]] of SCENARIOS.entries()) {
    const after = async (): Promise<void> => {
      await aPays(undefined);
      await lndPaysA(undefined);
    };
    test(name, () => everyCrashPoint(`${name} (seed ${SEED})`, fault, run, after, sampledPoints(SEED + i, SAMPLE)), 600_000);
  }
});
