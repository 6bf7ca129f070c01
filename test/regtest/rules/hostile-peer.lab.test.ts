// lab-peers: btcd
/**
 * The hostile peer played honestly against a real lnnode daemon: as opener
 * and as acceptor, payments both ways, a reconnection. Proves the harness
 * (test/lab/hostile-peer*.ts) speaks BOLT 2 correctly, so that when the
 * receiver-rule table makes it deviate in one field, only that field is wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { type OpenChannelMessage } from '../../../src/bolt/bolt2/channel/open.ts';
import { decodeInvoice } from '../../../src/bolt/bolt11/invoice.ts';
import { type CltvExpiry, msat, sat } from '../../../src/bolt/units.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { HostilePeer } from '../../lab/hostile-peer.ts';
import { acceptChannel, fundingSigned, type HostileChannel, hostileInvoice, openChannel, paymentOnion } from '../../lab/hostile-peer-channel.ts';
import { fundOutputs } from '../../lab/hostile-peer-chain.ts';
import { Victim } from '../../lab/hostile-peer-victim.ts';
import { waitFor } from '../../lab/processes.ts';

let lab: ChannelLab;
let victim: Victim;
let peer: HostilePeer;

beforeAll(async () => {
  lab = await ChannelLab.start('hostile-peer');
  await lab.btcd.generate(20);
  victim = await Victim.start(lab);
  const { address } = await victim.api.newAddress({});
  await lab.faucet.send(address, 1_000_000n);
  await lab.btcd.generate(1);
  await waitFor('the node sees its coins confirmed', async () => (await victim.wallet()).confirmed >= 1_000_000n);
  peer = await HostilePeer.connect(victim.target());
}, 120_000);

afterAll(async () => {
  await peer?.disconnect();
  await victim?.stop();
  await lab?.stop();
});

/** Mines the funding to depth and exchanges channel_ready. */
async function lockIn(ch: HostileChannel): Promise<void> {
  await lab.btcd.generate(3);
  ch.sendReady();
  await ch.run('channel_ready from the node', () => ch.theirReady);
  await waitFor('the channel normal on the node', () => victim.phase(ch.id) === 'normal');
}

/** The hostile peer pays the node's invoice with a correctly built HTLC and settles it honestly. */
async function payVictim(ch: HostileChannel, amountMsat: bigint): Promise<void> {
  const inv = await victim.api.createInvoice({ amountMsat, descriptionHash: sha256(new TextEncoder().encode('job')) });
  const d = decodeInvoice(inv.paymentRequest);
  const height = await lab.btcd.height();
  const cltvExpiry = (height + d.minFinalCltvExpiryDelta + 3) as CltvExpiry;
  ch.addHtlc({ amountMsat: msat(amountMsat), paymentHash: d.paymentHash, cltvExpiry, onion: paymentOnion({ payee: victim.nodeId, amountMsat: msat(amountMsat), cltvExpiry, paymentHash: d.paymentHash, paymentSecret: d.paymentSecret }) });
  ch.commit();
  await ch.run('the HTLC settled', () => ch.quiet && ch.state.localCommit.index > 0n && ch.state.localCommit.spec.htlcs.length === 0);
  const settled = await victim.api.waitInvoiceSettled({ paymentHash: d.paymentHash, timeoutSeconds: 10 });
  expect(settled.amountReceivedMsat).toBe(amountMsat);
}

describe('the hostile peer, played honestly', () => {
  let asFunder: HostileChannel;
  let asAcceptor: HostileChannel;

  test('opens a channel to the node as funder; both pay each other', async () => {
    const { answer, opening } = await openChannel(peer, { fundingSat: sat(400_000), pushMsat: msat(50_000_000n) });
    expect(answer.name).toBe('accept_channel');
    const { txid, vouts } = await fundOutputs(lab, [{ script: opening!.fundingOutputScript(), amount: 400_000n }]);
    const { answer: signed, channel } = await opening!.fundingCreated({ txid, vout: vouts[0]! });
    expect(signed.name).toBe('funding_signed');
    asFunder = channel!;
    expect(victim.phase(asFunder.id)).toBe('awaiting_lock_in');
    await lockIn(asFunder);
    expect(victim.balances(asFunder.id)).toMatchObject({ localMsat: 50_000_000n });

    await payVictim(asFunder, 7_000_000n);
    expect(victim.balances(asFunder.id)).toMatchObject({ localMsat: 57_000_000n, htlcs: 0 });

    const inv = hostileInvoice(peer, msat(3_000_000n));
    const paid = victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 });
    await asFunder.run('the node pays us', () => asFunder.incoming.length === 1 && asFunder.quiet, { onIncoming: () => ({ fulfill: inv.preimage }) });
    expect(hex((await paid).paymentPreimage)).toBe(hex(inv.preimage));
    await waitFor('the node settled its payment', () => victim.balances(asFunder.id).localMsat === 54_000_000n && victim.balances(asFunder.id).htlcs === 0);
  }, 60_000);

  test('accepts a channel the node opens; both pay each other', async () => {
    const from = peer.mark();
    const opened = victim.api.openChannel({ peerPubkey: peer.nodeId, localFundingAmountSat: 300_000n, fundingFeeRateSatPerVbyte: 2n });
    const open = await peer.next('open_channel from the node', (r) => r.name === 'open_channel', from);
    const a = acceptChannel(peer, open.msg as unknown as OpenChannelMessage);
    const created = await peer.next('funding_created', (r) => r.name === 'funding_created', from);
    asAcceptor = fundingSigned(peer, { ...a, open: open.msg as unknown as OpenChannelMessage, created });
    const res = await opened;
    expect(hex(res.channelId)).toBe(asAcceptor.id);
    await lockIn(asAcceptor);
    const inv = hostileInvoice(peer, msat(10_000_000n));
    const paid = victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 });
    await asAcceptor.run('the node pays us', () => asAcceptor.incoming.length === 1 && asAcceptor.quiet, { onIncoming: () => ({ fulfill: inv.preimage }) });
    expect((await paid).status).toBe(1);
    await payVictim(asAcceptor, 2_000_000n);
    await waitFor('balances on the node', () => victim.balances(asAcceptor.id).remoteMsat === 8_000_000n);
  }, 60_000);

  test('reconnects: channel_reestablish both ways and the channels still pay', async () => {
    const from = peer.mark();
    await peer.reconnect();
    for (const ch of [asFunder, asAcceptor]) {
      const r = await peer.next('channel_reestablish', (x) => x.name === 'channel_reestablish' && hex(x.msg.channelId as Uint8Array) === ch.id, from);
      const mine = ch.reestablishFields();
      expect(r.msg.nextCommitmentNumber).toBe(ch.state.remoteCommit.index + 1n);
      expect(r.msg.nextRevocationNumber).toBe(ch.state.localCommit.index);
      ch.cursor = r.seq + 1;
      peer.send('channel_reestablish', { channelId: ch.channelId, ...mine });
    }
    await peer.barrier();
    expect(peer.since(from, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
    await payVictim(asFunder, 1_000_000n);
    expect(victim.balances(asFunder.id).localMsat).toBe(55_000_000n);
  }, 60_000);
});
