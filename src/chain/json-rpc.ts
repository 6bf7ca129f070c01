/**
 * A minimal JSON-RPC 1.0 client for bitcoind-compatible servers (Bitcoin
 * Core, btcd) over HTTP with basic auth. The password is never put in an
 * error message.
 */
import { ChainSourceError } from './types.ts';

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface JsonRpcOptions {
  /** e.g. `http://127.0.0.1:18443` */
  url: string;
  user: string;
  password: string;
  fetch?: Fetch;
  timeoutMs?: number;
  /** PEM certificate to trust for an https URL (btcd's self-signed rpc.cert). */
  caCert?: string;
}

/** The server answered with an error object (code and message as it sent them). */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    readonly rpcMessage: string,
  ) {
    super(`${method}: ${rpcMessage} (code ${code})`);
  }
}

export class JsonRpcClient {
  private readonly auth: string;
  private readonly fetchFn: Fetch;
  private readonly timeoutMs: number;
  private id = 0;

  constructor(private readonly opts: JsonRpcOptions) {
    this.auth = `Basic ${btoa(`${opts.user}:${opts.password}`)}`;
    this.fetchFn = opts.fetch ?? ((i, init) => fetch(i, init));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchFn(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: this.auth },
        body: JSON.stringify({ jsonrpc: '1.0', id: ++this.id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
        // Bun's fetch extension: trust the server's own certificate.
        ...(this.opts.caCert ? { tls: { ca: this.opts.caCert } } : {}),
      } as RequestInit);
    } catch (e) {
      throw new ChainSourceError(`rpc ${this.opts.url}`, `${method}: ${(e as Error).message}`);
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new ChainSourceError(`rpc ${this.opts.url}`, `${method}: authentication refused (HTTP ${res.status})`);
    }
    let body: { result?: unknown; error?: { code?: number; message?: string } | null };
    try {
      body = JSON.parse(text);
    } catch {
      throw new ChainSourceError(`rpc ${this.opts.url}`, `${method}: HTTP ${res.status}, not JSON: ${text.slice(0, 120)}`);
    }
    if (body.error) throw new RpcError(method, body.error.code ?? 0, body.error.message ?? 'unknown error');
    return body.result as T;
  }
}
