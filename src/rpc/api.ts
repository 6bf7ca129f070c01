/**
 * Starts the node's lnnode.v1 API as configured: the token file, TLS when
 * the address is not loopback (or a certificate was given), the listener.
 */
import { type DaemonConfig } from '../node/config.ts';
import { type Logger } from '../node/log.ts';
import { type LightningNode } from '../node/node.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bearerMatches, loadOrCreateToken, RPC_ADDR_FILE } from './credentials.ts';
import { customMessagesOnHeaders } from './early-subscription.ts';
import { streamsOf } from './feed.ts';
import { LightningNodeService } from './gen/lnnode/v1/lnnode_pb.ts';
import { lnnodeRoutes } from './lnnode-service.ts';
import { isLoopback, startRpcServer, type RpcServer } from './server.ts';
import { loadOrCreateTls } from './tls-cert.ts';
import { startLndApi } from './lnd/api.ts';
import { apiLimits, type ApiLimitsOverride } from './limits.ts';

export interface Apis {
  lnnode?: RpcServer;
  lnd?: RpcServer;
  /** Both servers' stop (RpcServer.stop): with `graceMs`, calls in flight may finish first. */
  stop(graceMs?: number): Promise<void>;
}

/** Both APIs as configured; if the second cannot start, the first is stopped again. */
export async function startApis(node: LightningNode, config: DaemonConfig, log: Logger, limits?: ApiLimitsOverride): Promise<Apis> {
  const lnnode = await startApi(node, config, log, limits);
  let lnd: RpcServer | undefined;
  try {
    lnd = await startLndApi(node, config, log.child('lnd'), limits);
  } catch (e) {
    await lnnode?.stop();
    throw e;
  }
  return { lnnode, lnd, stop: async (graceMs) => void (await Promise.all([lnnode?.stop(graceMs), lnd?.stop(graceMs)])) };
}

/** `limits`: the numbers of src/rpc/limits.ts to change (tests lower them). */
export async function startApi(node: LightningNode, config: DaemonConfig, log: Logger, limits?: ApiLimitsOverride): Promise<RpcServer | undefined> {
  if (!config.rpcListen) return undefined;
  const l = apiLimits(limits);
  const { host, port } = config.rpcListen;
  const token = loadOrCreateToken(config.dataDir);
  const tls = config.rpcTls || !isLoopback(host) ? loadOrCreateTls(config.dataDir, [host], config.rpcTls) : undefined;
  const server = await startRpcServer({
    host,
    port,
    routes: lnnodeRoutes(node, l),
    limits: l,
    authorize: (h) => (bearerMatches(h.get('authorization'), token) ? undefined : 'missing or wrong credential: send "authorization: Bearer <contents of rpc.token>"'),
    tls,
    log,
    onCall: (service, method, code) => node.metrics.rpcCall(service, method, code),
    subscribeOnHeaders: customMessagesOnHeaders(node, streamsOf(node, l.streams), LightningNodeService),
  });
  const shown = host.includes(':') ? `[${host}]` : host;
  writeFileSync(join(config.dataDir, RPC_ADDR_FILE), `${shown}:${server.port}\n`);
  return server;
}
