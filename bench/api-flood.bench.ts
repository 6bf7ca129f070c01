/**
 * API resource figures against a running daemon (bun src/main.ts, no chain):
 * - custom-message flood: a peer sends 2,000 custom messages of 65,000 bytes
 *   (130 MB) while one SubscribeCustomMessages subscriber on each API
 *   (lnnode.v1 and lnd-compatible) stops reading and one lnnode.v1
 *   subscriber keeps reading; the daemon's RSS above its idle figure
 *   (issue 13 measured 816 MB before subscriber queues had a byte budget),
 *   and GetNodeInfo latency (p50, p99) during the flood;
 * - unauthenticated bodies: ten 8 MB request bodies without a credential,
 *   RSS above idle and how many of their bytes the daemon let in before
 *   answering Unauthenticated.
 * Needs no lab binaries.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex } from '../src/bolt/bytes.ts';
import { silentLogger } from '../src/node/log.ts';
import { chainHash } from '../src/node/networks.ts';
import { PeerManager } from '../src/node/peer/manager.ts';
import { tokenPath } from '../src/rpc/credentials.ts';
import { adminMacaroonPath } from '../src/rpc/lnd/admin-macaroon.ts';
import { startLnnode } from '../test/lab/lnnode.ts';
import { freePort, waitFor } from '../test/lab/processes.ts';
import { envelope, PATHS, rawGrpcCall } from '../test/rpc/raw-grpc.ts';
import { type Figure } from './run.ts';

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

export default async function (): Promise<Figure[]> {
  const lndPort = await freePort();
  const d = await startLnnode({ args: ['--lnd-rpc-listen', `127.0.0.1:${lndPort}`] });
  const peerSecret = secp256k1.utils.randomSecretKey();
  const peer = new PeerManager({ nodeSecret: peerSecret, chainHash: chainHash('regtest'), log: silentLogger, random });
  const stalled: { close(): void }[] = [];
  try {
    await waitFor('lnd API', () => d.logs().some((r) => r.msg === 'lnd-compatible API ready'), 10_000);
    const macaroon = readFileSync(adminMacaroonPath(d.dataDir, 'regtest')).toString('hex');
    const caCert = readFileSync(join(d.dataDir, 'tls.cert'));
    const token = readFileSync(tokenPath(d.dataDir), 'utf8').trim();
    await peer.connect(fromHex(d.nodeId), '127.0.0.1', d.p2pPort);
    const client = d.client();
    await client.getNodeInfo({});
    await Bun.sleep(500);
    const idle = rssMb(d.proc.pid);

    stalled.push(rawGrpcCall({ port: d.rpcPort, path: PATHS.lnnodeSubscribeCustom, headers: { authorization: `Bearer ${token}` }, body: envelope(0) }));
    stalled.push(rawGrpcCall({ port: lndPort, caCert, path: PATHS.lndSubscribeCustom, headers: { macaroon }, body: envelope(0) }));
    const done = new AbortController();
    let received = 0;
    const reading = (async () => {
      for await (const _ of d.client().subscribeCustomMessages({}, { signal: done.signal })) received++;
    })().catch(() => {});
    await Bun.sleep(300);

    const total = 2000;
    const data = new Uint8Array(65_000).fill(1);
    const latencies: number[] = [];
    let peak = idle;
    for (let sent = 0; sent < total; sent += 50) {
      for (let i = 0; i < 50; i++) peer.sendCustom(fromHex(d.nodeId), 40000, data);
      const t = performance.now();
      await client.getNodeInfo({});
      latencies.push(performance.now() - t);
      await waitFor('the reading subscriber', () => received >= sent + 50, 30_000);
      peak = Math.max(peak, rssMb(d.proc.pid));
    }
    done.abort();
    await reading;

    // Unauthenticated: each body is offered in full; the daemon should answer at its headers.
    const before = rssMb(d.proc.pid);
    let accepted = 0;
    for (let i = 0; i < 10; i++) {
      const call = rawGrpcCall({ port: d.rpcPort, path: PATHS.lnnodeGetNodeInfo, keepOpen: true });
      const body = new Uint8Array(8 * 1024 * 1024);
      body.set(envelope(body.length - 5));
      let written = 0;
      const chunk = 64 * 1024;
      const answered = call.response.then(() => true);
      for (let at = 0; at < body.length; at += chunk) {
        const more = call.stream.write(body.subarray(at, at + chunk));
        written = at + chunk;
        if (!more && !(await Promise.race([new Promise((r) => call.stream.once('drain', () => r(true))), answered.then(() => false), Bun.sleep(2000).then(() => false)]))) break;
      }
      await answered;
      accepted += Math.min(written, body.length);
      call.close();
    }
    const afterUnauth = rssMb(d.proc.pid);

    return [
      { name: 'flood: daemon RSS idle', value: idle, unit: 'MB' },
      { name: 'flood: RSS above idle (peak, 130 MB flood, 2 stalled)', value: peak - idle, unit: 'MB' },
      { name: 'flood: GetNodeInfo p50', value: pct(latencies, 0.5), unit: 'ms' },
      { name: 'flood: GetNodeInfo p99', value: pct(latencies, 0.99), unit: 'ms' },
      { name: 'unauthenticated 8 MB bodies: RSS growth (10 calls)', value: afterUnauth - before, unit: 'MB' },
      { name: 'unauthenticated 8 MB bodies: bytes written before refusal', value: accepted / 10 / 1024, unit: 'KiB/call' },
    ];
  } finally {
    for (const s of stalled) s.close();
    peer.stop();
    await d.stop();
    rmSync(d.dataDir, { recursive: true, force: true });
  }
}
