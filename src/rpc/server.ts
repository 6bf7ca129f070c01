/**
 * One HTTP/2 listener serving Connect-RPC routes: gRPC, gRPC-Web and Connect
 * on the same port. Plain HTTP/2 (h2c) only on a loopback address; on any
 * other address TLS is mandatory, so credentials never cross a network in
 * the clear.
 *
 * Anyone who can reach the port may be a stranger (DESIGN.md rule 6), so:
 * every call passes `authorize` on its headers before a byte of its body is
 * read (a refused call is answered Unauthenticated at once and its stream
 * closed); a request message is refused from its length prefix past
 * maxRequestBytes; compressed requests are refused (nothing we serve needs
 * them, and a small gzip body can inflate to gigabytes); and connections,
 * streams, headers and the time each may take are capped (limits.ts,
 * connections.ts).
 */
import http2 from 'node:http2';
import { isIP, type Socket } from 'node:net';
import { Code, createContextValues, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { type Logger } from '../node/log.ts';
import { type Subscription } from '../node/subscription.ts';
import { callCounter, type CallObserver } from './call-counter.ts';
import { Connections } from './connections.ts';
import { EARLY_SUBSCRIPTION, type SubscribeOnHeaders } from './early-subscription.ts';
import { RESET_STREAM } from './feed.ts';
import { type ApiLimits, DEFAULT_API_LIMITS } from './limits.ts';

type Fallback = Parameters<typeof connectNodeAdapter>[0]['fallback'] & {};
type NodeRequest = Parameters<Fallback>[0];
type NodeResponse = Parameters<Fallback>[1];

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
  /** Told the outcome of every call (/metrics); a refused call as method "*", code "unauthenticated". */
  onCall?: CallObserver;
  /** Stream calls subscribed as soon as their headers pass authorize (src/rpc/early-subscription.ts). */
  subscribeOnHeaders?: SubscribeOnHeaders;
}

export interface RpcServer {
  port: number;
  tls: boolean;
  /**
   * Stops accepting connections and closes the open ones. With `graceMs`,
   * calls in flight (a Stop call's own answer among them) may finish for up to
   * that long first; streams still open then are cut, as they are at once without it.
   */
  stop(graceMs?: number): Promise<void>;
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

/** The request's headers as the web Headers `authorize` reads (HTTP/2 pseudo-headers left out). */
function webHeaders(req: NodeRequest): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(':') || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  return h;
}

/**
 * Answers a call without reading its body, in the protocol the client speaks:
 * gRPC and gRPC-Web as a trailers-only response, Connect as an HTTP error
 * with its JSON body. The client is then told to stop sending (HTTP/2
 * RST_STREAM NO_ERROR after the answer, as gRPC servers do; HTTP/1.1 closes).
 */
function answerWithoutBody(req: NodeRequest, res: NodeResponse, code: Code, message: string): void {
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('application/grpc')) {
    const headers = { 'content-type': type, 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) };
    // Trailers-only is one HEADERS frame with END_STREAM: grpc-go reads a status in headers only then.
    if ('stream' in res) res.stream.respond({ ':status': 200, ...headers }, { endStream: true });
    else res.writeHead(200, headers).end();
  } else {
    const name = Code[code].replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase());
    res.writeHead(code === Code.Unauthenticated ? 401 : 400, { 'content-type': 'application/json', ...('stream' in req ? {} : { connection: 'close' }) });
    res.end(JSON.stringify({ code: name, message }));
  }
  if ('stream' in req && !req.stream.closed) req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

export function startRpcServer(o: RpcServerOptions): Promise<RpcServer> {
  if (!o.tls && !isLoopback(o.host)) {
    return Promise.reject(new Error(`refusing to serve RPC without TLS on ${o.host}: plain HTTP/2 is only for loopback addresses`));
  }
  const limits = o.limits ?? DEFAULT_API_LIMITS;
  const connections = new Connections(limits, o.log);
  const subscribedEarly = new WeakMap<object, Subscription<unknown>>();
  const connect = connectNodeAdapter({
    routes: o.routes,
    // The length prefix of every message is checked against it before the message is read.
    readMaxBytes: limits.maxRequestBytes,
    acceptCompression: [],
    ...(o.onCall ? { interceptors: [callCounter(o.onCall)] } : {}),
    contextValues: (req) => {
      const values = createContextValues().set(RESET_STREAM, () => resetRequest(req));
      const early = subscribedEarly.get(req);
      return early ? values.set(EARLY_SUBSCRIPTION, early) : values;
    },
    ...(o.fallback ? { fallback: o.fallback } : {}),
  });
  const handler = (req: NodeRequest, res: NodeResponse): void => {
    const refused = o.authorize(webHeaders(req));
    const socket = 'stream' in req ? req.stream.session?.socket : req.socket;
    const call = socket ? connections.callStarted(socket, !refused) : undefined;
    res.once('close', () => call?.ended());
    if (refused) {
      if (!call || connections.firstRefusal(call.conn)) o.log.warn('rpc call refused', { path: req.url, reason: refused });
      // Not labelled by path: a stranger could otherwise grow the counters without bound.
      o.onCall?.('*', '*', 'unauthenticated');
      answerWithoutBody(req, res, Code.Unauthenticated, refused);
      return;
    }
    const early = o.subscribeOnHeaders?.((req.url ?? '').split('?')[0]!);
    if (early) {
      subscribedEarly.set(req, early);
      res.once('close', () => early.close());
    }
    // A client that sends headers and then trickles (or never finishes) its body is cut off.
    const body = setTimeout(() => resetRequest(req), limits.requestBodyTimeoutMs);
    req.once('end', () => clearTimeout(body));
    res.once('close', () => clearTimeout(body));
    // Answered before the client finished sending (a refused message, a stream that ended): tell it to stop, as
    // gRPC servers do, so what it still sends is not read and the stream does not stay half open.
    res.once('finish', () => {
      clearTimeout(body);
      if ('stream' in req && !req.stream.closed && !req.readableEnded) req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    connect(req, res);
  };
  const settings = { maxConcurrentStreams: limits.maxStreamsPerConnection, maxHeaderListSize: limits.maxHeaderListBytes };
  const server = o.tls
    ? http2.createSecureServer({ cert: o.tls.cert, key: o.tls.key, allowHTTP1: true, settings, handshakeTimeout: limits.handshakeTimeoutMs }, handler)
    : http2.createServer({ settings }, handler);
  server.on('connection', (socket: Socket) => connections.accepted(socket));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    connections.session(s);
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
        stop: (graceMs = 0) =>
          new Promise<void>((done) => {
            // Open streams (subscriptions) would keep close() waiting forever: they are cut at the end.
            const cut = (): void => {
              connections.stop();
              for (const s of sessions) s.destroy();
            };
            server.close(() => done());
            if (graceMs <= 0) return cut();
            connections.closeIdle();
            // GOAWAY: no new stream on these sessions, the open ones may end on their own.
            for (const s of sessions) if (!s.closed) s.close();
            setTimeout(cut, graceMs);
          }),
      });
    });
  });
}
