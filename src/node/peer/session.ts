/**
 * A BOLT 1 session with one peer, once BOLT 8 is up: both sides send
 * `init` first; we refuse a peer that requires a feature we lack, misses a
 * feature dependency, or names only chains other than ours. Then pings keep
 * the connection honest (a peer that does not answer within pingTimeoutMs
 * is dropped), pings are answered from a token bucket (limits.ts: a peer
 * pinging faster loses the extra answers, not the connection), errors and
 * warnings are reported, unknown even messages end the connection, custom
 * messages go to the node.
 * https://github.com/lightning/bolts/blob/master/01-messaging.md
 */
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { DecodeError } from '../../bolt/errors.ts';
import {
  type ErrorMessage,
  type Init,
  type Ping,
  errorCodec,
  errorText,
  initCodec,
  initFeatures,
  pingCodec,
  pongCodec,
  pongFor,
  warningCodec,
} from '../../bolt/bolt1/messages.ts';
import { encodeCustomMessage, encodeMessage, MessageRegistry } from '../../bolt/bolt1/wire.ts';
import {
  FeatureVector,
  LNNODE_INIT_FEATURES,
  LNNODE_KNOWN_FEATURES,
  featureName,
  missingDependencies,
  unknownCompulsory,
} from '../../bolt/bolt9/features.ts';
import { type MessageCodec } from '../../bolt/message.ts';
import { BOLT2_MESSAGES } from '../../bolt/bolt2/index.ts';
import { asPeerMessage, type BodyOf, type PeerMessage, type PeerMessageName, peerMessageCodec } from '../../bolt/peer-messages.ts';
import { LIMITS, type Limits } from '../limits.ts';
import { type Logger } from '../log.ts';
import { type NoiseSocket } from './noise-socket.ts';
import { TokenBucket } from './token-bucket.ts';

const BOLT1_MESSAGES = [initCodec, errorCodec, warningCodec, pingCodec, pongCodec] as MessageCodec<unknown>[];
/**
 * BOLT 7 gossip: channel_announcement, node_announcement, channel_update,
 * announcement_signatures. Peers send a channel_update for an unannounced
 * channel directly (lnd does after channel_ready); the graph comes from
 * Rapid Gossip Sync, so these are understood and dropped, never fatal.
 */
const GOSSIP_TYPES = [256, 257, 258, 259];
const registry = new MessageRegistry([...BOLT1_MESSAGES, ...BOLT2_MESSAGES], GOSSIP_TYPES);
/** Codecs by message name, for the layers above that send by name. */
export const CODECS: ReadonlyMap<string, MessageCodec<unknown>> = new Map([...BOLT1_MESSAGES, ...BOLT2_MESSAGES].map((c) => [c.name, c]));

/**
 * The channel a message is about, for debug logs: its channel_id, or the
 * temporary one while a channel is being opened. Nothing else of a message
 * is logged (DESIGN.md rule 3: no payloads, secrets, preimages or onions).
 */
function channelOf(msg: unknown): string | undefined {
  const m = msg as { channelId?: unknown; temporaryChannelId?: unknown } | undefined;
  const id = m?.channelId ?? m?.temporaryChannelId;
  return id instanceof Uint8Array ? hex(id) : undefined;
}

export interface SessionEvents {
  onInit(peer: Uint8Array, init: Init): void;
  onCustom(peer: Uint8Array, type: number, payload: Uint8Array): void;
  onError(peer: Uint8Array, kind: 'error' | 'warning', text: string): void;
  /** Channel messages, and errors and warnings (which may be about a channel), for the layers above. */
  onMessage?(peer: Uint8Array, m: PeerMessage): void;
}

export interface SessionOptions {
  /** Told of every message in or out by name ("custom" for custom messages, "ignored" for gossip and unknown odd types). */
  countWire?: (direction: 'in' | 'out', message: string) => void;
  chainHash: Uint8Array;
  features?: FeatureVector;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  initTimeoutMs?: number;
  /** The peer numbers (limits.ts); a test may lower some. */
  limits?: Limits;
  /** Milliseconds on a monotonic clock, for the token buckets. */
  now?: () => number;
}

export class PeerSession {
  private theirInit: Init | undefined;
  private theirFeatures: FeatureVector | undefined;
  private readonly limits: Limits;
  private readonly now: () => number;
  private readonly pongs: TokenBucket;
  private initTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongDeadline: ReturnType<typeof setTimeout> | undefined;
  /** Keepalive counters, for logs and for tests that check the link is exercised. */
  readonly keepalive = { pingsSent: 0, pongsReceived: 0, pingsIgnored: 0 };

  constructor(
    readonly nodeId: Uint8Array,
    private readonly conn: NoiseSocket,
    private readonly events: SessionEvents,
    private readonly opts: SessionOptions,
    private readonly log: Logger,
  ) {
    this.limits = opts.limits ?? LIMITS;
    this.now = opts.now ?? (() => performance.now());
    this.pongs = new TokenBucket(this.limits.pingBurst, 1 / this.limits.pingRefillMs);
  }

  /** Debug logging is on: one line per message each way (name, peer, channel), never what it carries. */
  private get debug(): boolean {
    return this.log.enabled('debug');
  }

  /** A message in or out: counted (/metrics), and at debug level logged. */
  private wire(direction: 'in' | 'out', msg: string, decoded: unknown, custom?: { type: number; size: number }): void {
    // Ignored messages (gossip, unknown odd types) count together: a peer must not be able to grow the label set.
    this.opts.countWire?.(direction, msg.startsWith('type_') ? 'ignored' : msg);
    if (!this.debug) return;
    const channelId = channelOf(decoded);
    this.log.debug(`p2p ${direction}`, { message: msg, peer: hex(this.nodeId), ...(channelId ? { channelId } : {}), ...(custom ?? {}) });
  }

  /** Called when the Noise handshake completes: send our init first. */
  start(): void {
    this.wire('out', 'init', undefined);
    this.conn.send(
      encodeMessage(initCodec, {
        globalFeatures: FeatureVector.empty(),
        features: this.opts.features ?? LNNODE_INIT_FEATURES,
        networks: [this.opts.chainHash],
      }),
    );
    this.initTimer = setTimeout(() => this.fail('no init within the time limit'), this.opts.initTimeoutMs ?? this.limits.initTimeoutMs);
  }

  get initialized(): boolean {
    return this.theirInit !== undefined;
  }

  get remoteInit(): Init | undefined {
    return this.theirInit;
  }

  /** The peer's globalfeatures OR features, combined once when its init arrived. */
  get remoteFeatures(): FeatureVector | undefined {
    return this.theirFeatures;
  }

  private fail(reason: string): void {
    this.log.warn('disconnecting peer', { peer: hex(this.nodeId), reason });
    this.conn.close(reason);
  }

  receive(message: Uint8Array): void {
    let d;
    try {
      d = registry.dispatch(message);
    } catch (e) {
      if (e instanceof DecodeError) return this.fail(`bad message: ${e.message}`);
      throw e;
    }
    this.wire('in', d.kind === 'known' ? d.name : d.kind === 'custom' ? 'custom' : `type_${d.type}`, d.kind === 'known' ? d.msg : undefined, d.kind === 'custom' ? { type: d.type, size: d.payload.length } : undefined);
    if (!this.theirInit) {
      if (d.kind !== 'known' || d.name !== 'init') return this.fail(`first message was not init (type ${d.type})`);
      return this.acceptInit(d.msg as Init);
    }
    if (d.kind === 'custom') return this.events.onCustom(this.nodeId, d.type, d.payload);
    if (d.kind === 'ignored') return;
    switch (d.name) {
      case 'ping': {
        const pong = pongFor(d.msg as Ping);
        if (!pong) return;
        // BOLT 1 ping rationale: "limited precautions are recommended against ping flooding".
        if (!this.pongs.take(this.now())) {
          this.keepalive.pingsIgnored++;
          return;
        }
        this.wire('out', 'pong', undefined);
        this.conn.send(encodeMessage(pongCodec, pong));
        return;
      }
      case 'pong':
        if (this.pongDeadline) this.keepalive.pongsReceived++;
        clearTimeout(this.pongDeadline);
        this.pongDeadline = undefined;
        return;
      case 'error':
      case 'warning':
        this.events.onError(this.nodeId, d.name, errorText(d.msg as ErrorMessage));
        // Channel-scoped errors matter to the channel layer too.
        return this.deliver(d.name, d.msg);
      case 'init':
        return this.fail('second init');
      default:
        this.deliver(d.name, d.msg);
    }
  }

  private deliver(name: string, msg: unknown): void {
    const m = asPeerMessage(name, msg);
    if (m) this.events.onMessage?.(this.nodeId, m);
  }

  private acceptInit(init: Init): void {
    clearTimeout(this.initTimer);
    const features = initFeatures(init);
    const unknown = unknownCompulsory(features, LNNODE_KNOWN_FEATURES);
    if (unknown.length) return this.fail(`peer requires features we lack: ${unknown.map(featureName).join(', ')}`);
    const missing = missingDependencies(features);
    if (missing.length) return this.fail(`peer features miss dependencies: ${missing.map(([f, d]) => `${f} needs ${d}`).join(', ')}`);
    if (init.networks && init.networks.length && !init.networks.some((n) => equalBytes(n, this.opts.chainHash))) {
      return this.fail('peer is on another chain');
    }
    this.theirInit = init;
    this.theirFeatures = features;
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs ?? this.limits.pingIntervalMs);
    this.events.onInit(this.nodeId, init);
  }

  private ping(): void {
    if (this.pongDeadline) return; // still waiting for the last one
    this.wire('out', 'ping', undefined);
    this.conn.send(encodeMessage(pingCodec, { numPongBytes: 1, ignored: new Uint8Array(0) }));
    this.keepalive.pingsSent++;
    this.pongDeadline = setTimeout(() => this.fail('no pong within the time limit'), this.opts.pingTimeoutMs ?? this.limits.pingTimeoutMs);
  }

  sendCustom(type: number, payload: Uint8Array): void {
    if (!this.theirInit) throw new Error('peer has not completed init');
    this.wire('out', 'custom', undefined, { type, size: payload.length });
    this.conn.send(encodeCustomMessage(type, payload));
  }

  /** Sends a BOLT 1/2 message by codec name. */
  send<N extends PeerMessageName>(name: N, msg: BodyOf<N>): void {
    if (!this.theirInit) throw new Error('peer has not completed init');
    this.wire('out', name, msg);
    this.conn.send(encodeMessage(peerMessageCodec(name), msg));
  }

  sendRaw(message: Uint8Array): void {
    this.conn.send(message);
  }

  get queuedBytes(): number {
    return this.conn.queuedBytes;
  }

  /** Stops timers; the connection itself is closed by its owner. */
  stop(): void {
    clearTimeout(this.initTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongDeadline);
  }

  disconnect(reason: string): void {
    this.conn.close(reason);
  }
}
