/**
 * What a stranger reaching an API port can make the node hold (issue 13,
 * "Unauthenticated memory blow-up on the API ports"), on both the lnnode.v1
 * and the lnd-compatible port: a call without a credential is answered
 * Unauthenticated before its body is read (the body is never finished
 * here); a message whose length prefix is past 128 KiB is refused at the
 * prefix; compressed requests are refused; streams per connection,
 * connections per address, header size, the TLS handshake, the first
 * authenticated call, the request body and idleness are all bounded; and
 * after each, a well-behaved client is still served.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import http2 from 'node:http2';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { Code } from '@connectrpc/connect';
import { hex } from '../../src/bolt/bytes.ts';
import { type ApiLimitsOverride } from '../../src/rpc/limits.ts';
import { type NodeWithApi, startNodeWithApi } from './node-with-api.ts';
import { connectRaw, envelope, PATHS, type RawCall, rawGrpcCall } from './raw-grpc.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function start(limits?: ApiLimitsOverride): Promise<NodeWithApi> {
  const r = await startNodeWithApi({}, { limits });
  cleanup.push(() => r.stop());
  return r;
}

/** Resolves with `p`, or rejects after `ms` saying what did not happen. */
async function within<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

type Api = 'lnnode.v1' | 'lnd';

interface Port {
  port: number;
  caCert?: Buffer;
  /** A valid credential header for the port. */
  auth: Record<string, string>;
  /** A cheap call without arguments. */
  info: string;
  /** A stream that stays open (no events come). */
  stream: string;
  /** Asserts that a well-behaved client on a new connection is served. */
  served(): Promise<void>;
  /** Resolves once the node has `n` open `stream`s (their response headers wait for the first event). */
  streamsOpen(n: number): Promise<void>;
}

const subscribers = (n: NodeWithApi): number => (n.node.peers as unknown as { subscribers: Set<unknown> }).subscribers.size;

async function streamsOpen(node: NodeWithApi, n: number): Promise<void> {
  for (let i = 0; subscribers(node) !== n; i++) {
    if (i > 500) throw new Error(`${n} streams did not open (${subscribers(node)})`);
    await Bun.sleep(20);
  }
}

async function port(n: NodeWithApi, api: Api): Promise<Port> {
  if (api === 'lnnode.v1') {
    return {
      port: n.api.port,
      auth: { authorization: `Bearer ${n.token}` },
      info: PATHS.lnnodeGetNodeInfo,
      stream: PATHS.lnnodeSubscribeCustom,
      served: async () => expect(hex((await n.newClient().getNodeInfo({})).nodePubkey)).toBe(hex(n.node.nodeId)),
      streamsOpen: (k) => streamsOpen(n, k),
    };
  }
  const l = await n.lndApi();
  return {
    port: l.server.port,
    caCert: l.caCert,
    auth: { macaroon: l.macaroon },
    info: PATHS.lndGetInfo,
    stream: PATHS.lndSubscribeCustom,
    served: async () => expect((await l.lightning().getInfo({})).identityPubkey).toBe(hex(n.node.nodeId)),
    streamsOpen: (k) => streamsOpen(n, k),
  };
}

function call(p: Port, o: Omit<Parameters<typeof rawGrpcCall>[0], 'port' | 'caCert'>): RawCall {
  const c = rawGrpcCall({ port: p.port, caCert: p.caCert, ...o });
  cleanup.push(() => c.close());
  return c;
}

/** Writes `total` bytes of `body` as far as flow control lets them go (never ends the request); resolves with the bytes written. */
async function offer(c: RawCall, prefix: Uint8Array, total: number): Promise<number> {
  c.stream.write(prefix);
  let written = prefix.length;
  const chunk = new Uint8Array(16 * 1024);
  while (written < total && !c.stream.closed && !c.stream.destroyed) {
    const more = c.stream.write(chunk);
    written += chunk.length;
    if (!more) {
      const drained = await Promise.race([new Promise<boolean>((r) => c.stream.once('drain', () => r(true))), c.response.then(() => false), Bun.sleep(1000).then(() => false)]);
      if (!drained) break;
    }
  }
  return written;
}

for (const api of ['lnnode.v1', 'lnd'] as const) {
  describe(`${api} port`, () => {
    test('a call without a credential is answered Unauthenticated before its body is read; the stream is closed', async () => {
      const n = await start();
      const p = await port(n, api);
      const c = call(p, { path: p.info, keepOpen: true });
      // A body claiming 100 MB, of which the client only ever sends what flow control lets through.
      const written = await offer(c, envelope(100_000_000), 100_000_000);
      const headers = await within('the refusal', c.response);
      expect(Number(headers['grpc-status'])).toBe(Code.Unauthenticated);
      expect(written).toBeLessThan(2_000_000);
      const end = await within('the stream to close', c.finish());
      expect([end.status, end.rstCode]).toEqual([Code.Unauthenticated, http2.constants.NGHTTP2_NO_ERROR]);
      await p.served();
    });

    test('a message whose length prefix is past 128 KiB is refused at the prefix with ResourceExhausted (4 GiB claimed, nothing sent)', async () => {
      const n = await start();
      const p = await port(n, api);
      const c = call(p, { path: p.info, headers: p.auth, keepOpen: true, body: envelope(0xffffffff) });
      const end = await within('the refusal', c.finish());
      expect([end.status, end.message]).toEqual([Code.ResourceExhausted, expect.stringMatching(/larger than configured readMaxBytes 131072/)]);
      const big = call(p, { path: p.info, headers: p.auth, keepOpen: true, body: envelope(131_073) });
      expect((await within('the refusal', big.finish())).status).toBe(Code.ResourceExhausted);
      await p.served();
    });

    test('a compressed request is refused, whatever it inflates to', async () => {
      const n = await start();
      const p = await port(n, api);
      const bomb = gzipSync(new Uint8Array(50_000_000)); // ~50 KB of gzip, 50 MB inflated
      const body = new Uint8Array(5 + bomb.length);
      body.set(envelope(bomb.length, true));
      body.set(bomb, 5);
      const c = call(p, { path: p.info, headers: { ...p.auth, 'grpc-encoding': 'gzip' }, body });
      const end = await within('the refusal', c.finish());
      expect([end.status, end.message]).toEqual([Code.Unimplemented, expect.stringMatching(/unknown compression "gzip": supported encodings are $/)]);
      await p.served();
    });

    test('streams per connection are capped (REFUSED_STREAM past it); the open ones keep working', async () => {
      const n = await start({ maxStreamsPerConnection: 4 });
      const p = await port(n, api);
      const session = connectRaw(p.port, p.caCert);
      cleanup.push(() => session.destroy());
      const settings = new Promise<http2.Settings>((r) => session.once('remoteSettings', r));
      // All five go out before the client has read the server's SETTINGS, as a client ignoring them would send them.
      const open = [1, 2, 3, 4].map(() => call(p, { session, path: p.stream, headers: p.auth, body: envelope(0) }));
      const fifth = call(p, { session, path: p.info, headers: p.auth, body: envelope(0) });
      expect((await within('the server settings', settings)).maxConcurrentStreams).toBe(4);
      expect((await within('the fifth to be refused', fifth.finish())).rstCode).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      await p.streamsOpen(4);
      expect(open.map((c) => c.stream.closed)).toEqual([false, false, false, false]);
      await p.served();
    });

    test('connections from one address are capped: past it a connection is closed at once; one freed lets the next in', async () => {
      const n = await start({ maxConnectionsPerAddress: 3 });
      const p = await port(n, api);
      // Three connections, each with a stream open.
      const held = [1, 2, 3].map(() => call(p, { path: p.stream, headers: p.auth, body: envelope(0) }));
      await p.streamsOpen(3);
      const fourth = connectRaw(p.port, p.caCert);
      cleanup.push(() => fourth.destroy());
      await within('the fourth connection to be closed', new Promise((r) => fourth.once('close', r)));
      held[0]!.close();
      await within('the first to close', new Promise((r) => held[0]!.session.once('close', r)));
      await Bun.sleep(50);
      await p.served();
    });

    test('a connection without an authenticated call is closed after authDeadlineMs; one that made one stays', async () => {
      const n = await start({ authDeadlineMs: 300 });
      const p = await port(n, api);
      const silent = connectRaw(p.port, p.caCert);
      const refusedOnly = connectRaw(p.port, p.caCert);
      const good = connectRaw(p.port, p.caCert);
      cleanup.push(() => [silent, refusedOnly, good].forEach((s) => s.destroy()));
      const refused = call(p, { session: refusedOnly, path: p.info, body: envelope(0) });
      expect((await refused.finish()).status).toBe(Code.Unauthenticated);
      const ok = call(p, { session: good, path: p.info, headers: p.auth, body: envelope(0) });
      expect((await ok.finish()).status).toBe(0);
      await within('the silent connection to be closed', new Promise((r) => silent.once('close', r)));
      await within('the refused-only connection to be closed', new Promise((r) => refusedOnly.once('close', r)));
      await Bun.sleep(300);
      expect(good.closed || good.destroyed).toBe(false);
      const again = call(p, { session: good, path: p.info, headers: p.auth, body: envelope(0) });
      expect((await again.finish()).status).toBe(0);
    });

    test('a connection with no call open is closed after idleTimeoutMs (GOAWAY); one with a stream open stays', async () => {
      const n = await start({ idleTimeoutMs: 300 });
      const p = await port(n, api);
      const idle = connectRaw(p.port, p.caCert);
      const busy = connectRaw(p.port, p.caCert);
      cleanup.push(() => [idle, busy].forEach((s) => s.destroy()));
      expect((await call(p, { session: idle, path: p.info, headers: p.auth, body: envelope(0) }).finish()).status).toBe(0);
      const stream = call(p, { session: busy, path: p.stream, headers: p.auth, body: envelope(0) });
      await p.streamsOpen(1);
      await within('the idle connection to get GOAWAY', new Promise((r) => idle.once('goaway', r)));
      await Bun.sleep(600);
      expect([busy.closed || busy.destroyed, stream.stream.closed]).toEqual([false, false]);
    });

    test('a call whose body does not finish within requestBodyTimeoutMs is reset', async () => {
      const n = await start({ requestBodyTimeoutMs: 300 });
      const p = await port(n, api);
      const c = call(p, { path: p.info, headers: p.auth, keepOpen: true, body: envelope(100).subarray(0, 3) });
      expect((await within('the reset', c.finish())).rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await p.served();
    });

    test('headers past 16 KiB are refused', async () => {
      const n = await start();
      const p = await port(n, api);
      const c = call(p, { path: p.info, headers: { ...p.auth, 'x-padding': 'a'.repeat(40_000) }, body: envelope(0) });
      const end = await within('the refusal', c.finish());
      expect(end.status).toBeUndefined();
      expect(end.rstCode).not.toBe(0);
      await p.served();
    });
  });
}

test('the TLS handshake must finish within handshakeTimeoutMs', async () => {
  const n = await start({ handshakeTimeoutMs: 300 });
  const p = await port(n, 'lnd');
  const s = net.connect(p.port, '127.0.0.1');
  cleanup.push(() => void s.destroy());
  await within('the silent TCP connection to be closed', new Promise((r) => s.once('close', r)));
  await p.served();
});
