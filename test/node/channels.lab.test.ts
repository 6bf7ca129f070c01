/**
 * lnnode <-> lnnode channels on the lab: a real funding transaction on btcd
 * (through the Esplora adapter), channel_ready after the fundee's minimum
 * depth, then payments both ways over BOLT 11 invoices and one-hop onions.
 * Balances are checked to the msat on both sides against the sums paid; a
 * restart of either node must find the channel and the money intact.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { type FeeratePerKw, type Msat, msat, sat } from '../../src/bolt/units.ts';
import { createLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { PaymentError } from '../../src/node/payments/payments.ts';
import { startBtcd, type Btcd } from '../lab/btcd.ts';
import { startEsploraServer, type EsploraServer } from '../lab/esplora-server.ts';
import { Faucet } from '../lab/faucet.ts';
import { waitFor } from '../lab/processes.ts';

let btcd: Btcd;
let esplora: EsploraServer;
let faucet: Faucet;
let root: string;
const nodes: LightningNode[] = [];
const quiet = createLogger({ level: process.env.LNNODE_TEST_LOG ? 'debug' : 'error' });

function startNode(name: string): LightningNode {
  const n = LightningNode.start(
    { network: 'regtest', dataDir: join(root, name), p2pListen: { host: '127.0.0.1', port: 0 }, chain: { kind: 'esplora', url: esplora.url }, connect: [], logLevel: 'error' },
    quiet.child(name),
  );
  nodes.push(n);
  return n;
}

function stopNode(n: LightningNode): void {
  n.stop();
  nodes.splice(nodes.indexOf(n), 1);
}

beforeAll(async () => {
  btcd = await startBtcd();
  esplora = startEsploraServer(btcd.rpc);
  faucet = new Faucet(btcd);
  await faucet.ensureFunds();
  root = mkdtempSync(join(tmpdir(), 'lnnode-channels-'));
}, 60_000);

afterAll(async () => {
  for (const n of [...nodes]) n.stop();
  esplora?.stop();
  await btcd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const FUNDING = sat(1_000_000);

async function fund(n: LightningNode, amount: bigint): Promise<void> {
  await faucet.send(n.wallet!.newAddress(), amount);
  await btcd.generate(1);
  await waitFor('wallet funded', async () => {
    await n.wallet!.sync();
    return n.wallet!.balance().confirmedSat >= amount;
  });
}

async function activeChannel(n: LightningNode, channelId: string): Promise<void> {
  await waitFor(`channel ${channelId.slice(0, 8)} active on ${hex(n.nodeId).slice(0, 8)}`, () => n.channels!.get(Buffer.from(channelId, 'hex'))?.active);
}

async function openChannel(funder: LightningNode, fundee: LightningNode, fundingSat = FUNDING): Promise<string> {
  const opened = await funder.channels!.open(fundee.nodeId, { fundingSat, fundingFeerate: 1000 as FeeratePerKw });
  const mempool = await btcd.rpc.call<string[]>('getrawmempool');
  expect(mempool).toContain(opened.fundingTxid);
  await btcd.generate(3); // lnnode's default minimum depth as fundee
  const id = hex(opened.channelId);
  await activeChannel(funder, id);
  await activeChannel(fundee, id);
  return id;
}

/** Waits until both sides' commitments hold no HTLC (the last revoke_and_ack arrived). */
async function quiet2(x: LightningNode, y: LightningNode, id: string): Promise<void> {
  const key = Buffer.from(id, 'hex');
  await waitFor('commitments without HTLCs', () => x.channels!.get(key)!.pendingHtlcs === 0 && y.channels!.get(key)!.pendingHtlcs === 0 && balances(x, id).local === balances(y, id).remote);
}

const balances = (n: LightningNode, id: string): { local: bigint; remote: bigint } => {
  const c = n.channels!.get(Buffer.from(id, 'hex'))!;
  return { local: c.localBalanceMsat, remote: c.remoteBalanceMsat };
};

async function pay(from: LightningNode, to: LightningNode, amountMsat: Msat, descriptionHash?: Uint8Array): Promise<void> {
  const inv = to.invoices.create({ amountMsat, descriptionHash: descriptionHash ?? sha256(new TextEncoder().encode(`job ${amountMsat}`)) });
  const p = await from.payments.pay(inv.bolt11);
  expect(p.state).toBe('succeeded');
  expect(hex(sha256(p.preimage!))).toBe(hex(inv.paymentHash));
  await waitFor('invoice settled', () => to.invoices.get(inv.paymentHash)?.state === 'settled');
  expect(to.invoices.get(inv.paymentHash)!.receivedMsat).toBe(amountMsat);
}

/** Amounts with msat precision, from 1 msat to a large share of what is left. */
function amounts(n: number, total: bigint): Msat[] {
  const out: Msat[] = [msat(1), msat(1_001), msat(123_457)];
  let rest = total - out.reduce((s, a) => s + a, 0n);
  while (out.length < n - 1) {
    const a = msat(((rest / 20n) % 9_999_999_991n) + 7n);
    out.push(a);
    rest -= a;
  }
  out.push(msat(rest));
  return out;
}

describe('lnnode <-> lnnode channels on the lab', () => {
  let a: LightningNode;
  let b: LightningNode;
  let ab: string;

  test('A opens a channel to B: funded on chain, ready after 3 confirmations on both sides', async () => {
    a = startNode('a');
    b = startNode('b');
    await fund(a, 3_000_000n);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    ab = await openChannel(a, b);
    const ca = a.channels!.get(Buffer.from(ab, 'hex'))!;
    expect(ca.capacitySat).toBe(FUNDING);
    expect(ca.shortChannelId).toMatch(/^\d+x\d+x\d+$/);
    expect(balances(a, ab)).toEqual({ local: FUNDING * 1000n, remote: 0n });
    expect(balances(b, ab)).toEqual({ local: 0n, remote: FUNDING * 1000n });
  }, 60_000);

  test('25 payments each way settle; balances match to the msat on both sides', async () => {
    const toB = amounts(25, 600_000_000n);
    for (const x of toB) await pay(a, b, x);
    const sentToB = toB.reduce((s, x) => s + x, 0n);
    await quiet2(a, b, ab);
    expect(balances(a, ab)).toEqual({ local: FUNDING * 1000n - sentToB, remote: sentToB });
    expect(balances(b, ab)).toEqual({ local: sentToB, remote: FUNDING * 1000n - sentToB });

    const toA = amounts(25, 500_000_000n);
    for (const x of toA) await pay(b, a, x);
    const sentToA = toA.reduce((s, x) => s + x, 0n);
    await quiet2(a, b, ab);
    expect(balances(a, ab).local).toBe(FUNDING * 1000n - sentToB + sentToA);
    expect(balances(b, ab).local).toBe(sentToB - sentToA);
  }, 120_000);

  test('paying the same invoice twice pays once; an unknown payment is failed and moves nothing', async () => {
    const inv = b.invoices.create({ amountMsat: msat(50_000), description: 'once' });
    const before = balances(a, ab).local;
    const first = await a.payments.pay(inv.bolt11);
    const second = await a.payments.pay(inv.bolt11);
    expect(hex(second.preimage!)).toBe(hex(first.preimage!));
    expect(balances(a, ab).local).toBe(before - 50_000n);

    const canceled = b.invoices.create({ amountMsat: msat(70_000), description: 'canceled' });
    b.invoices.cancel(canceled.paymentHash);
    const err = await a.payments.pay(canceled.bolt11).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentError);
    expect((err as PaymentError).payment?.failure).toBe('incorrect_or_unknown_payment_details');
    await quiet2(a, b, ab);
    expect(balances(a, ab).local).toBe(before - 50_000n);
  }, 60_000);

  test('concurrent payments both ways interleave and all settle', async () => {
    const startA = balances(a, ab).local;
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      ps.push(pay(a, b, msat(10_000 + i)));
      ps.push(pay(b, a, msat(20_000 + i)));
    }
    await Promise.all(ps);
    await quiet2(a, b, ab);
    let net = 0n;
    for (let i = 0; i < 10; i++) net += BigInt(20_000 + i) - BigInt(10_000 + i);
    expect(balances(a, ab).local).toBe(startA + net);
    expect(balances(b, ab).remote).toBe(startA + net);
  }, 60_000);

  test('B restarts: the channel reestablishes with the same balances and payments work', async () => {
    await quiet2(a, b, ab);
    const before = balances(a, ab);
    const dir = b.config.dataDir;
    stopNode(b);
    b = LightningNode.start({ ...b.config, dataDir: dir, p2pListen: { host: '127.0.0.1', port: 0 } }, quiet.child('b2'));
    nodes.push(b);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    await activeChannel(a, ab);
    await activeChannel(b, ab);
    expect(balances(b, ab)).toEqual({ local: before.remote, remote: before.local });
    await pay(a, b, msat(12_345));
    await pay(b, a, msat(54_321));
    await quiet2(a, b, ab);
    expect(balances(a, ab).local).toBe(before.local - 12_345n + 54_321n);
  }, 60_000);

  test('B opens a channel to A (A is fundee) and pays over it', async () => {
    await fund(b, 2_000_000n);
    const ba = await openChannel(b, a, sat(500_000));
    expect(a.channels!.get(Buffer.from(ba, 'hex'))!.weAreOpener).toBe(false);
    const before = balances(a, ba).local;
    expect(before).toBe(0n);
    await pay(b, a, msat(100_000_001));
    await quiet2(a, b, ba);
    expect(balances(a, ba)).toEqual({ local: 100_000_001n, remote: 500_000_000n - 100_000_001n });
  }, 60_000);
});
