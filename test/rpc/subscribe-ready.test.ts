/**
 * Issue 15: a SubscribeCustomMessages stream gets what a peer sends from the
 * moment the call reaches the node, not only once its request body has been
 * read and decoded (lnd's stream has no such gap; ours lost an LCP manifest
 * sent right after a daemon subscribed). Each round sends the call's headers,
 * lets the peer send a custom message, and only then the request body: the
 * message must be the stream's first, on lnnode.v1 and on the lnd API.
 * With the subscription made in the handler, none of them arrived.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CustomMessageSchema, SubscribeCustomMessagesRequestSchema } from '../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { CustomMessageSchema as LndCustomMessageSchema } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { waitFor } from '../lab/processes.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { connectRaw, envelope, PATHS } from './raw-grpc.ts';
import { startNodeWithApi, type NodeWithApi } from './node-with-api.ts';

const TYPE = 40_003;
const OTHER = 40_005;
const ROUNDS = 50;

let a: NodeWithApi;
let peer: RawPeer;

beforeAll(async () => {
  a = await startNodeWithApi();
  peer = await RawPeer.connect('127.0.0.1', a.node.p2pPort!, a.node.nodeId);
});

afterAll(async () => {
  peer?.close();
  await a?.stop();
});

const framed = (m: Uint8Array): Uint8Array => {
  const b = new Uint8Array(5 + m.length);
  b.set(envelope(m.length));
  b.set(m, 5);
  return b;
};

/** The first whole gRPC message of `stream`, or undefined when none came within `ms`. */
function firstMessage(stream: http2.ClientHttp2Stream, ms: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    let buf = new Uint8Array(0);
    const t = setTimeout(() => resolve(undefined), ms);
    stream.on('data', (chunk: Buffer) => {
      const all = new Uint8Array(buf.length + chunk.length);
      all.set(buf);
      all.set(chunk, buf.length);
      buf = all;
      if (buf.length < 5) return;
      const len = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0);
      if (buf.length < 5 + len) return;
      clearTimeout(t);
      resolve(buf.slice(5, 5 + len));
    });
    stream.resume();
  });
}

/** Headers now, the peer's message next, the body last; returns what the stream delivered first. */
async function round(session: http2.ClientHttp2Session, path: string, auth: Record<string, string>, body: Uint8Array, send: number, i: number) {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...auth });
  stream.on('error', () => {});
  stream.pause();
  // A PING's answer comes after the server has taken every frame before it: the call's headers have arrived.
  await new Promise<void>((r) => session.ping(() => r()));
  peer.custom(send, new TextEncoder().encode(`round ${i}`));
  // Long enough for the node to have read and dispatched it (a loopback hop takes well under a millisecond).
  await Bun.sleep(30);
  stream.end(framed(body));
  const first = await firstMessage(stream, 1_000);
  stream.close();
  return first;
}

describe('SubscribeCustomMessages gets what arrives while its request is being read', () => {
  test(`lnnode.v1: the message is the stream's first in ${ROUNDS} of ${ROUNDS} calls`, async () => {
    const session = connectRaw(a.api.port);
    const body = toBinary(SubscribeCustomMessagesRequestSchema, create(SubscribeCustomMessagesRequestSchema, { msgTypes: [TYPE] }));
    const got: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const m = await round(session, PATHS.lnnodeSubscribeCustom, { authorization: `Bearer ${a.token}` }, body, TYPE, i);
      const e = m && fromBinary(CustomMessageSchema, m);
      got.push(e ? `${e.msgType} ${new TextDecoder().decode(e.data)}` : 'nothing');
    }
    session.close();
    expect(got.filter((g, i) => g !== `${TYPE} round ${i}`)).toEqual([]);
  }, 30_000);

  test(`lnd API: the message is the stream's first in ${ROUNDS} of ${ROUNDS} calls`, async () => {
    const lnd = await a.lndApi();
    const session = connectRaw(lnd.server.port, lnd.caCert);
    const got: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const m = await round(session, PATHS.lndSubscribeCustom, { macaroon: lnd.macaroon }, new Uint8Array(0), TYPE, i);
      const e = m && fromBinary(LndCustomMessageSchema, m);
      got.push(e ? `${e.type} ${new TextDecoder().decode(e.data)}` : 'nothing');
    }
    session.close();
    expect(got.filter((g, i) => g !== `${TYPE} round ${i}`)).toEqual([]);
  }, 30_000);

  test('a stream asking for other types does not get what arrived before its request was read; no subscription is left behind', async () => {
    const session = connectRaw(a.api.port);
    const body = toBinary(SubscribeCustomMessagesRequestSchema, create(SubscribeCustomMessagesRequestSchema, { msgTypes: [OTHER] }));
    const m = await round(session, PATHS.lnnodeSubscribeCustom, { authorization: `Bearer ${a.token}` }, body, TYPE, 0);
    session.close();
    expect(m).toBeUndefined();
    await waitFor('every stream of these tests to have ended with its subscription', async () => a.node.peers.customSubscribers === 0, 5_000);
  }, 10_000);

  test('a call whose body never decodes closes the subscription its headers opened', async () => {
    const session = connectRaw(a.api.port);
    const stream = session.request({ ':method': 'POST', ':path': PATHS.lnnodeSubscribeCustom, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${a.token}` });
    stream.on('error', () => {});
    await new Promise<void>((r) => session.ping(() => r()));
    expect(a.node.peers.customSubscribers).toBe(1);
    stream.end(framed(Uint8Array.of(0xff, 0xff, 0xff)));
    const status = await new Promise<string>((r) => stream.once('trailers', (t) => r(String(t['grpc-status']))).once('response', (h) => h['grpc-status'] && r(String(h['grpc-status']))));
    expect(status).not.toBe('0');
    await waitFor('the subscription of the refused call to be closed', async () => a.node.peers.customSubscribers === 0, 5_000);
    session.close();
  }, 10_000);
});
