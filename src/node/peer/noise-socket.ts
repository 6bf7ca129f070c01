/**
 * BOLT 8 over a TCP socket: drives the pure handshake steps with bytes as
 * they arrive (with a deadline per act), then frames encrypted messages in
 * and out. Incoming bytes are framed as soon as the protocol's next length
 * (an act, an 18-byte header, a body of at most 65535+16) is there; while
 * reading is paused they wait in the socket's chunks (byte-queue.ts) and
 * TCP pushes back on the sender. Writes that the socket
 * cannot take yet wait in a queue that is flushed on drain; its size is
 * exposed so callers can stop producing, and a peer that lets it grow past
 * `maxQueuedBytes` (it is not reading) is disconnected rather than buffered
 * for (limits.ts peerOutboundMaxBytes).
 */
import type { Socket } from 'bun';
import {
  ACT_ONE_LENGTH,
  ACT_THREE_LENGTH,
  ACT_TWO_LENGTH,
  initiatorActOne,
  initiatorActThree,
  responderActTwo,
  responderFinish,
  type InitiatorAwaitingActTwo,
  type ResponderAwaitingActThree,
} from '../../bolt/bolt8/handshake.ts';
import { HEADER_LENGTH, type NoiseTransport } from '../../bolt/bolt8/transport.ts';
import { ByteQueue } from './byte-queue.ts';
import { DecodeError } from '../../bolt/errors.ts';

import { LIMITS } from '../limits.ts';

export interface NoiseSocketOptions {
  /** Unsent bytes past which the peer is dropped. */
  maxQueuedBytes: number;
  /** Per handshake act. */
  actTimeoutMs: number;
  /** The whole handshake, however its acts are paced. */
  handshakeTimeoutMs: number;
}

const DEFAULTS: NoiseSocketOptions = {
  maxQueuedBytes: LIMITS.peerOutboundMaxBytes,
  actTimeoutMs: LIMITS.actTimeoutMs,
  handshakeTimeoutMs: LIMITS.handshakeTimeoutMs,
};

export interface NoiseSocketEvents {
  /** The handshake finished; `remote` is the peer's authenticated node id. */
  onReady(remote: Uint8Array): void;
  /** One decrypted Lightning message (type + payload). */
  onMessage(message: Uint8Array): void;
  /** The connection is gone; `reason` says why (handshake failure, bad MAC, closed, ...). */
  onClose(reason: string): void;
}

type Phase =
  | { kind: 'initiator-act2'; state: InitiatorAwaitingActTwo }
  | { kind: 'responder-act1' }
  | { kind: 'responder-act3'; state: ResponderAwaitingActThree }
  | { kind: 'header'; transport: NoiseTransport }
  | { kind: 'body'; transport: NoiseTransport; length: number }
  | { kind: 'closed' };

export class NoiseSocket {
  private phase: Phase;
  private readonly received = new ByteQueue();
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private actTimer: ReturnType<typeof setTimeout> | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private readingPaused = false;
  remote: Uint8Array | undefined;

  private constructor(
    private readonly socket: Socket<unknown>,
    private readonly events: NoiseSocketEvents,
    private readonly localSecret: Uint8Array,
    private readonly random: (n: number) => Uint8Array,
    role: { initiator: Uint8Array } | { responder: true },
    private readonly opts: NoiseSocketOptions,
  ) {
    if ('initiator' in role) {
      const one = initiatorActOne(localSecret, role.initiator, random(32));
      this.phase = { kind: 'initiator-act2', state: one.state };
      this.remote = role.initiator;
      this.write(one.act);
    } else {
      this.phase = { kind: 'responder-act1' };
    }
    this.armActTimer();
    this.handshakeTimer = setTimeout(() => this.close('handshake timed out'), this.opts.handshakeTimeoutMs);
  }

  static initiator(
    socket: Socket<unknown>,
    events: NoiseSocketEvents,
    localSecret: Uint8Array,
    remote: Uint8Array,
    random: (n: number) => Uint8Array,
    opts: Partial<NoiseSocketOptions> = {},
  ): NoiseSocket {
    return new NoiseSocket(socket, events, localSecret, random, { initiator: remote }, { ...DEFAULTS, ...opts });
  }

  static responder(
    socket: Socket<unknown>,
    events: NoiseSocketEvents,
    localSecret: Uint8Array,
    random: (n: number) => Uint8Array,
    opts: Partial<NoiseSocketOptions> = {},
  ): NoiseSocket {
    return new NoiseSocket(socket, events, localSecret, random, { responder: true }, { ...DEFAULTS, ...opts });
  }

  private armActTimer(): void {
    clearTimeout(this.actTimer);
    this.actTimer = setTimeout(() => this.close('handshake act timed out'), this.opts.actTimeoutMs);
  }

  /** How many bytes the current phase needs before it can make progress. */
  private need(): number {
    switch (this.phase.kind) {
      case 'initiator-act2':
        return ACT_TWO_LENGTH;
      case 'responder-act1':
        return ACT_ONE_LENGTH;
      case 'responder-act3':
        return ACT_THREE_LENGTH;
      case 'header':
        return HEADER_LENGTH;
      case 'body':
        return this.phase.length;
      case 'closed':
        return Infinity;
    }
  }

  /** Feed bytes from the socket. */
  data(chunk: Uint8Array): void {
    this.received.push(chunk);
    try {
      while (!this.readingPaused && this.phase.kind !== 'closed' && this.received.length >= this.need()) {
        this.step(this.received.take(this.need()));
      }
    } catch (e) {
      this.close(e instanceof DecodeError ? `protocol violation: ${e.message}` : `internal error: ${(e as Error).message}`);
    }
  }

  private step(piece: Uint8Array): void {
    const p = this.phase;
    switch (p.kind) {
      case 'initiator-act2': {
        const three = initiatorActThree(p.state, piece);
        this.write(three.act);
        this.ready({ kind: 'header', transport: three.result.transport });
        break;
      }
      case 'responder-act1': {
        const two = responderActTwo(this.localSecret, this.random(32), piece);
        this.write(two.act);
        this.phase = { kind: 'responder-act3', state: two.state };
        this.armActTimer();
        break;
      }
      case 'responder-act3': {
        const done = responderFinish(p.state, piece);
        this.remote = done.remoteStatic;
        this.ready({ kind: 'header', transport: done.transport });
        break;
      }
      case 'header':
        this.phase = { kind: 'body', transport: p.transport, length: p.transport.decryptHeader(piece) };
        break;
      case 'body':
        this.phase = { kind: 'header', transport: p.transport };
        this.events.onMessage(p.transport.decryptBody(piece));
        break;
      case 'closed':
        break;
    }
  }

  private ready(next: Phase): void {
    clearTimeout(this.actTimer);
    clearTimeout(this.handshakeTimer);
    this.phase = next;
    this.events.onReady(this.remote!);
  }

  get isClosed(): boolean {
    return this.phase.kind === 'closed';
  }

  get isReady(): boolean {
    return this.phase.kind === 'header' || this.phase.kind === 'body';
  }

  /** Bytes accepted by send() but not yet taken by the socket. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Encrypts and sends one Lightning message (type + payload). */
  send(message: Uint8Array): void {
    const p = this.phase;
    // A message to a connection that just closed is lost as it would be on the wire; channel_reestablish recovers.
    if (p.kind === 'closed') return;
    if (p.kind !== 'header' && p.kind !== 'body') throw new Error('connection not ready');
    this.write(p.transport.encrypt(message));
  }

  private write(bytes: Uint8Array): void {
    if (this.phase.kind === 'closed') return;
    if (this.pending.length) return this.enqueue(bytes);
    const n = this.socket.write(bytes);
    if (n < bytes.length) this.enqueue(bytes.subarray(Math.max(0, n)));
  }

  private enqueue(rest: Uint8Array): void {
    if (this.pendingBytes + rest.length > this.opts.maxQueuedBytes) {
      return this.close(`peer is not reading: ${this.pendingBytes + rest.length} bytes would wait to be sent (limit ${this.opts.maxQueuedBytes})`);
    }
    this.pending.push(rest);
    this.pendingBytes += rest.length;
  }

  /**
   * Stops reading: the socket stops taking bytes (TCP pushes back on the
   * sender) and bytes already received wait, undecrypted, until resumed.
   */
  pauseReading(): void {
    if (this.readingPaused || this.phase.kind === 'closed') return;
    this.readingPaused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    if (this.phase.kind === 'closed') return;
    this.socket.resume();
    this.data(new Uint8Array(0));
  }

  get isReadingPaused(): boolean {
    return this.readingPaused;
  }

  /** The socket can take more: flush what waited. */
  drain(): void {
    while (this.pending.length) {
      const head = this.pending[0]!;
      const n = this.socket.write(head);
      if (n < head.length) {
        this.pending[0] = head.subarray(Math.max(0, n));
        this.pendingBytes -= Math.max(0, n);
        return;
      }
      this.pending.shift();
      this.pendingBytes -= head.length;
    }
  }

  close(reason: string): void {
    if (this.phase.kind === 'closed') return;
    this.phase = { kind: 'closed' };
    clearTimeout(this.actTimer);
    clearTimeout(this.handshakeTimer);
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.end();
    this.events.onClose(reason);
  }

  /** The socket closed under us. */
  closed(): void {
    this.close('connection closed');
  }
}
