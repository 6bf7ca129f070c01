// lab-peers:
/**
 * Installing lnnode as a user would, with only Node.js and npm on PATH (no
 * bun): the packed tarball installed globally gives `lnnode` and
 * `lnnode-cli`, which start a node and answer getinfo through the Bun that
 * came with the package; and `npm ci --omit=dev && npm start` works from
 * the package's files with no dev toolchain; and `npm run build` makes
 * single-file executables that do the same with nothing installed.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, waitFor } from '../../lab/processes.ts';

const REPO = resolve(import.meta.dir, '../../..');
const NODE = Bun.which('node');
const NPM = Bun.which('npm');
const tmp = mkdtempSync(join(tmpdir(), 'lnnode-install-'));
// Node and npm, and the system's tools; no bun anywhere on it.
const PATH = `${dirname(NODE ?? '/usr/bin/node')}:/usr/bin:/bin`;
// The machine's own npm configuration (its CA file for the registry among it): `npm i -g --prefix <dir>` would
// otherwise look for it under <dir>/etc and fail every fetch on a certificate it cannot check, retrying for minutes.
const GLOBALCONFIG = NPM ? Bun.spawnSync([NPM, 'config', 'get', 'globalconfig']).stdout.toString().trim() : '';
const env: Record<string, string> = {
  PATH,
  HOME: tmp,
  npm_config_cache: join(process.env.HOME ?? tmp, '.npm'),
  npm_config_update_notifier: 'false',
  ...(GLOBALCONFIG ? { npm_config_globalconfig: GLOBALCONFIG } : {}),
  ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
};
const spawned: Bun.Subprocess[] = [];

afterAll(() => {
  for (const p of spawned) p.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts `lnnode` on loopback ports and returns once it logged "ready", with its log so far; `drain` keeps reading stderr after. */
async function startReady(lnnode: string, dataDir: string, runEnv: Record<string, string>, what: string) {
  const p = Bun.spawn([lnnode, '--data-dir', dataDir, '--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', `127.0.0.1:${await freePort()}`], {
    cwd: tmp,
    env: runEnv,
    stdout: 'ignore',
    stderr: 'pipe',
  });
  spawned.push(p);
  let log = '';
  const reader = p.stderr.getReader();
  await waitFor(
    `${what} to be ready`,
    async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error(`lnnode exited: ${log}`);
      log += new TextDecoder().decode(value);
      return log.includes('"msg":"ready"');
    },
    30_000,
  );
  const drain = (): void => {
    void reader.read().then(function more(r): unknown {
      return r.done ? undefined : reader.read().then(more);
    });
  };
  return { p, log, drain };
}

function sh(cmd: string[], cwd: string, extraEnv: Record<string, string> = {}): string {
  const r = Bun.spawnSync(cmd, { cwd, env: { ...env, ...extraEnv }, stdout: 'pipe', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.toString();
}

// Each install resolves, unpacks and links the runtime dependencies (Bun's binary among them): about 10 s here, more on a loaded machine.
describe.skipIf(!NODE || !NPM)('install', () => {
  test('PATH for these tests has no bun', () => {
    expect(Bun.which('bun', { PATH })).toBeNull();
  });

  test('npm pack, npm i -g: lnnode starts a node and lnnode-cli answers getinfo without bun on PATH', async () => {
    const tarball = sh([NPM!, 'pack', '--silent', '--pack-destination', tmp], REPO).trim().split('\n').pop()!;
    const prefix = join(tmp, 'global');
    sh([NPM!, 'install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(tmp, tarball)], tmp);
    const lnnode = join(prefix, 'bin', 'lnnode');
    const cli = join(prefix, 'bin', 'lnnode-cli');
    expect(sh([lnnode, '--version'], tmp)).toBe(`lnnode ${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version} (bun 1.4.5)\n`);

    const dataDir = join(tmp, 'node1');
    const { p, log, drain } = await startReady(lnnode, dataDir, env, 'the installed lnnode');
    const nodeId = /"msg":"starting"[^\n]*"nodeId":"([0-9a-f]{66})"/.exec(log)?.[1];
    const info = JSON.parse(sh([cli, '--data-dir', dataDir, '--json', 'getinfo'], tmp));
    expect(info).toMatchObject({ node_pubkey: nodeId, network: 'regtest', chain_source: 'none' });
    // The wrapper passes SIGTERM on: the daemon stops cleanly and its exit code comes back.
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    drain();
  }, 300_000);

  test('npm run build: single-file lnnode and lnnode-cli start a node and answer getinfo', async () => {
    // The build script as package.json has it, writing to a temp dir instead of dist/.
    const bin = join(tmp, 'bin');
    const script = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
    sh(['sh', '-c', script.replaceAll('dist/', `${bin}/`)], REPO, { PATH: `${join(REPO, 'node_modules', '.bin')}:${PATH}` });
    // Only the two files, away from the sources and node_modules.
    const runEnv = { PATH: '/usr/bin:/bin', HOME: tmp };
    const dataDir = join(tmp, 'node-compiled');
    const { p, log, drain } = await startReady(join(bin, 'lnnode'), dataDir, runEnv, 'the compiled lnnode');
    const r = Bun.spawnSync([join(bin, 'lnnode-cli'), '--data-dir', dataDir, '--json', 'getinfo'], { cwd: tmp, env: runEnv, stdout: 'pipe', stderr: 'pipe' });
    expect([r.exitCode, r.stderr.toString()]).toEqual([0, '']);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ node_pubkey: /"nodeId":"([0-9a-f]{66})"/.exec(log)?.[1], network: 'regtest' });
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    drain();
  }, 300_000);

  test('npm ci --omit=dev && npm start: no dev dependencies, bun from the runtime dependencies', () => {
    const dir = join(tmp, 'checkout');
    for (const f of ['package.json', 'package-lock.json', 'bin', 'src', 'proto', 'proto-lnd', 'README.md', 'LICENSE']) cpSync(join(REPO, f), join(dir, f), { recursive: true });
    sh([NPM!, 'ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], dir);
    expect(existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'bun'))).toBe(true);
    const out = sh([NPM!, 'start', '--silent', '--', '--version'], dir);
    expect(out).toMatch(/^lnnode \d+\.\d+\.\d+ \(bun 1\.4\.5\)\n$/);
  }, 300_000);
});
