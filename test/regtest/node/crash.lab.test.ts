// lab-peers: btcd
/**
 * Done-when 3 of the channels issue: an lnnode daemon (a real process,
 * driven through its lnnode.v1 API) is SIGKILLed while payments are in
 * flight, as payer and as payee, at several points of the HTLC exchange,
 * then restarted on the same data dir. Afterwards the channel works again,
 * every payment ended settled or failed (none lost), the payer's "succeeded"
 * matches the payee's "settled" one to one, both sides agree on the balance
 * to the msat, and paying the same invoices again pays only those that had
 * failed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { Code, ConnectError } from '@connectrpc/connect';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, type Msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { type CreateInvoiceResponse, Payment_Status, PayInvoiceResponse_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { daemonWithChannel, settledBalance as settledBalanceOf } from './daemon-channel.ts';
import { waitFor } from '../../lab/processes.ts';

const BATCH = 10;
/**
 * Kill points after the batch starts, chosen (on this 2-core VM) to land
 * before, among and after the HTLC exchanges; each round prints what it hit.
 * The payer's batch first crosses the API, so its points are later.
 */
const PAYER_KILL_MS = [10, 25, 40, 80];
const PAYEE_KILL_MS = [0, 2, 5, 15];

let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let channelId: Uint8Array;

beforeAll(async () => {
  lab = await ChannelLab.start('crash');
  b = lab.startNode('b');
  // B gets 400,000 sat at open so it can pay its rounds above its reserve.
  ({ a, channelId } = await daemonWithChannel(lab, b));
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await lab?.stop();
});

const settledBalance = (api: LnnodeClient): Promise<Msat> => settledBalanceOf(api, b, channelId);

const amountOf = (round: number, i: number): Msat => msat(1_000_000n + BigInt(round) * 10_007n + BigInt(i) * 1_013n);

/** SIGKILLs A after `afterMs`, runs `whileDown` while A is down, restarts A on its data dir. */
async function killAndRestart(afterMs: number, whileDown: () => void): Promise<LnnodeClient> {
  await Bun.sleep(afterMs);
  await a.restart({ kill: true, whileDown });
  return a.client();
}

describe('lnnode killed with payments in flight (SIGKILL) and restarted', () => {
  test.each(PAYER_KILL_MS.map((ms, round) => [ms, round]))('as payer, killed %p ms into a batch of 10', async (ms, round) => {
    let api = a.client();
    const before = await settledBalance(api);
    const invoices = Array.from({ length: BATCH }, (_, i) =>
      b.invoices.create({ amountMsat: amountOf(round, i), descriptionHash: sha256(new TextEncoder().encode(`payer ${round} ${i}`)) }),
    );
    const calls = invoices.map((inv) => api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e)));
    let settledAtKill = 0;
    api = await killAndRestart(ms, () => (settledAtKill = invoices.filter((i) => b.invoices.get(i.paymentHash)!.state === 'settled').length));
    await Promise.all(calls); // they end with the process; what happened is read back below

    const after = await settledBalance(api);
    const ours = new Set(invoices.map((i) => hex(i.paymentHash)));
    const payments = await waitFor('no payment in flight on A', async () => {
      const ps = (await api.listPayments({})).payments.filter((p) => ours.has(hex(p.paymentHash)));
      return ps.some((p) => p.status === Payment_Status.IN_FLIGHT) ? undefined : ps;
    });
    let paid = 0n;
    for (const inv of invoices) {
      const p = payments.find((x) => hex(x.paymentHash) === hex(inv.paymentHash));
      const settled = b.invoices.get(inv.paymentHash)!.state === 'settled';
      expect([hex(inv.paymentHash), p?.status === Payment_Status.SUCCEEDED]).toEqual([hex(inv.paymentHash), settled]);
      if (settled) {
        expect(hex(p!.paymentPreimage)).toBe(hex(inv.preimage));
        expect(b.invoices.get(inv.paymentHash)!.receivedMsat).toBe(inv.amountMsat!);
        paid += inv.amountMsat!;
      }
    }
    expect(before - after).toBe(paid);
    const settled = payments.filter((p) => p.status === Payment_Status.SUCCEEDED).length;
    console.log(
      `payer killed at ${ms} ms: ${settledAtKill} settled at the kill, ${settled - settledAtKill} more after the restart, ` +
        `${payments.filter((p) => p.status === Payment_Status.FAILED).length} failed, ${BATCH - payments.length} never reached A`,
    );

    // Paying every invoice again: the settled ones are refused (AlreadyExists) and pay nothing more; the others now settle.
    for (const inv of invoices) {
      const wasPaid = b.invoices.get(inv.paymentHash)!.state === 'settled';
      const r = await api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }).catch((e) => ConnectError.from(e));
      if (wasPaid) expect(r instanceof ConnectError && r.code).toBe(Code.AlreadyExists);
      else expect(r instanceof ConnectError ? r.message : [r.status, hex(r.paymentPreimage)]).toEqual([PayInvoiceResponse_Status.SUCCEEDED, hex(inv.preimage)]);
    }
    const listedAgain = (await api.listPayments({})).payments;
    for (const inv of invoices) expect(hex(listedAgain.find((p) => hex(p.paymentHash) === hex(inv.paymentHash))!.paymentPreimage)).toBe(hex(inv.preimage));
    const total = invoices.reduce((s, i) => s + i.amountMsat!, 0n);
    expect(before - (await settledBalance(api))).toBe(total);
    for (const inv of invoices) expect(b.invoices.get(inv.paymentHash)!.receivedMsat).toBe(inv.amountMsat!);
  }, 180_000);

  test.each(PAYEE_KILL_MS.map((ms, round) => [ms, 10 + round]))('as payee, killed %p ms into a batch of 10', async (ms, round) => {
    let api = a.client();
    const before = await settledBalance(api);
    const invoices: CreateInvoiceResponse[] = [];
    for (let i = 0; i < BATCH; i++) {
      const descriptionHash = sha256(new TextEncoder().encode(`payee ${round} ${i}`));
      invoices.push(await api.createInvoice({ descriptionHash, amountMsat: amountOf(round, i) }));
    }
    const paying = invoices.map((inv) => b.payments.pay(inv.paymentRequest, { timeoutMs: 90_000 }).catch((e: Error) => e));
    let inFlightAtKill = 0;
    api = await killAndRestart(ms, () => (inFlightAtKill = invoices.filter((inv) => b.payments.get(inv.paymentHash)?.state === 'in_flight').length));
    await Promise.all(paying);

    const after = await settledBalance(api);
    await waitFor('no payment in flight on B', () => !b.payments.list().some((p) => p.state === 'in_flight'));
    const listed = (await api.listInvoices({})).invoices;
    let received = 0n;
    for (const [i, inv] of invoices.entries()) {
      const p = b.payments.get(inv.paymentHash);
      const onA = listed.find((x) => hex(x.paymentHash) === hex(inv.paymentHash))!;
      const settled = onA.amountReceivedMsat > 0n;
      expect([i, p?.state === 'succeeded']).toEqual([i, settled]);
      if (settled) {
        expect(hex(sha256(p!.preimage!))).toBe(hex(inv.paymentHash));
        expect(onA.amountReceivedMsat).toBe(amountOf(round, i));
        received += onA.amountReceivedMsat;
      }
    }
    expect(after - before).toBe(received);
    const states = invoices.map((inv) => b.payments.get(inv.paymentHash)?.state);
    const count = (st: string) => states.filter((x) => x === st).length;
    console.log(
      `payee killed at ${ms} ms: ${inFlightAtKill} in flight at the kill; in the end ${count('succeeded')} settled, ` +
        `${count('failed')} failed, ${states.filter((x) => !x).length} never started`,
    );

    for (const inv of invoices) {
      const p = await b.payments.pay(inv.paymentRequest, { timeoutMs: 30_000 });
      expect(p.state).toBe('succeeded');
    }
    const total = invoices.reduce((s, _, i) => s + amountOf(round, i), 0n);
    expect((await settledBalance(api)) - before).toBe(total);
    for (const inv of invoices) {
      const w = await api.waitInvoiceSettled({ paymentHash: inv.paymentHash, timeoutSeconds: 5 });
      expect(w.amountReceivedMsat).toBe(amountOf(round, invoices.indexOf(inv)));
    }
  }, 180_000);
});
