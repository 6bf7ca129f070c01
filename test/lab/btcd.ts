/**
 * A btcd regtest node for the lab: started on 127.0.0.1 with ports picked at
 * run time, RPC over TLS with btcd's self-signed certificate (lnd insists on
 * TLS to btcd), a transaction index (so
 * getrawtransaction finds any tx), and a mining address whose key the lab
 * holds, so mined coins can be handed out by the faucet.
 *
 * Clients reach its RPC through a TCP proxy (tcp-proxy.ts), so `restart`
 * can make the chain source go away and come back: the proxy is cut, btcd
 * stopped and started again (optionally with other policy flags, to make it
 * refuse what it took before), and since btcd deletes a regtest database at
 * every start, the blocks it had are submitted to it again before the proxy
 * lets clients back in. Its mempool is lost, as after any btcd restart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh } from '@scure/btc-signer';
import { JsonRpcClient } from '../../src/chain/json-rpc.ts';
import { wsRpcFetch } from './btcd-ws.ts';
import { labBinary } from './binaries.ts';
import { freePort, GiveUp, labTempDir, startProcess, waitFor, type LabProcess } from './processes.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import { REGTEST } from './regtest.ts';

export interface Btcd {
  proc: LabProcess;
  dir: string;
  rpcUrl: string;
  rpcUser: string;
  rpcPass: string;
  /** Path and PEM of btcd's RPC certificate. */
  rpcCertPath: string;
  rpcCert: string;
  /** host:port of the RPC server (lnd's btcd.rpchost). */
  rpcHost: string;
  p2pPort: number;
  rpc: JsonRpcClient;
  /** The key and script of the mining address (coinbase outputs go there). */
  miner: { privateKey: Uint8Array; script: Uint8Array; address: string };
  generate(n: number): Promise<string[]>;
  height(): Promise<number>;
  /**
   * Stopped (by PID) and started again; `args` replace the extra flags it was started with. `whileDown` runs in between.
   * `whileCut` runs first, once clients are cut off and btcd still runs, on an RPC client past the proxy:
   * what it does to the chain (a reorg) clients see only after the restart, with the mempool already empty.
   * `beforeRestore` runs last, on the restarted btcd (empty mempool, blocks back) before clients are let in:
   * what must happen before a node that finds the source back sends its transactions again.
   */
  restart(opts?: {
    args?: string[];
    whileDown?: () => Promise<void> | void;
    whileCut?: (direct: JsonRpcClient) => Promise<void>;
    beforeRestore?: (direct: JsonRpcClient) => Promise<void>;
  }): Promise<void>;
  stop(): Promise<void>;
}

export async function startBtcd(opts: { dir?: string; args?: string[] } = {}): Promise<Btcd> {
  const dir = opts.dir ?? labTempDir('lab-btcd-');
  const [rpcPort, p2pPort] = [await freePort(), await freePort()];
  const proxy = startTcpProxy({ host: '127.0.0.1', port: rpcPort });
  const rpcUser = 'lab';
  const rpcPass = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('hex');
  const privateKey = secp256k1.utils.randomSecretKey();
  const pay = p2wpkh(secp256k1.getPublicKey(privateKey, true), REGTEST);
  let extra = opts.args ?? [];
  const launch = (): LabProcess =>
    startProcess({
      name: 'btcd',
      cmd: labBinary('btcd'),
      args: [
        '--regtest',
        `--datadir=${join(dir, 'data')}`,
        `--logdir=${join(dir, 'logs')}`,
        `--listen=127.0.0.1:${p2pPort}`,
        `--rpclisten=127.0.0.1:${rpcPort}`,
        `--rpcuser=${rpcUser}`,
        `--rpcpass=${rpcPass}`,
        `--rpccert=${join(dir, 'rpc.cert')}`,
        `--rpckey=${join(dir, 'rpc.key')}`,
        '--txindex',
        `--miningaddr=${pay.address}`,
        '--debuglevel=info',
        // Regtest blocks come fast in tests; do not let btcd ban lnd for it.
        '--nobanning',
        // Several nodes polling every 200 ms through the Esplora adapter exceed the default 20 ("503 Too busy").
        '--rpcmaxconcurrentreqs=500',
        '--rpcmaxclients=200',
        ...extra,
      ],
      logFile: join(dir, 'btcd.log'),
    });
  let proc = launch();
  let exitCode: number | null | undefined;
  const watchExit = (p: LabProcess): void => void p.exited.then((c) => p === proc && (exitCode = c));
  watchExit(proc);
  // A btcd that died (a port taken, a bad flag) is reported with its log at once, not after a 30 s wait.
  const exitedEarly = (): void => {
    if (exitCode === undefined) return;
    const tail = existsSync(proc.logFile) ? readFileSync(proc.logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    throw new GiveUp(`btcd exited (code ${exitCode}) before its RPC answered; log tail:\n${tail}`);
  };
  const rpcUrl = `https://127.0.0.1:${proxy.port}`;
  const rpcCertPath = join(dir, 'rpc.cert');
  // btcd writes its certificate at start; wait for all of it (a half-written PEM would fail every TLS call).
  const rpcCert = await waitFor(
    'btcd rpc.cert',
    async () => {
      exitedEarly();
      const pem = existsSync(rpcCertPath) ? readFileSync(rpcCertPath, 'utf8') : '';
      return pem.includes('-----END CERTIFICATE-----') ? pem : undefined;
    },
    30_000,
  );
  // The lab's own calls (the Esplora adapter's among them) share one websocket: btcd answers each HTTP call on a new TLS connection.
  const wsFetch = wsRpcFetch({ url: `wss://127.0.0.1:${proxy.port}/ws`, user: rpcUser, password: rpcPass, caCert: rpcCert });
  const rpc = new JsonRpcClient({ url: rpcUrl, user: rpcUser, password: rpcPass, timeoutMs: 60_000, fetch: wsFetch });
  // Past the proxy: what restart uses while clients are kept out.
  const direct = new JsonRpcClient({ url: `https://127.0.0.1:${rpcPort}`, user: rpcUser, password: rpcPass, timeoutMs: 60_000, caCert: rpcCert });
  const ready = async (): Promise<void> => {
    let lastError = '';
    try {
      await waitFor(
        'btcd RPC',
        async () => {
          exitedEarly();
          const count = await direct.call<number>('getblockcount').catch((e: Error) => ((lastError = e.message), -1));
          return count >= 0 ? true : undefined;
        },
        30_000,
      );
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      throw new Error(`${(e as Error).message} (last RPC error: ${lastError || 'none'})`);
    }
  };
  await ready();
  return {
    get proc() {
      return proc;
    },
    dir,
    rpcUrl,
    rpcUser,
    rpcPass,
    rpcCertPath,
    rpcCert,
    rpcHost: `127.0.0.1:${proxy.port}`,
    p2pPort,
    rpc,
    miner: { privateKey, script: pay.script, address: pay.address! },
    generate: (n) => rpc.call<string[]>('generate', n),
    height: () => rpc.call<number>('getblockcount'),
    async restart(r = {}) {
      proxy.cut();
      try {
        await r.whileCut?.(direct);
        const blocks: string[] = [];
        const height = await direct.call<number>('getblockcount');
        for (let h = 1; h <= height; h++) blocks.push(await direct.call<string>('getblock', await direct.call<string>('getblockhash', h), 0));
        await proc.stop();
        await r.whileDown?.();
        if (r.args) extra = r.args;
        exitCode = undefined;
        proc = launch();
        watchExit(proc);
        await ready();
        for (const b of blocks) {
          const refused = await direct.call<string | null>('submitblock', b);
          if (refused) throw new Error(`btcd refused a block it had before the restart: ${refused}`);
        }
        await r.beforeRestore?.(direct);
      } finally {
        proxy.restore();
      }
    },
    async stop() {
      proxy.stop();
      await proc.stop();
    },
  };
}
