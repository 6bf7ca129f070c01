// lab-peers: btcd lnd ldk-peer
/**
 * Done-when 3 of the channels issue with lnd and LDK as the peer: an lnnode
 * daemon (a real process, driven through lnnode.v1) with a channel to the
 * peer is SIGKILLed while a batch of payments is in flight, as payer and as
 * payee, then restarted on its data dir. The channel reestablishes with the
 * real implementation (which would force close on a reestablish it found
 * wrong); every payment ended settled or failed, the peer's record of each
 * agrees with ours (amount and preimage), nothing was paid twice, and paying
 * the failed ones again works. test/regtest/node/crash.lab.test.ts does the same with
 * an lnnode peer at more kill points.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { Code, ConnectError } from '@connectrpc/connect';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { Payment_Status, PayInvoiceResponse_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { startLdk, type Ldk, type LdkPayment } from '../../lab/ldk.ts';
import { lndOpenerCommitCostMsat, startLnd, type Lnd } from '../../lab/lnd.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';

const WAIT_MS = 90_000;
const BATCH = 10;
const FUNDING_SAT = 1_000_000n;
/** Pushed to the peer at open, so it can pay its rounds. */
const PUSH_MSAT = 400_000_000n;

/** What the test needs of the peer, whichever implementation it is. */
interface Peer {
  readonly nodeId: string;
  readonly p2pPort: number;
  /** On-chain address of the peer's wallet. */
  address(): Promise<string>;
  /** Waits until the peer counts `sat` in its wallet (LDK refuses anchor channels without an on-chain reserve). */
  funded(sat: number): Promise<void>;
  invoice(amountMsat: bigint, tag: string): Promise<{ bolt11: string; hash: string }>;
  /** Amount the peer received for the invoice, once it counts it settled. */
  received(hash: string): Promise<bigint | undefined>;
  /** Pays and resolves with the outcome the peer reports at the end. */
  pay(bolt11: string, hash: string): Promise<{ ok: boolean; preimage?: string }>;
  /** Extra agreement check on the channel balances, where the peer exposes them (msat). */
  agrees(ours: { localMsat: bigint; remoteMsat: bigint }): Promise<void>;
  /** True when the peer has no HTLC pending on the channel. */
  quiet(): Promise<boolean>;
  stop(): Promise<void>;
}

function lndPeer(lnd: Lnd): Peer {
  interface LndChannel {
    fee_per_kw: string;
    commitment_type: string;
    pending_htlcs?: unknown[];
  }
  return {
    nodeId: lnd.nodeId,
    p2pPort: lnd.p2pPort,
    address: async () => (await lnd.rest<{ address: string }>('GET', '/v1/newaddress?type=0')).address,
    funded: (sat) => lnd.funded(sat, WAIT_MS),
    async invoice(amountMsat, tag) {
      const dh = Buffer.from(sha256(new TextEncoder().encode(tag))).toString('base64');
      const r = await lnd.rest<{ payment_request: string; r_hash: string }>('POST', '/v1/invoices', { value_msat: amountMsat.toString(), description_hash: dh });
      return { bolt11: r.payment_request, hash: Buffer.from(r.r_hash, 'base64').toString('hex') };
    },
    async received(hash) {
      const r = await lnd.rest<{ state: string; amt_paid_msat: string }>('GET', `/v1/invoice/${hash}`);
      return r.state === 'SETTLED' ? BigInt(r.amt_paid_msat) : undefined;
    },
    async pay(bolt11) {
      const updates = await lnd.restAll<{ status: string; payment_preimage: string }>('/v2/router/send', { payment_request: bolt11, timeout_seconds: 60, fee_limit_sat: '100' });
      const last = updates.at(-1);
      return last?.status === 'SUCCEEDED' ? { ok: true, preimage: last.payment_preimage } : { ok: false };
    },
    async agrees(ours) {
      const [c] = (await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? [];
      // We opened: our side of lnd's view is net of the commitment's fee and anchors.
      const fee = lndOpenerCommitCostMsat(c!);
      const b = await lnd.rest<{ local_balance: { msat: string }; remote_balance: { msat: string } }>('GET', '/v1/balance/channels');
      expect([BigInt(b.local_balance.msat), BigInt(b.remote_balance.msat)]).toEqual([ours.remoteMsat, ours.localMsat - fee]);
    },
    async quiet() {
      const [c] = (await lnd.rest<{ channels?: LndChannel[] }>('GET', '/v1/channels')).channels ?? [];
      return (c?.pending_htlcs ?? []).length === 0;
    },
    stop: () => lnd.stop(),
  };
}

function ldkPeer(ldk: Ldk): Peer {
  const payment = async (hash: string, direction: string): Promise<LdkPayment | undefined> =>
    (await ldk.api<LdkPayment[]>('GET', '/payments')).find((p) => p.payment_hash === hash && p.direction === direction);
  return {
    nodeId: ldk.nodeId,
    p2pPort: ldk.p2pPort,
    address: async () => (await ldk.api<{ address: string }>('POST', '/new_address')).address,
    funded: (sat) => ldk.funded(sat, WAIT_MS),
    async invoice(amountMsat, tag) {
      const r = await ldk.api<{ invoice: string; payment_hash: string }>('POST', '/invoice', { amount_msat: Number(amountMsat), description_hash: hex(sha256(new TextEncoder().encode(tag))) });
      return { bolt11: r.invoice, hash: r.payment_hash };
    },
    async received(hash) {
      const p = await payment(hash, 'Inbound');
      return p?.status === 'Succeeded' ? BigInt(p.amount_msat!) : undefined;
    },
    async pay(bolt11, hash) {
      try {
        await ldk.api('POST', '/pay', { invoice: bolt11 });
      } catch {
        return { ok: false }; // refused at once, e.g. no usable channel while lnnode is down
      }
      const p = await waitFor('LDK payment resolved', async () => {
        const x = await payment(hash, 'Outbound');
        return x && x.status !== 'Pending' ? x : undefined;
      }, WAIT_MS);
      return p.status === 'Succeeded' ? { ok: true, preimage: p.preimage } : { ok: false };
    },
    // LDK exposes balances net of reserves and fees only; the per-payment records are compared instead.
    agrees: async () => {},
    // An unpaid invoice is an inbound payment "Pending" in ldk-node: only outbound ones say an HTLC may be out.
    quiet: async () => !(await ldk.api<LdkPayment[]>('GET', '/payments')).some((p) => p.direction === 'Outbound' && p.status === 'Pending'),
    stop: () => ldk.stop(),
  };
}

const PEERS: { name: string; start(lab: ChannelLab): Promise<Peer> }[] = [
  { name: 'lnd', start: async (lab) => lndPeer(await startLnd(lab.btcd)) },
  {
    name: 'LDK',
    async start(lab) {
      await lab.btcd.generate(10);
      return ldkPeer(await startLdk(lab.esplora.url));
    },
  },
];

describe.each(PEERS)('lnnode killed with payments in flight to and from $name, restarted', ({ name, start }) => {
  let lab: ChannelLab;
  let peer: Peer;
  let a: LnnodeProcess;
  let channelId: Uint8Array;

  beforeAll(async () => {
    lab = await ChannelLab.start(`crash-${name}`);
    peer = await start(lab);
    a = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200'] });
    const api = a.client();
    const { address } = await api.newAddress({});
    await lab.faucet.send(address, 3_000_000n);
    await lab.faucet.send(await peer.address(), 1_000_000n);
    await lab.btcd.generate(1);
    await waitFor('A funded', async () => (await api.walletBalance({})).confirmedSat === 3_000_000n);
    await peer.funded(1_000_000);
    await api.connectPeer({ peerPubkey: fromHex(peer.nodeId), addr: `127.0.0.1:${peer.p2pPort}`, persistent: true });
    const opened = await api.openChannel({ peerPubkey: fromHex(peer.nodeId), localFundingAmountSat: FUNDING_SAT, pushMsat: PUSH_MSAT });
    channelId = opened.channelId;
    await lab.btcd.generate(6);
    await waitFor('channel usable on A', async () => (await channelOf(api))?.usable, WAIT_MS);
    // The peer must see the channel usable too (lnd: in its graph) before it can pay over it.
    const probe = await api.createInvoice({ amountMsat: 1_000n, descriptionHash: sha256(new TextEncoder().encode('probe')) });
    await waitFor(`${name} can pay over the channel`, async () => (await peer.pay(probe.paymentRequest, hex(probe.paymentHash))).ok, WAIT_MS);
  }, 240_000);

  afterAll(async () => {
    await a?.stop();
    await peer?.stop();
    await lab?.stop();
  });

  const channelOf = async (api: LnnodeClient) => (await api.listChannels({})).channels.find((c) => hex(c.channelId) === hex(channelId));

  /** A's balance (msat) once no HTLC is pending on either side, after checking the peer agrees. */
  async function settledBalance(api: LnnodeClient): Promise<bigint> {
    const c = await waitFor('channel usable without pending HTLCs on both sides', async () => {
      const x = await channelOf(api);
      const quiet = await peer.quiet();
      if (x?.usable && x.pendingHtlcs === 0 && quiet) return x;
      throw new Error(`usable ${x?.usable}, ${x?.pendingHtlcs} HTLCs pending on A, peer ${quiet ? 'quiet' : 'has HTLCs pending'}`);
    }, WAIT_MS);
    await peer.agrees({ localMsat: c.outboundCapacityMsat, remoteMsat: c.inboundCapacityMsat });
    return c.outboundCapacityMsat;
  }

  async function killAndRestart(afterMs: number, whileDown: () => Promise<void> | void): Promise<LnnodeClient> {
    await Bun.sleep(afterMs);
    await a.restart({ kill: true, whileDown });
    return a.client();
  }

  const amountOf = (round: number, i: number): bigint => 1_000_000n + BigInt(round) * 10_007n + BigInt(i) * 1_013n;

  test.each([
    [30, 0],
    [60, 1],
    [100, 2],
  ])('as payer, killed %p ms into a batch of 10', async (ms, round) => {
    let api = a.client();
    const before = await settledBalance(api);
    const invoices = await Promise.all(Array.from({ length: BATCH }, (_, i) => peer.invoice(amountOf(round, i), `${name} payer ${round} ${i}`)));
    const calls = invoices.map((inv) => api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e)));
    let settledAtKill = 0;
    api = await killAndRestart(ms, async () => {
      for (const inv of invoices) if ((await peer.received(inv.hash)) !== undefined) settledAtKill++;
    });
    await Promise.all(calls);

    const ours = new Set(invoices.map((i) => i.hash));
    const payments = await waitFor('no payment in flight on A', async () => {
      const ps = (await api.listPayments({})).payments.filter((p) => ours.has(hex(p.paymentHash)));
      return ps.some((p) => p.status === Payment_Status.IN_FLIGHT) ? undefined : ps;
    }, WAIT_MS);
    const after = await settledBalance(api);
    let paid = 0n;
    for (const [i, inv] of invoices.entries()) {
      const p = payments.find((x) => hex(x.paymentHash) === inv.hash);
      const got = await peer.received(inv.hash);
      expect([i, p?.status === Payment_Status.SUCCEEDED]).toEqual([i, got !== undefined]);
      if (got !== undefined) {
        expect(hex(sha256(p!.paymentPreimage))).toBe(inv.hash);
        expect(got).toBe(amountOf(round, i));
        paid += got;
      }
    }
    expect(before - after).toBe(paid);
    const settled = payments.filter((p) => p.status === Payment_Status.SUCCEEDED).length;
    console.log(
      `${name}, payer killed at ${ms} ms: ${settledAtKill} settled at the kill, ${settled - settledAtKill} more after the restart, ` +
        `${payments.length - settled} failed, ${BATCH - payments.length} never reached A`,
    );

    // Again: the settled ones are refused and pay nothing more; the others settle now.
    for (const [i, inv] of invoices.entries()) {
      const wasPaid = (await peer.received(inv.hash)) !== undefined;
      const r = await api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e));
      if (wasPaid) expect(r instanceof ConnectError && r.code).toBe(Code.AlreadyExists);
      else expect(r instanceof ConnectError ? r.message : r.status).toBe(PayInvoiceResponse_Status.SUCCEEDED);
      await waitFor(`${name} counts invoice ${i} settled`, async () => (await peer.received(inv.hash)) === amountOf(round, i), WAIT_MS);
    }
    const total = invoices.reduce((s, _, i) => s + amountOf(round, i), 0n);
    expect(before - (await settledBalance(api))).toBe(total);
  }, 300_000);

  test.each([
    [20, 10],
    [60, 11],
    [150, 12],
  ])('as payee, killed %p ms into a batch of 10', async (ms, round) => {
    let api = a.client();
    const before = await settledBalance(api);
    const invoices = [];
    for (let i = 0; i < BATCH; i++) {
      invoices.push(await api.createInvoice({ amountMsat: amountOf(round, i), descriptionHash: sha256(new TextEncoder().encode(`${name} payee ${round} ${i}`)) }));
    }
    let resolved = 0;
    const paying = invoices.map((inv) => peer.pay(inv.paymentRequest, hex(inv.paymentHash)).finally(() => resolved++));
    let resolvedAtKill = 0;
    api = await killAndRestart(ms, () => void (resolvedAtKill = resolved));
    const outcomes = await Promise.all(paying);

    const after = await settledBalance(api);
    const listed = (await api.listInvoices({})).invoices;
    let received = 0n;
    for (const [i, inv] of invoices.entries()) {
      const onA = listed.find((x) => hex(x.paymentHash) === hex(inv.paymentHash))!;
      const settled = onA.amountReceivedMsat > 0n;
      expect([i, outcomes[i]!.ok]).toEqual([i, settled]);
      if (settled) {
        expect(hex(sha256(fromHex(outcomes[i]!.preimage!)))).toBe(hex(inv.paymentHash));
        expect(onA.amountReceivedMsat).toBe(amountOf(round, i));
        received += onA.amountReceivedMsat;
      }
    }
    expect(after - before).toBe(received);
    const ok = outcomes.filter((o) => o.ok).length;
    console.log(`${name}, payee killed at ${ms} ms: ${resolvedAtKill} payments resolved at the kill; in the end ${ok} settled, ${BATCH - ok} failed`);

    for (const [i, inv] of invoices.entries()) {
      if (outcomes[i]!.ok) continue;
      expect((await peer.pay(inv.paymentRequest, hex(inv.paymentHash))).ok).toBe(true);
    }
    const total = invoices.reduce((s, _, i) => s + amountOf(round, i), 0n);
    expect((await settledBalance(api)) - before).toBe(total);
  }, 300_000);
});
