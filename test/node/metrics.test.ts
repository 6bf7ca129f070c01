/**
 * The metrics endpoint: the exposition is valid 0.0.4 text (a strict
 * reader parses it back: escaping, histogram buckets, exact amounts), the
 * store counts its durable commits, and a running node's /metrics, /health
 * and /ready report what happened to it: peers, custom messages each way,
 * RPC calls by method and code (a stranger's refused call without its path),
 * payment latencies, and 503 once the node stops. The channel and balance
 * numbers against a funded node are checked on the lab
 * (test/regtest/node/operations.lab.test.ts).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { hex } from '../../src/bolt/bytes.ts';
import { CountingDatabase } from '../../src/node/counting-db.ts';
import { ConfigError, DEFAULT_ESPLORA_URLS, parseArgs } from '../../src/node/config.ts';
import { silentLogger } from '../../src/node/log.ts';
import { Histogram, LabelledCounter, msatAsSat, renderExposition } from '../../src/node/metrics/exposition.ts';
import { NodeMetrics } from '../../src/node/metrics/node-metrics.ts';
import { LightningNode } from '../../src/node/node.ts';
import { type PaymentRecord } from '../../src/node/payments/payments.ts';
import { Store } from '../../src/node/store.ts';
import { startApis, type Apis } from '../../src/rpc/api.ts';
import { lnnodeClient } from '../../src/rpc/client.ts';
import { readFileSync } from 'node:fs';
import { readiness, startMetricsServer, type MetricsServer } from '../../src/rpc/metrics-server.ts';
import { waitFor } from '../lab/processes.ts';
import { parseExposition, sampleOf } from '../support/prometheus.ts';

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lnnode-metrics-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('exposition format 0.0.4', () => {
  test('families render with HELP and TYPE, escaped labels, exact decimals, and parse back', () => {
    const h = new Histogram([0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 3, 20]) h.observe(v);
    const c = new LabelledCounter();
    c.inc({ method: 'Pay"\\\nX', code: 'ok' });
    c.inc({ method: 'Pay"\\\nX', code: 'ok' });
    c.inc({ method: 'Other', code: 'invalid_argument' });
    const text = renderExposition([
      { name: 'x_balance_sat', help: 'a back\\slash\nand a newline', type: 'gauge', samples: [{ labels: { side: 'local' }, value: msatAsSat(1_234_567n) }, { labels: { side: 'remote' }, value: 42n }] },
      { name: 'x_calls_total', help: 'calls', type: 'counter', samples: c.samples() },
      { name: 'x_latency_seconds', help: 'latency', type: 'histogram', samples: h.samples({ outcome: 'succeeded' }) },
    ]);
    expect(text).toContain('# HELP x_balance_sat a back\\\\slash\\nand a newline\n# TYPE x_balance_sat gauge\nx_balance_sat{side="local"} 1234.567\n');
    expect(text).toContain('x_calls_total{method="Pay\\"\\\\\\nX",code="ok"} 2\n');
    const f = parseExposition(text);
    expect(f.get('x_balance_sat')!.help).toBe('a back\\slash\nand a newline');
    expect(sampleOf(f, 'x_balance_sat', { side: 'local' }).raw).toBe('1234.567');
    expect(sampleOf(f, 'x_balance_sat', { side: 'remote' }).value).toBe(42);
    expect(sampleOf(f, 'x_calls_total', { method: 'Pay"\\\nX', code: 'ok' }).value).toBe(2);
    expect(sampleOf(f, 'x_calls_total', { method: 'Other' }).value).toBe(1);
    expect(['0.1', '1', '10', '+Inf'].map((le) => sampleOf(f, 'x_latency_seconds_bucket', { le }).value)).toEqual([2, 3, 4, 5]);
    expect(sampleOf(f, 'x_latency_seconds_count').value).toBe(5);
    expect(sampleOf(f, 'x_latency_seconds_sum').value).toBeCloseTo(23.65, 9);
  });

  test('bad names, label names and values are refused, not written', () => {
    expect(() => renderExposition([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow('bad metric name');
    expect(() => renderExposition([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'a-b': '1' }, value: 1 }] }])).toThrow('bad label name');
    expect(() => renderExposition([{ name: 'x', help: '', type: 'gauge', samples: [{ value: '1e3; drop' }] }])).toThrow('not a decimal');
    expect(() => renderExposition([{ name: 'x', help: '', type: 'gauge', samples: [] }, { name: 'x', help: '', type: 'gauge', samples: [] }])).toThrow('twice');
  });

  test('msat as sat is exact: no float on the way', () => {
    expect([0n, 1n, 999n, 1000n, 1001n, 10n ** 18n + 10n, -1500n].map(msatAsSat)).toEqual(['0', '0.001', '0.999', '1', '1.001', '1000000000000000.01', '-1.5']);
  });
});

describe('node counters', () => {
  test('payment latency: observed from start to outcome, by outcome; unknown starts and in-flight records are not', () => {
    let now = 0;
    const m = new NodeMetrics(() => now);
    const rec = (h: number, state: PaymentRecord['state']): PaymentRecord => ({ paymentHash: new Uint8Array(32).fill(h), state }) as PaymentRecord;
    m.paymentStarted(rec(1, 'in_flight').paymentHash);
    m.paymentStarted(rec(2, 'in_flight').paymentHash);
    now = 80;
    m.paymentResolved(rec(1, 'in_flight'));
    m.paymentResolved(rec(1, 'succeeded'));
    now = 3_000;
    m.paymentResolved(rec(2, 'failed'));
    m.paymentResolved(rec(3, 'succeeded'));
    m.paymentResolved(rec(1, 'succeeded')); // a failed one turning succeeded later is not a second latency
    const f = parseExposition(renderExposition([{ name: 'l', help: 'l', type: 'histogram', samples: [...m.paymentLatency].flatMap(([o, h]) => h.samples({ outcome: o })) }]));
    expect(sampleOf(f, 'l_count', { outcome: 'succeeded' }).value).toBe(1);
    expect(sampleOf(f, 'l_bucket', { outcome: 'succeeded', le: '0.1' }).value).toBe(1);
    expect(sampleOf(f, 'l_sum', { outcome: 'succeeded' }).value).toBeCloseTo(0.08, 9);
    expect(sampleOf(f, 'l_bucket', { outcome: 'failed', le: '2.5' }).value).toBe(0);
    expect(sampleOf(f, 'l_bucket', { outcome: 'failed', le: '5' }).value).toBe(1);
  });

  test('the store counts durable commits: one per write outside a transaction, one per outermost transaction, none for reads', () => {
    const db = new CountingDatabase(':memory:', { create: true, strict: true });
    db.exec('CREATE TABLE t (a INTEGER)');
    expect(db.commits).toBe(1);
    db.transaction(() => {
      db.query('INSERT INTO t VALUES (?)').run(1);
      db.transaction(() => db.query('INSERT INTO t VALUES (?)').run(2))();
    })();
    expect(db.commits).toBe(2);
    db.query('INSERT INTO t VALUES (?)').run(3);
    db.prepare('UPDATE t SET a = a + 1').run();
    db.query('SELECT * FROM t').all();
    db.exec('PRAGMA user_version');
    expect(db.commits).toBe(4);
    expect(() => db.transaction(() => {
      db.query('INSERT INTO t VALUES (?)').run(4);
      throw new Error('rolled back');
    })()).toThrow('rolled back');
    expect(db.commits).toBe(4);
    expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM t').get()!.n).toBe(3);
    const store = Store.open(join(tempDir(), 'x.sqlite'));
    cleanup.push(() => store.close());
    const before = store.commits;
    expect(before).toBeGreaterThan(0); // the migrations
    store.db.query("INSERT INTO meta (key, value) VALUES ('k', x'00')").run();
    expect(store.commits).toBe(before + 1);
  });
});

describe('the metrics listener option', () => {
  test('off by default; loopback only unless --metrics-allow-remote; host:port', () => {
    expect(parseArgs([]).metricsListen).toBeUndefined();
    expect(parseArgs(['--metrics-listen', '127.0.0.1:9400']).metricsListen).toEqual({ host: '127.0.0.1', port: 9400 });
    expect(parseArgs(['--metrics-listen', '[::1]:9400']).metricsListen).toEqual({ host: '::1', port: 9400 });
    expect(() => parseArgs(['--metrics-listen', '0.0.0.0:9400'])).toThrow(new ConfigError(
      '--metrics-listen: 0.0.0.0 is not a loopback address and /metrics has no credential; give 127.0.0.1:PORT (scrape through a tunnel or a proxy), or add --metrics-allow-remote to serve it there anyway',
    ));
    expect(parseArgs(['--metrics-listen', '0.0.0.0:9400', '--metrics-allow-remote']).metricsListen).toEqual({ host: '0.0.0.0', port: 9400 });
    expect(() => parseArgs(['--metrics-listen', '9400'])).toThrow('--metrics-listen: expected host:port');
  });

  test('public networks default to a public Esplora server, regtest to none; "off" and a bitcoind RPC source replace it', () => {
    expect(parseArgs(['--network', 'mainnet']).chain).toEqual({ kind: 'esplora', url: 'https://blockstream.info/api' });
    expect(parseArgs(['--network', 'testnet']).chain).toEqual({ kind: 'esplora', url: 'https://blockstream.info/testnet/api' });
    expect(parseArgs(['--network', 'signet']).chain).toEqual({ kind: 'esplora', url: 'https://mempool.space/signet/api' });
    expect(parseArgs(['--network', 'regtest']).chain).toEqual({ kind: 'none' });
    expect(DEFAULT_ESPLORA_URLS.regtest).toBeUndefined();
    expect(parseArgs(['--network', 'signet', '--esplora-url', 'off']).chain).toEqual({ kind: 'none' });
    expect(parseArgs(['--network', 'signet', '--bitcoind-rpc-url', 'http://127.0.0.1:38332', '--bitcoind-rpc-user', 'u', '--bitcoind-rpc-password', 'p']).chain.kind).toBe('bitcoind-rpc');
    expect(parseArgs(['--network', 'testnet', '--esplora-url', 'https://example.org/api']).chain).toEqual({ kind: 'esplora', url: 'https://example.org/api' });
  });
});

describe('a running node scraped', () => {
  async function running(): Promise<{ node: LightningNode; apis: Apis; metrics: MetricsServer; base: string; dataDir: string }> {
    const dataDir = tempDir();
    const config = parseArgs(['--data-dir', dataDir, '--p2p-listen', '127.0.0.1:0', '--rpc-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0']);
    const node = LightningNode.start(config, silentLogger);
    cleanup.push(() => node.stop());
    let apis: Apis | undefined;
    const metrics = startMetricsServer({ node, config, ...config.metricsListen!, log: silentLogger, listeners: () => apis && { rpc: !!apis.lnnode, lndRpc: !!apis.lnd } });
    cleanup.push(() => metrics.stop());
    apis = await startApis(node, config, silentLogger);
    cleanup.push(() => apis.stop());
    return { node, apis, metrics, base: `http://127.0.0.1:${metrics.port}`, dataDir };
  }

  const scrape = async (base: string) => {
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseExposition(await r.text());
  };

  test('peers, custom messages each way, RPC calls by method and code; /health and /ready; 503 once stopped', async () => {
    const a = await running();
    const b = await running();
    const client = lnnodeClient({ host: '127.0.0.1', port: a.apis.lnnode!.port, token: readFileSync(join(a.dataDir, 'rpc.token'), 'utf8').trim() });
    const stranger = lnnodeClient({ host: '127.0.0.1', port: a.apis.lnnode!.port, token: 'wrong' });

    let f = await scrape(a.base);
    expect(sampleOf(f, 'lnnode_peers_connected').value).toBe(0);
    expect(sampleOf(f, 'lnnode_info').labels).toEqual({ version: expect.any(String), network: 'regtest', chain_source: 'none' });
    expect(f.has('lnnode_wallet_balance_sat')).toBe(false); // no chain source: no wallet

    await client.connectPeer({ peerPubkey: b.node.nodeId, addr: `127.0.0.1:${b.node.p2pPort}` });
    const inbox = b.node.peers.subscribeCustom([40_000])[Symbol.asyncIterator]();
    for (const n of [1, 2, 3]) await client.sendCustomMessage({ peerPubkey: b.node.nodeId, msgType: 40_000, data: new Uint8Array(n) });
    for (let i = 0; i < 3; i++) await inbox.next();
    b.node.peers.sendCustom(a.node.nodeId, 40_001, new Uint8Array(5));
    await waitFor('the reply to arrive', () => a.node.peers.customReceived === 1);
    await client.getNodeInfo({});
    await client.getNodeInfo({});
    const bad = await client.sendCustomMessage({ peerPubkey: b.node.nodeId, msgType: 1, data: new Uint8Array(1) }).catch((e: unknown) => e);
    expect(ConnectError.from(bad).code).toBe(Code.InvalidArgument);
    const refused = await stranger.getNodeInfo({}).catch((e: unknown) => e);
    expect(ConnectError.from(refused).code).toBe(Code.Unauthenticated);

    f = await scrape(a.base);
    expect(sampleOf(f, 'lnnode_peers_connected').value).toBe(1);
    expect(sampleOf(f, 'lnnode_custom_messages_total', { direction: 'out' }).value).toBe(3);
    expect(sampleOf(f, 'lnnode_custom_messages_total', { direction: 'in' }).value).toBe(1);
    expect(sampleOf(f, 'lnnode_p2p_messages_total', { direction: 'out', message: 'custom' }).value).toBe(3);
    expect(sampleOf(f, 'lnnode_p2p_messages_total', { direction: 'in', message: 'custom' }).value).toBe(1);
    expect(sampleOf(f, 'lnnode_p2p_messages_total', { direction: 'in', message: 'init' }).value).toBe(1);
    expect(sampleOf(f, 'lnnode_p2p_messages_total', { direction: 'out', message: 'init' }).value).toBe(1);
    const calls = (method: string, code: string): number => sampleOf(f, 'lnnode_rpc_calls_total', { service: 'lnnode.v1.LightningNodeService', method, code }).value;
    expect(calls('GetNodeInfo', 'ok')).toBe(2);
    expect(calls('ConnectPeer', 'ok')).toBe(1);
    expect(calls('SendCustomMessage', 'ok')).toBe(3);
    expect(calls('SendCustomMessage', 'invalid_argument')).toBe(1);
    expect(sampleOf(f, 'lnnode_rpc_calls_total', { service: '*', method: '*', code: 'unauthenticated' }).value).toBe(1);
    expect(sampleOf(f, 'lnnode_store_commits_total').value).toBeGreaterThan(0);
    expect(sampleOf(f, 'process_resident_memory_bytes').value).toBeGreaterThan(10_000_000);
    expect(sampleOf(f, 'lnnode_channels', { phase: 'normal' }).value).toBe(0);
    expect(sampleOf(f, 'lnnode_payments', { state: 'succeeded' }).value).toBe(0);
    expect(sampleOf(f, 'lnnode_payment_latency_seconds_count', { outcome: 'succeeded' }).value).toBe(0);

    const health = await fetch(`${a.base}/health`);
    expect([health.status, ((await health.json()) as { status: string }).status]).toEqual([200, 'ok']);
    const ready = await fetch(`${a.base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      ready: true,
      checks: {
        chain: { ok: true, detail: 'no chain source configured' },
        p2p: { ok: true, detail: `listening on port ${a.node.p2pPort}` },
        rpc: { ok: true, detail: 'listening' },
      },
    });
    expect((await fetch(`${a.base}/other`)).status).toBe(404);
    expect((await fetch(`${a.base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);

    // No id, key or address of a peer appears: the endpoint has no credential.
    const text = await (await fetch(`${a.base}/metrics`)).text();
    expect(text).not.toContain(hex(b.node.nodeId));
    expect(text).not.toContain(String(b.node.p2pPort));

    a.node.stop();
    expect((await fetch(`${a.base}/health`)).status).toBe(503);
    const notReady = await fetch(`${a.base}/ready`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { checks: Record<string, unknown> }).checks.node).toEqual({ ok: false, detail: 'stopping' });
    expect((await fetch(`${a.base}/metrics`)).status).toBe(503);
  }, 30_000);

  test('/ready turns 503 when a chain source that answered goes silent for longer than five polls (30 s at least)', () => {
    const config = parseArgs(['--esplora-url', 'http://127.0.0.1:3002', '--p2p-listen', 'off', '--rpc-listen', 'off', '--chain-poll-ms', '10000']);
    const node = (silentMs: number) => ({ tip: { height: 7, hash: '' }, chainSilentMs: silentMs, isStopped: false }) as unknown as LightningNode;
    expect(readiness(node(49_000), config, { rpc: false, lndRpc: false })).toEqual({ ready: true, checks: { chain: { ok: true, detail: 'synced to height 7' } } });
    expect(readiness(node(51_000), config, { rpc: false, lndRpc: false })).toEqual({
      ready: false,
      checks: { chain: { ok: false, detail: 'the esplora chain source has not answered for 51 s (tip height 7)' } },
    });
    const fast = parseArgs(['--esplora-url', 'http://127.0.0.1:3002', '--p2p-listen', 'off', '--rpc-listen', 'off', '--chain-poll-ms', '100']);
    expect(readiness(node(29_000), fast, undefined).ready).toBe(true);
    expect(readiness(node(31_000), fast, undefined).ready).toBe(false);
  });

  test('/ready waits for a chain source that does not answer, and names it', async () => {
    const dataDir = tempDir();
    // Port 9 (discard) on loopback: nothing answers, so the node keeps retrying.
    const config = parseArgs(['--data-dir', dataDir, '--p2p-listen', 'off', '--rpc-listen', 'off', '--esplora-url', 'http://127.0.0.1:9']);
    const node = LightningNode.start(config, silentLogger);
    cleanup.push(() => node.stop());
    const metrics = startMetricsServer({ node, config, host: '127.0.0.1', port: 0, log: silentLogger, listeners: () => ({ rpc: false, lndRpc: false }) });
    cleanup.push(() => metrics.stop());
    const r = await fetch(`http://127.0.0.1:${metrics.port}/ready`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, checks: { chain: { ok: false, detail: 'waiting for the esplora chain source' } } });
    expect((await fetch(`http://127.0.0.1:${metrics.port}/health`)).status).toBe(200);
    const f = parseExposition(await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text());
    expect(sampleOf(f, 'lnnode_wallet_balance_sat', { state: 'confirmed' }).raw).toBe('0');
    expect(sampleOf(f, 'lnnode_chain_height').value).toBe(0);
  });
});
