/**
 * A gRPC client for lnnode.v1, for lnnode-cli and tests: the token from the
 * data dir in every call, and the node's own certificate as the only CA
 * when the API runs over TLS.
 */
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { LightningNodeService } from './gen/lnnode/v1/lnnode_pb.ts';

export type LnnodeClient = Client<typeof LightningNodeService>;

export function lnnodeClient(o: { host: string; port: number; token: string; caCert?: string }): LnnodeClient {
  const auth: Interceptor = (next) => (req) => {
    req.header.set('authorization', `Bearer ${o.token}`);
    return next(req);
  };
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const transport = createGrpcTransport({
    baseUrl: `${o.caCert ? 'https' : 'http'}://${host}:${o.port}`,
    interceptors: [auth],
    nodeOptions: o.caCert ? { ca: o.caCert } : undefined,
  });
  return createClient(LightningNodeService, transport);
}
