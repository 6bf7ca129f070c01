/**
 * The daemon's start-up errors as a person sees them (bun src/main.ts,
 * stderr and exit code): a port clash names the address and the option to
 * change, a node nobody can reach is refused, mainnet needs an explicit
 * opt-in and says what is not yet safe, --help lists the environment
 * variables for RPC credentials.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from '../../src/node/config.ts';
import { listenProblem, MAINNET_NOT_YET_SAFE, MAINNET_OPT_IN, startupRefusal } from '../../src/node/startup-errors.ts';
import { freePort } from '../lab/processes.ts';

const MAIN = resolve(import.meta.dir, '../../src/main.ts');
const dirs: string[] = [];
const holders: { stop(force?: boolean): void }[] = [];
afterAll(() => {
  for (const h of holders) h.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const dataDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'lnnode-startup-'));
  dirs.push(d);
  return d;
};

/** A port something else already listens on. */
function takenPort(): number {
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  holders.push(l);
  return l.port;
}

async function daemon(args: string[]): Promise<{ code: number; err: string }> {
  const p = Bun.spawn([process.execPath, MAIN, '--data-dir', dataDir(), ...args], { stdout: 'ignore', stderr: 'pipe' });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  return { code, err };
}

/** Starts the daemon, waits for `until` on stderr, stops it with SIGTERM; what it printed and its exit code. */
async function daemonUntil(args: string[], until: string): Promise<{ code: number; err: string }> {
  const p = Bun.spawn([process.execPath, MAIN, '--data-dir', dataDir(), ...args], { stdout: 'ignore', stderr: 'pipe' });
  let err = '';
  const reader = p.stderr.getReader();
  while (!err.includes(until)) {
    const { value, done } = await reader.read();
    if (done) break;
    err += new TextDecoder().decode(value);
  }
  p.kill('SIGTERM');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    err += new TextDecoder().decode(value);
  }
  return { code: await p.exited, err };
}

describe('daemon start-up errors', () => {
  test('a P2P port in use: the address and --p2p-listen are named, exit 1', async () => {
    const port = takenPort();
    const r = await daemon(['--p2p-listen', `127.0.0.1:${port}`, '--rpc-listen', `127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toContain(
      `lnnode: cannot listen for peers on 127.0.0.1:${port}: the port is in use (another lnnode, lnd or earlier run?); pick a free one with --p2p-listen HOST:PORT (or --p2p-listen off)`,
    );
  });

  test('an API port in use: --rpc-listen (or --lnd-rpc-listen) is named, exit 1', async () => {
    const port = takenPort();
    const r = await daemon(['--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`lnnode: cannot listen for the lnnode.v1 API on 127.0.0.1:${port}: the port is in use`);
    expect(r.err).toContain('pick a free one with --rpc-listen HOST:PORT (or --rpc-listen off)');
    const lnd = takenPort();
    const r2 = await daemon(['--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', `127.0.0.1:${await freePort()}`, '--lnd-rpc-listen', `127.0.0.1:${lnd}`]);
    expect(r2.code).toBe(1);
    expect(r2.err).toContain(`lnnode: cannot listen for the lnd-compatible API on 127.0.0.1:${lnd}: the port is in use`);
    expect(r2.err).toContain('--lnd-rpc-listen HOST:PORT');
  });

  test('the metrics port in use: --metrics-listen is named, exit 1', async () => {
    const port = takenPort();
    const r = await daemon(['--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', 'off', '--metrics-listen', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`lnnode: cannot listen for metrics on 127.0.0.1:${port}: the port is in use (another lnnode, lnd or earlier run?); pick a free one with --metrics-listen HOST:PORT`);
  });

  test('no listener and no chain source: refused with what to give, exit 2 (not a silent exit 0)', async () => {
    const r = await daemon(['--p2p-listen', 'off', '--rpc-listen', 'off']);
    expect(r.code).toBe(2);
    expect(r.err).toStartWith('lnnode: nothing to run: with --p2p-listen off, --rpc-listen off and no chain source');
    expect(r.err).toContain('give --rpc-listen HOST:PORT');
  });

  test('mainnet without the opt-in: refused with the list of what is not safe yet, exit 2', async () => {
    const r = await daemon(['--network', 'mainnet', '--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', 'off']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('lnnode: WARNING: mainnet is not yet safe for real funds:');
    for (const item of MAINNET_NOT_YET_SAFE) expect(r.err).toContain(`  - ${item}`);
    expect(r.err).toContain(`refusing to start on mainnet without ${MAINNET_OPT_IN}`);
  });

  test('mainnet with the opt-in starts, after printing the same warning', async () => {
    const port = await freePort();
    // --esplora-url off: mainnet would otherwise follow the default public Esplora server (a test stays offline).
    const r = await daemonUntil(['--network', 'mainnet', MAINNET_OPT_IN, '--esplora-url', 'off', '--p2p-listen', `127.0.0.1:${port}`, '--rpc-listen', 'off'], '"msg":"ready"');
    expect(r.err.indexOf('lnnode: WARNING: mainnet is not yet safe')).toBeLessThan(r.err.indexOf('"p2p listening"'));
    expect(r.err).toContain(`"port":${port}`);
    expect(r.code).toBe(0);
  }, 20_000);

  test('--help lists the RPC credential environment variables and the opt-in', () => {
    const r = Bun.spawnSync([process.execPath, MAIN, '--help'], { stdout: 'pipe' });
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(out).toMatch(/LNNODE_BITCOIND_RPC_USER +--bitcoind-rpc-user when the option is not given/);
    expect(out).toMatch(/LNNODE_BITCOIND_RPC_PASSWORD +--bitcoind-rpc-password/);
    expect(out).toContain(MAINNET_OPT_IN);
  });

  test("the README's mainnet list is the warning's list", () => {
    const readme = readFileSync(resolve(import.meta.dir, '../../README.md'), 'utf8');
    const section = /## Mainnet: not yet safe\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    const items = [...section.matchAll(/^- ([\s\S]*?)(?=\n- |\n\n|$)/gm)].map((m) => m[1]!.replace(/\s*\n\s*/g, ' '));
    expect(items).toEqual([...MAINNET_NOT_YET_SAFE]);
  });
});

describe('start-up checks (pure)', () => {
  test('listenProblem names the listener whose port failed; other errors are left alone', () => {
    const config = parseArgs(['--p2p-listen', '0.0.0.0:9735', '--rpc-listen', '127.0.0.1:10019', '--lnd-rpc-listen', '127.0.0.1:10009']);
    const inUse = (port: number, address?: string) => Object.assign(new Error('listen'), { code: 'EADDRINUSE', port, address });
    expect(listenProblem(inUse(10009, '127.0.0.1'), config, 'api')).toContain('the lnd-compatible API on 127.0.0.1:10009');
    expect(listenProblem(inUse(10019), config, 'api')).toContain('--rpc-listen HOST:PORT');
    expect(listenProblem(inUse(9735, '0.0.0.0'), config, 'p2p')).toContain('peers on 0.0.0.0:9735');
    expect(listenProblem(Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL', port: 9735 }), config, 'p2p')).toContain('that address is not on this machine');
    expect(listenProblem(new Error('disk full'), config, 'p2p')).toBeUndefined();
  });

  test('startupRefusal: a chain source or any listener is enough; mainnet only with the opt-in', () => {
    expect(startupRefusal(parseArgs(['--p2p-listen', 'off', '--rpc-listen', 'off', '--esplora-url', 'http://127.0.0.1:3002']))).toBeUndefined();
    expect(startupRefusal(parseArgs(['--p2p-listen', 'off']))).toBeUndefined();
    expect(startupRefusal(parseArgs(['--network', 'mainnet']))).toContain(`without ${MAINNET_OPT_IN}`);
    expect(startupRefusal(parseArgs(['--network', 'mainnet', MAINNET_OPT_IN]))).toBeUndefined();
  });
});
