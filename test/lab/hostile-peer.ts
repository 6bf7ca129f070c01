/**
 * A scripted hostile peer for lab tests: its own BOLT 8 transport and a bare
 * BOLT 1 session (init, pings answered) over a real TCP connection to an
 * lnnode, and nothing else: no channel logic answers for it. A test sends
 * any message with any field values (or raw bytes), and reads back, in
 * order, every message the node sent (errors, warnings and pongs included)
 * and when the node closed the connection.
 *
 * Channel state, correctly signed commitments and deviations from them live
 * in hostile-peer-channel.ts; the node under attack and how to inspect it in
 * hostile-peer-victim.ts.
 *
 * "Nothing was sent back" is proved without a clock: `barrier()` sends a
 * message the node answers at once and waits for the answer. lnnode handles a
 * connection's messages in order and answers channel messages synchronously,
 * so whatever a message before it made the node send has arrived by then.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type Socket } from 'bun';
import { hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { errorCodec, initCodec, pingCodec, pongCodec, warningCodec, type Init, type Ping } from '../../src/bolt/bolt1/messages.ts';
import { encodeMessage, MessageRegistry } from '../../src/bolt/bolt1/wire.ts';
import { FeatureVector, LNNODE_INIT_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { BOLT2_MESSAGES } from '../../src/bolt/bolt2/index.ts';
import { type MessageCodec } from '../../src/bolt/message.ts';
import { chainHash } from '../../src/node/networks.ts';
import { NoiseSocket } from '../../src/node/peer/noise-socket.ts';
import { CODECS } from '../../src/node/peer/session.ts';
import { waitFor } from './processes.ts';

/** Where the node under attack listens. */
export interface Target {
  nodeId: Uint8Array;
  host: string;
  port: number;
}

/** One message the node sent us. */
export interface Received {
  /** Position in `HostilePeer.log`. */
  seq: number;
  /** Which of our connections it came on (1, 2, ...). */
  conn: number;
  name: string;
  msg: Record<string, unknown>;
}

/** The channel (or temporary channel) id a message names, as hex; undefined for BOLT 1 messages without one. */
export const channelOf = (r: Received): string | undefined => {
  const id = (r.msg.channelId ?? r.msg.temporaryChannelId) as Uint8Array | undefined;
  return id && hex(id);
};

/** The text an error or warning carries. */
export const textOf = (r: Received): string => new TextDecoder().decode(r.msg.data as Uint8Array);

const GOSSIP_TYPES = [256, 257, 258, 259];
const registry = new MessageRegistry([initCodec, errorCodec, warningCodec, pingCodec, pongCodec, ...BOLT2_MESSAGES] as MessageCodec<unknown>[], GOSSIP_TYPES);

interface Connection {
  id: number;
  noise: NoiseSocket;
  socket?: Socket<unknown>;
  theirInit?: Init;
  closed?: string;
  ready: Promise<void>;
}

let keys = 0;

export class HostilePeer {
  readonly nodeSecret: Uint8Array;
  readonly nodeId: Uint8Array;
  /** Every message the node sent, across connections. */
  readonly log: Received[] = [];
  /** Why each connection ended, by connection number. */
  readonly closes = new Map<number, string>();
  private conn: Connection | undefined;
  private connections = 0;
  /** Log positions of barrier answers. */
  private readonly barriers = new Set<number>();

  constructor(
    readonly target: Target,
    private readonly opts: { features?: FeatureVector; label?: string } = {},
  ) {
    // A fresh identity per peer (and per test run): the node keeps per-peer state (caps, channels).
    this.nodeSecret = secp256k1.utils.randomSecretKey();
    this.nodeId = secp256k1.getPublicKey(this.nodeSecret, true);
    keys++;
  }

  get label(): string {
    return this.opts.label ?? `hostile${keys}`;
  }

  static async connect(target: Target, opts: { features?: FeatureVector; label?: string } = {}): Promise<HostilePeer> {
    const p = new HostilePeer(target, opts);
    await p.reconnect();
    return p;
  }

  get connected(): boolean {
    return !!this.conn && !this.conn.closed && !!this.conn.theirInit;
  }

  /** The current connection's number. */
  get connection(): number {
    return this.conn?.id ?? 0;
  }

  /** The node's init on the current connection. */
  get theirInit(): Init | undefined {
    return this.conn?.theirInit;
  }

  /** Opens a new connection (closing the current one first) and waits until both inits are exchanged. */
  async reconnect(): Promise<void> {
    if (this.conn && !this.conn.closed) await this.disconnect();
    const id = ++this.connections;
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    const c: Partial<Connection> & { id: number; ready: Promise<void> } = { id, ready };
    const events = {
      onReady: () => {
        c.noise!.send(encodeMessage(initCodec, { globalFeatures: FeatureVector.empty(), features: this.opts.features ?? LNNODE_INIT_FEATURES, networks: [chainHash('regtest')] }));
      },
      onMessage: (m: Uint8Array) => this.onMessage(c as Connection, m, resolveReady),
      onClose: (reason: string) => {
        c.closed = reason;
        this.closes.set(id, reason);
        rejectReady(new Error(`connection closed before init: ${reason}`));
      },
    };
    await Bun.connect({
      hostname: this.target.host,
      port: this.target.port,
      socket: {
        open: (socket) => {
          c.socket = socket as Socket<unknown>;
          c.noise = NoiseSocket.initiator(socket as Socket<unknown>, events, this.nodeSecret, this.target.nodeId, (n) => crypto.getRandomValues(new Uint8Array(n)));
        },
        data: (_s, chunk) => c.noise?.data(new Uint8Array(chunk)),
        drain: () => c.noise?.drain(),
        close: () => c.noise?.closed(),
        error: () => c.noise?.closed(),
      },
    });
    this.conn = c as Connection;
    await ready;
  }

  private onMessage(c: Connection, bytes: Uint8Array, initDone: () => void): void {
    let d;
    try {
      d = registry.dispatch(bytes);
    } catch (e) {
      if (e instanceof DecodeError) return c.noise.close(`the node sent a message we cannot decode: ${e.message}`);
      throw e;
    }
    if (d.kind !== 'known') return;
    if (d.name === 'init') {
      c.theirInit = d.msg as Init;
      return initDone();
    }
    if (d.name === 'ping') {
      const ping = d.msg as Ping;
      if (ping.numPongBytes < 65532) c.noise.send(encodeMessage(pongCodec, { ignored: new Uint8Array(ping.numPongBytes) }));
      return;
    }
    this.log.push({ seq: this.log.length, conn: c.id, name: d.name, msg: d.msg as Record<string, unknown> });
  }

  /** Closes the current connection and waits until it is gone. */
  async disconnect(): Promise<void> {
    const c = this.conn;
    if (!c || c.closed) return;
    c.noise.close('closed by the hostile peer');
  }

  /** Waits until the node closes the current connection; returns why it ended. */
  async closedByNode(what = 'the node to close the connection'): Promise<string> {
    const c = this.conn;
    if (!c) throw new Error('not connected');
    return waitFor(what, () => c.closed);
  }

  /** Sends a BOLT 1 / BOLT 2 message by codec name with exactly these fields. */
  send(name: string, msg: Record<string, unknown>): void {
    const codec = CODECS.get(name);
    if (!codec) throw new Error(`no codec named ${name}`);
    this.sendRaw(encodeMessage(codec, msg));
  }

  /** Sends bytes as one Lightning message (type + payload), whatever they hold. */
  sendRaw(message: Uint8Array): void {
    const c = this.conn;
    if (!c || c.closed || !c.theirInit) throw new Error(`${this.label} is not connected${c?.closed ? `: ${c.closed}` : ''}`);
    c.noise.send(message);
  }

  /**
   * Proves the node has handled everything sent before: a message for a
   * channel it never heard of, answered at once with a warning naming that
   * channel (pings would do, but lnnode answers only a few per second).
   * The warning is left out of `since`. Returns its log position.
   */
  async barrier(): Promise<number> {
    const id = randomChannelId();
    const key = hex(id);
    const from = this.log.length;
    this.send('update_fee', { channelId: id, feeratePerKw: 253 });
    const conn = this.conn!;
    const r = await this.next('the barrier warning', (x) => x.name === 'warning' && hex(x.msg.channelId as Uint8Array) === key, from, () => conn.closed);
    this.barriers.add(r.seq);
    return r.seq;
  }

  /** Log position to read "what came after" from. */
  mark(): number {
    return this.log.length;
  }

  /** Messages after `from` (pongs left out) that match `pred`. */
  since(from: number, pred: (r: Received) => boolean = () => true): Received[] {
    return this.log.slice(from).filter((r) => r.name !== 'pong' && !this.barriers.has(r.seq) && pred(r));
  }

  /** Messages after `from` about one channel (or temporary channel) id. */
  about(channelId: Uint8Array | string, from = 0): Received[] {
    const id = typeof channelId === 'string' ? channelId : hex(channelId);
    return this.since(from, (r) => channelOf(r) === id);
  }

  /**
   * Waits for the first message after `from` matching `pred`. Fails at once
   * if `stop` says so (the connection closed), naming what came instead.
   */
  async next(what: string, pred: (r: Received) => boolean, from = 0, stop: () => string | undefined = () => undefined, timeoutMs = 30_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.log.slice(from).find(pred);
      if (hit) return hit;
      const why = stop();
      const got = (): string =>
        this.since(from)
          .map((r) => (r.name === 'error' || r.name === 'warning' ? `${r.name} "${textOf(r)}"` : r.name))
          .join(', ') || 'nothing';
      if (why) throw new Error(`${this.label}: no ${what}: ${why}; received ${got()}`);
      if (Date.now() > deadline) throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; received ${got()}`);
      await Bun.sleep(20);
    }
  }

  /** Why the current connection ended, if it did. */
  get closedReason(): string | undefined {
    return this.conn?.closed;
  }
}

/** A message for a channel the node has never heard of, as a cheap "are you there" (answered with a warning). */
export const randomChannelId = (): Uint8Array => crypto.getRandomValues(new Uint8Array(32));
