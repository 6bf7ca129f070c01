/**
 * An in-process node without a chain, its lnnode.v1 API on a loopback port
 * picked at run time, and a client holding its token: what the RPC tests
 * start from. stop() stops both and removes the data dir. lndApi() adds the
 * lnd-compatible API (TLS, admin.macaroon) on another picked port.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '@connectrpc/connect';
import { type DaemonConfig } from '../../src/node/config.ts';
import { createLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { startApi } from '../../src/rpc/api.ts';
import { credentialTransport, lnnodeClient, type LnnodeClient } from '../../src/rpc/client.ts';
import { tokenPath } from '../../src/rpc/credentials.ts';
import { Lightning } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { Router } from '../../src/rpc/gen/routerrpc/router_pb.ts';
import { Invoices } from '../../src/rpc/gen/invoicesrpc/invoices_pb.ts';
import { adminMacaroonPath } from '../../src/rpc/lnd/admin-macaroon.ts';
import { startLndApi } from '../../src/rpc/lnd/api.ts';
import { type ApiLimitsOverride } from '../../src/rpc/limits.ts';
import { type RpcServer } from '../../src/rpc/server.ts';

export const quiet = createLogger({ level: 'error' });

export interface LndApi {
  server: RpcServer;
  macaroon: string;
  caCert: Buffer;
  /** Clients of the lnd-compatible API, each on its own HTTP/2 connection. */
  lightning(): Client<typeof Lightning>;
  router(): Client<typeof Router>;
  invoices(): Client<typeof Invoices>;
}

export interface NodeWithApi {
  node: LightningNode;
  api: RpcServer;
  client: LnnodeClient;
  dataDir: string;
  token: string;
  /** A client on its own HTTP/2 connection (streams on one connection share its flow-control window). */
  newClient(): LnnodeClient;
  /** Starts the lnd-compatible API once (later calls return the same). */
  lndApi(): Promise<LndApi>;
  stop(): Promise<void>;
}

export async function startNodeWithApi(extra: Partial<DaemonConfig> = {}, o: { limits?: ApiLimitsOverride } = {}): Promise<NodeWithApi> {
  const config: DaemonConfig = {
    network: 'regtest',
    dataDir: mkdtempSync(join(tmpdir(), 'lnnode-api-')),
    p2pListen: { host: '127.0.0.1', port: 0 },
    chain: { kind: 'none' },
    connect: [],
    logLevel: 'error',
    rpcListen: { host: '127.0.0.1', port: 0 },
    ...extra,
  };
  const node = LightningNode.start(config, quiet);
  const api = (await startApi(node, config, quiet, o.limits))!;
  const token = readFileSync(tokenPath(config.dataDir), 'utf8').trim();
  let lnd: LndApi | undefined;
  return {
    node,
    api,
    dataDir: config.dataDir,
    token,
    client: lnnodeClient({ host: '127.0.0.1', port: api.port, token }),
    newClient: () => lnnodeClient({ host: '127.0.0.1', port: api.port, token }),
    async lndApi() {
      if (lnd) return lnd;
      const server = (await startLndApi(node, { ...config, lndRpcListen: { host: '127.0.0.1', port: 0 } }, quiet, o.limits))!;
      const macaroon = readFileSync(adminMacaroonPath(config.dataDir, 'regtest')).toString('hex');
      const caCert = readFileSync(join(config.dataDir, 'tls.cert'));
      const transport = () => credentialTransport({ host: '127.0.0.1', port: server.port, header: ['macaroon', macaroon], caCert });
      lnd = {
        server,
        macaroon,
        caCert,
        lightning: () => createClient(Lightning, transport()),
        router: () => createClient(Router, transport()),
        invoices: () => createClient(Invoices, transport()),
      };
      return lnd;
    },
    async stop() {
      await lnd?.server.stop();
      await api.stop();
      node.stop();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
