/**
 * Stop (lnnode.v1) and StopDaemon (lnd's, what `lncli stop` calls): the
 * caller gets its answer, then the daemon stops accepting, lets calls in
 * flight finish, disconnects its peers, closes the database, releases the
 * data-dir lock and exits 0 within a few seconds; it starts again on the
 * same data dir with its identity, token and peers. A node not run by the
 * daemon (nothing owns its process) refuses Stop.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { silentLogger } from '../../src/node/log.ts';
import { chainHash } from '../../src/node/networks.ts';
import { PeerManager } from '../../src/node/peer/manager.ts';
import { credentialTransport } from '../../src/rpc/client.ts';
import { Lightning } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { adminMacaroonPath } from '../../src/rpc/lnd/admin-macaroon.ts';
import { startLnnode, type LnnodeProcess } from '../lab/lnnode.ts';
import { freePort, waitFor } from '../lab/processes.ts';
import { startNodeWithApi } from './node-with-api.ts';

const CLI = resolve(import.meta.dir, '../../src/cli.ts');
const daemons: LnnodeProcess[] = [];
const managers: PeerManager[] = [];
afterAll(async () => {
  for (const m of managers) m.stop();
  await Promise.all(daemons.map((d) => d.stop()));
});

describe('Stop and StopDaemon in process', () => {
  test('refused (FailedPrecondition) where nothing owns the process; else answered, then the stop is requested', async () => {
    const n = await startNodeWithApi();
    try {
      const lnd = await n.lndApi();
      for (const call of [() => n.client.stop({}), () => lnd.lightning().stopDaemon({})]) {
        const e = ConnectError.from(await call().catch((x: unknown) => x));
        expect([e.code, e.rawMessage]).toEqual([Code.FailedPrecondition, 'this node is not run by the lnnode daemon: nothing to stop']);
      }
      const asked: string[] = [];
      n.node.requestStop = (reason) => asked.push(reason);
      const r = await n.client.stop({});
      expect(r.status).toBe('shutdown initiated, check logs for progress');
      await waitFor('the stop', () => asked.length === 1);
      expect((await lnd.lightning().stopDaemon({})).status).toBe('shutdown initiated, check logs for progress');
      await waitFor('the second stop', () => asked.length === 2);
      expect(asked).toEqual(['Stop call', 'StopDaemon call']);
    } finally {
      await n.stop();
    }
  });
});

describe('the daemon stopped through the API', () => {
  for (const [name, how] of [
    ['Stop (lnnode.v1)', 'stop'],
    ['StopDaemon (lnd API, lncli stop)', 'stopDaemon'],
    ['lnnode-cli stop', 'cli'],
  ] as const) {
    test(`${name}: exit 0 within seconds, an open stream ended with UNAVAILABLE, the peer told, restart on the same data dir with identity, token and peer`, async () => {
      const lndPort = await freePort();
      const metricsPort = await freePort();
      const args = ['--lnd-rpc-listen', `127.0.0.1:${lndPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`];
      const d = await startLnnode({ args });
      daemons.push(d);
      const secret = secp256k1.utils.randomSecretKey();
      const peer = new PeerManager({ nodeSecret: secret, chainHash: chainHash('regtest'), log: silentLogger, random: (k) => crypto.getRandomValues(new Uint8Array(k)) });
      managers.push(peer);
      await d.client().connectPeer({ peerPubkey: secp256k1.getPublicKey(secret, true), addr: `127.0.0.1:${peer.listen('127.0.0.1', 0)}`, persistent: true });
      const nodeId = d.nodeId;
      await waitFor('metrics up', async () => (await fetch(`http://127.0.0.1:${metricsPort}/ready`).catch(() => undefined))?.status === 200);

      // A client holding a stream open does not keep the daemon waiting: its stream ends with UNAVAILABLE at once.
      const stream = (async () => {
        try {
          for await (const _ of d.client().subscribeCustomMessages({})) void _;
          return 'ended';
        } catch (e) {
          const c = ConnectError.from(e);
          return `${Code[c.code]}: ${c.rawMessage}`;
        }
      })();
      await Bun.sleep(200);
      const t0 = performance.now();
      if (how === 'stop') expect((await d.client().stop({})).status).toBe('shutdown initiated, check logs for progress');
      else if (how === 'cli') {
        const p = Bun.spawn([process.execPath, CLI, '--data-dir', d.dataDir, 'stop'], { stdout: 'pipe', stderr: 'pipe' });
        const [out, err, exit] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        expect([exit, out, err]).toEqual([0, 'stopping: shutdown initiated, check logs for progress\n', '']);
      } else {
        const transport = credentialTransport({
          host: '127.0.0.1',
          port: lndPort,
          header: ['macaroon', readFileSync(adminMacaroonPath(d.dataDir, 'regtest')).toString('hex')],
          caCert: readFileSync(join(d.dataDir, 'tls.cert')),
        });
        expect((await createClient(Lightning, transport).stopDaemon({})).status).toBe('shutdown initiated, check logs for progress');
      }
      const code = await Promise.race([d.proc.exited, Bun.sleep(5_000).then(() => 'still running')]);
      const ms = performance.now() - t0;
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
      const logs = d.logs();
      expect(logs.find((r) => r.msg === 'stopping')?.reason).toBe(how === 'stopDaemon' ? 'StopDaemon call' : 'Stop call');
      expect(logs.at(-1)?.msg).toBe('stopped');
      await waitFor('the peer to see it go', () => !peer.isConnected(fromHex(nodeId)));
      expect(await stream).toBe('Unavailable: the node is stopping');
      // Nothing listens any more.
      expect(await fetch(`http://127.0.0.1:${metricsPort}/health`).then(() => 'answered', () => 'refused')).toBe('refused');

      // The lock is released and the state is intact: same id, same token, the persistent peer redialled.
      const again = await startLnnode({ dataDir: d.dataDir, p2pPort: d.p2pPort, rpcPort: d.rpcPort, args });
      daemons.push(again);
      expect(again.nodeId).toBe(nodeId);
      expect(hex((await again.client().getNodeInfo({})).nodePubkey)).toBe(nodeId);
      await waitFor('the persistent peer back', () => peer.isConnected(fromHex(nodeId)), 15_000);
      console.log(`${name}: answered and exited 0 in ${Math.round(ms)} ms`);
    }, 60_000);
  }
});
