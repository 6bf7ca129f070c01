/**
 * lnnode <-> lnnode over loopback TCP: BOLT 8 + BOLT 1 sessions both ways,
 * custom messages of every size in order, keepalive pings, and peers that
 * violate the protocol are dropped while the others keep being served.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { MAX_CUSTOM_PAYLOAD } from '../../src/bolt/bolt1/wire.ts';
import { type Limits } from '../../src/node/limits.ts';
import { silentLogger } from '../../src/node/log.ts';
import { type CustomMessage, PeerBusyError, PeerManager, PeerNotConnectedError } from '../../src/node/peer/manager.ts';
import { waitFor } from '../lab/processes.ts';

const REGTEST = fromHex('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f');
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const managers: PeerManager[] = [];

function node(opts: { pingIntervalMs?: number; pingTimeoutMs?: number; chainHash?: Uint8Array; limits?: Partial<Limits> } = {}) {
  const secret = secp256k1.utils.randomSecretKey();
  const m = new PeerManager({
    nodeSecret: secret,
    chainHash: opts.chainHash ?? REGTEST,
    log: silentLogger,
    random,
    pingIntervalMs: opts.pingIntervalMs,
    pingTimeoutMs: opts.pingTimeoutMs,
    limits: opts.limits,
  });
  managers.push(m);
  const port = m.listen('127.0.0.1', 0);
  return { m, id: secp256k1.getPublicKey(secret, true), port, secret };
}

afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

async function collect(it: AsyncIterableIterator<CustomMessage>, n: number, ms = 20_000): Promise<CustomMessage[]> {
  const out: CustomMessage[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const r = await Promise.race([it.next(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => 'timeout' as const)]);
    if (r === 'timeout') throw new Error(`got ${out.length} of ${n} messages`);
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Sends as an application should: when the peer is busy (PeerBusyError), waits for it to read, then goes on. */
async function sendAll(m: PeerManager, peer: Uint8Array, msgs: [number, Uint8Array][]): Promise<void> {
  for (const [type, payload] of msgs) {
    for (;;) {
      try {
        m.sendCustom(peer, type, payload);
        break;
      } catch (e) {
        if (!(e instanceof PeerBusyError)) throw e;
        await Bun.sleep(2);
      }
    }
  }
}

describe('lnnode <-> lnnode', () => {
  test('connect, init both ways, 300 custom messages each way of sizes 0..max arrive intact and in order', async () => {
    // 10 MB each way: above the default custom budget of 1 MiB/s per peer, which would make this take 10 s.
    const fast = { customInboundBytesPerSecond: 64 * 1024 * 1024 };
    const a = node({ limits: fast });
    const b = node({ limits: fast });
    const atB = b.m.subscribeCustom([40001]);
    const atA = a.m.subscribeCustom();
    await a.m.connect(b.id, '127.0.0.1', b.port);
    await Bun.sleep(50);
    expect(a.m.peers().map((p) => hex(p.nodeId))).toEqual([hex(b.id)]);
    expect(b.m.peers().map((p) => [hex(p.nodeId), p.inbound])).toEqual([[hex(a.id), true]]);
    const sizes = Array.from({ length: 300 }, (_, i) => (i === 299 ? MAX_CUSTOM_PAYLOAD : Math.floor((i * MAX_CUSTOM_PAYLOAD) / 300)));
    const payload = (i: number, size: number): Uint8Array => new Uint8Array(size).map((_, j) => (i + j) & 0xff);
    // 10 MB each way: more than a peer may have waiting (customSendBusyBytes), so the senders pace themselves.
    await Promise.all([
      sendAll(a.m, b.id, [...sizes.map((s, i): [number, Uint8Array] => [40001, payload(i, s)]), [40002, new Uint8Array(3)]]), // 40002 is filtered out at B
      sendAll(b.m, a.id, sizes.map((s, i): [number, Uint8Array] => [40000 + (i % 2), payload(i, s)])),
    ]);
    const gotB = await collect(atB, 300);
    const gotA = await collect(atA, 300);
    gotB.forEach((m, i) => {
      expect([hex(m.peer), m.type, m.payload.length]).toEqual([hex(a.id), 40001, sizes[i]!]);
      expect(hex(m.payload.subarray(0, 8))).toBe(hex(payload(i, sizes[i]!).subarray(0, 8)));
    });
    gotA.forEach((m, i) => expect([m.type, m.payload.length]).toEqual([40000 + (i % 2), sizes[i]!]));
    expect(hex(gotA[299]!.payload)).toBe(hex(payload(299, MAX_CUSTOM_PAYLOAD)));
  }, 30_000);

  test('a dial that fails at once rejects connect() and leaves no unhandled rejection behind (the daemon would exit on one)', async () => {
    const a = node();
    const gone = node();
    const port = gone.port;
    gone.m.stop();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 5; i++) await expect(a.m.connect(gone.id, '127.0.0.1', port)).rejects.toThrow('cannot connect');
      // A listener that takes the connection and drops it at once, before any handshake.
      const rude = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { open: (s) => s.terminate(), data: () => {} } });
      try {
        for (let i = 0; i < 20; i++) await expect(a.m.connect(gone.id, '127.0.0.1', rude.port)).rejects.toThrow();
      } finally {
        rude.stop(true);
      }
      await Bun.sleep(50);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
  test('bad custom sends get clear errors', async () => {
    const a = node();
    const b = node();
    expect(() => a.m.sendCustom(b.id, 40000, new Uint8Array(1))).toThrow(PeerNotConnectedError);
    await a.m.connect(b.id, '127.0.0.1', b.port);
    expect(() => a.m.sendCustom(b.id, 100, new Uint8Array(1))).toThrow('custom message types are 32768..65535');
    expect(() => a.m.sendCustom(b.id, 40000, new Uint8Array(MAX_CUSTOM_PAYLOAD + 1))).toThrow('exceeds');
  });

  test('pings keep an idle connection up', async () => {
    const a = node({ pingIntervalMs: 100 });
    const b = node({ pingIntervalMs: 100 });
    await a.m.connect(b.id, '127.0.0.1', b.port);
    await Bun.sleep(1000);
    expect(a.m.isConnected(b.id) && b.m.isConnected(a.id)).toBe(true);
  });

  test('a peer on another chain is refused', async () => {
    const a = node();
    const b = node({ chainHash: new Uint8Array(32).fill(1) });
    await expect(a.m.connect(b.id, '127.0.0.1', b.port)).rejects.toThrow('another chain');
  });

  test('a peer sending an unknown even message is dropped; others keep being served', async () => {
    const a = node();
    const b = node();
    const c = node();
    const atA = a.m.subscribeCustom();
    await b.m.connect(a.id, '127.0.0.1', a.port);
    await c.m.connect(a.id, '127.0.0.1', a.port);
    const offline = new Promise<string>((r) => a.m.onPeerEvent((e) => e.kind === 'offline' && r(e.reason)));
    b.m.sessionOf(a.id)!.sendRaw(fromHex('012caabb'));
    expect(await offline).toContain('unknown even message type 300');
    c.m.sendCustom(a.id, 50001, Uint8Array.of(7));
    const [m] = await collect(atA, 1);
    expect([hex(m!.peer), hex(m!.payload)]).toEqual([hex(c.id), '07']);
    expect(a.m.isConnected(b.id)).toBe(false);
    expect(a.m.isConnected(c.id)).toBe(true);
  });

  test('garbage after the handshake and an oversized length are dropped', async () => {
    const a = node();
    for (const garbage of [new Uint8Array(100).fill(0x41), new Uint8Array(18).fill(0xff)]) {
      // A raw TCP client doing a real handshake, then sending bytes that do not decrypt.
      const b = node();
      await b.m.connect(a.id, '127.0.0.1', a.port);
      const offline = new Promise<string>((r) => a.m.onPeerEvent((e) => e.kind === 'offline' && hex(e.peer) === hex(b.id) && r(e.reason)));
      const conn = (b.m as unknown as { live: Map<string, { session: { conn: { socket: { write(b: Uint8Array): number } } } }> }).live
        .get(hex(a.id))!.session.conn.socket;
      conn.write(garbage);
      expect(await offline).toContain('bad MAC');
    }
  });

  test('a restarted peer reconnects (persistent)', async () => {
    const a = node();
    const b = node();
    await a.m.connect(b.id, '127.0.0.1', b.port, { persistent: true });
    const port = b.port;
    b.m.stop();
    await Bun.sleep(100);
    expect(a.m.isConnected(b.id)).toBe(false);
    const b2 = new PeerManager({ nodeSecret: b.secret, chainHash: REGTEST, log: silentLogger, random });
    managers.push(b2);
    b2.listen('127.0.0.1', port);
    const back = new Promise<void>((r) => a.m.onPeerEvent((e) => e.kind === 'online' && r()));
    await back;
    expect(a.m.isConnected(b.id)).toBe(true);
  }, 20_000);
  test('an idle connection stays up on pings through 40 ping timeouts, both sides answering every ping', async () => {
    // Short keepalive timers stand in for the 30 s defaults: each side pings every 50 ms and drops a peer whose pong
    // takes 250 ms, so 40 answered pings a side is the same life as 20 minutes at the defaults (the pong bucket refills to match).
    const a = node({ pingIntervalMs: 50, pingTimeoutMs: 250, limits: { pingRefillMs: 10 } });
    const b = node({ pingIntervalMs: 50, pingTimeoutMs: 250, limits: { pingRefillMs: 10 } });
    const dropped: string[] = [];
    for (const x of [a, b]) x.m.onPeerEvent((e) => e.kind === 'offline' && dropped.push(e.reason));
    await a.m.connect(b.id, '127.0.0.1', b.port);
    const keepalives = [a.m.sessionOf(b.id)!.keepalive, b.m.sessionOf(a.id)!.keepalive];
    await waitFor('40 pongs on each side', () => keepalives.every((k) => k.pongsReceived >= 40), 15_000);
    expect(dropped).toEqual([]);
    expect([a.m.isConnected(b.id), b.m.isConnected(a.id)]).toEqual([true, true]);
    // Every ping was answered but at most the one still in flight (a side never has two outstanding).
    for (const k of keepalives) expect(k.pingsSent - k.pongsReceived).toBeOneOf([0, 1]);
  }, 20_000);
});
