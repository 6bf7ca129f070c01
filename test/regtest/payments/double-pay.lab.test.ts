// lab-peers: btcd
/**
 * Issue 16 item 1: one invoice is never paid twice, however many callers
 * race for it. An lnnode daemon (A, a real process) pays an in-process
 * lnnode (B) over a direct channel; 50 calls for the same invoice arrive at
 * once, half through lnnode.v1 PayInvoice and half through lnd's
 * SendPaymentV2. Exactly one HTLC reaches B (counted on B's side by channel
 * and HTLC id), one call succeeds, the 49 others get AlreadyExists (lnd's
 * answer for a hash that is paid or in flight), and the money moves once,
 * to the msat. Then the same with A SIGKILLed as its HTLC reaches B and
 * restarted: 50 more calls after the restart still send nothing new.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, type Msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { credentialTransport } from '../../../src/rpc/client.ts';
import { PayInvoiceResponse_Status, Payment_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { Payment_PaymentStatus } from '../../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { Router } from '../../../src/rpc/gen/routerrpc/router_pb.ts';
import { adminMacaroonPath } from '../../../src/rpc/lnd/admin-macaroon.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { freePort, waitFor } from '../../lab/processes.ts';
import { fundedDaemon } from '../node/daemon-channel.ts';

const FUNDING_SAT = 1_000_000n;
const CALLS = 50;

let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let lndPort: number;
let channelId: Uint8Array;
/** payment hash (hex) -> the distinct `channel:htlc id` of every update_add_htlc B received for it. */
const addsAtB = new Map<string, Set<string>>();
const firstAdd = new Map<string, () => void>();

beforeAll(async () => {
  lab = await ChannelLab.start('double-pay');
  b = lab.startNode('b');
  b.peers.onMessage((_peer, received) => {
    if (received.name !== 'update_add_htlc') return;
    const m = received.msg;
    const key = hex(m.paymentHash);
    const set = addsAtB.get(key) ?? new Set<string>();
    set.add(`${hex(m.channelId)}:${m.id}`);
    addsAtB.set(key, set);
    firstAdd.get(key)?.();
  });
  lndPort = await freePort();
  a = await fundedDaemon(lab, b, 2_000_000n, { args: ['--lnd-rpc-listen', `127.0.0.1:${lndPort}`] });
  const api = a.client();
  channelId = (await api.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: FUNDING_SAT })).channelId;
  await lab.btcd.generate(3);
  await ready();
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await lab?.stop();
});

/** A's channel usable, both sides at btcd's tip. */
async function ready(): Promise<void> {
  const api = a.client();
  await waitFor('channel usable on A', async () => (await api.listChannels({})).channels.find((c) => hex(c.channelId) === hex(channelId))?.usable);
  await lab.active(b, hex(channelId));
  const height = await lab.btcd.height();
  await waitFor('A at the tip', async () => (await api.getNodeInfo({})).blockHeight >= height);
  await lab.synced(b);
}

function router(): Client<typeof Router> {
  const macaroon = readFileSync(adminMacaroonPath(a.dataDir, 'regtest')).toString('hex');
  return createClient(Router, credentialTransport({ host: '127.0.0.1', port: lndPort, header: ['macaroon', macaroon], caCert: readFileSync(join(a.dataDir, 'tls.cert')) }));
}

/** What one call ended with: 'succeeded', 'AlreadyExists', or anything else spelled out. */
type Outcome = string;

function errorOutcome(e: unknown): Outcome {
  const c = ConnectError.from(e);
  return c.code === Code.AlreadyExists ? 'AlreadyExists' : `${Code[c.code]}: ${c.rawMessage}`;
}

async function viaLnnode(bolt11: string): Promise<Outcome> {
  try {
    const r = await a.client().payInvoice({ paymentRequest: bolt11, timeoutSeconds: 30 });
    return r.status === PayInvoiceResponse_Status.SUCCEEDED ? 'succeeded' : `status ${PayInvoiceResponse_Status[r.status]}: ${r.failureMessage}`;
  } catch (e) {
    return errorOutcome(e);
  }
}

async function viaLnd(r: Client<typeof Router>, bolt11: string): Promise<Outcome> {
  try {
    let last: Payment_PaymentStatus | undefined;
    for await (const p of r.sendPaymentV2({ paymentRequest: bolt11, timeoutSeconds: 30 })) last = p.status;
    return last === Payment_PaymentStatus.SUCCEEDED ? 'succeeded' : `status ${last === undefined ? 'none' : Payment_PaymentStatus[last]}`;
  } catch (e) {
    return errorOutcome(e);
  }
}

/** CALLS calls at once, alternating between the two APIs. */
function payAtOnce(bolt11: string): Promise<Outcome[]> {
  const r = router();
  return Promise.all(Array.from({ length: CALLS }, (_, i) => (i % 2 === 0 ? viaLnnode(bolt11) : viaLnd(r, bolt11))));
}

const tally = (outcomes: Outcome[]): Record<Outcome, number> => {
  const t: Record<Outcome, number> = {};
  for (const o of outcomes) t[o] = (t[o] ?? 0) + 1;
  return t;
};

/** A's balance once no HTLC is pending and both sides agree. */
async function settledBalance(): Promise<Msat> {
  return waitFor('no HTLC pending and both sides agreeing', async () => {
    const ca = (await a.client().listChannels({})).channels.find((c) => hex(c.channelId) === hex(channelId));
    const cb = b.channels!.get(channelId)!;
    if (!ca?.usable || ca.pendingHtlcs !== 0 || cb.pendingHtlcs !== 0 || ca.outboundCapacityMsat !== cb.remoteBalanceMsat) return undefined;
    return msat(ca.outboundCapacityMsat);
  });
}

describe('one invoice, many payers at once', () => {
  test('50 concurrent pays through lnnode.v1 and SendPaymentV2: one HTLC, one success, 49 AlreadyExists', async () => {
    const amount = msat(10_000_000n);
    const inv = b.invoices.create({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode('race')) });
    const before = await settledBalance();
    const outcomes = await payAtOnce(inv.bolt11);
    expect(tally(outcomes)).toEqual({ succeeded: 1, AlreadyExists: CALLS - 1 });
    expect(addsAtB.get(hex(inv.paymentHash))?.size).toBe(1);
    expect(b.invoices.get(inv.paymentHash)).toMatchObject({ state: 'settled', receivedMsat: amount });
    expect(before - (await settledBalance())).toBe(amount);
    const listed = (await a.client().listPayments({})).payments.filter((p) => hex(p.paymentHash) === hex(inv.paymentHash));
    expect(listed.map((p) => [p.status, hex(p.paymentPreimage)])).toEqual([[Payment_Status.SUCCEEDED, hex(inv.preimage)]]);
  }, 120_000);

  test('the same with A SIGKILLed as its HTLC reaches B, then 50 more calls after the restart', async () => {
    const amount = msat(7_777_777n);
    const inv = b.invoices.create({ amountMsat: amount, descriptionHash: sha256(new TextEncoder().encode('race through a crash')) });
    const before = await settledBalance();
    const reached = new Promise<void>((resolve) => firstAdd.set(hex(inv.paymentHash), resolve));
    const first = payAtOnce(inv.bolt11);
    await Promise.race([reached, Bun.sleep(10_000)]);
    await a.restart({ kill: true });
    const firstOutcomes = await first;
    await ready();
    const secondOutcomes = await payAtOnce(inv.bolt11);
    console.log(`before the kill: ${JSON.stringify(tally(firstOutcomes))}; after the restart: ${JSON.stringify(tally(secondOutcomes))}`);

    // Calls cut off by the kill end in a transport error; none of the others may succeed a second time.
    const successes = [...firstOutcomes, ...secondOutcomes].filter((o) => o === 'succeeded').length;
    expect(successes).toBeLessThanOrEqual(1);
    const unexpected = [
      ...firstOutcomes.filter((o) => o !== 'succeeded' && o !== 'AlreadyExists' && !/^(Unavailable|Unknown|Internal|Canceled|Aborted)/.test(o)),
      ...secondOutcomes.filter((o) => o !== 'succeeded' && o !== 'AlreadyExists'),
    ];
    expect(unexpected).toEqual([]);
    expect(secondOutcomes.filter((o) => o === 'AlreadyExists').length).toBeGreaterThanOrEqual(CALLS - 1);

    const final = await waitFor('the payment resolved on A', async () => {
      const p = (await a.client().listPayments({})).payments.find((x) => hex(x.paymentHash) === hex(inv.paymentHash));
      return p && p.status !== Payment_Status.IN_FLIGHT ? p : undefined;
    });
    expect([final.status, hex(final.paymentPreimage)]).toEqual([Payment_Status.SUCCEEDED, hex(inv.preimage)]);
    expect(addsAtB.get(hex(inv.paymentHash))?.size).toBe(1);
    expect(b.invoices.get(inv.paymentHash)).toMatchObject({ state: 'settled', receivedMsat: amount });
    expect(before - (await settledBalance())).toBe(amount);
  }, 180_000);
});
