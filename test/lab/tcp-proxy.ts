/**
 * A loopback TCP proxy that can be cut: while cut it closes every
 * connection at once (as a stopped server does) and drops the open ones.
 * The lab puts one in front of btcd's RPC port, so a test can make the
 * chain source go away and come back without its clients noticing anything
 * but the outage. Bytes are passed through untouched (TLS included), with
 * what a socket could not take yet queued until it drains.
 */
import { type Socket } from 'bun';

export interface TcpProxy {
  port: number;
  /** Closes open connections and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  stop(): void;
}

interface Pipe {
  socket?: Socket<Pair>;
  queue: Uint8Array[];
}

interface Pair {
  client: Pipe;
  upstream: Pipe;
}

function write(p: Pipe, bytes?: Uint8Array): void {
  if (bytes) p.queue.push(bytes);
  if (!p.socket) return;
  while (p.queue.length) {
    const head = p.queue[0]!;
    const n = p.socket.write(head);
    if (n < head.length) {
      p.queue[0] = head.subarray(n);
      return;
    }
    p.queue.shift();
  }
}

export function startTcpProxy(target: { host: string; port: number }): TcpProxy {
  let cut = false;
  const open = new Set<Pair>();
  const close = (pair: Pair): void => {
    pair.client.socket?.end();
    pair.upstream.socket?.end();
    open.delete(pair);
  };
  const server = Bun.listen<Pair>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        if (cut) return void client.end();
        const pair: Pair = { client: { socket: client, queue: [] }, upstream: { queue: [] } };
        client.data = pair;
        open.add(pair);
        void Bun.connect<Pair>({
          hostname: target.host,
          port: target.port,
          socket: {
            open(up) {
              up.data = pair;
              pair.upstream.socket = up;
              write(pair.upstream);
            },
            data: (up, b) => write(up.data.client, new Uint8Array(b)),
            drain: (up) => write(up.data.upstream),
            close: (up) => close(up.data),
            error: (up) => close(up.data),
          },
        }).catch(() => close(pair));
      },
      data: (client, b) => write(client.data.upstream, new Uint8Array(b)),
      drain: (client) => write(client.data.client),
      close: (client) => client.data && close(client.data),
      error: (client) => client.data && close(client.data),
    },
  });
  return {
    port: server.port,
    cut() {
      cut = true;
      for (const p of [...open]) close(p);
    },
    restore() {
      cut = false;
    },
    stop() {
      this.cut();
      server.stop(true);
    },
  };
}
