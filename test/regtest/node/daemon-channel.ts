/**
 * What the crash tests share: an lnnode daemon A (a real process, so it can
 * be SIGKILLed), funded and connected to an in-process lnnode node B (with
 * a channel to it, or not yet), and A's balance read once the two agree.
 */
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, type Msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { type ChannelLab } from '../../lab/channel-lab.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';

const FUNDING_SAT = 1_000_000n;

export interface DaemonOptions {
  args?: string[];
  env?: Record<string, string>;
}

/** A daemon A on the lab's Esplora with `sat` confirmed in its wallet, connected to B as a persistent peer. */
export async function fundedDaemon(lab: ChannelLab, b: LightningNode, sat: bigint, o: DaemonOptions = {}): Promise<LnnodeProcess> {
  const a = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200', ...(o.args ?? [])], env: o.env });
  const api = a.client();
  const { address } = await api.newAddress({});
  await lab.faucet.send(address, sat);
  await lab.btcd.generate(1);
  await waitFor('A funded', async () => (await api.walletBalance({})).confirmedSat === sat);
  await api.connectPeer({ peerPubkey: b.nodeId, addr: `127.0.0.1:${b.p2pPort}`, persistent: true });
  return a;
}

/** A funded with 3,000,000 sat, a 1,000,000-sat channel A -> B with 400,000 sat pushed to B (so B can pay A), active on both. */
export async function daemonWithChannel(lab: ChannelLab, b: LightningNode, o: DaemonOptions = {}): Promise<{ a: LnnodeProcess; channelId: Uint8Array }> {
  const a = await fundedDaemon(lab, b, 3_000_000n, o);
  const api = a.client();
  const { channelId } = await api.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: FUNDING_SAT, pushMsat: 400_000_000n });
  await lab.btcd.generate(3);
  await waitFor('channel usable on A', async () => (await api.listChannels({})).channels.find((c) => hex(c.channelId) === hex(channelId))?.usable);
  await lab.active(b, hex(channelId));
  return { a, channelId };
}

/** A's balance once no HTLC is pending and A and B agree on it; `why` goes in the timeout's message. */
export async function settledBalance(api: LnnodeClient, b: LightningNode, channelId: Uint8Array, why = ''): Promise<Msat> {
  return waitFor(
    `no HTLC pending and both sides agreeing${why}`,
    async () => {
      const ca = (await api.listChannels({}).catch(() => undefined))?.channels.find((c) => hex(c.channelId) === hex(channelId));
      const cb = b.channels!.get(channelId)!;
      if (ca?.usable && ca.pendingHtlcs === 0 && cb.pendingHtlcs === 0 && ca.outboundCapacityMsat === cb.remoteBalanceMsat) return msat(ca.outboundCapacityMsat);
      // Thrown, so a timeout says where each side stood.
      throw new Error(
        `A: ${ca ? `${ca.state}, usable ${ca.usable}, ${ca.pendingHtlcs} HTLCs, outbound ${ca.outboundCapacityMsat}` : 'not listed'}; ` +
          `B: ${cb.phase}, active ${cb.active}, ${cb.pendingHtlcs} HTLCs, A's balance ${cb.remoteBalanceMsat}`,
      );
    },
    60_000,
  );
}
