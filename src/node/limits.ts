/**
 * Every resource number of the node in one place (issue 13 "Peer and client
 * resource holes"): what a peer or a client can make us hold, send or
 * compute, and for how long. Each entry says why it has its value. A
 * well-behaved peer or client never comes near any of them; crossing one
 * costs only the one who crossed it.
 *
 * Kept a flat object of named constants so each area adds its own lines
 * (peers here; API and subscriber numbers beside them). The channel layer's
 * caps are in channels/limits.ts because tests override them per daemon.
 */
const KiB = 1024;
const MiB = 1024 * KiB;

export const LIMITS = {
  // ---- Peers (src/node/peer/) ----

  /**
   * Bytes we have accepted for a peer but the socket has not taken (our send
   * queue). Past this the peer is disconnected: it is not reading, and what
   * we queue for it is memory anyone who can open a connection can claim.
   * 4 MiB is ~64 full-size messages, far above what a channel ever has in
   * flight (483 HTLCs of ~1.5 KB each is under 1 MiB).
   */
  peerOutboundMaxBytes: 4 * MiB,
  /**
   * SendCustomMessage is refused (RESOURCE_EXHAUSTED, PeerBusyError) while
   * the peer's send queue is above this: the caller learns the peer is slow
   * instead of having its messages queued without end. Below the disconnect
   * bound above, so a client that backs off never gets its peer dropped.
   */
  customSendBusyBytes: 1 * MiB,
  /**
   * Pongs we answer in a burst. BOLT 1 asks for "limited precautions against
   * ping flooding": a ping of 4 bytes can ask for a 65,531-byte pong (x16,000),
   * so pongs come from a token bucket; a ping finding it empty is ignored (no
   * pong, the connection stays: a peer that pings too often only loses its
   * answers). Honest peers ping about once a minute (lnd) or every 10 s (LDK).
   */
  pingBurst: 5,
  /** One more pong allowed per this many ms: at most ~64 KiB/s of pongs per peer. */
  pingRefillMs: 1_000,

  /**
   * Inbound connections whose BOLT 8 handshake has not finished. Each costs a
   * socket and an ECDH; past the cap the oldest unfinished one is dropped to
   * make room, so a stranger holding many half-open connections cannot keep
   * a real peer (whose handshake takes one round trip) out.
   */
  handshakesMaxUnfinished: 64,
  /** A whole handshake (acts one to three) must finish within this (each act also has actTimeoutMs). */
  handshakeTimeoutMs: 10_000,
  /** Per handshake act, as lnd does (~5 s). */
  actTimeoutMs: 5_000,
  /** The peer's init must arrive within this after the handshake (lnd: 15 s). */
  initTimeoutMs: 15_000,
  /** Our keepalive ping interval, and how long we wait for its pong before dropping the peer. */
  pingIntervalMs: 30_000,
  pingTimeoutMs: 30_000,

  /**
   * Custom messages a peer may have delivered to subscribers per second
   * (token bucket, one second of burst). Channel and control messages are
   * not counted and are never queued behind custom ones: bulk application
   * traffic cannot delay a payment.
   */
  customInboundBytesPerSecond: 1 * MiB,
  /**
   * ...and all peers' together. Decrypting them is most of their cost (about
   * 45 MB/s per core on a small machine): ten peers flooding at their own
   * budgets took a quarter of a core and pushed API p99 past 100 ms.
   */
  customInboundBytesPerSecondTotal: 4 * MiB,
  /**
   * A peer's received custom messages waiting for delivery: past this we stop
   * reading its socket (TCP pushes back on the sender) until it drains.
   */
  customInboundPauseBytes: 256 * KiB,
  /** ...and past this (bytes already in flight when reading stopped) further custom messages are dropped and logged. */
  customInboundQueueBytesPerPeer: 1 * MiB,
  /** All peers' waiting custom messages together; beyond it new ones are dropped and logged. */
  customInboundQueueBytesTotal: 32 * MiB,

  /**
   * Peers we have a channel with (not closed) are redialled on start and
   * after a disconnect, backing off from 1 s to 5 min, as lnd, CLN and LDK do:
   * a channel whose peer is never dialled again cannot be used.
   */
  channelPeerRedialMinMs: 1_000,
  channelPeerRedialMaxMs: 5 * 60_000,
  /** Peers added as persistent are redialled from 1 s up to 60 s. */
  persistentRedialMinMs: 1_000,
  persistentRedialMaxMs: 60_000,
} as const;

/** The numbers as one component uses them: the defaults, with any a test lowered. */
export type Limits = { readonly [K in keyof typeof LIMITS]: number };

export const withLimits = (override: Partial<Limits> = {}): Limits => ({ ...LIMITS, ...override });
