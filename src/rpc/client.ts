/**
 * A gRPC client for lnnode.v1, for lnnode-cli and tests: the token from the
 * data dir in every call, and the node's own certificate as the only CA
 * when the API runs over TLS.
 */
import { createClient, type Client, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { LightningNodeService } from './gen/lnnode/v1/lnnode_pb.ts';

export type LnnodeClient = Client<typeof LightningNodeService>;

/** A gRPC transport that sends one credential header with every call; TLS trusting only `caCert` when given. */
export function credentialTransport(o: { host: string; port: number; header: [name: string, value: string]; caCert?: string | Buffer }): Transport {
  const auth: Interceptor = (next) => (req) => {
    req.header.set(o.header[0], o.header[1]);
    return next(req);
  };
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return createGrpcTransport({
    baseUrl: `${o.caCert ? 'https' : 'http'}://${host}:${o.port}`,
    interceptors: [auth],
    nodeOptions: o.caCert ? { ca: o.caCert } : undefined,
  });
}

export function lnnodeClient(o: { host: string; port: number; token: string; caCert?: string }): LnnodeClient {
  return createClient(LightningNodeService, credentialTransport({ ...o, header: ['authorization', `Bearer ${o.token}`] }));
}
