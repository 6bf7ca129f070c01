/**
 * An in-process node without a chain, its lnnode.v1 API on a loopback port
 * picked at run time, and a client holding its token: what the RPC tests
 * start from. stop() stops both and removes the data dir.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DaemonConfig } from '../../src/node/config.ts';
import { createLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { startApi } from '../../src/rpc/api.ts';
import { lnnodeClient, type LnnodeClient } from '../../src/rpc/client.ts';
import { tokenPath } from '../../src/rpc/credentials.ts';
import { type RpcServer } from '../../src/rpc/server.ts';

export const quiet = createLogger({ level: 'error' });

export interface NodeWithApi {
  node: LightningNode;
  api: RpcServer;
  client: LnnodeClient;
  dataDir: string;
  token: string;
  stop(): Promise<void>;
}

export async function startNodeWithApi(extra: Partial<DaemonConfig> = {}): Promise<NodeWithApi> {
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
  const api = (await startApi(node, config, quiet))!;
  const token = readFileSync(tokenPath(config.dataDir), 'utf8').trim();
  return {
    node,
    api,
    dataDir: config.dataDir,
    token,
    client: lnnodeClient({ host: '127.0.0.1', port: api.port, token }),
    async stop() {
      await api.stop();
      node.stop();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
