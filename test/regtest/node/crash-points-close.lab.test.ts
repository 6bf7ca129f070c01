// lab-peers: btcd
/**
 * Issue 14 "crash at every persistence point", for a fee update and for a
 * mutual close started by either side: the lnnode daemon A (a real process)
 * is SIGKILLed right after each durable write it makes (src/node/
 * fault-injection.ts), restarted on its data dir, and checked against B
 * (an in-process lnnode):
 * - fee update (A is the opener and follows the chain's estimate): both
 *   sides end on the new commitment feerate, A's balance is untouched, the
 *   channel stays normal and pays;
 * - mutual close: the one closing transaction that confirms is the
 *   cooperative one (B's summary says mutual, no commitment broadcast),
 *   B's output is exactly its balance and A's wallet gets exactly the rest
 *   less the closing fee. A restarted A is asked to close again, as an
 *   operator whose call was cut off would: that call either starts the
 *   close or joins the one A had stored.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { CLOSE_DEPTH } from '../../../src/node/channels/depths.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';
import { channelOf, ownedWallet, type CrashScenario, diedWithin, everyCrashPoint, freshChannel, restartConnected, withLogOf } from './crash-round.ts';
import { daemonWithChannel, settledBalance } from './daemon-channel.ts';

const CLOSE_FUNDING_SAT = 300_000n;
const CLOSE_PUSH_MSAT = 100_000_123n;
let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let feeChannel: Uint8Array;
const fault = faultArm('lab-crash-close-');

beforeAll(async () => {
  lab = await ChannelLab.start('crash-points-close');
  // One channel per mutual-close round: B keeps them all until each closes.
  b = lab.startNode('b', { channelLimits: { unfundedInboundPerPeer: 100, pendingInboundOpensPerPeer: 100 } });
  ({ a, channelId: feeChannel } = await daemonWithChannel(lab, b, { args: ['--log-level', 'debug'], env: fault.env }));
}, 120_000);

afterAll(async () => {
  fault.remove();
  await a?.stop();
  await lab?.stop();
});

// The estimate alternates between two rates far enough apart that each move is an update (up past +10%, down past half).
const RATES_SAT_VB = [6, 2] as const;
let feeRound = 0;

/** The chain's estimate moves; A, the opener, sends update_fee and signs, killed after its `killAt`-th write. */
async function feeUpdate(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of the fee update)`;
  const before = await settledBalance(api, b, feeChannel, why);
  const rate = RATES_SAT_VB[feeRound++ % 2]!;
  const perKw = rate * 250;
  lab.esplora.setFeeRate(rate);
  fault.arm(killAt);
  // A new block is when A reads the estimate again.
  await lab.btcd.generate(1);
  const killed = killAt !== undefined && (await diedWithin(a, 8_000));
  if (killed) api = await restartConnected(a, fault, b);
  await withLogOf(a, 
    waitFor(`both sides on ${perKw} sat/kw${why}`, async () => {
      const ca = await channelOf(api, feeChannel);
      const cb = b.channels!.get(feeChannel)!;
      return ca?.usable && ca.pendingHtlcs === 0 && ca.feeratePerKw === perKw && cb.feeratePerKw === perKw;
    }),
  );
  if (!killed) {
    await Bun.sleep(300);
    fault.disarm();
  }
  const after = await settledBalance(api, b, feeChannel, why);
  expect([killAt, after]).toEqual([killAt, before]);
  expect([killAt, b.channels!.get(feeChannel)!.phase]).toEqual([killAt, 'normal']);
  return killed;
}

/** A mutual close of a fresh channel started by `closer`, A killed after its `killAt`-th write of it. */
async function mutualClose(closer: 'A' | 'B', killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of a close started by ${closer})`;
  const channelId = await freshChannel(lab, api, b, CLOSE_FUNDING_SAT, CLOSE_PUSH_MSAT);
  const bSat = b.channels!.get(channelId)!.localBalanceMsat / 1000n;
  const walletBefore = await ownedWallet(api, why);
  fault.arm(killAt);
  const call =
    closer === 'A'
      ? api.closeChannel({ channelId }).then((r) => r.closingTxidHex, (e: Error) => e)
      : b.channels!.close(channelId).then((r) => r.closingTxid, (e: Error) => e);
  const killed = killAt !== undefined && (await diedWithin(a, 8_000));
  if (killed) {
    api = await restartConnected(a, fault, b);
    // The operator whose call was cut off asks again; B's own call is still waiting, or done.
    if (closer === 'A') await api.closeChannel({ channelId }).catch(() => undefined);
  }
  await call;
  const closingTxid = await withLogOf(a, 
    waitFor(`the mutual close agreed on both sides${why}`, async () => {
      const ca = await channelOf(api, channelId);
      const cb = b.channels!.get(channelId)!;
      return ca?.closingTxidHex && ca.closingTxidHex === cb.closingTxid ? cb.closingTxid : undefined;
    }, 60_000),
  );
  if (!killed) fault.disarm();
  expect([killAt, b.channels!.get(channelId)!.closeKind]).toEqual([killAt, 'mutual']);
  // Six blocks at once once the close is in the mempool (the depth a close is done at); then one at a time if it was not.
  await waitFor(`the closing transaction in the mempool${why}`, async () => (await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(closingTxid));
  await lab.mine(CLOSE_DEPTH);
  await lab.mineUntil(`the close confirmed and the channel forgotten on both sides${why}`, async () => (await channelOf(api, channelId))?.state === 'closed' && b.channels!.get(channelId)!.phase === 'closed', 30, 200);
  const fee = await lab.fee(closingTxid);
  const outs = await lab.outputs(closingTxid);
  expect([killAt, outs.length, outs.includes(bSat)]).toEqual([killAt, 2, true]);
  expect([killAt, outs.reduce((s, x) => s + x, 0n) + fee]).toEqual([killAt, CLOSE_FUNDING_SAT]);
  const aSat = CLOSE_FUNDING_SAT - bSat - fee;
  expect([killAt, await ownedWallet(api, why, walletBefore + aSat)]).toEqual([killAt, walletBefore + aSat]);
  return killed;
}

/** After every point the fee channel still pays, both ways. */
async function paysBothWays(): Promise<void> {
  const api = a.client();
  const out = b.invoices.create({ amountMsat: msat(10_000_000n), descriptionHash: sha256(new TextEncoder().encode('after, out')) });
  expect((await api.payInvoice({ paymentRequest: out.bolt11, timeoutSeconds: 30 })).paymentPreimage).toEqual(out.preimage);
  const inv = await api.createInvoice({ amountMsat: 10_000_000n, descriptionHash: sha256(new TextEncoder().encode('after, in')) });
  const paid = await b.payments.pay(inv.paymentRequest, { timeoutMs: 30_000 });
  expect(hex(sha256(paid.preimage!))).toBe(hex(inv.paymentHash));
}

const SCENARIOS: [string, CrashScenario][] = [
  ['fee update sent by A (the opener)', feeUpdate],
  ['mutual close started by A', (k) => mutualClose('A', k)],
  ['mutual close started by B', (k) => mutualClose('B', k)],
];

describe('SIGKILL right after each durable write of a fee update or a mutual close, then restart', () => {
  for (const [name, run] of SCENARIOS) test(name, () => everyCrashPoint(name, fault, run, paysBothWays), 600_000);
});
