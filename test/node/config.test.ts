import { describe, expect, test } from 'bun:test';
import { msat, sat } from '../../src/bolt/units.ts';
import { ConfigError, parseArgs } from '../../src/node/config.ts';

describe('daemon command line', () => {
  test('defaults: regtest, ~/.lnnode/regtest, listen on 127.0.0.1:9735, API on 127.0.0.1:10019, no chain source', () => {
    expect(parseArgs([], { HOME: '/home/x' })).toEqual({
      network: 'regtest',
      dataDir: '/home/x/.lnnode/regtest',
      p2pListen: { host: '127.0.0.1', port: 9735 },
      chain: { kind: 'none' },
      connect: [],
      logLevel: 'info',
      rpcListen: { host: '127.0.0.1', port: 10019 },
      rpcTls: undefined,
    });
  });

  test('every option, in both spellings', () => {
    const id = `03${'ab'.repeat(32)}`;
    const c = parseArgs([
      '--network=testnet', '--data-dir', '/d', '--p2p-listen', '[::1]:9736', '--bitcoind-rpc-url', 'https://127.0.0.1:18334',
      '--bitcoind-rpc-user', 'u', '--bitcoind-rpc-password=p', '--bitcoind-rpc-cafile', '/c.pem',
      '--connect', `${id}@127.0.0.1:9735`, '--connect', `${id.toUpperCase().replace('X', 'x')}@host.example:1`, '--log-level', 'debug',
      '--rpc-listen', '0.0.0.0:10020', '--rpc-tls-cert=/t.cert', '--rpc-tls-key', '/t.key', '--chain-poll-ms', '200',
    ]);
    expect(c).toEqual({
      network: 'testnet',
      dataDir: '/d',
      p2pListen: { host: '::1', port: 9736 },
      chain: { kind: 'bitcoind-rpc', url: 'https://127.0.0.1:18334', user: 'u', password: 'p', caCertFile: '/c.pem' },
      connect: [
        { nodeId: id, host: '127.0.0.1', port: 9735 },
        { nodeId: id, host: 'host.example', port: 1 },
      ],
      logLevel: 'debug',
      rpcListen: { host: '0.0.0.0', port: 10020 },
      rpcTls: { certPath: '/t.cert', keyPath: '/t.key' },
      tipPollMs: 200,
    });
    expect(parseArgs(['--p2p-listen', 'off', '--esplora-url', 'http://127.0.0.1:3002/api']).p2pListen).toBeUndefined();
    expect(parseArgs(['--rpc-listen', 'off']).rpcListen).toBeUndefined();
    expect(parseArgs(['--max-feerate', '250']).maxFeerateSatPerVb).toBe(250);
    expect(parseArgs(['--max-dust-exposure', '20000']).channelLimits).toEqual({ maxDustHtlcExposureMsat: msat(20_000_000n) });
    expect(parseArgs(['--anchor-reserve', '0']).channelLimits).toEqual({ anchorReservePerChannelSat: sat(0) });
    expect(parseArgs(['--anchor-reserve', '25000', '--max-dust-exposure', '1']).channelLimits).toEqual({ anchorReservePerChannelSat: sat(25_000), maxDustHtlcExposureMsat: msat(1000n) });
    expect(parseArgs([]).channelLimits).toBeUndefined();
    expect(parseArgs(['--esplora-url', 'https://blockstream.info/api']).chain).toEqual({ kind: 'esplora', url: 'https://blockstream.info/api' });
  });

  test('RPC credentials may come from the environment so they stay out of ps output', () => {
    const c = parseArgs(['--bitcoind-rpc-url', 'http://localhost:1'], { LNNODE_BITCOIND_RPC_USER: 'u', LNNODE_BITCOIND_RPC_PASSWORD: 'p' });
    expect(c.chain).toEqual({ kind: 'bitcoind-rpc', url: 'http://localhost:1', user: 'u', password: 'p', caCertFile: undefined });
  });

  test('bad values are errors naming the option', () => {
    for (const [args, msg] of [
      [['--network', 'bitcoin'], '--network: expected one of mainnet, testnet, signet, regtest'],
      [['--p2p-listen', '1.2.3.4:99999'], '--p2p-listen: expected host:port'],
      [['--esplora-url', 'ftp://x'], '--esplora-url: expected an http(s) URL'],
      [['--esplora-url', 'http://a', '--bitcoind-rpc-url', 'http://b'], 'either --esplora-url or --bitcoind-rpc-url'],
      [['--network', 'regtest', '--network', 'mainnet'], '--network given 2 times'],
      [['--log-level', 'loud'], '--log-level: expected one of'],
      [['--data-dir'], '--data-dir needs a value'],
      [['stray'], 'unexpected argument "stray"'],
      [['--chain-poll-ms', '10'], '--chain-poll-ms: expected milliseconds between 50 and 600000'],
      [['--rpc-tls-key', '/k'], '--rpc-tls-cert and --rpc-tls-key go together'],
      [['--esplora-url', 'http://blockstream.info/api'], '--esplora-url: plain http to blockstream.info is refused: use https'],
      [['--bitcoind-rpc-url', 'http://192.168.1.5:8332', '--bitcoind-rpc-user', 'u', '--bitcoind-rpc-password', 'p'], '--bitcoind-rpc-url: plain http to 192.168.1.5 is refused: use https'],
      [['--max-feerate', '0'], '--max-feerate: expected whole sat/vB between 1 and 10000'],
      [['--max-feerate', '20000'], '--max-feerate: expected whole sat/vB between 1 and 10000'],
      [['--max-dust-exposure', '-1'], '--max-dust-exposure: expected whole sat between 0 and 100000000'],
      [['--max-dust-exposure', '1.5'], '--max-dust-exposure: expected whole sat between 0 and 100000000'],
      [['--anchor-reserve', '-5'], '--anchor-reserve: expected whole sat between 0 and 100000000'],
    ] as const) {
      expect(() => parseArgs([...args])).toThrow(ConfigError);
      expect(() => parseArgs([...args])).toThrow(msg);
    }
  });
});
