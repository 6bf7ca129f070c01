/**
 * Peer resource limits (issue 13 "Peer and client resource holes", limits.ts):
 * a peer that never reads, pings too often, sends huge feature vectors or
 * holds handshakes open costs us a bounded amount, and the node keeps
 * serving everyone else. Real TCP on loopback; the hostile side is RawPeer.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../src/bolt/bytes.ts';
import { initCodec } from '../../src/bolt/bolt1/messages.ts';
import { FeatureVector } from '../../src/bolt/bolt9/features.ts';
import { type Limits } from '../../src/node/limits.ts';
import { silentLogger } from '../../src/node/log.ts';
import { PeerBusyError, PeerManager, type PeerEvent } from '../../src/node/peer/manager.ts';
import { halfOpen, RawPeer, REGTEST_CHAIN } from '../support/raw-peer.ts';

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const managers: PeerManager[] = [];
const peers: RawPeer[] = [];

function node(opts: { limits?: Partial<Limits>; now?: () => number } = {}) {
  const secret = secp256k1.utils.randomSecretKey();
  const m = new PeerManager({ nodeSecret: secret, chainHash: REGTEST_CHAIN, log: silentLogger, random, limits: opts.limits, now: opts.now });
  managers.push(m);
  const port = m.listen('127.0.0.1', 0);
  return { m, id: secp256k1.getPublicKey(secret, true), port, secret };
}

async function rawPeer(n: { port: number; id: Uint8Array }, init?: Uint8Array): Promise<RawPeer> {
  const p = await RawPeer.connect('127.0.0.1', n.port, n.id, { init });
  peers.push(p);
  return p;
}

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  for (const m of managers.splice(0)) m.stop();
});

async function until<T>(what: string, f: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

const offlineReason = (m: PeerManager, peer: Uint8Array): Promise<string> =>
  new Promise((r) => m.onPeerEvent((e: PeerEvent) => e.kind === 'offline' && hex(e.peer) === hex(peer) && r(e.reason)));

describe('outbound bytes per peer', () => {
  test('a peer that asks for 65,531-byte pongs and never reads is disconnected once 4 MiB wait for it; others stay served', async () => {
    // Pongs unlimited here, so only the outbound bound can stop it.
    const a = node({ limits: { pingBurst: 1e9 } });
    const good = await rawPeer(a);
    const bad = await rawPeer(a);
    bad.pause();
    const gone = offlineReason(a.m, bad.nodeId);
    let maxQueued = 0;
    const watch = setInterval(() => (maxQueued = Math.max(maxQueued, a.m.sessionOf(bad.nodeId)?.queuedBytes ?? 0)), 1);
    // 400 pings ask for ~26 MB of pongs: more than the kernel buffers (~4 MB on loopback) and our bound together.
    for (let i = 0; i < 400; i++) bad.ping(65_531);
    const reason = await Promise.race([gone, Bun.sleep(15_000).then(() => 'still connected')]);
    clearInterval(watch);
    expect(reason).toContain('peer is not reading');
    expect(maxQueued).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(a.m.isConnected(bad.nodeId)).toBe(false);
    expect(a.m.isConnected(good.nodeId)).toBe(true);
  }, 30_000);
});

describe('custom messages to a peer that does not read', () => {
  test('PeerBusyError once 1 MiB waits for it, instead of queueing on; it stays connected and gets them once it reads', async () => {
    const a = node();
    const p = await rawPeer(a);
    p.pause();
    const payload = new Uint8Array(65_533);
    let sent = 0;
    let busy: unknown;
    for (let i = 0; i < 1000 && !busy; i++) {
      try {
        a.m.sendCustom(p.nodeId, 40_000, payload);
        sent++;
      } catch (e) {
        busy = e;
      }
    }
    expect(busy).toBeInstanceOf(PeerBusyError);
    expect((busy as PeerBusyError).queuedBytes).toBeGreaterThan(1024 * 1024);
    // What waits on our side is the bound plus at most one message.
    expect(a.m.sessionOf(p.nodeId)!.queuedBytes).toBeLessThanOrEqual(1024 * 1024 + 65_551);
    expect(sent).toBeLessThan(1000);
    expect(a.m.isConnected(p.nodeId)).toBe(true);
    p.resume();
    await until('everything sent to arrive', () => p.received.filter((m) => m.type === 40_000).length === sent);
    a.m.sendCustom(p.nodeId, 40_000, Uint8Array.of(1));
    await until('one more', () => p.received.filter((m) => m.type === 40_000).length === sent + 1);
  }, 30_000);
});

describe('ping flood', () => {
  test('pongs come from a bucket of 5, refilled one a second: 50 pings at once get 5 pongs, 3 s later 3 more', async () => {
    let clock = 1_000_000;
    const a = node({ now: () => clock });
    const p = await rawPeer(a);
    const sub = a.m.subscribeCustom([40_000]);
    const pongs = (): number => p.received.filter((m) => m.type === 19).length;
    const marker = async (): Promise<void> => {
      p.custom(40_000, new Uint8Array(1));
      await sub.next(); // every ping sent before it was processed
    };
    for (let i = 0; i < 50; i++) p.ping(100);
    await marker();
    await until('5 pongs', () => pongs() >= 5);
    expect(a.m.sessionOf(p.nodeId)!.keepalive.pingsIgnored).toBe(45);
    clock += 3_000;
    for (let i = 0; i < 10; i++) p.ping(100);
    await marker();
    await until('8 pongs', () => pongs() >= 8);
    expect(a.m.sessionOf(p.nodeId)!.keepalive.pingsIgnored).toBe(45 + 7);
    // The connection stays: ignoring a ping is the whole penalty.
    expect(a.m.isConnected(p.nodeId)).toBe(true);
    expect(pongs()).toBe(8);
  });
});

describe('huge feature vectors', () => {
  test('20 peers with 65 KB of optional feature bits: combined once at init, listed exactly', async () => {
    const a = node();
    const wire = new Uint8Array(65_000).fill(0xaa);
    const init = initCodec.encode({ globalFeatures: FeatureVector.of(5), features: FeatureVector.decode(wire), networks: [REGTEST_CHAIN] });
    const ps: RawPeer[] = [];
    for (let i = 0; i < 20; i++) ps.push(await rawPeer(a, init));
    await until('20 peers', () => a.m.peers().length === 20);
    const first = a.m.peers();
    const second = a.m.peers();
    for (const [i, info] of first.entries()) {
      // The same vector each call: nothing is recombined per peers() call.
      expect(second[i]!.features).toBe(info.features);
      expect(info.features.byteLength).toBe(65_000);
      expect(info.features.has(5) && info.features.has(8 * 65_000 - 1) && !info.features.has(0)).toBe(true);
    }
    expect(first[0]!.features.list().length).toBe(260_000);
  }, 30_000);
});

describe('init remote_addr (BOLT 1)', () => {
  test('a peer whose init carries an address type we do not know is accepted; the address is ignored', async () => {
    const a = node();
    // init: no global features, features 0x0100 (var_onion_optin compulsory), networks, then remote_addr of type 7.
    const regtestTlv = '0120' + hex(REGTEST_CHAIN);
    const init = Uint8Array.from(Buffer.from('0000' + '0002' + '0100' + regtestTlv + '03' + '05' + '07aabbccdd', 'hex'));
    const p = await rawPeer(a, init);
    await until('the peer online', () => a.m.isConnected(p.nodeId));
    expect(a.m.sessionOf(p.nodeId)!.remoteInit!.remoteAddr).toBeUndefined();
    expect(a.m.peers().map((x) => hex(x.nodeId))).toEqual([hex(p.nodeId)]);
  });
});

describe('unfinished handshakes', () => {
  test('1,000 half-open connections: at most 64 held, a real peer still connects, the rest time out', async () => {
    const a = node({ limits: { handshakeTimeoutMs: 2_000 } });
    const conns: Awaited<ReturnType<typeof halfOpen>>[] = [];
    try {
      let maxHeld = 0;
      for (let i = 0; i < 1000; i++) {
        // Half of them send a partial act one, so they are neither silent nor done.
        conns.push(await halfOpen('127.0.0.1', a.port, i % 2 ? new Uint8Array(20).fill(0) : undefined));
        maxHeld = Math.max(maxHeld, a.m.unfinishedHandshakes);
      }
      await until('the server to see them all', () => conns.filter((c) => c.isClosed()).length >= 1000 - 64);
      expect(maxHeld).toBeLessThanOrEqual(64);
      expect(a.m.unfinishedHandshakes).toBeLessThanOrEqual(64);
      const real = await rawPeer(a);
      await until('the real peer online', () => a.m.isConnected(real.nodeId));
      // The ones still held are dropped when the whole-handshake deadline passes; the real peer stays.
      await until('every half-open connection closed', () => conns.every((c) => c.isClosed()), 10_000);
      expect(a.m.unfinishedHandshakes).toBe(0);
      expect(a.m.isConnected(real.nodeId)).toBe(true);
    } finally {
      for (const c of conns) c.socket.end();
    }
  }, 40_000);

  test('a handshake paced one act at a time under the act timeout still ends at the whole-handshake deadline', async () => {
    const a = node({ limits: { handshakeTimeoutMs: 300, actTimeoutMs: 10_000 } });
    const c = await halfOpen('127.0.0.1', a.port);
    await until('the connection closed', () => c.isClosed(), 5_000);
    expect(a.m.unfinishedHandshakes).toBe(0);
  });
});

describe('fairness: custom messages wait their turn (issue 16.9)', () => {
  const payload = (i: number): Uint8Array => new Uint8Array(65_533).fill(i);

  test('a peer flooding 40 × 65 KB is served within its 1 MiB budget, paused not dropped; another peer is served at once', async () => {
    let clock = 5_000_000;
    const a = node({ now: () => clock });
    const flood = await rawPeer(a);
    const other = await rawPeer(a);
    const sub = a.m.subscribeCustom();
    const got: { from: string; first: number }[] = [];
    void (async () => {
      for await (const m of sub) got.push({ from: hex(m.peer), first: m.payload[0] ?? -1 });
    })();
    const from = (p: RawPeer): number[] => got.filter((g) => g.from === hex(p.nodeId)).map((g) => g.first);
    for (let i = 0; i < 40; i++) flood.custom(40_000, payload(i));
    // The clock stands still: one second of budget is 16 full messages, and the 17th overdraws it.
    await until('17 delivered', () => from(flood).length >= 17);
    other.custom(40_001, Uint8Array.of(0xee));
    other.ping(10);
    await until("the other peer's message", () => from(other).length === 1);
    await until("the other peer's pong", () => other.received.some((m) => m.type === 19));
    expect(from(flood).length).toBe(17);
    expect(a.m.customDropped).toBe(0);
    // As seconds pass (a second of budget at a time) every message is delivered, in order, none dropped.
    for (let s = 0; s < 200 && from(flood).length < 40; s++) {
      clock += 1_000;
      await Bun.sleep(20);
    }
    expect(from(flood)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(a.m.customDropped).toBe(0);
    expect(a.m.isConnected(flood.nodeId)).toBe(true);
  }, 30_000);

  test('past its queue bound (reading not paused) a peer has its messages dropped and counted; the rest arrive in order', async () => {
    let clock = 5_000_000;
    const a = node({ now: () => clock, limits: { customInboundPauseBytes: 1e9, customInboundQueueBytesPerPeer: 300_000 } });
    const flood = await rawPeer(a);
    const sub = a.m.subscribeCustom();
    const got: number[] = [];
    void (async () => {
      for await (const m of sub) got.push(m.payload[0]!);
    })();
    for (let i = 0; i < 40; i++) flood.custom(40_000, payload(i));
    flood.custom(40_000, Uint8Array.of(99)); // a marker after the flood
    await until('the flood processed', () => got.length + a.m.customDropped >= 41 - 4);
    for (let s = 0; s < 200 && got.length + a.m.customDropped < 41; s++) {
      clock += 1_000;
      await Bun.sleep(20);
    }
    expect(got.length + a.m.customDropped).toBe(41);
    // 17 within the budget, at most 4 waiting (300,000 bytes), the rest dropped.
    expect(a.m.customDropped).toBeGreaterThanOrEqual(41 - 17 - 4);
    expect(got.length).toBeLessThanOrEqual(17 + 4);
    expect([...got].sort((x, y) => x - y)).toEqual(got);
    expect(a.m.isConnected(flood.nodeId)).toBe(true);
  }, 30_000);
});

describe('channel peers are kept connected', () => {
  test('keepConnected redials a peer after it restarts, with backoff, while wanted; then stops once it is not', async () => {
    const a = node({ limits: { channelPeerRedialMinMs: 20, channelPeerRedialMaxMs: 200 } });
    const b = node();
    let wanted = true;
    a.m.keepConnected(b.id, '127.0.0.1', b.port, () => wanted);
    await until('connected', () => a.m.isConnected(b.id));
    expect(a.m.redialReason(b.id)).toBe('channel');
    b.m.stop();
    await until('gone', () => !a.m.isConnected(b.id));
    await Bun.sleep(300); // a few failed redials while nothing listens
    const b2 = new PeerManager({ nodeSecret: b.secret, chainHash: REGTEST_CHAIN, log: silentLogger, random });
    managers.push(b2);
    b2.listen('127.0.0.1', b.port);
    await until('redialled', () => a.m.isConnected(b.id));
    wanted = false;
    b2.disconnect(a.id);
    await until('gone again', () => !a.m.isConnected(b.id));
    await until('no longer kept', () => a.m.redialReason(b.id) === undefined);
    await Bun.sleep(300);
    expect(a.m.isConnected(b.id)).toBe(false);
  });

  test('a persistent peer stays persistent when a channel asks to keep it', async () => {
    const a = node();
    const b = node();
    await a.m.connect(b.id, '127.0.0.1', b.port, { persistent: true });
    a.m.keepConnected(b.id, '127.0.0.1', b.port, () => true);
    expect(a.m.redialReason(b.id)).toBe('persistent');
  });
});
