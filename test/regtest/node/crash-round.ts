/**
 * What one round of a crash-point test does with the daemon A it kills:
 * wait to see whether A died at the armed write, restart it on its data
 * dir, and read back what A lists (channels, a settled wallet), with A's
 * last log records attached to any timeout so a failing point is readable.
 */
import { hex } from '../../../src/bolt/bytes.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { type ChannelLab } from '../../lab/channel-lab.ts';
import { type FaultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';

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

/** A's confirmed wallet once nothing is unconfirmed and it equals `want` (when given); the last figure seen if it never does. */
export async function confirmedWallet(api: LnnodeClient, why: string, want?: bigint): Promise<bigint> {
  let last = -1n;
  try {
    return await waitFor(`A's wallet settled${want === undefined ? '' : ` at ${want} sat`}${why}`, async () => {
      const w = await api.walletBalance({}).catch(() => undefined);
      if (!w || w.unconfirmedSat !== 0n) return undefined;
      last = w.confirmedSat;
      return want === undefined || w.confirmedSat === want ? w.confirmedSat : undefined;
    });
  } catch (e) {
    if (last >= 0n) return last;
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
