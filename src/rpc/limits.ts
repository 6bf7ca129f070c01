/**
 * What a client of either API (lnnode.v1, lnd-compatible) can make the node
 * hold, and for how long: one place for the numbers (issue 13 "Peer and
 * client resource holes"; README "Limits"). Anyone who can reach an API port
 * is a possible stranger, so nothing is read from a request without a
 * credential, every request is bounded before it is parsed, and every queue
 * a stream feeds is bounded in bytes. A well-behaved client (lncli, an LCP
 * daemon, lnnode-cli) never comes near them.
 */

export interface StreamLimits {
  /** Bytes of events one subscriber (one stream) may have queued unread; past it the stream ends with ResourceExhausted... */
  subscriberBytes: number;
  /** ...and the bytes all subscribers of the node together may have queued; past it the one furthest behind is closed. */
  totalSubscriberBytes: number;
  /** Events one subscriber may have queued (small events cost more than their bytes). */
  subscriberEvents: number;
  /** A stream event the client has not taken within this time ends the stream (HTTP/2 RST_STREAM ENHANCE_YOUR_CALM). */
  writeStallMs: number;
}

export interface ApiLimits {
  /** Largest request message (the whole body of any call lnnode serves); a bigger one is refused from its length prefix. */
  maxRequestBytes: number;
  /** Largest header block a request may send (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE). */
  maxHeaderListBytes: number;
  /** Concurrent streams (calls) on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more are refused (REFUSED_STREAM). */
  maxStreamsPerConnection: number;
  /** Open connections to one API port; past it a new connection is closed at once... */
  maxConnections: number;
  /** ...and from one remote address. */
  maxConnectionsPerAddress: number;
  /** Time a client has to finish the TLS handshake. */
  handshakeTimeoutMs: number;
  /** Time a new connection has to send its first authenticated request, else it is closed. */
  authDeadlineMs: number;
  /** Time a request has to send its whole body once its headers came. */
  requestBodyTimeoutMs: number;
  /** A connection with no call open for this long is closed (GOAWAY). */
  idleTimeoutMs: number;
  streams: StreamLimits;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * - 128 KiB per request: the largest call lnnode serves is SendCustomMessage
 *   (a 65,533-byte payload, ~87 KB as Connect JSON); lnd's own limit is far
 *   larger only because lnd takes PSBTs and bulk imports we do not.
 * - 100 streams per connection: gRPC's customary default (grpc-go's client
 *   assumes 100 until it sees the server's setting).
 * - 256 connections, 64 from one address: a node has a few clients (an LCP
 *   daemon, lncli calls); loopback clients all share 127.0.0.1.
 * - 10 s for a TLS handshake and for a first authenticated call, 30 s to send
 *   a request body, 5 minutes idle: lnd's gRPC keepalive idle figure is of
 *   this order, and a client reconnects transparently after a GOAWAY.
 * - 8 MiB queued per subscriber, 64 MiB for all: 128 custom messages of the
 *   largest size behind for one stream, well past any reader that keeps up.
 * - 30 s for a stream write: a client that takes nothing for that long is not
 *   reading.
 */
export const DEFAULT_API_LIMITS: ApiLimits = {
  maxRequestBytes: 128 * KiB,
  maxHeaderListBytes: 16 * KiB,
  maxStreamsPerConnection: 100,
  maxConnections: 256,
  maxConnectionsPerAddress: 64,
  handshakeTimeoutMs: 10_000,
  authDeadlineMs: 10_000,
  requestBodyTimeoutMs: 30_000,
  idleTimeoutMs: 5 * 60_000,
  streams: {
    subscriberBytes: 8 * MiB,
    totalSubscriberBytes: 64 * MiB,
    subscriberEvents: 4096,
    writeStallMs: 30_000,
  },
};

/** The defaults with `o`'s numbers in their place (tests lower them). */
export function apiLimits(o: Partial<Omit<ApiLimits, 'streams'>> & { streams?: Partial<StreamLimits> } = {}): ApiLimits {
  return { ...DEFAULT_API_LIMITS, ...o, streams: { ...DEFAULT_API_LIMITS.streams, ...o.streams } };
}

export type ApiLimitsOverride = Parameters<typeof apiLimits>[0];
