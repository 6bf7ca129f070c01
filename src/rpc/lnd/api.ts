/**
 * The lnd-compatible API: lnrpc.Lightning, routerrpc.Router and
 * invoicesrpc.Invoices (the subset in proto-lnd/) and verrpc.Versioner on their own listener,
 * always over TLS with the data dir's tls.cert, every call authenticated by
 * a macaroon in the `macaroon` metadata header (hex), as lnd clients send
 * it. Methods outside the subset answer Unimplemented.
 */
import { type DaemonConfig } from '../../node/config.ts';
import { type Logger } from '../../node/log.ts';
import { type LightningNode } from '../../node/node.ts';
import { customMessagesOnHeaders } from '../early-subscription.ts';
import { streamsOf } from '../feed.ts';
import { Lightning } from '../gen/lnrpc/lightning_pb.ts';
import { grpcUnimplemented, startRpcServer, type RpcServer } from '../server.ts';
import { loadOrCreateTls } from '../tls-cert.ts';
import { loadOrCreateAdminMacaroon } from './admin-macaroon.ts';
import { invoicesRoutes } from './invoices-service.ts';
import { lightningRoutes } from './lightning-service.ts';
import { decodeMacaroon, MacaroonError, macaroonRefusal } from './macaroon.ts';
import { routerRoutes } from './router-service.ts';
import { versionRoutes } from './version-service.ts';
import { apiLimits, type ApiLimitsOverride } from '../limits.ts';

/** Why a call's `macaroon` header is refused, or undefined to let it through. */
export function macaroonHeaderRefusal(header: string | null, rootKey: Uint8Array, now = new Date()): string | undefined {
  if (!header) return 'expected 1 macaroon, got 0 (send the hex of admin.macaroon in the "macaroon" metadata header)';
  if (!/^([0-9a-fA-F]{2})+$/.test(header.trim())) return 'macaroon header is not hex';
  try {
    return macaroonRefusal(decodeMacaroon(Buffer.from(header.trim(), 'hex')), rootKey, now);
  } catch (e) {
    if (e instanceof MacaroonError) return `cannot decode macaroon: ${e.message}`;
    throw e;
  }
}

export async function startLndApi(node: LightningNode, config: DaemonConfig, log: Logger, limits?: ApiLimitsOverride): Promise<RpcServer | undefined> {
  if (!config.lndRpcListen) return undefined;
  const l = apiLimits(limits);
  const { host, port } = config.lndRpcListen;
  const tls = loadOrCreateTls(config.dataDir, [host], config.rpcTls);
  const { rootKey, macaroonPath } = loadOrCreateAdminMacaroon(config.dataDir, config.network);
  const services = [lightningRoutes(node, l), routerRoutes(node), invoicesRoutes(node), versionRoutes()];
  const server = await startRpcServer({
    host,
    port,
    routes: (router) => services.forEach((s) => s(router)),
    authorize: (h) => macaroonHeaderRefusal(h.get('macaroon'), rootKey),
    tls,
    log,
    limits: l,
    fallback: grpcUnimplemented('lnnode serves a subset of lnd\'s API (see proto-lnd/)'),
    onCall: (service, method, code) => node.metrics.rpcCall(service, method, code),
    subscribeOnHeaders: customMessagesOnHeaders(node, streamsOf(node, l.streams), Lightning),
  });
  log.info('lnd-compatible API ready', { tlsCert: tls.certPath, macaroon: macaroonPath });
  return server;
}
