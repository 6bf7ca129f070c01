/**
 * The node's peers: accepts and dials TCP connections (Bun.listen /
 * Bun.connect), runs BOLT 8 then BOLT 1 on each, keeps one session per node
 * id (a newer connection replaces an older one), delivers custom messages to
 * subscribers, and redials with exponential backoff the peers it is asked
 * to keep: persistent ones (1 s .. 60 s) and those we have a channel with
 * (1 s .. 5 min, until the channel is gone; limits.ts).
 *
 * Custom-message delivery policy: channel and control messages are acted on
 * as they arrive; custom messages wait in a CustomInbox and are handed to
 * subscribers round robin across peers, each peer within its byte budget
 * (limits.ts customInbound*). A peer with too much waiting has its socket
 * paused (TCP slows it down); past the inbox bounds its messages are dropped
 * and logged. Each subscriber has a queue bounded in messages and, given a
 * budget (API streams: src/rpc/limits.ts), in bytes (src/node/subscription.ts).
 * A subscriber that falls that far behind is closed with an overflow error
 * (it can resubscribe); it never makes the node buffer without bound, and it
 * never slows other subscribers or the peer.
 */
import type { Socket, TCPSocketListener } from 'bun';
import { fromHex, hex } from '../../bolt/bytes.ts';
import { type Init } from '../../bolt/bolt1/messages.ts';
import { type FeatureVector } from '../../bolt/bolt9/features.ts';
import { type Limits, withLimits } from '../limits.ts';
import { type BodyOf, type PeerMessage, type PeerMessageName } from '../../bolt/peer-messages.ts';
import { type Logger } from '../log.ts';
import { EVENT_OVERHEAD_BYTES, type QueueBudget, Subscription, withEventLimit } from '../subscription.ts';
import { CustomInbox } from './custom-inbox.ts';
import { NoiseSocket } from './noise-socket.ts';
import { PeerSession } from './session.ts';

/** Accepts custom messages of `types` only; undefined (all) when none are given. */
export function ofTypes(types?: Iterable<number>): ((m: CustomMessage) => boolean) | undefined {
  const only = types ? new Set(types) : undefined;
  return only && ((m) => only.has(m.type));
}

export interface CustomMessage {
  peer: Uint8Array;
  type: number;
  payload: Uint8Array;
}

export type PeerEvent = { kind: 'online'; peer: Uint8Array; address: string } | { kind: 'offline'; peer: Uint8Array; reason: string };

export interface PeerInfo {
  nodeId: Uint8Array;
  address: string;
  inbound: boolean;
  features: FeatureVector;
}

export interface ManagerOptions {
  nodeSecret: Uint8Array;
  chainHash: Uint8Array;
  log: Logger;
  random: (n: number) => Uint8Array;
  features?: FeatureVector;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Lowered limits for a test (limits.ts); the defaults otherwise. */
  limits?: Partial<Limits>;
  /** A monotonic clock in ms for rate limits; performance.now by default (tests move it by hand). */
  now?: () => number;
  /** How far a custom-message subscriber may fall behind (SUBSCRIBER_QUEUE_LIMIT by default). */
  subscriberQueueLimit?: number;
}

interface Live {
  session: PeerSession;
  noise: NoiseSocket;
  address: string;
  inbound: boolean;
}

type NoiseSocketData = { noise?: NoiseSocket };

interface Redial {
  host: string;
  port: number;
  attempt: number;
  timer?: ReturnType<typeof setTimeout>;
  why: 'persistent' | 'channel';
  wanted?: () => boolean;
}

/** How a socket's bytes and lifecycle reach its NoiseSocket, inbound or outbound alike. */
const socketEvents = {
  data: (socket: Socket<NoiseSocketData>, chunk: Uint8Array) => socket.data.noise?.data(new Uint8Array(chunk)),
  drain: (socket: Socket<NoiseSocketData>) => socket.data.noise?.drain(),
  close: (socket: Socket<NoiseSocketData>) => socket.data.noise?.closed(),
  error: (socket: Socket<NoiseSocketData>) => socket.data.noise?.closed(),
};

export class PeerManager {
  private readonly live = new Map<string, Live>();
  private readonly subscribers = new Set<Subscription<CustomMessage>>();
  private readonly eventListeners = new Set<(e: PeerEvent) => void>();
  private readonly messageListeners = new Set<(peer: Uint8Array, m: PeerMessage) => void>();
  /** Peers to redial when the connection is lost: persistent ones, and channel peers while `wanted` says so. */
  private readonly persistent = new Map<string, Redial>();
  private readonly initWaiters = new Map<string, ((err?: Error) => void)[]>();
  private listener: TCPSocketListener<NoiseSocketData> | undefined;
  /** Inbound connections still in their handshake, oldest first (a Set keeps insertion order). */
  private readonly handshaking = new Set<NoiseSocket>();
  private stopped = false;
  private readonly limits: Limits;
  private readonly now: () => number;
  private readonly inbox: CustomInbox<CustomMessage>;
  /** Peers whose reading is paused because too much of theirs waits in the inbox. */
  private readonly pausedForInbox = new Map<string, NoiseSocket>();
  /** Custom messages dropped per peer since its inbox last drained (logged once per episode). */
  private readonly dropping = new Map<string, number>();
  private pumpTimer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  /** Custom messages dropped at the inbox bounds since start (for logs and tests). */
  customDropped = 0;
  /** Custom messages received (before the inbox: dropped ones too) and sent since start (/metrics). */
  customReceived = 0;
  customSent = 0;
  /** P2P messages since start by "<in|out> <message name>" (/metrics); names come from our codecs, so the set is bounded. */
  readonly wireCounts = new Map<string, number>();

  constructor(private readonly opts: ManagerOptions) {
    this.limits = withLimits(opts.limits);
    this.now = opts.now ?? (() => performance.now());
    this.inbox = new CustomInbox({
      bytesPerSecond: this.limits.customInboundBytesPerSecond,
      totalBytesPerSecond: this.limits.customInboundBytesPerSecondTotal,
      pauseBytes: this.limits.customInboundPauseBytes,
      perPeerBytes: this.limits.customInboundQueueBytesPerPeer,
      totalBytes: this.limits.customInboundQueueBytesTotal,
    });
  }

  get listenPort(): number | undefined {
    return this.listener?.port;
  }

  listen(host: string, port: number): number {
    this.listener = Bun.listen<NoiseSocketData>({
      hostname: host,
      port,
      socket: {
        open: (socket) => {
          const address = `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
          socket.data = {};
          // Make room by dropping the oldest unfinished handshake: a real peer finishes in one round trip,
          // so a stranger holding many half-open connections cannot keep it out (limits.ts).
          if (this.handshaking.size >= this.limits.handshakesMaxUnfinished) {
            const oldest = this.handshaking.values().next().value!;
            this.handshaking.delete(oldest);
            oldest.close(`dropped: ${this.handshaking.size + 1} handshakes unfinished (limit ${this.limits.handshakesMaxUnfinished})`);
          }
          const noise = this.attach(socket as Socket<unknown>, address, undefined);
          socket.data.noise = noise;
          if (!noise.isReady && !noise.isClosed) this.handshaking.add(noise);
        },
        ...socketEvents,
      },
    });
    return this.listener.port;
  }

  /** Dials `nodeId` at host:port; resolves once both inits are exchanged. */
  async connect(nodeId: Uint8Array, host: string, port: number, opts: { persistent?: boolean } = {}): Promise<void> {
    const key = hex(nodeId);
    const address = `${host}:${port}`;
    if (opts.persistent) {
      clearTimeout(this.persistent.get(key)?.timer);
      this.persistent.set(key, { host, port, attempt: 0, why: 'persistent' });
    }
    if (this.live.get(key)?.session.initialized) return;
    const ready = this.waitInit(key);
    // The connection can fail (and reject `ready`) while Bun.connect is still pending: mark it handled here so a
    // dropped dial never becomes an unhandled rejection (which ends the process); the caller still gets it below.
    ready.catch(() => {});
    await Bun.connect<NoiseSocketData>({
      hostname: host,
      port,
      socket: {
        open: (socket) => {
          socket.data = {};
          socket.data.noise = this.attach(socket as Socket<unknown>, address, nodeId);
        },
        ...socketEvents,
        connectError: (_s, err) => this.dialFailed(key, new Error(`cannot connect to ${address}: ${err.message}`)),
      },
    }).catch((e: Error) => this.dialFailed(key, new Error(`cannot connect to ${address}: ${e.message}`)));
    return ready;
  }

  /**
   * Keeps a peer we have a channel with connected: dials it now unless it is
   * connected, and again with backoff after each disconnect, while `wanted()`
   * holds (it has a channel that is not closed). A persistent peer is left as
   * it is.
   */
  keepConnected(nodeId: Uint8Array, host: string, port: number, wanted: () => boolean): void {
    const key = hex(nodeId);
    const cur = this.persistent.get(key);
    if (cur?.why === 'persistent' || this.stopped) return;
    if (cur) Object.assign(cur, { host, port, wanted });
    else this.persistent.set(key, { host, port, attempt: 0, why: 'channel', wanted });
    if (this.live.has(key) || this.persistent.get(key)!.timer) return;
    this.connect(nodeId, host, port).catch(() => {}); // a failed dial schedules the next one (dialFailed)
  }

  /** Whether the peer is redialled after disconnects, and why. */
  redialReason(nodeId: Uint8Array): 'persistent' | 'channel' | undefined {
    return this.persistent.get(hex(nodeId))?.why;
  }

  /** A peer we keep that cannot be reached now is retried with backoff. */
  private dialFailed(key: string, err: Error): void {
    this.resolveInit(key, err);
    this.scheduleReconnect(key);
  }

  private waitInit(key: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.initWaiters.get(key) ?? [];
      list.push((err) => (err ? reject(err) : resolve()));
      this.initWaiters.set(key, list);
    });
  }

  private resolveInit(key: string, err?: Error): void {
    const list = this.initWaiters.get(key);
    this.initWaiters.delete(key);
    for (const f of list ?? []) f(err);
  }

  private attach(socket: Socket<unknown>, address: string, remote: Uint8Array | undefined): NoiseSocket {
    const log = this.opts.log;
    let session: PeerSession | undefined;
    const events = {
      onReady: (nodeId: Uint8Array) => {
        this.handshaking.delete(noise);
        const key = hex(nodeId);
        const old = this.live.get(key);
        session = new PeerSession(
          nodeId,
          noise,
          {
            onInit: (peer: Uint8Array, _init: Init) => {
              log.info('peer online', { peer: key, address, inbound: !remote });
              const p = this.persistent.get(key);
              if (p) p.attempt = 0;
              this.emit({ kind: 'online', peer, address });
              this.resolveInit(key);
            },
            onCustom: (peer, type, payload) => this.received(key, noise, { peer, type, payload }),
            onError: (peer, kind, text) => log.warn(`peer sent ${kind}`, { peer: hex(peer), text: text.slice(0, 200) }),
            onMessage: (peer, m) => {
              for (const l of this.messageListeners) l(peer, m);
            },
          },
          {
            chainHash: this.opts.chainHash,
            features: this.opts.features,
            pingIntervalMs: this.opts.pingIntervalMs,
            pingTimeoutMs: this.opts.pingTimeoutMs,
            limits: this.limits,
            now: this.opts.now,
            countWire: (direction, message) => {
              const key = `${direction} ${message}`;
              this.wireCounts.set(key, (this.wireCounts.get(key) ?? 0) + 1);
            },
          },
          log,
        );
        this.live.set(key, { session, noise, address, inbound: !remote });
        if (old) old.session.disconnect('replaced by a newer connection');
        session.start();
      },
      onMessage: (m: Uint8Array) => session?.receive(m),
      onClose: (reason: string) => {
        this.handshaking.delete(noise);
        session?.stop();
        const key = noise.remote ? hex(noise.remote) : undefined;
        if (!key) return;
        if (this.live.get(key)?.session === session && session) {
          this.live.delete(key);
          this.inbox.forget(key);
          if (this.pausedForInbox.get(key) === noise) this.pausedForInbox.delete(key);
          log.info('peer offline', { peer: key, reason });
          this.emit({ kind: 'offline', peer: noise.remote!, reason });
        }
        this.resolveInit(key, new Error(`connection to ${key.slice(0, 16)}… closed: ${reason}`));
        this.scheduleReconnect(key);
      },
    };
    const noiseOpts = {
      maxQueuedBytes: this.limits.peerOutboundMaxBytes,
      actTimeoutMs: this.limits.actTimeoutMs,
      handshakeTimeoutMs: this.limits.handshakeTimeoutMs,
    };
    const noise = remote
      ? NoiseSocket.initiator(socket, events, this.opts.nodeSecret, remote, this.opts.random, noiseOpts)
      : NoiseSocket.responder(socket, events, this.opts.nodeSecret, this.opts.random, noiseOpts);
    return noise;
  }

  /** A custom message arrived: it waits its turn in the inbox (issue 16.9). */
  private received(key: string, noise: NoiseSocket, m: CustomMessage): void {
    const size = m.payload.length + 2;
    this.customReceived++;
    const r = this.inbox.push(key, m, size);
    if (r !== 'queued') {
      this.customDropped++;
      const n = (this.dropping.get(key) ?? 0) + 1;
      this.dropping.set(key, n);
      if (n === 1) {
        this.opts.log.warn('dropping custom messages from peer', { peer: key, reason: r, waitingBytes: this.inbox.bytesOf(key), totalBytes: this.inbox.totalBytes });
      }
    }
    if (this.inbox.shouldPause(key) && !noise.isReadingPaused) {
      noise.pauseReading();
      this.pausedForInbox.set(key, noise);
    }
    this.pump();
  }

  /**
   * Hands waiting custom messages to subscribers, a batch per turn of the
   * event loop so sockets (and the channel messages on them) are served in
   * between; waits for a budget to refill when every waiting peer is spent.
   */
  private pump(): void {
    if (this.pumpTimer !== undefined || this.stopped) return;
    const wait = this.inbox.waitMs(this.now());
    if (wait === undefined) return;
    const run = (): void => {
      this.pumpTimer = undefined;
      const now = this.now();
      for (let i = 0; i < 64; i++) {
        const next = this.inbox.take(now);
        if (!next) break;
        for (const s of this.subscribers) s.offer(next.item);
        this.afterTake(next.peer);
      }
      this.pump();
    };
    this.pumpTimer = wait === 0 ? setImmediate(run) : setTimeout(run, wait);
  }

  private afterTake(key: string): void {
    const waiting = this.inbox.bytesOf(key);
    const paused = this.pausedForInbox.get(key);
    if (paused && waiting <= this.limits.customInboundPauseBytes / 2) {
      this.pausedForInbox.delete(key);
      paused.resumeReading();
    }
    const dropped = this.dropping.get(key);
    if (dropped !== undefined && waiting === 0) {
      this.dropping.delete(key);
      this.opts.log.warn('custom messages from peer were dropped', { peer: key, dropped });
    }
  }

  private scheduleReconnect(key: string): void {
    const p = this.persistent.get(key);
    if (!p || this.stopped || p.timer || this.live.has(key)) return;
    if (p.wanted && !p.wanted()) return void this.persistent.delete(key);
    const [min, max] =
      p.why === 'persistent'
        ? [this.limits.persistentRedialMinMs, this.limits.persistentRedialMaxMs]
        : [this.limits.channelPeerRedialMinMs, this.limits.channelPeerRedialMaxMs];
    const delay = Math.min(max, min * 2 ** p.attempt);
    p.attempt++;
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (this.live.has(key) || this.stopped || this.persistent.get(key) !== p) return;
      if (p.wanted && !p.wanted()) return void this.persistent.delete(key);
      this.connect(fromHex(key), p.host, p.port).catch(() => this.scheduleReconnect(key));
    }, delay);
  }

  private emit(e: PeerEvent): void {
    for (const l of this.eventListeners) l(e);
  }

  onPeerEvent(listener: (e: PeerEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Channel messages (and errors/warnings) from every peer, after init. */
  onMessage(listener: (peer: Uint8Array, m: PeerMessage) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Sends a BOLT 1/2 message by codec name; throws PeerNotConnectedError when the peer is not connected. */
  send<N extends PeerMessageName>(peer: Uint8Array, name: N, msg: BodyOf<N>): void {
    const l = this.live.get(hex(peer));
    if (!l?.session.initialized) throw new PeerNotConnectedError(peer);
    l.session.send(name, msg);
  }

  /** Open custom-message subscriptions (API streams among them). */
  get customSubscribers(): number {
    return this.subscribers.size;
  }

  /** Custom messages of the given types (all when none), through a bounded feed (see Subscription). */
  subscribeCustom(types?: Iterable<number>, budget?: QueueBudget): Subscription<CustomMessage> {
    const s = new Subscription<CustomMessage>((x) => this.subscribers.delete(x), {
      accepts: ofTypes(types),
      sizeOf: (m) => m.payload.length + EVENT_OVERHEAD_BYTES,
      budget: withEventLimit(budget, this.opts.subscriberQueueLimit),
    });
    this.subscribers.add(s);
    return s;
  }

  /**
   * Sends a custom message; throws if the peer is not connected, the message
   * is out of bounds, or PeerBusyError while more than customSendBusyBytes
   * wait to be sent to it (the caller retries later instead of us queueing).
   */
  sendCustom(peer: Uint8Array, type: number, payload: Uint8Array): void {
    const l = this.live.get(hex(peer));
    if (!l?.session.initialized) throw new PeerNotConnectedError(peer);
    const queued = l.session.queuedBytes;
    if (queued > this.limits.customSendBusyBytes) throw new PeerBusyError(peer, queued, this.limits.customSendBusyBytes);
    l.session.sendCustom(type, payload);
    this.customSent++;
  }

  peers(): PeerInfo[] {
    return [...this.live.entries()]
      .filter(([, l]) => l.session.initialized)
      .map(([k, l]) => ({
        nodeId: fromHex(k),
        address: l.address,
        inbound: l.inbound,
        features: l.session.remoteFeatures!,
      }));
  }

  /** Inbound connections whose BOLT 8 handshake has not finished (at most handshakesMaxUnfinished). */
  get unfinishedHandshakes(): number {
    return this.handshaking.size;
  }

  isConnected(peer: Uint8Array): boolean {
    return this.live.get(hex(peer))?.session.initialized ?? false;
  }

  disconnect(peer: Uint8Array): void {
    const key = hex(peer);
    this.persistent.delete(key);
    this.live.get(key)?.session.disconnect('disconnect requested');
  }

  /** Closes the peer's current connection (BOLT 2 "fail the connection"); unlike disconnect(), a persistent peer is still redialled. */
  closeConnection(peer: Uint8Array, reason: string): void {
    this.live.get(hex(peer))?.session.disconnect(reason);
  }

  /** For tests: the session of a peer. */
  sessionOf(peer: Uint8Array): PeerSession | undefined {
    return this.live.get(hex(peer))?.session;
  }

  stop(): void {
    this.stopped = true;
    if (this.pumpTimer !== undefined) {
      clearTimeout(this.pumpTimer as ReturnType<typeof setTimeout>);
      clearImmediate(this.pumpTimer as ReturnType<typeof setImmediate>);
      this.pumpTimer = undefined;
    }
    for (const p of this.persistent.values()) clearTimeout(p.timer);
    for (const l of this.live.values()) l.session.disconnect('node stopping');
    for (const n of [...this.handshaking]) n.close('node stopping');
    for (const s of this.subscribers) s.close();
    this.listener?.stop(true);
  }
}

/** The peer is not taking what we send it fast enough: try again once it has read (RESOURCE_EXHAUSTED). */
export class PeerBusyError extends Error {
  override readonly name = 'PeerBusyError';
  constructor(
    readonly peer: Uint8Array,
    readonly queuedBytes: number,
    readonly limitBytes: number,
  ) {
    super(`peer ${hex(peer)} is busy: ${queuedBytes} bytes still wait to be sent to it (limit ${limitBytes}); try again later`);
  }
}

export class PeerNotConnectedError extends Error {
  override readonly name = 'PeerNotConnectedError';
  constructor(readonly peer: Uint8Array) {
    super(`peer ${hex(peer)} is not connected`);
  }
}
