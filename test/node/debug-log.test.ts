/**
 * --log-level debug shows the protocol flow: one line per P2P message each
 * way, with the message name and peer (and channel, for channel messages),
 * never what it carries: a custom message is logged by type and size, its
 * payload nowhere. At info nothing of it is written, and the fields are not
 * even built (Logger.enabled). The channel messages of a payment are checked
 * on the lab (test/regtest/node/operations.lab.test.ts).
 */
import { afterEach, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { createLogger, type Level } from '../../src/node/log.ts';
import { type CustomMessage, PeerManager } from '../../src/node/peer/manager.ts';
import { waitFor } from '../lab/processes.ts';

const REGTEST = fromHex('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f');
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const managers: PeerManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

function peer(level: Level) {
  const lines: Record<string, unknown>[] = [];
  const secret = secp256k1.utils.randomSecretKey();
  const m = new PeerManager({
    nodeSecret: secret,
    chainHash: REGTEST,
    log: createLogger({ level, sink: { write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) } }).child('peer'),
    random,
  });
  managers.push(m);
  return { m, id: secp256k1.getPublicKey(secret, true), port: m.listen('127.0.0.1', 0), lines };
}

test('debug: init and custom messages each way, by name, peer, type and size; no payload', async () => {
  const a = peer('debug');
  const b = peer('debug');
  const got: CustomMessage[] = [];
  void (async () => {
    for await (const x of b.m.subscribeCustom([42_001])) got.push(x);
  })();
  await a.m.connect(b.id, '127.0.0.1', b.port);
  const payload = new Uint8Array(48).fill(0xab);
  a.m.sendCustom(b.id, 42_001, payload);
  await waitFor('the message', () => got.length === 1);
  const wire = (lines: Record<string, unknown>[]) =>
    lines.filter((l) => l.msg === 'p2p in' || l.msg === 'p2p out').map((l) => [l.msg, l.message, l.c, l.peer, l.type ?? '-', l.size ?? '-', l.channelId ?? '-']);
  expect(wire(a.lines)).toEqual([
    ['p2p out', 'init', 'lnnode.peer', hex(b.id), '-', '-', '-'],
    ['p2p in', 'init', 'lnnode.peer', hex(b.id), '-', '-', '-'],
    ['p2p out', 'custom', 'lnnode.peer', hex(b.id), 42_001, 48, '-'],
  ]);
  expect(wire(b.lines)).toContainEqual(['p2p in', 'custom', 'lnnode.peer', hex(a.id), 42_001, 48, '-']);
  expect(JSON.stringify([...a.lines, ...b.lines])).not.toContain(hex(payload));
});

test('info: no wire lines; Logger.enabled says whether debug fields are worth building', async () => {
  const a = peer('info');
  const b = peer('info');
  await a.m.connect(b.id, '127.0.0.1', b.port);
  a.m.sendCustom(b.id, 42_001, new Uint8Array(4));
  await Bun.sleep(50);
  expect([...a.lines, ...b.lines].filter((l) => String(l.msg).startsWith('p2p '))).toEqual([]);
  expect(createLogger({ level: 'info' }).enabled('debug')).toBe(false);
  expect(createLogger({ level: 'debug' }).enabled('debug')).toBe(true);
});
