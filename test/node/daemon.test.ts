/**
 * The lnnode daemon as a process (bun src/main.ts): identity kept across
 * restarts, private files, persistent peers redialled after either side
 * restarts (also after SIGKILL), and clear errors for a bad command line.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { silentLogger } from '../../src/node/log.ts';
import { chainHash } from '../../src/node/networks.ts';
import { PeerManager } from '../../src/node/peer/manager.ts';
import { startLnnode, type LnnodeProcess } from '../lab/lnnode.ts';
import { freePort, waitFor } from '../lab/processes.ts';

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const daemons: LnnodeProcess[] = [];
const managers: PeerManager[] = [];

afterAll(async () => {
  for (const m of managers) m.stop();
  await Promise.all(daemons.map((d) => d.stop()));
});

function manager(secret = secp256k1.utils.randomSecretKey()) {
  const m = new PeerManager({ nodeSecret: secret, chainHash: chainHash('regtest'), log: silentLogger, random });
  managers.push(m);
  return { m, secret, id: secp256k1.getPublicKey(secret, true) };
}

const onlineCount = (d: LnnodeProcess, peer: Uint8Array): number =>
  d.logs().filter((r) => r.msg === 'peer online' && r.peer === hex(peer)).length;

describe('lnnode daemon', () => {
  test('keeps its node id and API token across restarts; seed, database and token are private to the user', async () => {
    const d = await startLnnode();
    daemons.push(d);
    const id = d.nodeId;
    expect(id).toMatch(/^0[23][0-9a-f]{64}$/);
    expect(statSync(join(d.dataDir, 'seed')).mode & 0o777).toBe(0o600);
    expect(statSync(join(d.dataDir, 'lnnode.sqlite')).mode & 0o077).toBe(0);
    expect(statSync(join(d.dataDir, 'rpc.token')).mode & 0o777).toBe(0o600);
    expect(hex((await d.client().getNodeInfo({})).nodePubkey)).toBe(id);
    await d.restart({ kill: true });
    expect(d.nodeId).toBe(id);
    expect(hex((await d.client().getNodeInfo({})).nodePubkey)).toBe(id);
  }, 30_000);

  test('a peer that dialled it persistently comes back after the daemon is SIGKILLed and restarted', async () => {
    const d = await startLnnode();
    daemons.push(d);
    const t = manager();
    await t.m.connect(fromHex(d.nodeId), '127.0.0.1', d.p2pPort, { persistent: true });
    await waitFor('daemon to log the peer', async () => (onlineCount(d, t.id) === 1 ? true : undefined), 5_000);
    await d.restart({ kill: true });
    await waitFor('reconnect after restart', async () => (t.m.isConnected(fromHex(d.nodeId)) ? true : undefined), 15_000);
    await waitFor('daemon to log the peer again', async () => (onlineCount(d, t.id) === 1 ? true : undefined), 5_000);
  }, 40_000);

  test('--connect peers are redialled after the peer restarts, and after the daemon restarts (from its address book)', async () => {
    const t = manager();
    const port = await freePort();
    t.m.listen('127.0.0.1', port);
    const d = await startLnnode({ args: ['--connect', `${hex(t.id)}@127.0.0.1:${port}`] });
    daemons.push(d);
    await waitFor('daemon to dial us', async () => (t.m.isConnected(fromHex(d.nodeId)) ? true : undefined), 10_000);
    t.m.stop();
    const t2 = manager(t.secret);
    t2.m.listen('127.0.0.1', port);
    await waitFor('daemon to redial us', async () => (t2.m.isConnected(fromHex(d.nodeId)) ? true : undefined), 15_000);
    // The peer sees the connection before the daemon's "peer online" line reaches its log.
    await waitFor('daemon to log the peer online again', async () => (onlineCount(d, t.id) === 2 ? true : undefined), 5_000);
    // Restarted without --connect: the peer comes from the database.
    const { proc } = d;
    await proc.stop();
    const again = await startLnnode({ dataDir: d.dataDir, p2pPort: d.p2pPort });
    daemons.push(again);
    await waitFor('restarted daemon to redial us', async () => (onlineCount(again, t.id) === 1 ? true : undefined), 15_000);
    expect(t2.m.peers().map((p) => [hex(p.nodeId), p.inbound])).toEqual([[again.nodeId, true]]);
  }, 60_000);

  test('bad command lines exit 2 with a message naming the option', async () => {
    const run = async (args: string[]) => {
      const p = Bun.spawn([process.execPath, 'src/main.ts', ...args], { stderr: 'pipe' });
      return [await p.exited, await new Response(p.stderr).text()] as const;
    };
    const cases = [
      [['--network', 'mainnet2'], '--network: expected one of'],
      [['--p2p-listen', 'localhost'], '--p2p-listen: expected host:port'],
      [['--connect', 'abc@1.2.3.4:9735'], '--connect: expected <33-byte hex node id>'],
      [['--bitcoind-rpc-url', 'http://127.0.0.1:1'], 'needs --bitcoind-rpc-user'],
      [['--frobnicate'], 'unknown option --frobnicate'],
      [['--rpc-listen', '10019'], '--rpc-listen: expected host:port'],
      [['--rpc-tls-cert', '/tmp/c.pem'], '--rpc-tls-cert and --rpc-tls-key go together'],
    ] as const;
    // Each is a process start that is refused at once: side by side, not one after another.
    const got = await Promise.all(cases.map(([args]) => run([...args])));
    expect(got).toEqual(cases.map(([, text]) => [2, expect.stringContaining(text)]));
  });
});
