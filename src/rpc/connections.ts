/**
 * Who is connected to an API port, and for how long they may stay without
 * doing anything useful (src/rpc/limits.ts): at most maxConnections open
 * connections and maxConnectionsPerAddress from one address (more are closed
 * as they arrive); a connection that has not sent an authenticated call
 * within authDeadlineMs is closed; one with no call open for idleTimeoutMs
 * is closed gracefully (HTTP/2 GOAWAY: the client reconnects on its next
 * call). The TLS handshake has its own timeout (the server's
 * handshakeTimeout).
 *
 * A connection is known by its remote address and port: Bun hands the HTTP/2
 * session a proxy of the socket, not the socket the server accepted, and the
 * two events come in either order.
 */
import type http2 from 'node:http2';
import { type Socket } from 'node:net';
import { type Logger } from '../node/log.ts';
import { type ApiLimits } from './limits.ts';

export interface Conn {
  socket?: Socket;
  session?: http2.ServerHttp2Session;
  authenticated: boolean;
  /** Calls open now. */
  open: number;
  warned: boolean;
  deadline?: ReturnType<typeof setTimeout>;
  idle?: ReturnType<typeof setTimeout>;
}

type Limits = Pick<ApiLimits, 'maxConnections' | 'maxConnectionsPerAddress' | 'authDeadlineMs' | 'idleTimeoutMs'>;

const keyOf = (s: { remoteAddress?: string; remotePort?: number }): string => `${s.remoteAddress}|${s.remotePort}`;

export class Connections {
  private readonly conns = new Map<string, Conn>();
  private readonly perAddress = new Map<string, number>();
  private sockets = 0;

  constructor(
    private readonly limits: Limits,
    private readonly log: Logger,
  ) {}

  get count(): number {
    return this.sockets;
  }

  private conn(key: string): Conn {
    let c = this.conns.get(key);
    if (!c) this.conns.set(key, (c = { authenticated: false, open: 0, warned: false }));
    return c;
  }

  /** The server accepted a TCP connection: over a cap it is closed now, else its deadline starts. */
  accepted(socket: Socket): void {
    const address = socket.remoteAddress ?? '?';
    const fromThere = this.perAddress.get(address) ?? 0;
    if (this.sockets >= this.limits.maxConnections || fromThere >= this.limits.maxConnectionsPerAddress) {
      this.log.warn('rpc connection refused: too many connections', { address, open: this.sockets, fromAddress: fromThere });
      const early = this.conns.get(keyOf(socket));
      this.conns.delete(keyOf(socket));
      early?.session?.destroy();
      socket.destroy();
      return;
    }
    this.sockets++;
    this.perAddress.set(address, fromThere + 1);
    const key = keyOf(socket);
    const c = this.conn(key);
    c.socket = socket;
    c.deadline = setTimeout(() => {
      if (c.authenticated) return;
      this.log.info('rpc connection closed: no authenticated call in time', { address, ms: this.limits.authDeadlineMs });
      this.destroy(c);
    }, this.limits.authDeadlineMs);
    this.armIdle(c);
    socket.once('close', () => {
      this.sockets--;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
      clearTimeout(c.deadline);
      clearTimeout(c.idle);
      this.conns.delete(key);
    });
  }

  /** An HTTP/2 session began on a connection (before or after `accepted`). */
  session(s: http2.ServerHttp2Session): void {
    const socket = s.socket as Socket | undefined;
    if (!socket) return;
    const c = this.conn(keyOf(socket));
    c.session = s;
  }

  /** A call began on the connection `socket` came on: it counts as open until `ended`. */
  callStarted(socket: { remoteAddress?: string; remotePort?: number }, authenticated: boolean): { conn: Conn; ended: () => void } {
    const c = this.conn(keyOf(socket));
    if (authenticated && !c.authenticated) {
      c.authenticated = true;
      clearTimeout(c.deadline);
    }
    c.open++;
    clearTimeout(c.idle);
    let done = false;
    return {
      conn: c,
      ended: () => {
        if (done) return;
        done = true;
        c.open--;
        this.armIdle(c);
      },
    };
  }

  /** True the first time a refused call is logged for this connection (one warning per connection, not per call). */
  firstRefusal(c: Conn): boolean {
    if (c.warned) return false;
    c.warned = true;
    return true;
  }

  private armIdle(c: Conn): void {
    clearTimeout(c.idle);
    if (c.open > 0) return;
    c.idle = setTimeout(() => {
      if (c.open > 0) return;
      if (c.session) c.session.close();
      else c.socket?.end();
    }, this.limits.idleTimeoutMs);
  }

  private destroy(c: Conn): void {
    if (c.session && !c.session.destroyed) c.session.destroy();
    c.socket?.destroy();
  }

  /** Closes every connection with no call open now (a graceful stop: the others finish theirs first). */
  closeIdle(): void {
    for (const c of this.conns.values()) if (c.open === 0) this.destroy(c);
  }

  /** Clears every timer (the server is stopping). */
  stop(): void {
    for (const c of this.conns.values()) {
      clearTimeout(c.deadline);
      clearTimeout(c.idle);
    }
  }
}
