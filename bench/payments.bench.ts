/**
 * Payments over one direct channel on the regtest lab, in one run so the
 * figures compare: payments per second and latency (median, p99) from the
 * pay call to the preimage, sequential and with 10 in flight, for
 * lnnode->lnnode, lnnode->lnd and lnd->lnd. lnd is driven through its REST
 * API (invoices and SendPaymentV2), so its figures include the REST gateway.
 * Needs the lab's btcd and lnd (bash test/lab/build/all.sh).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../src/bolt/bytes.ts';
import { msat, sat } from '../src/bolt/units.ts';
import { ChannelLab } from '../test/lab/channel-lab.ts';
import { type Lnd, startLnd } from '../test/lab/lnd.ts';
import { waitFor } from '../test/lab/processes.ts';
import { type Figure } from './run.ts';

const PAYMENTS = 200;
const CONCURRENCY = 10;
const AMOUNT_MSAT = 1_000_123n;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** Runs `pay` for each invoice with `concurrency` in flight; payments/s and latencies. */
async function run(invoices: string[], concurrency: number, pay: (bolt11: string) => Promise<void>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next < invoices.length) {
      const inv = invoices[next++]!;
      const t = performance.now();
      await pay(inv);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSecond: (invoices.length * 1000) / (performance.now() - start), latencies };
}

function figuresOf(label: string, r: { perSecond: number; latencies: number[] }, mode: string): Figure[] {
  return [
    { name: `${label} ${mode}: payments/s`, value: r.perSecond, unit: 'pay/s' },
    { name: `${label} ${mode}: latency median`, value: percentile(r.latencies, 0.5), unit: 'ms' },
    { name: `${label} ${mode}: latency p99`, value: percentile(r.latencies, 0.99), unit: 'ms' },
  ];
}

async function both(label: string, invoice: (i: number) => Promise<string>, pay: (bolt11: string) => Promise<void>): Promise<Figure[]> {
  const make = async (n: number, tag: number): Promise<string[]> => Promise.all(Array.from({ length: n }, (_, i) => invoice(tag * 100_000 + i)));
  const seq = await run(await make(PAYMENTS, 1), 1, pay);
  const par = await run(await make(PAYMENTS, 2), CONCURRENCY, pay);
  return [...figuresOf(label, seq, 'sequential'), ...figuresOf(label, par, `${CONCURRENCY} in flight`)];
}

const lndInvoice = async (lnd: Lnd, i: number): Promise<string> =>
  (await lnd.rest<{ payment_request: string }>('POST', '/v1/invoices', { value_msat: AMOUNT_MSAT.toString(), description_hash: b64(sha256(new TextEncoder().encode(`bench ${i}`))) })).payment_request;

async function lndPay(lnd: Lnd, bolt11: string): Promise<void> {
  const updates = await lnd.restAll<{ status: string; failure_reason: string }>('/v2/router/send', { payment_request: bolt11, timeout_seconds: 60, fee_limit_sat: '10', no_inflight_updates: true });
  const last = updates.at(-1)!;
  if (last.status !== 'SUCCEEDED') throw new Error(`lnd payment ${last.status}: ${last.failure_reason}`);
}

async function lndChannelActive(lnd: Lnd, peer: string): Promise<string> {
  return waitFor('lnd channel active and in its graph', async () => {
    const chans = (await lnd.rest<{ channels?: { active: boolean; remote_pubkey: string; chan_id: string }[] }>('GET', '/v1/channels')).channels ?? [];
    const c = chans.find((x) => x.active && x.remote_pubkey === peer);
    if (!c) return undefined;
    return lnd.rest('GET', `/v1/graph/edge/${c.chan_id}`).then(() => c.chan_id, () => undefined);
  }, 60_000);
}

async function fundLnd(lab: ChannelLab, lnd: Lnd): Promise<void> {
  const { address } = await lnd.rest<{ address: string }>('GET', '/v1/newaddress?type=0');
  await lab.faucet.send(address, 3_000_000n);
  await lab.btcd.generate(1);
  await lnd.funded(3_000_000);
}

export default async function (): Promise<Figure[]> {
  const lab = await ChannelLab.start('bench-payments');
  const lnds: Lnd[] = [];
  const figures: Figure[] = [];
  try {
    const a = lab.startNode('a');
    const b = lab.startNode('b');
    await lab.fund(a, 5_000_000n);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    const { id } = await lab.openChannel(a, b, sat(2_000_000));
    figures.push(
      ...(await both(
        'lnnode->lnnode',
        async (i) => b.invoices.create({ amountMsat: msat(AMOUNT_MSAT), descriptionHash: sha256(new TextEncoder().encode(`bench ${i}`)) }).bolt11,
        async (inv) => void (await a.payments.pay(inv)),
      )),
    );
    await lab.settled(a, b, id);

    const lnd1 = await startLnd(lab.btcd, { alias: 'bench-lnd-1' });
    lnds.push(lnd1);
    await a.connect(fromHex(lnd1.nodeId), '127.0.0.1', lnd1.p2pPort);
    const toLnd = await a.channels!.open(fromHex(lnd1.nodeId), { fundingSat: sat(2_000_000) });
    await lab.btcd.generate(6);
    await waitFor('lnnode->lnd channel active', () => a.channels!.get(toLnd.channelId)?.active, 60_000);
    figures.push(...(await both('lnnode->lnd', (i) => lndInvoice(lnd1, i), async (inv) => void (await a.payments.pay(inv)))));

    try {
      const lnd2 = await startLnd(lab.btcd, { alias: 'bench-lnd-2' });
      lnds.push(lnd2);
      await fundLnd(lab, lnd2);
      // lnd answers "server is still in the process of starting" until it has synced to the chain.
      await waitFor('lnd connects to lnd', () => lnd2.rest('POST', '/v1/peers', { addr: { pubkey: lnd1.nodeId, host: `127.0.0.1:${lnd1.p2pPort}` }, perm: false }).then(() => true, () => undefined), 60_000);
      await lnd2.rest('POST', '/v1/channels', { node_pubkey: b64(fromHex(lnd1.nodeId)), local_funding_amount: '2000000', private: true, sat_per_vbyte: '2' });
      await waitFor('lnd->lnd funding in the mempool', async () => ((await lab.btcd.rpc.call<string[]>('getrawmempool')).length ? true : undefined), 60_000);
      await lab.btcd.generate(6);
      await lndChannelActive(lnd2, lnd1.nodeId);
      figures.push(...(await both('lnd->lnd', (i) => lndInvoice(lnd1, i), (inv) => lndPay(lnd2, inv))));
    } catch (e) {
      console.log(`  lnd->lnd not measured: ${(e as Error).message}`);
    }
  } finally {
    for (const l of lnds) await l.stop();
    await lab.stop();
  }
  return figures;
}
