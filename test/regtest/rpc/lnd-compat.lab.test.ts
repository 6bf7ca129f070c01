// lab-peers: btcd lnd
/**
 * The lnd-compatible API against lnd's own client: lncli, built from the Go
 * module proxy at the pinned lnd version, drives an lnnode daemon (A) with
 * its usual flags (--lnddir finds tls.cert and admin.macaroon) against an
 * in-process lnnode peer (B) on the regtest lab. The calls lncli has no
 * command for (SubscribeInvoices, SubscribeSingleInvoice, TrackPaymentV2,
 * OpenChannelSync) are made with a TypeScript client generated from the same
 * subset protos. Every step checks what happened: balances, preimages,
 * transactions on chain.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { Invoices } from '../../../src/rpc/gen/invoicesrpc/invoices_pb.ts';
import { Invoice_InvoiceState, Lightning, Payment_PaymentStatus } from '../../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { Router } from '../../../src/rpc/gen/routerrpc/router_pb.ts';
import { credentialTransport } from '../../../src/rpc/client.ts';
import { adminMacaroonPath } from '../../../src/rpc/lnd/admin-macaroon.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { Lncli } from '../../lab/lncli.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { freePort, waitFor } from '../../lab/processes.ts';

const WALLET_SAT = 2_000_000n;
const FUNDING_SAT = 1_000_000n;
const PUSH_SAT = 200_000n;
const RECEIVED_MSAT = 123_456_789n;
const PAID_MSAT = 50_000_001n;
const descriptionHash = sha256(new TextEncoder().encode('LCP job terms: the description_hash binds them'));

let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
let cli: Lncli;
let lndPort: number;
let channelPoint: { txid: string; vout: number };
let fundingFee: bigint;

interface LndClients {
  lightning: Client<typeof Lightning>;
  router: Client<typeof Router>;
  invoices: Client<typeof Invoices>;
}

function lndClients(macaroonHex = readFileSync(adminMacaroonPath(a.dataDir, 'regtest')).toString('hex')): LndClients {
  const transport = credentialTransport({ host: '127.0.0.1', port: lndPort, header: ['macaroon', macaroonHex], caCert: readFileSync(join(a.dataDir, 'tls.cert')) });
  return { lightning: createClient(Lightning, transport), router: createClient(Router, transport), invoices: createClient(Invoices, transport) };
}

beforeAll(async () => {
  lab = await ChannelLab.start('lnd-compat');
  b = lab.startNode('b');
  lndPort = await freePort();
  a = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200', '--lnd-rpc-listen', `127.0.0.1:${lndPort}`] });
  cli = new Lncli(lndPort, a.dataDir);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await lab?.stop();
});

describe('lncli against lnnode', () => {
  test('getinfo', async () => {
    const height = await lab.btcd.height();
    const info = await waitFor('A synced', async () => {
      const i = await cli.json<{ identity_pubkey: string; block_height: number; synced_to_chain: boolean; chains: { network: string }[] }>(['getinfo']);
      return i.synced_to_chain && i.block_height >= height ? i : undefined;
    });
    expect(info.identity_pubkey).toBe(a.nodeId);
    expect(info.chains).toEqual([{ chain: 'bitcoin', network: 'regtest' }] as never);
  }, 120_000);

  test('newaddress and walletbalance', async () => {
    const { address } = await cli.json<{ address: string }>(['newaddress', 'p2wkh']);
    expect(address).toStartWith('bcrt1q');
    await lab.faucet.send(address, WALLET_SAT);
    await lab.btcd.generate(1);
    const bal = await waitFor('A funded', async () => {
      const w = await cli.json<{ confirmed_balance: string; unconfirmed_balance: string; total_balance: string }>(['walletbalance']);
      return w.confirmed_balance === String(WALLET_SAT) ? w : undefined;
    });
    expect(bal.total_balance).toBe(String(WALLET_SAT));
    const np2wkh = await cli.run(['newaddress', 'np2wkh']);
    expect(np2wkh.code).not.toBe(0);
    expect(np2wkh.stderr).toContain('InvalidArgument');
  }, 120_000);

  test('connect and listpeers', async () => {
    expect(await cli.json(['connect', `${hex(b.nodeId)}@127.0.0.1:${b.p2pPort}`])).toEqual({ status: expect.any(String) });
    const peers = await cli.json<{ peers: { pub_key: string; inbound: boolean }[] }>(['listpeers']);
    expect(peers.peers.map((p) => [p.pub_key, p.inbound])).toEqual([[hex(b.nodeId), false]]);
    const again = await cli.run(['connect', `${hex(b.nodeId)}@127.0.0.1:${b.p2pPort}`]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already connected');
  }, 120_000);

  test('subscribecustom receives and sendcustom sends', async () => {
    const sub = cli.spawn(['subscribecustom'], a.dataDir);
    try {
      // The stream is registered some moments after the process starts: B repeats until A's lncli prints one.
      let n = 0;
      await waitFor('subscribecustom to print a message from B', async () => {
        b.peers.sendCustom(fromHex(a.nodeId), 32_801, Uint8Array.of(0xbe, 0xef, n++));
        await Bun.sleep(200);
        return readFileSync(sub.logFile, 'utf8').includes(`Received from peer ${hex(b.nodeId)}: type=32801, data=beef`);
      });
    } finally {
      await sub.stop();
    }
    const inbox = b.peers.subscribeCustom([40_000]);
    expect(await cli.json(['sendcustom', '--peer', hex(b.nodeId), '--type', '40000', '--data', 'cafe01'])).toEqual({ status: 'message sent successfully' });
    const got = (await inbox.next()).value!;
    inbox.close();
    expect([hex(got.peer), got.type, hex(got.payload)]).toEqual([a.nodeId, 40_000, 'cafe01']);
    const low = await cli.run(['sendcustom', '--peer', hex(b.nodeId), '--type', '100', '--data', '00']);
    expect(low.code).not.toBe(0);
    expect(low.stderr).toContain('InvalidArgument');
  }, 120_000);

  test('openchannel (private) and listchannels', async () => {
    const pub = await cli.run(['openchannel', '--node_key', hex(b.nodeId), '--local_amt', String(FUNDING_SAT)]);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toContain('private');

    // --block: lncli prints the pending channel, then waits on the OpenChannel stream until it is open.
    const running = cli.run(['openchannel', '--node_key', hex(b.nodeId), '--local_amt', String(FUNDING_SAT), '--push_amt', String(PUSH_SAT), '--private', '--block']);
    const [funding] = await waitFor('the funding transaction in the mempool', async () => {
      const pool = await lab.btcd.rpc.call<string[]>('getrawmempool');
      return pool.length ? pool : undefined;
    });
    await lab.btcd.generate(3);
    const done = await running;
    expect(done.code).toBe(0);
    const [pending, open] = done.stdout.trim().split(/\n(?=\{)/).map((j) => JSON.parse(j) as Record<string, string>);
    const opened = { funding_txid: pending!.funding_txid! };
    expect(opened.funding_txid).toBe(funding!);
    expect(open!.channel_point).toStartWith(`${funding}:`);
    fundingFee = await lab.fee(opened.funding_txid);
    const ch = await waitFor('channel active in listchannels', async () => {
      const l = await cli.json<{ channels: Record<string, unknown>[] }>(['listchannels', '--active_only']);
      return l.channels[0];
    });
    const [txid, vout] = String(ch.channel_point).split(':');
    channelPoint = { txid: txid!, vout: Number(vout) };
    expect(txid).toBe(opened.funding_txid);
    expect([ch.remote_pubkey, ch.capacity, ch.private, ch.initiator, ch.commitment_type]).toEqual([hex(b.nodeId), String(FUNDING_SAT), true, true, 'ANCHORS']);
    // lncli prints the short channel id as scid/scid_str.
    expect(ch.scid_str).toStartWith(`${(await lab.btcd.height()) - 2}x`);
    expect(Number(BigInt(ch.scid as string) >> 40n)).toBe((await lab.btcd.height()) - 2);
    await lab.active(b, b.channels!.list()[0]!.channelId);
  }, 120_000);

  test('addinvoice with a description_hash, decodepayreq, B pays, lookupinvoice shows it settled', async () => {
    const inv = await cli.json<{ r_hash: string; payment_request: string; add_index: string; payment_addr: string }>([
      'addinvoice',
      '--amt_msat',
      String(RECEIVED_MSAT),
      '--description_hash',
      hex(descriptionHash),
    ]);
    const d = await cli.json<Record<string, unknown>>(['decodepayreq', inv.payment_request]);
    expect([d.destination, d.payment_hash, d.num_msat, d.num_satoshis, d.description_hash, d.payment_addr, d.expiry]).toEqual([
      a.nodeId,
      inv.r_hash,
      String(RECEIVED_MSAT),
      String(RECEIVED_MSAT / 1000n),
      hex(descriptionHash),
      inv.payment_addr,
      '86400',
    ]);
    const open = await cli.json<{ state: string }>(['lookupinvoice', inv.r_hash]);
    expect(open.state).toBe('OPEN');

    await lab.synced(b);
    const paid = await b.payments.pay(inv.payment_request);
    const looked = await cli.json<Record<string, unknown>>(['lookupinvoice', inv.r_hash]);
    expect([looked.state, looked.amt_paid_msat, looked.r_preimage, looked.add_index, looked.settle_index]).toEqual([
      'SETTLED',
      String(RECEIVED_MSAT),
      hex(paid.preimage!),
      inv.add_index,
      '1',
    ]);
    expect(hex(sha256(paid.preimage!))).toBe(inv.r_hash);
  }, 120_000);

  test('payinvoice pays B; a second payinvoice of it is refused and pays nothing', async () => {
    const inv = b.invoices.create({ amountMsat: msat(PAID_MSAT), descriptionHash });
    await waitFor('A at the tip', async () => (await cli.json<{ block_height: number }>(['getinfo'])).block_height >= (await lab.btcd.height()));
    const p = await cli.json<{ status: string; payment_preimage: string; value_msat: string; fee_msat: string }>(['payinvoice', '--force', '--json', inv.bolt11]);
    expect([p.status, p.payment_preimage, p.value_msat, p.fee_msat]).toEqual(['SUCCEEDED', hex(inv.preimage), String(PAID_MSAT), '0']);
    expect(b.invoices.get(inv.paymentHash)!.receivedMsat).toBe(msat(PAID_MSAT));
    const again = await cli.run(['payinvoice', '--force', '--json', inv.bolt11]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already paid');
    const localMsat = FUNDING_SAT * 1000n - PUSH_SAT * 1000n + RECEIVED_MSAT - PAID_MSAT;
    await waitFor('B without pending HTLCs', () => b.channels!.list()[0]!.pendingHtlcs === 0);
    expect(b.channels!.list()[0]!.remoteBalanceMsat).toBe(msat(localMsat));
    const ch = (await cli.json<{ channels: { local_balance: string; commit_fee: string; fee_per_kw: string; commitment_type: string }[] }>(['listchannels'])).channels[0]!;
    // As lnd shows it: A opened an anchors channel, so its balance is net of the commitment fee (BOLT 3: weight 1124
    // without HTLCs) and of the two 330-sat anchors.
    expect(ch.commitment_type).toBe('ANCHORS');
    expect(ch.fee_per_kw).toBe(String(b.channels!.list()[0]!.feeratePerKw));
    expect(ch.commit_fee).toBe(String((1124n * BigInt(ch.fee_per_kw)) / 1000n));
    expect(ch.local_balance).toBe(String(localMsat / 1000n - BigInt(ch.commit_fee) - 660n));
  }, 120_000);

  test('bad credentials and unserved methods', async () => {
    const macPath = adminMacaroonPath(a.dataDir, 'regtest');
    const altered = join(a.dataDir, 'altered.macaroon');
    const bytes = readFileSync(macPath);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(altered, bytes);
    const bad = await new Lncli(lndPort, a.dataDir, ['--macaroonpath', altered]).run(['getinfo']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('Unauthenticated');
    expect(bad.stderr).toContain('does not verify');
    const none = await new Lncli(lndPort, a.dataDir, ['--no-macaroons']).run(['getinfo']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('expected 1 macaroon');
    // A client that trusts another certificate (btcd's) does not talk to this node.
    const otherDir = mkdtempSync(join(tmpdir(), 'lab-lncli-'));
    copyFileSync(join(lab.btcd.dir, 'rpc.cert'), join(otherDir, 'tls.cert'));
    mkdirSync(dirname(adminMacaroonPath(otherDir, 'regtest')), { recursive: true });
    copyFileSync(macPath, adminMacaroonPath(otherDir, 'regtest'));
    const tls = await new Lncli(lndPort, otherDir).run(['getinfo'], 15_000);
    rmSync(otherDir, { recursive: true, force: true });
    expect(tls.code).not.toBe(0);
    expect(tls.stderr).toContain('certificate');
    const unserved = await cli.run(['describegraph']);
    expect(unserved.code).not.toBe(0);
    expect(unserved.stderr).toContain('Unimplemented');
  }, 120_000);

  test('closechannel: the closing transaction pays A its balance; the wallet accounts for every satoshi', async () => {
    const closed = await cli.json<{ closing_txid: string }>(['closechannel', '--funding_txid', channelPoint.txid, '--output_index', String(channelPoint.vout)]);
    expect((await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(closed.closing_txid)).toBe(true);
    const closingFee = await lab.fee(closed.closing_txid);
    await lab.btcd.generate(1);
    const remoteSat = (PUSH_SAT * 1000n - RECEIVED_MSAT + PAID_MSAT) / 1000n;
    expect((await lab.outputs(closed.closing_txid)).includes(remoteSat)).toBe(true);
    // The funder pays both fees; the msat both sides lose to rounding down go to the fee too (BOLT 3).
    const expected = WALLET_SAT - fundingFee - FUNDING_SAT + (FUNDING_SAT - remoteSat - closingFee);
    await waitFor(`A's wallet at ${expected} sat`, async () => {
      const w = await cli.json<{ confirmed_balance: string; unconfirmed_balance: string }>(['walletbalance']);
      return w.confirmed_balance === String(expected) && w.unconfirmed_balance === '0';
    });
    await lab.mineUntil('channel gone from listchannels', async () => (await cli.json<{ channels: unknown[] }>(['listchannels'])).channels.length === 0, 10);
    // Listed as closed once every output is deep: cooperative, at the height it confirmed, our output settled.
    await lab.mineUntil('the channel in closedchannels', async () => (await cli.json<{ channels: unknown[] }>(['closedchannels'])).channels.length === 1, 10, 0);
    const closeHeight = (await lab.btcd.height()) - (await lab.confirmations(closed.closing_txid))! + 1;
    const c = (await cli.json<{ channels: Record<string, unknown>[] }>(['closedchannels', '--cooperative'])).channels[0]!;
    expect([c.channel_point, c.closing_tx_hash, c.close_type, c.close_height, c.settled_balance, c.time_locked_balance]).toEqual([
      `${channelPoint.txid}:${channelPoint.vout}`,
      closed.closing_txid,
      'COOPERATIVE_CLOSE',
      closeHeight,
      String(FUNDING_SAT - remoteSat - closingFee),
      '0',
    ]);
  }, 120_000);
});

describe('lnd calls lncli has no command for (generated TypeScript client)', () => {
  test('SubscribeInvoices from add_index/settle_index, SubscribeSingleInvoice, TrackPaymentV2, OpenChannelSync', async () => {
    const c = lndClients();
    // A fresh channel for these payments.
    const cp = await c.lightning.openChannelSync({ nodePubkey: b.nodeId, localFundingAmount: FUNDING_SAT / 2n, pushSat: FUNDING_SAT / 4n, private: true });
    expect(cp.fundingTxid.case).toBe('fundingTxidBytes');
    const txid = hex(Uint8Array.from(cp.fundingTxid.value as Uint8Array).reverse());
    expect((await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(txid)).toBe(true);
    await lab.btcd.generate(3);
    await waitFor('second channel active', async () => (await c.lightning.listChannels({ activeOnly: true })).channels.some((x) => x.channelPoint.startsWith(txid)));
    await lab.synced(b);

    // A backlog from add_index 1 (the first invoice is skipped) and settle_index 0 (no settled backlog), then live events.
    const abort = new AbortController();
    const seen: { hash: string; state: Invoice_InvoiceState; add: bigint; settle: bigint }[] = [];
    const stream = (async () => {
      try {
        for await (const i of c.lightning.subscribeInvoices({ addIndex: 1n, settleIndex: 0n }, { signal: abort.signal })) {
          seen.push({ hash: hex(i.rHash), state: i.state, add: i.addIndex, settle: i.settleIndex });
        }
      } catch (e) {
        if (ConnectError.from(e).code !== Code.Canceled) throw e;
      }
    })();
    const added = await c.lightning.addInvoice({ valueMsat: 7_777_777n, descriptionHash });
    expect(added.addIndex).toBe(2n);
    const single = c.invoices.subscribeSingleInvoice({ rHash: added.rHash });
    const states: Invoice_InvoiceState[] = [];
    const singleDone = (async () => {
      for await (const i of single) states.push(i.state);
    })();
    await waitFor('the new invoice in the stream', () => seen.some((s) => s.hash === hex(added.rHash)));
    const paid = await b.payments.pay(added.paymentRequest);
    await singleDone;
    expect(states).toEqual([Invoice_InvoiceState.OPEN, Invoice_InvoiceState.SETTLED]);
    await waitFor('the settlement in the stream', () => seen.some((s) => s.hash === hex(added.rHash) && s.state === Invoice_InvoiceState.SETTLED));
    abort.abort();
    await stream;
    expect(seen.map((s) => [s.hash, s.state, s.add, s.settle])).toEqual([
      [hex(added.rHash), Invoice_InvoiceState.OPEN, 2n, 0n],
      [hex(added.rHash), Invoice_InvoiceState.SETTLED, 2n, 2n],
    ]);
    expect(hex(sha256(paid.preimage!))).toBe(hex(added.rHash));

    // Resuming from settle_index 1 replays exactly the second settlement.
    const replay = new AbortController();
    const replayed: bigint[] = [];
    try {
      for await (const i of c.lightning.subscribeInvoices({ settleIndex: 1n }, { signal: replay.signal })) {
        replayed.push(i.settleIndex);
        replay.abort();
      }
    } catch (e) {
      if (ConnectError.from(e).code !== Code.Canceled) throw e;
    }
    expect(replayed).toEqual([2n]);

    // SendPaymentV2 streams IN_FLIGHT then SUCCEEDED; TrackPaymentV2 afterwards gives the final state only.
    const inv = b.invoices.create({ amountMsat: msat(3_333_333n), descriptionHash });
    const updates: Payment_PaymentStatus[] = [];
    let preimage = '';
    for await (const p of c.router.sendPaymentV2({ paymentRequest: inv.bolt11, timeoutSeconds: 30, feeLimitSat: 0n })) {
      updates.push(p.status);
      preimage = p.paymentPreimage;
    }
    expect(updates).toEqual([Payment_PaymentStatus.IN_FLIGHT, Payment_PaymentStatus.SUCCEEDED]);
    expect(preimage).toBe(hex(inv.preimage));
    const tracked: Payment_PaymentStatus[] = [];
    for await (const p of c.router.trackPaymentV2({ paymentHash: inv.paymentHash })) tracked.push(p.status);
    expect(tracked).toEqual([Payment_PaymentStatus.SUCCEEDED]);
    const twice = await (async () => {
      for await (const _ of c.router.sendPaymentV2({ paymentRequest: inv.bolt11, timeoutSeconds: 30 }));
    })().catch((e) => ConnectError.from(e));
    expect(twice instanceof ConnectError && twice.code).toBe(Code.AlreadyExists);
    const unknown = await (async () => {
      for await (const _ of c.router.trackPaymentV2({ paymentHash: new Uint8Array(32) }));
    })().catch((e) => ConnectError.from(e));
    expect(unknown instanceof ConnectError && unknown.code).toBe(Code.NotFound);
    const noTimeout = await (async () => {
      for await (const _ of c.router.sendPaymentV2({ paymentRequest: b.invoices.create({ amountMsat: msat(1000n) }).bolt11 }));
    })().catch((e) => ConnectError.from(e));
    expect(noTimeout instanceof ConnectError && noTimeout.code).toBe(Code.InvalidArgument);
  }, 120_000);
});
