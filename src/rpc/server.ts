/**
 * One HTTP/2 listener serving Connect-RPC routes: gRPC, gRPC-Web and Connect
 * on the same port. Plain HTTP/2 (h2c) only on a loopback address; on any
 * other address TLS is mandatory, so credentials never cross a network in
 * the clear. Every call passes `authorize` first; a refused call gets
 * Unauthenticated and reaches no handler.
 */
import http2 from 'node:http2';
import { isIP } from 'node:net';
import { Code, ConnectError, createContextValues, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { type Logger } from '../node/log.ts';
import { RESET_STREAM } from './feed.ts';
import { type ApiLimits, DEFAULT_API_LIMITS } from './limits.ts';

type Fallback = Parameters<typeof connectNodeAdapter>[0]['fallback'] & {};
type NodeRequest = Parameters<Fallback>[0];

/** Ends a request's stream at once: RST_STREAM ENHANCE_YOUR_CALM on HTTP/2 (ResourceExhausted to gRPC clients), the socket on HTTP/1.1. */
function resetRequest(req: NodeRequest): void {
  if ('stream' in req) {
    if (!req.stream.closed) req.stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  } else req.socket.destroy();
}

export interface RpcServerOptions {
  host: string;
  port: number;
  routes: (router: ConnectRouter) => void;
  /** Returns a reason to refuse, or undefined to let the call through. */
  authorize: (headers: Headers) => string | undefined;
  tls?: { cert: string; key: string };
  log: Logger;
  /** Answers requests for paths no route serves (Connect's default is HTTP 404). */
  fallback?: Fallback;
  /** What one client may make the server hold (src/rpc/limits.ts); the defaults when absent. */
  limits?: ApiLimits;
}

export interface RpcServer {
  port: number;
  tls: boolean;
  stop(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

/**
 * A gRPC "trailers-only" Unimplemented answer for a method we do not serve,
 * so gRPC clients see the status lnd would give rather than an HTTP error.
 */
export function grpcUnimplemented(what: string): Fallback {
  return (req, res) => {
    const message = `unknown method ${req.url}: ${what}`;
    if (!('stream' in res)) {
      res.writeHead(404).end(message);
      return;
    }
    res.stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(Code.Unimplemented), 'grpc-message': encodeURIComponent(message) },
      { endStream: true },
    );
  };
}

export function startRpcServer(o: RpcServerOptions): Promise<RpcServer> {
  if (!o.tls && !isLoopback(o.host)) {
    return Promise.reject(new Error(`refusing to serve RPC without TLS on ${o.host}: plain HTTP/2 is only for loopback addresses`));
  }
  const auth: Interceptor = (next) => async (req) => {
    const refused = o.authorize(req.header);
    if (refused) {
      o.log.warn('rpc call refused', { method: req.method.name, reason: refused });
      throw new ConnectError(refused, Code.Unauthenticated);
    }
    return next(req);
  };
  const handler = connectNodeAdapter({
    routes: o.routes,
    interceptors: [auth],
    contextValues: (req) => createContextValues().set(RESET_STREAM, () => resetRequest(req)),
    ...(o.fallback ? { fallback: o.fallback } : {}),
  });
  const server = o.tls ? http2.createSecureServer({ cert: o.tls.cert, key: o.tls.key, allowHTTP1: true }, handler) : http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      const port = (server.address() as { port: number }).port;
      o.log.info('rpc listening', { host: o.host, port, tls: !!o.tls });
      resolve({
        port,
        tls: !!o.tls,
        stop: () =>
          new Promise<void>((done) => {
            // Open streams (subscriptions) would keep close() waiting forever.
            for (const s of sessions) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
