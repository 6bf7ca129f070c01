/**
 * lnnode.conf: the command line's option names without dashes, one a line,
 * read from the data dir (or --config); the command line overrides it;
 * mistakes name the file and line.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from '../../src/node/config.ts';
import { configFileLocation, networkMismatch, parseConfigFile, withConfigFile } from '../../src/node/config-file.ts';
import { freePort } from '../lab/processes.ts';

const MAIN = resolve(import.meta.dir, '../../src/main.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FILE = `# lab node
esplora-url = http://127.0.0.1:3002
p2p-listen=127.0.0.1:9736   # peers here
connect = 02${'11'.repeat(32)}@127.0.0.1:9735
connect = 03${'22'.repeat(32)}@127.0.0.1:9737
allow-unsafe-mainnet
`;

describe('lnnode.conf', () => {
  test('lines become options before the command line; a flag replaces every line of its name', () => {
    const entries = parseConfigFile(FILE, 'lnnode.conf');
    expect(entries.map((e) => [e.name, e.value, e.line])).toEqual([
      ['--esplora-url', 'http://127.0.0.1:3002', 2],
      ['--p2p-listen', '127.0.0.1:9736', 3],
      ['--connect', `02${'11'.repeat(32)}@127.0.0.1:9735`, 4],
      ['--connect', `03${'22'.repeat(32)}@127.0.0.1:9737`, 5],
      ['--allow-unsafe-mainnet', undefined, 6],
    ]);
    const c = parseArgs(withConfigFile(['--data-dir', '/d', '--p2p-listen=127.0.0.1:9999', '--config', '/d/other.conf'], entries));
    expect(c.chain).toEqual({ kind: 'esplora', url: 'http://127.0.0.1:3002' });
    expect(c.p2pListen).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(c.connect.map((t) => t.port)).toEqual([9735, 9737]);
    expect(c.allowUnsafeMainnet).toBe(true);
    expect(parseArgs(withConfigFile(['--connect', `02${'33'.repeat(32)}@127.0.0.1:1`], entries)).connect.map((t) => t.port)).toEqual([1]);
  });

  test('mistakes name the file and the line', () => {
    expect(() => parseConfigFile('esplora-url = http://x\nfrobnicate = 1\n', '/d/lnnode.conf')).toThrow('/d/lnnode.conf line 2: unknown option frobnicate');
    expect(() => parseConfigFile('max-feerate\n', 'f')).toThrow('f line 1: max-feerate needs a value');
    expect(() => parseConfigFile('data-dir = /x\n', 'f')).toThrow('f line 1: data-dir cannot be set in the config file');
    expect(() => parseConfigFile('allow-unsafe-mainnet = yes\n', 'f')).toThrow('f line 1: allow-unsafe-mainnet is a switch');
    expect(() => parseConfigFile('--esplora-url = x\n', 'f')).toThrow('f line 1: write option names without the leading dashes ("esplora-url = x")');
    expect(() => parseConfigFile('esplora url\n', 'f')).toThrow('f line 1: expected "name = value", got "esplora url"');
    expect(parseConfigFile('allow-unsafe-mainnet = false\n', 'f')).toEqual([]);
    // A restore happens on one start: from the file it would be tried on every start (and refused once the seed exists).
    expect(() => parseConfigFile('restore\n', 'f')).toThrow('f line 1: restore belongs on the command line of the one start that restores, not in a config file');
    expect(() => parseConfigFile('restore-channel-backup = /x\n', 'f')).toThrow('f line 1: restore-channel-backup belongs on the command line');
    expect(parseConfigFile('channel-backup = /backups/ln.backup\n', 'f')).toEqual([{ name: '--channel-backup', value: '/backups/ln.backup', line: 1 }]);
  });

  test('found in the data dir, or named by --config; a network other than its default dir is refused', () => {
    expect(configFileLocation(['--data-dir=/d'], {})).toEqual({ path: '/d/lnnode.conf', explicit: false, defaultDataDir: false, network: 'regtest' });
    expect(configFileLocation(['--network', 'signet'], { HOME: '/h' }).path).toBe('/h/.lnnode/signet/lnnode.conf');
    expect(configFileLocation(['--config', '/etc/lnnode.conf'], { HOME: '/h' })).toMatchObject({ path: '/etc/lnnode.conf', explicit: true });
    const where = configFileLocation([], { HOME: '/h' });
    expect(networkMismatch(parseConfigFile('network = mainnet\n', 'f'), where, [])).toBe(
      '/h/.lnnode/regtest/lnnode.conf says network = mainnet, but it is in the regtest data dir: give --network mainnet or --data-dir',
    );
    expect(networkMismatch(parseConfigFile('network = mainnet\n', 'f'), configFileLocation(['--data-dir', '/d'], {}), ['--data-dir', '/d'])).toBeUndefined();
  });

  test('the daemon reads it from its data dir, and a flag overrides it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lnnode-conf-'));
    dirs.push(dataDir);
    writeFileSync(join(dataDir, 'lnnode.conf'), 'p2p-listen = off\nrpc-listen = off\n');
    const refused = Bun.spawnSync([process.execPath, MAIN, '--data-dir', dataDir], { stderr: 'pipe' });
    expect([refused.exitCode, refused.stderr.toString()]).toEqual([2, expect.stringContaining('nothing to run: with --p2p-listen off, --rpc-listen off')]);
    const port = await freePort();
    const p = Bun.spawn([process.execPath, MAIN, '--data-dir', dataDir, '--rpc-listen', `127.0.0.1:${port}`], { stderr: 'pipe' });
    let log = '';
    const reader = p.stderr.getReader();
    while (!log.includes('"msg":"ready"')) {
      const { value, done } = await reader.read();
      if (done) break;
      log += new TextDecoder().decode(value);
    }
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(log).toContain(`"msg":"ready","p2pPort":"off","rpcPort":${port}`);
    const bad = Bun.spawnSync([process.execPath, MAIN, '--data-dir', dataDir, '--config', join(dataDir, 'missing.conf')], { stderr: 'pipe' });
    expect([bad.exitCode, bad.stderr.toString()]).toEqual([2, `lnnode: --config: cannot read ${join(dataDir, 'missing.conf')}\n`]);
  }, 20_000);
});
