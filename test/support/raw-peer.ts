/**
 * A peer for resource tests: does a real BOLT 8 handshake and BOLT 1 init
 * with a node over loopback TCP, then sends whatever the test scripts and can
 * stop reading its socket (pause), so the node's send queue to it grows as
 * it would for a peer that never reads. Also opens bare TCP connections that
 * never finish a handshake (half-open). Everything it opens is closed by
 * close()/closeAll().
 */
import type { Socket } from 'bun';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ACT_TWO_LENGTH, initiatorActOne, initiatorActThree } from '../../src/bolt/bolt8/handshake.ts';
import { HEADER_LENGTH, type NoiseTransport } from '../../src/bolt/bolt8/transport.ts';
import { concat } from '../../src/bolt/bytes.ts';
import { initCodec, pingCodec } from '../../src/bolt/bolt1/messages.ts';
import { encodeCustomMessage, encodeMessage } from '../../src/bolt/bolt1/wire.ts';
import { FeatureVector, LNNODE_INIT_FEATURES } from '../../src/bolt/bolt9/features.ts';

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
export const REGTEST_CHAIN = Uint8Array.from(Buffer.from('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f', 'hex'));

type Phase = { kind: 'act2'; state: Parameters<typeof initiatorActThree>[0] } | { kind: 'header'; t: NoiseTransport } | { kind: 'body'; t: NoiseTransport; n: number };

export interface RawPeerOptions {
  /** The init message body to send (encoded by the caller), instead of a plain lnnode-like init. */
  init?: Uint8Array;
  secret?: Uint8Array;
}

export class RawPeer {
  readonly secret: Uint8Array;
  readonly nodeId: Uint8Array;
  /** Every decrypted message received (type + payload), in order; bodies of custom messages are kept only as their length. */
  readonly received: { type: number; length: number }[] = [];
  /** Called with each decrypted message (type, whole message) as it arrives: a test's scripted answer. */
  onMessage: ((type: number, message: Uint8Array) => void) | undefined;
  private socket!: Socket<undefined>;
  private buf: Uint8Array = new Uint8Array(0);
  private phase!: Phase;
  private closedFlag = false;
  private readonly onClosed: Promise<void>;
  private markClosed!: () => void;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  private theirInit = false;
  private pending: Uint8Array[] = [];

  private constructor(secret?: Uint8Array) {
    this.secret = secret ?? secp256k1.utils.randomSecretKey();
    this.nodeId = secp256k1.getPublicKey(this.secret, true);
    this.onClosed = new Promise((r) => (this.markClosed = r));
  }

  /** Connects, handshakes, exchanges init; resolves once the node's init arrived. */
  static async connect(host: string, port: number, remote: Uint8Array, opts: RawPeerOptions = {}): Promise<RawPeer> {
    const p = new RawPeer(opts.secret);
    const ready = new Promise<void>((res, rej) => ((p.readyResolve = res), (p.readyReject = rej)));
    const one = initiatorActOne(p.secret, remote, random(32));
    p.phase = { kind: 'act2', state: one.state };
    p.socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => p.data(new Uint8Array(chunk)),
        drain: () => p.flush(),
        close: () => p.gone(),
        error: () => p.gone(),
      },
    });
    p.write(one.act);
    p.initBody = opts.init;
    await ready;
    return p;
  }

  private initBody: Uint8Array | undefined;

  private gone(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.readyReject(new Error('connection closed before init'));
    this.markClosed();
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Resolves when the node (or we) closed the connection. */
  get closed(): Promise<void> {
    return this.onClosed;
  }

  private data(chunk: Uint8Array): void {
    this.buf = this.buf.length ? concat(this.buf, chunk) : chunk;
    for (;;) {
      const need = this.phase.kind === 'act2' ? ACT_TWO_LENGTH : this.phase.kind === 'header' ? HEADER_LENGTH : this.phase.n;
      if (this.buf.length < need) return;
      const piece = this.buf.subarray(0, need);
      this.buf = this.buf.subarray(need);
      const ph = this.phase;
      if (ph.kind === 'act2') {
        const three = initiatorActThree(ph.state, piece);
        this.write(three.act);
        this.phase = { kind: 'header', t: three.result.transport };
        const init = this.initBody ?? initCodec.encode({ globalFeatures: FeatureVector.empty(), features: LNNODE_INIT_FEATURES, networks: [REGTEST_CHAIN] });
        this.send(concat(Uint8Array.of(0, 16), init));
      } else if (ph.kind === 'header') {
        this.phase = { kind: 'body', t: ph.t, n: ph.t.decryptHeader(piece) };
      } else {
        this.phase = { kind: 'header', t: ph.t };
        const m = ph.t.decryptBody(piece);
        const type = (m[0]! << 8) | m[1]!;
        this.received.push({ type, length: m.length });
        this.onMessage?.(type, m);
        if (type === 16 && !this.theirInit) {
          this.theirInit = true;
          this.readyResolve();
        }
      }
    }
  }

  private write(bytes: Uint8Array): void {
    if (this.closedFlag) return;
    if (this.pending.length) {
      this.pending.push(bytes);
      return;
    }
    const n = this.socket.write(bytes);
    if (n < bytes.length) this.pending.push(bytes.subarray(Math.max(0, n)));
  }

  private flush(): void {
    while (this.pending.length) {
      const head = this.pending[0]!;
      const n = this.socket.write(head);
      if (n < head.length) {
        this.pending[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.pending.shift();
    }
  }

  /** Bytes waiting on our side because the node is not reading fast enough. */
  get unsentBytes(): number {
    return this.pending.reduce((s, b) => s + b.length, 0);
  }

  /** Sends one Lightning message (type + payload). */
  send(message: Uint8Array): void {
    const ph = this.phase;
    if (ph.kind === 'act2') throw new Error('handshake not finished');
    this.write(ph.t.encrypt(message));
  }

  ping(numPongBytes: number): void {
    this.send(encodeMessage(pingCodec, { numPongBytes, ignored: new Uint8Array(0) }));
  }

  custom(type: number, payload: Uint8Array): void {
    this.send(encodeCustomMessage(type, payload));
  }

  /** Stops reading: the node's writes to us pile up in its queue once the kernel buffers are full. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket?.end();
    this.gone();
  }
}

/** A TCP connection that sends `prefix` (part of act one, or nothing) and then holds on. */
export async function halfOpen(host: string, port: number, prefix = new Uint8Array(0)): Promise<{ socket: Socket<undefined>; closed: Promise<void>; isClosed: () => boolean }> {
  let closed = false;
  let mark!: () => void;
  const done = new Promise<void>((r) => (mark = r));
  const socket = await Bun.connect<undefined>({
    hostname: host,
    port,
    socket: {
      data: () => {},
      close: () => ((closed = true), mark()),
      error: () => ((closed = true), mark()),
    },
  });
  if (prefix.length) socket.write(prefix);
  return { socket, closed: done, isClosed: () => closed };
}
