/**
 * What one round of a crash-point test does with the daemon A it kills:
 * wait to see whether A died at the armed write, restart it on its data
 * dir, and read back what A lists (channels, a settled wallet), with A's
 * last log records attached to any timeout so a failing point is readable.
 */
export { sampledPoints } from '../../support/sampled-points.ts';
import { hex } from '../../../src/bolt/bytes.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { type FaultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';
import { fundedDaemon } from './daemon-channel.ts';

/** Whether A died by its own hand (the armed write was reached) within `ms`. */
export function diedWithin(a: LnnodeProcess, ms: number): Promise<boolean> {
  return Promise.race([a.proc.exited.then(() => true), Bun.sleep(ms).then(() => false)]);
}

/** A started again on its data dir (disarmed), back in touch with B. */
export async function restartConnected(a: LnnodeProcess, fault: FaultArm, b: LightningNode): Promise<LnnodeClient> {
  fault.disarm();
  await a.restart({ kill: true });
  const api = a.client();
  await waitFor('A reconnected to B', async () => (await api.listPeers({})).peers.some((p) => hex(p.peerPubkey) === hex(b.nodeId)));
  return api;
}

/** On a failure, A's last log records go with the error. */
export async function withLogOf<T>(a: LnnodeProcess, p: Promise<T>, records = 60): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const tail = a.logs().slice(-records).map((r) => JSON.stringify(r)).join('\n');
    throw new Error(`${(e as Error).message}\nA's last log records:\n${tail}`);
  }
}

export async function channelOf(api: LnnodeClient, id: Uint8Array) {
  return (await api.listChannels({ includeClosed: true })).channels.find((c) => hex(c.channelId) === hex(id));
}

/**
 * What A's wallet owns (confirmed coins, those reserved for a transaction of
 * ours included) once nothing is unconfirmed, and equal to `want` when
 * given; the last figure seen if it never is. Reserved coins count: one held
 * for a child that can no longer confirm (a CPFP of a commitment the peer's
 * beat) is A's, and comes back when the wallet releases it, so leaving it
 * out made a later figure look larger than the sum.
 */
export async function ownedWallet(api: LnnodeClient, why: string, want?: bigint): Promise<bigint> {
  return settledFigure(`A's wallet settled${want === undefined ? '' : ` at ${want} sat`}${why}`, want, async () => {
    const w = await api.walletBalance({}).catch(() => undefined);
    // Without a target (the figure a round starts from) nothing may be reserved either: for a moment after one of our
    // transactions confirms, its inputs can still read reserved while its change is already confirmed.
    if (!w || w.unconfirmedSat !== 0n || (want === undefined && w.reservedSat !== 0n)) return undefined;
    return w.confirmedSat + w.reservedSat;
  });
}

/**
 * Waits until `read` gives a figure (undefined while it is not settled)
 * equal to `want`, or any figure when no `want`; on a timeout, the last
 * figure read if there was one, so the caller's comparison says more than
 * the timeout would.
 */
export async function settledFigure(what: string, want: bigint | undefined, read: () => Promise<bigint | undefined>): Promise<bigint> {
  let last: bigint | undefined;
  try {
    return await waitFor(what, async () => {
      const x = await read();
      if (x !== undefined) last = x;
      return x !== undefined && (want === undefined || x === want) ? x : undefined;
    });
  } catch (e) {
    if (last !== undefined) return last;
    throw e;
  }
}

/** A fresh channel A -> B of `fundingSat` with `pushMsat` on B's side, usable on both. */
export async function freshChannel(lab: ChannelLab, api: LnnodeClient, b: LightningNode, fundingSat: bigint, pushMsat: bigint): Promise<Uint8Array> {
  const { channelId } = await api.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: fundingSat, pushMsat });
  await lab.btcd.generate(3);
  await waitFor('the new channel usable on A', async () => (await channelOf(api, channelId))?.usable);
  await lab.active(b, hex(channelId));
  return channelId;
}

/** One crash-point scenario: run once with A killed after its `killAt`-th write (none when undefined); says whether A was killed. */
export type CrashScenario = (killAt: number | undefined) => Promise<boolean>;

/**
 * The writes of a scenario, as `count` (one run of it armed without a
 * kill) makes them: run twice, the fewer kept. A count includes writes that
 * follow blocks and wallet passes; one counting run on a loaded machine saw
 * 19 writes of a fee update whose later rounds made 9 or 10.
 */
export async function fewestWrites(fault: FaultArm, count: () => Promise<unknown>): Promise<number> {
  await count();
  const first = fault.counted();
  await count();
  return Math.min(first, fault.counted());
}

/**
 * A scenario at every crash point: its writes counted (fewestWrites), then
 * one run per write with A killed right after it; `after` checks the
 * channel still works. Prints the coverage; a run can take
 * another path than the counting one (concurrent payments interleave
 * differently, blocks come at other moments), so most points, not all,
 * must be reached. `LNNODE_CRASH_POINT=<n>` runs point n alone.
 */
export async function everyCrashPoint(name: string, fault: FaultArm, run: CrashScenario, after?: () => Promise<void>, pick?: (writes: number) => number[]): Promise<void> {
  const writes = await fewestWrites(fault, () => run(undefined));
  if (writes <= 0) throw new Error(`crash points, ${name}: the counting run made no durable write`);
  const only = Number(process.env.LNNODE_CRASH_POINT ?? 0);
  const points = only ? [only] : pick ? pick(writes) : Array.from({ length: writes }, (_, i) => i + 1);
  let covered = 0;
  for (const k of points) if (await run(k)) covered++;
  await after?.();
  const which = pick && !only ? ` (points ${points.join(', ')})` : '';
  console.log(`crash points, ${name}: ${covered} of ${points.length} writes${pick ? ` sampled from ${writes}` : ''} of A killed at and recovered from${which}`);
  const want = only ? 0 : Math.floor(points.length * 0.8);
  if (covered < want) throw new Error(`crash points, ${name}: only ${covered} of ${points.length} points reached (at least ${want} must be)`);
}

/** The processes a crash round works on: the lab's chain, the daemon A it kills, its in-process peer B, and A's fault arm. */
export interface CrashRig {
  lab: ChannelLab;
  a: LnnodeProcess;
  b: LightningNode;
  fault: FaultArm;
}

/**
 * The usual rig: a lab chain, an in-process B with room for the many opens
 * a crash test leaves behind (each round opens one; those A never funded
 * wait there), and a daemon A with `aSat` in its wallet, logging at debug
 * level (a failing point is read from its log) and armed by `fault`.
 */
export async function startCrashRig(name: string, fault: FaultArm, aSat = 5_000_000n): Promise<CrashRig> {
  const lab = await ChannelLab.start(name);
  const b = lab.startNode('b', { channelLimits: { unfundedInboundPerPeer: 100, pendingInboundOpensPerPeer: 100 } });
  const a = await fundedDaemon(lab, b, aSat, { args: ['--log-level', 'debug'], env: fault.env });
  return { lab, a, b, fault };
}

/** Stops what startCrashRig started (whatever part of it did start). */
export async function stopCrashRig(r: Partial<CrashRig>, fault: FaultArm): Promise<void> {
  fault.remove();
  await r.a?.stop();
  await r.lab?.stop();
}

/**
 * Until A has acted on btcd's tip (its sweeps broadcast) and B has too, or
 * A died: what a round waits for after mining, instead of a fixed pause.
 */
async function handledTip({ lab, a, b }: Pick<CrashRig, 'lab' | 'a' | 'b'>, api: LnnodeClient): Promise<void> {
  const height = await lab.btcd.height();
  await waitFor(`A to handle height ${height}`, async () => (await diedWithin(a, 0)) || ((await api.getNodeInfo({}).catch(() => undefined))?.handledHeight ?? 0) >= height);
  await lab.synced(b, height);
}

/**
 * Blocks keep coming whether A is up or not, until A has swept all and
 * forgotten the channel: six at a time, so the writes that follow each new
 * tip (header, tip, wallet pass) come a few times, not once for every
 * block; each batch once A and B have handled the last. A that died at its
 * armed write is restarted, and `onRestart` runs on the new API (an
 * operator repeating a call the crash cut off).
 */
export async function mineUntilClosed(
  { lab, a, b, fault }: CrashRig,
  api: LnnodeClient,
  channelId: Uint8Array,
  killAt: number | undefined,
  why: string,
  onRestart?: (api: LnnodeClient) => Promise<void>,
): Promise<{ api: LnnodeClient; killed: boolean }> {
  let killed = false;
  const deadline = Date.now() + 120_000;
  for (;;) {
    // A restart that fails (a daemon that cannot start on what the crash left) ends the round with its log.
    if (!killed && killAt !== undefined && (await diedWithin(a, 0))) {
      killed = true;
      api = await withLogOf(a, restartConnected(a, fault, b));
      await onRestart?.(api);
    }
    await lab.btcd.generate(6);
    await handledTip({ lab, a, b }, api);
    if ((await channelOf(api, channelId).catch(() => undefined))?.state === 'closed') return { api, killed };
    if (Date.now() > deadline) {
      const alive = (() => {
        try {
          return process.kill(a.proc.pid, 0);
        } catch {
          return false;
        }
      })();
      const state = `A ${killed ? 'was killed and restarted' : 'was not seen dying'}, pid ${a.proc.pid} ${alive ? 'running' : 'gone'}, writes counted ${fault.counted()}, log ${a.proc.logFile}`;
      await withLogOf(a, Promise.reject(new Error(`timed out waiting for A to sweep and forget the channel${why}: ${state}`)));
    }
  }
}

/**
 * What A's confirmed CPFP children of commitment `closingTxid` changed in
 * its wallet besides their fee: each spends the commitment's anchor (330
 * sat that the sums count as gone) with wallet coins and pays the change
 * back, so the wallet is up by the anchor less the child's fee. (A fee
 * bump of an HTLC transaction spends an HTLC output instead: its fee is
 * counted with the close's other transactions.)
 */
export async function confirmedAnchorChildren(api: LnnodeClient, lab: ChannelLab, closingTxid: string): Promise<bigint> {
  const values = await lab.outputs(closingTxid);
  const { transactions } = await api.listWalletTransactions({});
  let delta = 0n;
  for (const t of transactions) {
    if (t.purpose !== 'fee-bump') continue;
    const anchor = t.inputs.some((i) => i.startsWith(`${closingTxid}:`) && values[Number(i.split(':')[1])] === ANCHOR_SAT);
    // In a block is what counts: the wallet calls it confirmed only 6 deep, and a round can end before that.
    if (anchor && ((await lab.confirmations(t.txidHex)) ?? 0) > 0) delta += ANCHOR_SAT - t.feeSat;
  }
  return delta;
}
