/**
 * The lnnode.v1 API over real gRPC (HTTP/2) against in-process nodes
 * without a chain: the credential, argument errors with their codes,
 * custom messages and peer events through streams, stream back-pressure and
 * cancellation, invoices waited on until settled, expired or timed out,
 * and TLS.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { hex } from '../../src/bolt/bytes.ts';
import { type DaemonConfig } from '../../src/node/config.ts';
import { lnnodeClient } from '../../src/rpc/client.ts';
import { tokenPath } from '../../src/rpc/credentials.ts';
import { startRpcServer } from '../../src/rpc/server.ts';
import { InvoiceState, PeerEvent_Type, WaitInvoiceSettledResponse_State } from '../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { lnnodeRoutes } from '../../src/rpc/lnnode-service.ts';
import { type NodeWithApi, quiet, startNodeWithApi } from './node-with-api.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function start(extra: Partial<DaemonConfig> = {}): Promise<NodeWithApi> {
  const r = await startNodeWithApi(extra);
  cleanup.push(() => r.stop());
  return r;
}

async function codeOf(p: Promise<unknown>): Promise<[Code, string]> {
  try {
    await p;
  } catch (e) {
    const c = ConnectError.from(e);
    return [c.code, c.rawMessage];
  }
  throw new Error('the call succeeded');
}

async function nextOf<T>(it: AsyncIterator<T>, ms = 10_000): Promise<T> {
  const r = await Promise.race([it.next(), Bun.sleep(ms).then(() => 'timeout' as const)]);
  if (r === 'timeout') throw new Error('stream gave nothing in time');
  if (r.done) throw new Error('stream ended');
  return r.value;
}

describe('lnnode.v1 API', () => {
  test('every call needs the token from rpc.token (mode 0600); a missing or wrong one is Unauthenticated', async () => {
    const a = await start();
    expect(statSync(tokenPath(a.dataDir)).mode & 0o777).toBe(0o600);
    const info = await a.client.getNodeInfo({});
    expect(hex(info.nodePubkey)).toBe(hex(a.node.nodeId));
    expect(info.network).toBe('regtest');
    expect(info.chainSource).toBe('none');
    expect(info.p2pListenAddrs).toEqual([`127.0.0.1:${a.node.p2pPort}`]);
    const wrong = lnnodeClient({ host: '127.0.0.1', port: a.api.port, token: 'ab'.repeat(32) });
    expect((await codeOf(wrong.getNodeInfo({})))[0]).toBe(Code.Unauthenticated);
    const none = lnnodeClient({ host: '127.0.0.1', port: a.api.port, token: '' });
    expect((await codeOf(none.listPeers({})))[0]).toBe(Code.Unauthenticated);
    // A stream is refused the same way, before any subscription exists.
    const it = wrong.subscribeCustomMessages({})[Symbol.asyncIterator]();
    expect((await codeOf(it.next()))[0]).toBe(Code.Unauthenticated);
    // The same token after a restart.
    await a.api.stop();
    a.node.stop();
    const again = await start({ dataDir: a.dataDir });
    expect(again.token).toBe(a.token);
  });

  test('wrong arguments get InvalidArgument naming the field; unknown peers and channels NotFound', async () => {
    const { client } = await start();
    const cases: [() => Promise<unknown>, Code, RegExp][] = [
      [() => client.createInvoice({ descriptionHash: new Uint8Array(31), amountMsat: 1000n }), Code.InvalidArgument, /description_hash must be 32 bytes, got 31/],
      [() => client.createInvoice({ amountMsat: 1000n }), Code.InvalidArgument, /description_hash must be 32 bytes, got 0/],
      [() => client.sendCustomMessage({ peerPubkey: new Uint8Array(33).fill(2), msgType: 32767, data: new Uint8Array(1) }), Code.InvalidArgument, /msg_type 32767 is outside/],
      [() => client.sendCustomMessage({ peerPubkey: new Uint8Array(33).fill(2), msgType: 40000, data: new Uint8Array(65534) }), Code.InvalidArgument, /data is 65534 bytes/],
      [() => client.sendCustomMessage({ peerPubkey: new Uint8Array(32), msgType: 40000 }), Code.InvalidArgument, /peer_pubkey must be 33 bytes/],
      [() => client.sendCustomMessage({ peerPubkey: new Uint8Array(33).fill(2), msgType: 40000 }), Code.NotFound, /is not connected/],
      [() => client.connectPeer({ peerPubkey: new Uint8Array(33).fill(2), addr: 'nowhere' }), Code.InvalidArgument, /addr must be host:port/],
      [() => client.disconnectPeer({ peerPubkey: new Uint8Array(33).fill(3) }), Code.NotFound, /not connected/],
      [() => client.closeChannel({ channelId: new Uint8Array(32) }), Code.NotFound, /no channel/],
      [() => client.closeChannel({ channelId: new Uint8Array(31) }), Code.InvalidArgument, /channel_id must be 32 bytes/],
      [() => client.decodeInvoice({ paymentRequest: 'lnbcrt1garbage' }), Code.InvalidArgument, /not a valid BOLT 11 invoice/],
      [() => client.payInvoice({ paymentRequest: '' }), Code.InvalidArgument, /payment_request is required/],
      [() => client.waitInvoiceSettled({ paymentHash: new Uint8Array(32) }), Code.NotFound, /no invoice/],
      [() => client.newAddress({}), Code.FailedPrecondition, /no chain source configured/],
      [() => client.openChannel({ peerPubkey: new Uint8Array(33).fill(2), localFundingAmountSat: 100_000n, announceChannel: true }), Code.InvalidArgument, /public channels/],
    ];
    for (const [p, code, msg] of cases) {
      const [c, m] = await codeOf(p());
      expect([Code[c], m]).toEqual([Code[code], expect.stringMatching(msg)]);
    }
  });

  test('invoices: created with the description_hash, decoded, waited on until expired, or DeadlineExceeded', async () => {
    const { client } = await start();
    const descriptionHash = new Uint8Array(32).fill(7);
    const inv = await client.createInvoice({ descriptionHash, amountMsat: 123_456n, expirySeconds: 2n });
    const d = await client.decodeInvoice({ paymentRequest: inv.paymentRequest });
    expect([hex(d.descriptionHash), d.amountMsat, d.expirySeconds, hex(d.paymentHash), hex(d.paymentAddr), d.network]).toEqual([
      hex(descriptionHash), 123_456n, 2n, hex(inv.paymentHash), hex(inv.paymentAddr), 'regtest',
    ]);
    expect((await codeOf(client.waitInvoiceSettled({ paymentHash: inv.paymentHash, timeoutSeconds: 1 })))[0]).toBe(Code.DeadlineExceeded);
    const r = await client.waitInvoiceSettled({ paymentHash: inv.paymentHash });
    expect(r.state).toBe(WaitInvoiceSettledResponse_State.EXPIRED);
    const listed = await client.listInvoices({});
    expect(listed.invoices.map((i) => [hex(i.paymentHash), i.state])).toEqual([[hex(inv.paymentHash), InvoiceState.EXPIRED]]);
  });

  test('custom messages and peer events flow through streams between two nodes', async () => {
    const a = await start();
    const b = await start();
    const done = new AbortController();
    cleanup.push(() => done.abort());
    const events = a.client.subscribePeerEvents({}, { signal: done.signal })[Symbol.asyncIterator]();
    const atB = b.client.subscribeCustomMessages({ msgTypes: [40001] }, { signal: done.signal })[Symbol.asyncIterator]();
    await Bun.sleep(100); // let both subscriptions reach the nodes
    expect(await a.client.connectPeer({ peerPubkey: b.node.nodeId, addr: `127.0.0.1:${b.node.p2pPort}` })).toMatchObject({ alreadyConnected: false });
    expect(await a.client.connectPeer({ peerPubkey: b.node.nodeId, addr: `127.0.0.1:${b.node.p2pPort}` })).toMatchObject({ alreadyConnected: true });
    const online = await nextOf(events);
    expect([hex(online.peerPubkey), online.type]).toEqual([hex(b.node.nodeId), PeerEvent_Type.ONLINE]);
    const peers = await a.client.listPeers({});
    expect(peers.peers.map((p) => [hex(p.peerPubkey), p.connected, p.inbound])).toEqual([[hex(b.node.nodeId), true, false]]);
    await a.client.sendCustomMessage({ peerPubkey: b.node.nodeId, msgType: 40000, data: Uint8Array.of(9) }); // filtered out at B
    await a.client.sendCustomMessage({ peerPubkey: b.node.nodeId, msgType: 40001, data: Uint8Array.of(1, 2, 3) });
    const m = await nextOf(atB);
    expect([hex(m.peerPubkey), m.msgType, hex(m.data)]).toEqual([hex(a.node.nodeId), 40001, '010203']);
    await a.client.disconnectPeer({ peerPubkey: b.node.nodeId });
    const offline = await nextOf(events);
    expect([hex(offline.peerPubkey), offline.type]).toEqual([hex(b.node.nodeId), PeerEvent_Type.OFFLINE]);
  });

  test('a subscriber that stops reading is closed with ResourceExhausted; another keeps receiving; cancelled streams are freed', async () => {
    const a = await start();
    // A short queue (4096 by default) makes the stalled stream overflow after a quarter of the messages (about 1,500
    // more sit in HTTP/2 on the way); the rule is the same at any length.
    const limit = 256;
    const b = await start({ subscriberQueueLimit: limit });
    const subscribers = (): number => (b.node.peers as unknown as { subscribers: Set<unknown> }).subscribers.size;
    // Its own connection: streams sharing one HTTP/2 connection share its flow-control window, client side.
    const other = lnnodeClient({ host: '127.0.0.1', port: b.api.port, token: b.token });
    const stalled = other.subscribeCustomMessages({})[Symbol.asyncIterator]();
    const cancel = new AbortController();
    const reading = b.client.subscribeCustomMessages({}, { signal: cancel.signal })[Symbol.asyncIterator]();
    // The first message opens both streams; from then on `stalled` is never read until the end.
    await a.client.connectPeer({ peerPubkey: b.node.nodeId, addr: `127.0.0.1:${b.node.p2pPort}` });
    await Bun.sleep(100);
    expect(subscribers()).toBe(2);
    const data = new Uint8Array(100);
    const total = 5_000;
    const burst = 200;
    let received = 0;
    const reader = (async () => {
      while (received < total) {
        await nextOf(reading, 30_000);
        received++;
      }
    })();
    // Bursts smaller than the queue, each read before the next: the reading subscriber never falls behind.
    for (let sent = 0; sent < total; sent += burst) {
      for (let i = 0; i < burst; i++) a.node.peers.sendCustom(b.node.nodeId, 40000, data);
      for (let w = 0; received < sent + burst && w < 600; w++) await Bun.sleep(20);
    }
    await reader;
    expect(received).toBe(total);
    // The stalled stream delivers what was buffered in HTTP/2, then the overflow error.
    let delivered = 0;
    const [code, msg] = await codeOf(
      (async () => {
        for (;;) {
          await nextOf(stalled);
          delivered++;
        }
      })(),
    );
    expect([Code[code], msg]).toEqual([Code[Code.ResourceExhausted], `subscriber fell ${limit} events behind and was closed`]);
    expect(delivered).toBeLessThan(total);
    cancel.abort();
    for (let i = 0; i < 50 && subscribers() > 0; i++) await Bun.sleep(50);
    expect(subscribers()).toBe(0);
  }, 60_000);

  test('over TLS with a given certificate; plain HTTP/2 off loopback is refused', async () => {
    const { selfSignedCertificate } = await import('../../src/rpc/tls-cert.ts');
    const dir = mkdtempSync(join(tmpdir(), 'lnnode-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
    await Bun.write(join(dir, 'c.pem'), cert);
    await Bun.write(join(dir, 'k.pem'), key);
    const a = await start({ rpcTls: { certPath: join(dir, 'c.pem'), keyPath: join(dir, 'k.pem') } });
    expect(a.api.tls).toBe(true);
    const tls = lnnodeClient({ host: '127.0.0.1', port: a.api.port, token: a.token, caCert: cert });
    expect(hex((await tls.getNodeInfo({})).nodePubkey)).toBe(hex(a.node.nodeId));
    // A client that does not trust the certificate gets nowhere.
    const other = selfSignedCertificate(['localhost', '127.0.0.1']).cert;
    const untrusting = lnnodeClient({ host: '127.0.0.1', port: a.api.port, token: a.token, caCert: other });
    const [code, msg] = await codeOf(untrusting.getNodeInfo({}));
    expect([code, msg]).toEqual([Code.Internal, expect.stringMatching(/certificate/i)]);
    const plainOffLoopback = startRpcServer({ host: '0.0.0.0', port: 0, routes: lnnodeRoutes(a.node), authorize: () => undefined, log: quiet });
    expect(plainOffLoopback).rejects.toThrow(/refusing to serve RPC without TLS on 0.0.0.0/);
  });
});
