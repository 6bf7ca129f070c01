/**
 * Received custom messages waiting to be handed to subscribers (issue 16.9
 * "fairness"). Channel and control messages never wait here: they are acted
 * on as they arrive, so bulk application traffic cannot delay a payment.
 * Custom messages are served round robin, one per peer in turn, each peer
 * within its own byte budget (a token bucket), so one peer flooding cannot
 * starve the others, and all peers within one shared budget, so many cannot
 * take the event loop together; the bytes waiting are bounded per peer and in total,
 * and what would exceed a bound is dropped (the caller logs it). Pure: the
 * caller passes the time and does the delivering.
 */
import { TokenBucket } from './token-bucket.ts';

export interface InboxLimits {
  /** A peer's delivery budget. */
  bytesPerSecond: number;
  /**
   * All peers' delivery budget together (absent: none). Decrypting is most
   * of what a custom message costs, so this bounds the share of the event
   * loop ten peers flooding can take: their queues fill, their sockets are
   * paused and TCP pushes back, while each still gets its turn.
   */
  totalBytesPerSecond?: number;
  /** A peer's waiting bytes past which its reading should pause. */
  pauseBytes: number;
  /** A peer's waiting bytes past which its new messages are dropped. */
  perPeerBytes: number;
  /** All peers' waiting bytes past which new messages are dropped. */
  totalBytes: number;
}

export type PushResult = 'queued' | 'dropped: peer over its queue bound' | 'dropped: total queue bound reached';

/** Handed-out slots at the head of a queue past which it is compacted. */
const COMPACT_AFTER = 64;

interface PeerQueue<T> {
  /** Waiting messages from `head` on; the slots before it were handed out and cleared. */
  items: ({ item: T; size: number } | undefined)[];
  head: number;
  bytes: number;
  budget: TokenBucket;
  /** The peer disconnected: forget the queue once it is empty. */
  gone: boolean;
}

export class CustomInbox<T> {
  private readonly queues = new Map<string, PeerQueue<T>>();
  /** Peers with something waiting, in serving order; the first is served next. */
  private ring: string[] = [];
  private total = 0;
  private readonly shared: TokenBucket | undefined;

  constructor(private readonly limits: InboxLimits) {
    const t = limits.totalBytesPerSecond;
    this.shared = t === undefined ? undefined : new TokenBucket(t, t / 1000);
  }

  get totalBytes(): number {
    return this.total;
  }

  bytesOf(peer: string): number {
    return this.queues.get(peer)?.bytes ?? 0;
  }

  /** Whether the peer has so much waiting that reading from it should stop until it drains. */
  shouldPause(peer: string): boolean {
    return this.bytesOf(peer) >= this.limits.pauseBytes;
  }

  push(peer: string, item: T, size: number): PushResult {
    let q = this.queues.get(peer);
    if (q && q.bytes + size > this.limits.perPeerBytes) return 'dropped: peer over its queue bound';
    if (this.total + size > this.limits.totalBytes) return 'dropped: total queue bound reached';
    if (!q) {
      const b = this.limits.bytesPerSecond;
      q = { items: [], head: 0, bytes: 0, budget: new TokenBucket(b, b / 1000), gone: false };
      this.queues.set(peer, q);
    }
    q.gone = false;
    if (q.head === q.items.length) this.ring.push(peer);
    q.items.push({ item, size });
    q.bytes += size;
    this.total += size;
    return 'queued';
  }

  /**
   * The next message to deliver: the first peer in turn whose budget allows
   * (it is charged the message's size and goes to the back of the turn).
   */
  take(now: number): { peer: string; item: T } | undefined {
    if (this.shared && !this.shared.ready(now)) return undefined;
    for (let i = 0; i < this.ring.length; i++) {
      const peer = this.ring[i]!;
      const q = this.queues.get(peer)!;
      if (!q.budget.ready(now)) continue;
      const { item, size } = q.items[q.head]!;
      // A queue that never empties (a peer sending faster than its budget) must not keep what it handed out.
      q.items[q.head++] = undefined;
      if (q.head >= COMPACT_AFTER && q.head * 2 >= q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
      q.bytes -= size;
      this.total -= size;
      q.budget.charge(now, size);
      this.shared?.charge(now, size);
      this.ring.splice(i, 1);
      if (q.head < q.items.length) this.ring.push(peer);
      else {
        q.items = [];
        q.head = 0;
        if (q.gone) this.queues.delete(peer);
      }
      return { peer, item };
    }
    return undefined;
  }

  /** Milliseconds until take() can return something: 0 now, undefined when nothing waits. */
  waitMs(now: number): number | undefined {
    let best: number | undefined;
    for (const peer of this.ring) {
      const w = this.queues.get(peer)!.budget.waitMs(now);
      best = best === undefined ? w : Math.min(best, w);
      if (w === 0) break;
    }
    return best === undefined || !this.shared ? best : Math.max(best, this.shared.waitMs(now));
  }

  /**
   * A peer that is gone: its waiting messages are still delivered (they did
   * arrive), then its queue and budget are forgotten.
   */
  forget(peer: string): void {
    const q = this.queues.get(peer);
    if (!q) return;
    if (q.head === q.items.length) this.queues.delete(peer);
    else q.gone = true;
  }

  /** Queue slots held over all peers, handed-out ones not yet compacted among them (for tests: bounded by what waits). */
  get slotsHeld(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length;
    return n;
  }

  /** Peers with a queue or budget held (for tests: nothing is kept for peers that left). */
  get peersHeld(): number {
    return this.queues.size;
  }
}
