// lab-peers: btcd
/**
 * Issue 14 "crash at every persistence point", for an open as funder: the
 * lnnode daemon A (a real process) is SIGKILLed right after each durable
 * write it makes while opening a channel to B (an in-process lnnode), then
 * restarted on its data dir (src/node/fault-injection.ts). After each kill
 * and a few blocks, one of two things holds, and nothing in between:
 * - the channel opened: usable on both sides, its funding on chain, and A's
 *   wallet down by exactly the funding amount and its fee;
 * - it did not: A lists no channel for it, and A's wallet has every coin
 *   back, spendable (no coin left reserved for a funding nobody sends).
 * Two of these points once failed (a held funding stored before its channel
 * kept its coins locked; a funding the peer had signed was never broadcast):
 * ChannelManager.settleHeldFundings covers them.
 *
 * And for an open as fundee: B opens a channel to A, A is killed after each
 * of its writes. Either B's funding went out, and then A has the channel
 * (it stored it before its funding_signed could reach B) and it becomes
 * usable on both sides; or it did not, and B has every coin back: no coins
 * of B's in a 2-of-2 that A does not know.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { ConnectError } from '@connectrpc/connect';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type Sat } from '../../../src/bolt/units.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { diedWithin, fewestWrites, restartConnected, settledFigure, startCrashRig, stopCrashRig, withLogOf } from './crash-round.ts';

const OPEN_SAT = 200_000n;
let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
const fault = faultArm('lab-crash-open-');

beforeAll(async () => {
  ({ lab, a, b } = await startCrashRig('crash-points-open', fault));
  // B funds the opens of the fundee scenario: 200,000 sat each, up to about 30 rounds (counting runs included).
  await lab.fund(b, 10_000_000n);
}, 120_000);
afterAll(() => stopCrashRig({ lab, a }, fault));

/** A's wallet once nothing is unconfirmed: what a round starts from and ends at. */
async function settledWallet(api: LnnodeClient, why: string, expected?: (w: { confirmedSat: bigint; reservedSat: bigint }) => boolean) {
  let last: unknown;
  try {
    return await waitFor(`A's wallet settled ${why}`, async () => {
      const w = await api.walletBalance({}).catch(() => undefined);
      last = w;
      return w && w.unconfirmedSat === 0n && (!expected || expected(w)) ? w : undefined;
    });
  } catch (e) {
    // The figures it stopped at say more than the timeout.
    if (last) return last as Awaited<ReturnType<LnnodeClient['walletBalance']>>;
    throw e;
  }
}

async function liveChannels(api: LnnodeClient) {
  return (await api.listChannels({})).channels.filter((c) => c.state !== 'closed');
}

/** A opens a channel to B, killed after its `killAt`-th write; returns whether it was killed and whether the channel opened. */
async function aOpens(killAt: number | undefined): Promise<{ killed: boolean; opened: boolean }> {
  let api = a.client();
  const why = killAt === undefined ? '' : `(A killed after write ${killAt} of the open)`;
  const before = await settledWallet(api, `before the open ${why}`);
  const known = new Set((await liveChannels(api)).map((c) => hex(c.channelId)));
  fault.arm(killAt);
  const call = api.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: OPEN_SAT }).catch((e) => ConnectError.from(e));
  const killed = killAt !== undefined && (await diedWithin(a, 10_000));
  const answer = await call;
  if (killed) {
    fault.disarm();
    await a.restart({ kill: true });
    api = a.client();
    // Reconnected before a block: what A broadcasts at start is in the mempool by then.
    await waitFor(`A reconnected to B ${why}`, async () => (await api.listPeers({})).peers.some((p) => hex(p.peerPubkey) === hex(b.nodeId)));
  } else {
    // The writes after the call returned (the funding marked broadcast) still belong to the open.
    await Bun.sleep(500);
    fault.disarm();
  }
  await Bun.sleep(500);
  await lab.btcd.generate(3);
  const fresh = (await liveChannels(api)).filter((c) => !known.has(hex(c.channelId)));
  expect([killAt, fresh.length <= 1]).toEqual([killAt, true]);
  const ch = fresh[0];
  if (!ch) {
    if (!killed && !(answer instanceof ConnectError)) throw new Error(`the open succeeded but A lists no channel for it ${why}`);
    const after = await settledWallet(api, `after the open ${why}`, (w) => w.confirmedSat === before.confirmedSat);
    // Every coin back and free: nothing reserved for a funding that never went out.
    expect([killAt, after.confirmedSat, after.reservedSat]).toEqual([killAt, before.confirmedSat, 0n]);
    return { killed, opened: false };
  }
  const id = hex(ch.channelId);
  // Blocks keep coming, as on a real chain: a funding A sends again only after its restart's first wallet pass
  // (which can end after the three blocks above) confirms in a later one.
  let mined = Date.now();
  const usable = async () => {
    const c = (await api.listChannels({})).channels.find((x) => hex(x.channelId) === id);
    if (!c?.usable && Date.now() - mined > 2_000) {
      mined = Date.now();
      await lab.btcd.generate(1);
    }
    return c?.usable;
  };
  await waitFor(`the new channel usable on A ${why}`, usable, 30_000).catch(async (e: Error) => {
    // What A said since it started, and what it lists, say why.
    const said = a.logs().filter((r) => r.level === 'warn' || r.level === 'error' || /channel|funding|phase/.test(String(r.msg))).slice(-25);
    const listed = (await api.listChannels({})).channels.find((c) => hex(c.channelId) === id);
    throw new Error(`${e.message}\nA lists: ${JSON.stringify(listed, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? hex(v) : v))}\nA's log:\n${said.map((r) => JSON.stringify(r)).join('\n')}`);
  });
  await lab.active(b, id);
  const fee = await lab.fee(ch.fundingTxidHex);
  // The wallet follows the chain by polling: its change shows some polls after the spend.
  const want = before.confirmedSat - OPEN_SAT - fee;
  const after = await settledWallet(api, `after the open ${why}`, (w) => w.confirmedSat === want);
  expect([killAt, after.confirmedSat, after.reservedSat]).toEqual([killAt, want, 0n]);
  expect(b.channels!.get(ch.channelId)!.capacitySat as bigint).toBe(OPEN_SAT);
  return { killed, opened: true };
}

/** B's wallet once nothing is unconfirmed and (when given) `want` holds. */
async function bWallet(why: string, want?: bigint): Promise<bigint> {
  return settledFigure(`B's wallet settled${want === undefined ? '' : ` at ${want} sat`} ${why}`, want, async () => {
    await b.wallet!.sync();
    const w = b.wallet!.balance();
    return w.unconfirmedSat === 0n && w.reservedSat === 0n ? w.confirmedSat : undefined;
  });
}

/**
 * B opens a channel to A, A killed after its `killAt`-th write: of the open
 * and of the lock-in that follows (the arm stays until the channel is
 * usable on both sides, so the writes of channel_ready and of the blocks
 * on the way count too). Returns whether A was killed and whether the
 * channel opened.
 */
async function bOpens(killAt: number | undefined): Promise<{ killed: boolean; opened: boolean }> {
  let api = a.client();
  const why = killAt === undefined ? '' : `(A killed after write ${killAt} of an open as fundee)`;
  const before = await bWallet(`before the open ${why}`);
  let killed = false;
  const restartIfDead = async (ms: number): Promise<void> => {
    if (killed || killAt === undefined || !(await diedWithin(a, ms))) return;
    killed = true;
    api = await withLogOf(a, restartConnected(a, fault, b));
  };
  fault.arm(killAt);
  const call = b.channels!.open(fromHex(a.nodeId), { fundingSat: OPEN_SAT as Sat }).catch((e: Error) => e);
  // A dying before its funding_signed ends B's open (the peer left); after it, B's open has already resolved.
  await Promise.race([call, diedWithin(a, 10_000)]);
  const answer = await call;
  await restartIfDead(500);
  await lab.btcd.generate(3);
  const funding = answer instanceof Error ? undefined : answer;
  const onChain = funding !== undefined && (await lab.confirmations(funding.fundingTxid)) !== undefined;
  if (!onChain) {
    if (!killed) throw new Error(`B's open to A did not complete without a kill ${why}: ${answer instanceof Error ? answer.message : 'funding not on chain'}`);
    // No funding went out: every coin of B's back and free.
    expect([killAt, await bWallet(`after the open ${why}`, before)]).toEqual([killAt, before]);
    return { killed, opened: false };
  }
  // The funding is on chain: A must know the channel and use it, or B's coins would wait in a 2-of-2 for a signature that never comes.
  const id = hex(funding.channelId);
  await withLogOf(
    a,
    waitFor(`the channel B funded usable on A and B ${why}`, async () => {
      await restartIfDead(0);
      const c = (await api.listChannels({}).catch(() => undefined))?.channels.find((x) => hex(x.channelId) === id);
      const onB = b.channels!.get(funding.channelId);
      if (c?.usable && onB?.active) return true;
      await lab.btcd.generate(1);
      await Bun.sleep(300);
      return undefined;
    }, 60_000),
  );
  if (!killed) fault.disarm();
  const fee = await lab.fee(funding.fundingTxid);
  expect([killAt, await bWallet(`after the open ${why}`, before - OPEN_SAT - fee)]).toEqual([killAt, before - OPEN_SAT - fee]);
  return { killed, opened: true };
}

/**
 * Every crash point of one open: counted (fewestWrites), then one
 * round per write; the channel must still open afterwards without a crash.
 * Prints what each point ended in.
 */
async function everyOpenPoint(name: string, open: (killAt: number | undefined) => Promise<{ killed: boolean; opened: boolean }>): Promise<void> {
  // One loaded counting run saw 12 writes of an open as funder whose rounds made 6.
  const writes = await fewestWrites(fault, async () => expect((await open(undefined)).opened).toBe(true));
  expect(writes).toBeGreaterThan(0);
  let covered = 0;
  const outcomes: string[] = [];
  for (let k = 1; k <= writes; k++) {
    const r = await open(k);
    if (r.killed) covered++;
    outcomes.push(`${k}:${r.opened ? 'opened' : 'not opened'}`);
  }
  expect((await open(undefined)).opened).toBe(true);
  console.log(`crash points, ${name}: ${covered} of ${writes} writes of A killed at and recovered from (${outcomes.join(', ')})`);
  expect(covered).toBeGreaterThanOrEqual(Math.floor(writes * 0.8));
}

describe('SIGKILL right after each durable write of an open, then restart', () => {
  test('A opens a channel to B (A the funder)', () => everyOpenPoint('open as funder', aOpens), 600_000);
  test('B opens a channel to A (A the fundee)', () => everyOpenPoint('open as fundee', bOpens), 600_000);
});
