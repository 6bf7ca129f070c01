/**
 * A gRPC call over a bare node:http2 client, for tests that need a client
 * behaving as a stranger or a stalled reader would: it sends exactly the
 * headers and body bytes given (or none), reads nothing until told to
 * (so HTTP/2 flow control stops the server), and reports how the call
 * ended: response headers, grpc-status from headers or trailers, the
 * messages that came, the RST_STREAM code.
 */
import http2 from 'node:http2';

export interface RawCallEnd {
  /** grpc-status (from trailers, or from the headers of a trailers-only answer). */
  status?: number;
  message?: string;
  /** Whole gRPC messages received. */
  messages: number;
  /** The stream's RST_STREAM code (0 when it ended normally or is still half open). */
  rstCode: number;
}

export interface RawCall {
  session: http2.ClientHttp2Session;
  stream: http2.ClientHttp2Stream;
  /** Resolves with the response headers (a trailers-only answer carries grpc-status here). */
  response: Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>;
  /** Starts reading and resolves when the stream has closed. */
  finish(): Promise<RawCallEnd>;
  close(): void;
}

/** A 5-byte gRPC envelope prefix: not compressed, `length` bytes following. */
export function envelope(length: number, compressed = false): Uint8Array {
  const b = new Uint8Array(5);
  b[0] = compressed ? 1 : 0;
  new DataView(b.buffer).setUint32(1, length >>> 0);
  return b;
}

export function connectRaw(port: number, caCert?: Buffer | string): http2.ClientHttp2Session {
  const s = caCert ? http2.connect(`https://127.0.0.1:${port}`, { ca: caCert, servername: 'localhost' }) : http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  return s;
}

/**
 * Starts a call on `session` (a new one when absent): `body` is written and
 * the request ended unless `keepOpen`.
 */
export function rawGrpcCall(o: {
  port: number;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  keepOpen?: boolean;
  caCert?: Buffer | string;
  session?: http2.ClientHttp2Session;
}): RawCall {
  const session = o.session ?? connectRaw(o.port, o.caCert);
  const stream = session.request({ ':method': 'POST', ':path': o.path, 'content-type': 'application/grpc', te: 'trailers', ...o.headers });
  stream.on('error', () => {});
  stream.pause();
  const response = new Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>((resolve) => stream.once('response', resolve));
  let headerStatus: { status?: number; message?: string } = {};
  void response.then((h) => {
    if (h['grpc-status'] !== undefined) headerStatus = { status: Number(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) };
  });
  let trailerStatus: { status?: number; message?: string } = {};
  stream.on('trailers', (t) => {
    if (t['grpc-status'] !== undefined) trailerStatus = { status: Number(t['grpc-status']), message: decodeURIComponent(String(t['grpc-message'] ?? '')) };
  });
  if (o.body) stream.write(o.body);
  if (!o.keepOpen) stream.end();
  let closed = false;
  const ended = new Promise<void>((resolve) => stream.once('close', () => ((closed = true), resolve())));
  return {
    session,
    stream,
    response,
    async finish() {
      let buffered = new Uint8Array(0);
      let messages = 0;
      stream.on('data', (chunk: Buffer) => {
        const all = new Uint8Array(buffered.length + chunk.length);
        all.set(buffered);
        all.set(chunk, buffered.length);
        let at = 0;
        while (all.length - at >= 5) {
          const len = new DataView(all.buffer, all.byteOffset + at + 1, 4).getUint32(0);
          if (all.length - at < 5 + len) break;
          at += 5 + len;
          messages++;
        }
        buffered = all.slice(at);
      });
      stream.resume();
      // A gRPC client is done at the status (trailers, or a trailers-only answer); the stream's close follows unless
      // the server leaves it half open, which this client, still able to send, would not notice otherwise.
      const status = new Promise<void>((resolve) => {
        stream.once('trailers', () => resolve());
        void response.then((h) => h['grpc-status'] !== undefined && resolve());
      });
      if (!closed) await Promise.race([ended, status.then(() => Promise.race([ended, Bun.sleep(200)]))]);
      const s = trailerStatus.status !== undefined ? trailerStatus : headerStatus;
      return { ...s, messages, rstCode: stream.rstCode ?? 0 };
    },
    close() {
      stream.close();
      session.close();
    },
  };
}

/** The paths of the calls the tests make. */
export const PATHS = {
  lnnodeSubscribeCustom: '/lnnode.v1.LightningNodeService/SubscribeCustomMessages',
  lnnodeGetNodeInfo: '/lnnode.v1.LightningNodeService/GetNodeInfo',
  lnnodeSendCustom: '/lnnode.v1.LightningNodeService/SendCustomMessage',
  lndSubscribeCustom: '/lnrpc.Lightning/SubscribeCustomMessages',
  lndGetInfo: '/lnrpc.Lightning/GetInfo',
} as const;
