/**
 * btcd's JSON-RPC over one websocket, as a `fetch` for JsonRpcClient: btcd
 * answers every HTTP call on a new connection ("Connection: close"), so
 * each one costs a TCP connect and a TLS handshake on both sides; the lab
 * makes a few of them for every Esplora request its nodes send. Over
 * btcd's `/ws` endpoint the calls share one connection. Calls are matched
 * to answers by an id of our own; a connection that drops (the lab cutting
 * btcd off, a restart) fails the calls in flight, as a dropped HTTP call
 * would, and the next call connects again.
 */
type Pending = { resolve: (body: string) => void; reject: (e: Error) => void };

export interface WsRpcOptions {
  /** e.g. `wss://127.0.0.1:18334/ws` */
  url: string;
  user: string;
  password: string;
  /** btcd's self-signed rpc.cert. */
  caCert: string;
}

/** One websocket to btcd and the calls waiting on it: a drop fails exactly these, never a later connection's. */
interface Connection {
  ws: WebSocket;
  pending: Map<number, Pending>;
}

export function wsRpcFetch(o: WsRpcOptions): (input: string, init?: RequestInit) => Promise<Response> {
  let current: Promise<Connection> | undefined;
  let nextId = 0;

  const connect = (): Promise<Connection> => {
    const opened: Promise<Connection> = new Promise((resolve, reject) => {
      const ws = new WebSocket(o.url, {
        headers: { authorization: `Basic ${btoa(`${o.user}:${o.password}`)}` },
        tls: { ca: o.caCert },
      } as unknown as string[]);
      const c: Connection = { ws, pending: new Map() };
      ws.onopen = () => resolve(c);
      ws.onmessage = (ev) => {
        const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer);
        const reply = JSON.parse(text) as { id?: number };
        const p = reply.id === undefined ? undefined : c.pending.get(reply.id);
        if (!p) return;
        c.pending.delete(reply.id!);
        p.resolve(text);
      };
      // An error is followed by a close: both end this connection, once.
      const gone = (why: string): void => {
        if (current === opened) current = undefined;
        reject(new Error(why));
        for (const p of c.pending.values()) p.reject(new Error(why));
        c.pending.clear();
      };
      ws.onerror = () => gone('btcd websocket error');
      ws.onclose = () => gone('btcd websocket closed');
    });
    return opened;
  };

  return async (_input, init) => {
    const call = JSON.parse(String(init?.body)) as { id: number; [k: string]: unknown };
    const theirs = call.id;
    const id = ++nextId;
    current ??= connect();
    const c = await current;
    const body = await new Promise<string>((resolve, reject) => {
      // Closing already: nothing sent now would be answered.
      if (c.ws.readyState !== WebSocket.OPEN) return reject(new Error('btcd websocket closed'));
      c.pending.set(id, { resolve, reject });
      init?.signal?.addEventListener('abort', () => {
        c.pending.delete(id);
        reject(new Error('timed out'));
      });
      c.ws.send(JSON.stringify({ ...call, id }));
    });
    // The caller's own id back, as an HTTP server would have answered it.
    const reply = JSON.parse(body) as Record<string, unknown>;
    return new Response(JSON.stringify({ ...reply, id: theirs }), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}
