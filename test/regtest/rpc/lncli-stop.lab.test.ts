// lab-peers: lnd
/**
 * `lncli stop` against lnnode's lnd-compatible API: lncli prints lnd's
 * answer and exits 0, and the daemon exits 0 (StopDaemon takes the clean
 * path of lnnode.v1's Stop; test/rpc/stop.test.ts checks the restart).
 */
import { afterAll, expect, test } from 'bun:test';
import { Lncli } from '../../lab/lncli.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { freePort } from '../../lab/processes.ts';

let d: LnnodeProcess | undefined;
afterAll(async () => {
  await d?.stop();
});

test('lncli stop: lnd\'s answer printed, lncli and the daemon exit 0', async () => {
  const port = await freePort();
  d = await startLnnode({ args: ['--lnd-rpc-listen', `127.0.0.1:${port}`] });
  const lncli = new Lncli(port, d.dataDir);
  expect((await lncli.json<{ identity_pubkey: string }>(['getinfo'])).identity_pubkey).toBe(d.nodeId);
  const t0 = performance.now();
  const r = await lncli.run(['stop']);
  expect([r.code, r.stderr.trim()]).toEqual([0, '']);
  expect(JSON.parse(r.stdout)).toEqual({ status: 'shutdown initiated, check logs for progress' });
  const code = await Promise.race([d.proc.exited, Bun.sleep(5_000).then(() => 'still running')]);
  expect(code).toBe(0);
  console.log(`lncli stop: daemon exited 0 ${Math.round(performance.now() - t0)} ms after lncli started`);
  expect(d.logs().find((l) => l.msg === 'stopping')?.reason).toBe('StopDaemon call');
}, 60_000);
