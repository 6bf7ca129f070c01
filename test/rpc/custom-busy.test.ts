/**
 * Issue 13 "outbound queues": SendCustomMessage to a peer that does not read
 * is refused with RESOURCE_EXHAUSTED on both APIs (lnnode.v1 and the
 * lnd-compatible one) once 1 MiB waits for that peer, instead of being
 * queued without end with every call OK. The peer stays connected and, once
 * it reads, the calls succeed again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { credentialTransport } from '../../src/rpc/client.ts';
import { Lightning } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { adminMacaroonPath } from '../../src/rpc/lnd/admin-macaroon.ts';
import { startLndApi } from '../../src/rpc/lnd/api.ts';
import { type RpcServer } from '../../src/rpc/server.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { quiet, startNodeWithApi, type NodeWithApi } from './node-with-api.ts';

let a: NodeWithApi;
let lnd: RpcServer;
let lightning: Client<typeof Lightning>;
let peer: RawPeer;

beforeAll(async () => {
  a = await startNodeWithApi();
  lnd = (await startLndApi(a.node, { ...a.node.config, lndRpcListen: { host: '127.0.0.1', port: 0 } }, quiet))!;
  const macaroon = readFileSync(adminMacaroonPath(a.dataDir, 'regtest')).toString('hex');
  lightning = createClient(
    Lightning,
    credentialTransport({ host: '127.0.0.1', port: lnd.port, header: ['macaroon', macaroon], caCert: readFileSync(join(a.dataDir, 'tls.cert')) }),
  );
  peer = await RawPeer.connect('127.0.0.1', a.node.p2pPort!, a.node.nodeId);
});

afterAll(async () => {
  peer?.close();
  await lnd?.stop();
  await a?.stop();
});

const code = (e: unknown): Code | 'ok' => (e instanceof ConnectError ? e.code : 'ok');

describe('SendCustomMessage to a peer that does not read', () => {
  test('lnnode.v1 and lnd both answer ResourceExhausted past 1 MiB waiting; the peer stays; once it reads both succeed', async () => {
    peer.pause();
    const data = new Uint8Array(65_533);
    let ok = 0;
    let last: unknown;
    for (let i = 0; i < 1000; i++) {
      last = await a.client.sendCustomMessage({ peerPubkey: peer.nodeId, msgType: 40_000, data }).then(() => undefined, (e: unknown) => e);
      if (last) break;
      ok++;
    }
    expect(code(last)).toBe(Code.ResourceExhausted);
    expect((last as ConnectError).rawMessage).toMatch(/is busy: \d+ bytes still wait to be sent to it \(limit 1048576\)/);
    const viaLnd = await lightning.sendCustomMessage({ peer: peer.nodeId, type: 40_000, data }).then(() => undefined, (e: unknown) => e);
    expect(code(viaLnd)).toBe(Code.ResourceExhausted);
    expect(ok).toBeLessThan(1000);
    expect(a.node.peers.isConnected(peer.nodeId)).toBe(true);

    peer.resume();
    const deadline = Date.now() + 20_000;
    while (peer.received.filter((m) => m.type === 40_000).length < ok && Date.now() < deadline) await Bun.sleep(10);
    expect(peer.received.filter((m) => m.type === 40_000).length).toBe(ok);
    await a.client.sendCustomMessage({ peerPubkey: peer.nodeId, msgType: 40_000, data: Uint8Array.of(1) });
    expect((await lightning.sendCustomMessage({ peer: peer.nodeId, type: 40_000, data: Uint8Array.of(2) })).status).toBe('message sent successfully');
  }, 30_000);
});
