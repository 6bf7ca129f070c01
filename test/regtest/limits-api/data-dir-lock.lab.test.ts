// lab-peers:
/**
 * Two lnnode daemons (bun src/main.ts) on one data dir (issue 13: the two
 * ran side by side and took turns with the peer until it force closed): the
 * second exits 1 at once with an error naming the dir and the first's PID,
 * listening on nothing; the first keeps serving its API; after the first is
 * SIGKILLed a new daemon starts on the same dir with the same node id.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hex } from '../../../src/bolt/bytes.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { freePort, startProcess } from '../../lab/processes.ts';

const MAIN = resolve(import.meta.dir, '../../../src/main.ts');
const daemons: LnnodeProcess[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const d of daemons) rmSync(d.dataDir, { recursive: true, force: true });
});

describe('data dir lock, two daemons', () => {
  test('a second daemon on a data dir in use exits 1 naming the dir and pid; a SIGKILLed holder leaves no stale lock', async () => {
    const first = await startLnnode();
    daemons.push(first);
    const p2p = await freePort();
    const rpc = await freePort();
    const logFile = join(first.dataDir, 'second.log');
    const second = startProcess({
      name: 'lnnode-second',
      cmd: process.execPath,
      args: [MAIN, '--network', 'regtest', '--data-dir', first.dataDir, '--p2p-listen', `127.0.0.1:${p2p}`, '--rpc-listen', `127.0.0.1:${rpc}`],
      logFile,
    });
    expect(await second.exited).toBe(1);
    const records = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; error?: { message?: string } | string });
    const failed = records.find((r) => r.msg === 'cannot start');
    const message = typeof failed?.error === 'string' ? failed.error : failed?.error?.message;
    expect(message).toBe(`DataDirError: data dir ${first.dataDir} is in use by another lnnode (pid ${first.proc.pid}); stop it first, or give this one another --data-dir`);
    expect(records.some((r) => r.msg === 'p2p listening' || r.msg === 'rpc listening')).toBe(false);
    // The first was not disturbed.
    expect(hex((await first.client().getNodeInfo({})).nodePubkey)).toBe(first.nodeId);

    const id = first.nodeId;
    await first.restart({ kill: true });
    expect(first.nodeId).toBe(id);
    expect(hex((await first.client().getNodeInfo({})).nodePubkey)).toBe(id);
    expect(readFileSync(join(first.dataDir, 'lnnode.pid'), 'utf8').trim()).toBe(String(first.proc.pid));
  }, 60_000);
});
