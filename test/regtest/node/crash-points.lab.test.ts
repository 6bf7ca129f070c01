// lab-peers: btcd
/**
 * Issue 14 "crash at every persistence point", for payments: an lnnode
 * daemon (a real process) is SIGKILLed right after each durable write it
 * makes while paying and while being paid (src/node/fault-injection.ts: the
 * store's commit hook, armed by a file the test writes when the scenario
 * starts), restarted on its data dir, and checked against its peer (an
 * lnnode node in the test's process):
 * - no payment both failed and settled: the payer's outcome matches the
 *   payee's invoice (succeeded with the right preimage iff settled);
 * - no msat lost: both sides agree on the balance, and it moved by exactly
 *   the amount iff the payment succeeded;
 * - no force close nobody asked for, and the channel pays again afterwards.
 * Each scenario is first run armed without a kill to count its writes; then
 * once per write. The test prints how many crash points it covered.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { ConnectError } from '@connectrpc/connect';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, type Msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { Payment_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { type CrashScenario, diedWithin, everyCrashPoint, withLogOf } from './crash-round.ts';
import { daemonWithChannel, settledBalance as settledBalanceOf } from './daemon-channel.ts';
import { waitFor } from '../../lab/processes.ts';

let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let channelId: Uint8Array;
const fault = faultArm('lab-crash-points-');

beforeAll(async () => {
  lab = await ChannelLab.start('crash-points');
  b = lab.startNode('b');
  ({ a, channelId } = await daemonWithChannel(lab, b, {
    // Debug logs (p2p in/out, phases) so a failing point can be read from the error.
    args: ['--log-level', 'debug'],
    env: fault.env,
  }));
}, 120_000);

afterAll(async () => {
  fault.remove();
  await a?.stop();
  await lab?.stop();
});

const settledBalance = (api: LnnodeClient, killAt?: number): Promise<Msat> =>
  withALog(settledBalanceOf(api, b, channelId, killAt === undefined ? '' : ` (A killed after write ${killAt} of the scenario)`));

async function restartA(): Promise<LnnodeClient> {
  fault.disarm();
  await a.restart({ kill: true });
  return a.client();
}

/** On a timeout, A's last log records go with the error: a crash point that fails on a loaded CI machine must be readable from its log. */
const withALog = <T>(p: Promise<T>): Promise<T> => withLogOf(a, p, 80);

function expectNoForceClose(): void {
  expect(b.channels!.get(channelId)!.phase).toBe('normal');
}

let round = 0;
const amountOf = (): Msat => msat(1_000_000n + BigInt(++round) * 1_013n);

/** A pays B one invoice; A is killed after its `killAt`-th write (none when undefined). Returns whether A was killed. */
async function aPays(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const before = await settledBalance(api);
  const amount = amountOf();
  const inv = b.invoices.create({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`a pays ${round}`)) });
  fault.arm(killAt);
  const call = api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e));
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  const answer = await call;
  if (killed) api = await restartA();
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, killAt);
  // Not killed: the count goes on until the exchange is over (the writes after the call returned count too).
  if (!killed) fault.disarm();
  const p = await withALog(waitFor(`the payment resolved on A (A killed after write ${killAt} of the scenario)`, async () => {
    const x = (await api.listPayments({})).payments.find((y) => hex(y.paymentHash) === hex(inv.paymentHash));
    // A payment refused before any HTLC went out is not stored: the call's answer is its outcome.
    if (!x && !killed && answer instanceof ConnectError) return 'refused' as const;
    return x && x.status !== Payment_Status.IN_FLIGHT ? x : undefined;
  }));
  const settled = b.invoices.get(inv.paymentHash)!.state === 'settled';
  if (p === 'refused') console.log(`crash points, A pays B, write ${killAt}: not reached, the payment was refused: ${(answer as ConnectError).message}`);
  expect([killAt, p !== 'refused' && p.status === Payment_Status.SUCCEEDED]).toEqual([killAt, settled]);
  if (settled && p !== 'refused') expect(hex(p.paymentPreimage)).toBe(hex(inv.preimage));
  expect(before - after).toBe(settled ? amount : 0n);
  expectNoForceClose();
  return killed;
}

/** B pays A one invoice; A (the payee) is killed after its `killAt`-th write. */
async function bPays(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const before = await settledBalance(api);
  const amount = amountOf();
  const inv = await api.createInvoice({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`b pays ${round}`)) });
  fault.arm(killAt);
  const paying = b.payments.pay(inv.paymentRequest, { timeoutMs: 90_000 }).catch((e: Error) => e);
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  if (killed) api = await restartA();
  await paying;
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, killAt);
  if (!killed) fault.disarm();
  const p = await waitFor(`the payment resolved on B (A killed after write ${killAt} of the scenario)`, () => {
    const x = b.payments.get(inv.paymentHash);
    return x && x.state !== 'in_flight' ? x : undefined;
  });
  const onA = (await api.listInvoices({})).invoices.find((x) => hex(x.paymentHash) === hex(inv.paymentHash))!;
  const settled = onA.amountReceivedMsat > 0n;
  expect([killAt, p.state === 'succeeded']).toEqual([killAt, settled]);
  if (settled) {
    expect(hex(sha256(p.preimage!))).toBe(hex(inv.paymentHash));
    expect(onA.amountReceivedMsat).toBe(amount);
  }
  expect(after - before).toBe(settled ? amount : 0n);
  expectNoForceClose();
  return killed;
}

/** Payments each way in the interleaved scenario (the "10 payments both ways interleaved"). */
const EACH_WAY = 5;

/**
 * Ten payments at once, five each way, A killed after its `killAt`-th
 * write: each payment is checked on its own (outcome on both sides), and
 * A's balance moved by exactly what it received less what it paid.
 */
async function interleaved(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const before = await settledBalance(api);
  const out = Array.from({ length: EACH_WAY }, amountOf).map((amount, i) => ({ amount, inv: b.invoices.create({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`mix out ${round} ${i}`)) }) }));
  const inn = await Promise.all(
    Array.from({ length: EACH_WAY }, amountOf).map(async (amount, i) => ({ amount, inv: await api.createInvoice({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode(`mix in ${round} ${i}`)) }) })),
  );
  fault.arm(killAt);
  const calls = [
    ...out.map((o) => api.payInvoice({ paymentRequest: o.inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e))),
    ...inn.map((o) => b.payments.pay(o.inv.paymentRequest, { timeoutMs: 90_000 }).catch((e: Error) => e)),
  ];
  let killed = killAt !== undefined && (await diedWithin(a, 15_000));
  if (killed) api = await restartA();
  await Promise.all(calls);
  // A loaded machine can reach the armed write after the wait above: a death seen now is restarted too.
  if (!killed && killAt !== undefined && (await diedWithin(a, 0))) [killed, api] = [true, await restartA()];
  const after = await settledBalance(api, killAt);
  if (!killed) fault.disarm();
  let delta = 0n;
  const ours = new Set(out.map((o) => hex(o.inv.paymentHash)));
  // A call the kill cut off before A stored it never became a payment: it must not be paid either.
  const payments = await withALog(waitFor('no payment in flight on A', async () => {
    const ps = (await api.listPayments({})).payments.filter((p) => ours.has(hex(p.paymentHash)));
    return ps.some((p) => p.status === Payment_Status.IN_FLIGHT) ? undefined : ps;
  }));
  for (const o of out) {
    const p = payments.find((y) => hex(y.paymentHash) === hex(o.inv.paymentHash));
    const settled = b.invoices.get(o.inv.paymentHash)!.state === 'settled';
    expect([killAt, 'out', p?.status === Payment_Status.SUCCEEDED]).toEqual([killAt, 'out', settled]);
    if (settled) delta -= o.amount;
  }
  const listed = (await api.listInvoices({})).invoices;
  for (const o of inn) {
    const p = await waitFor('the payment resolved on B', () => {
      const x = b.payments.get(o.inv.paymentHash);
      return x && x.state !== 'in_flight' ? x : undefined;
    });
    const settled = listed.find((x) => hex(x.paymentHash) === hex(o.inv.paymentHash))!.amountReceivedMsat > 0n;
    expect([killAt, 'in', p.state === 'succeeded']).toEqual([killAt, 'in', settled]);
    if (settled) delta += o.amount;
  }
  expect(after - before).toBe(delta);
  expectNoForceClose();
  return killed;
}

const SCENARIOS: [string, CrashScenario][] = [
  ['A pays B', aPays],
  ['B pays A', bPays],
  ['ten payments at once, five each way', interleaved],
];

describe('SIGKILL right after each durable write of a payment, then restart', () => {
  for (const [name, run] of SCENARIOS) {
    // Afterwards the channel still pays both ways without a crash.
    const after = async (): Promise<void> => {
      await aPays(undefined);
      await bPays(undefined);
    };
    test(name, () => everyCrashPoint(name, fault, run, after), 600_000);
  }
});
