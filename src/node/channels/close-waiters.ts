/**
 * The callers of a mutual close waiting for its transaction: each learns
 * the txid once it went to the network, the reason when the close failed,
 * or that the peer took too long. Two calls for one channel both wait.
 */
import { type Clock } from '../clock.ts';
import { ChannelError } from './live.ts';

interface Waiter {
  resolve: (txid: string) => void;
  reject: (e: Error) => void;
  cancelTimer: () => void;
}

export class CloseWaiters {
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** The closing txid of channel `id`, once broadcast; rejects after the timeout (the channel stays in shutdown). */
  wait(id: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        cancelTimer: this.clock.after(this.timeoutMs, () => {
          this.remove(id, w);
          reject(new ChannelError('the peer did not complete the mutual close in time; the channel stays in shutdown'));
        }),
      };
      this.waiting.set(id, [...(this.waiting.get(id) ?? []), w]);
    });
  }

  closed(id: string, txid: string): void {
    for (const w of this.take(id)) w.resolve(txid);
  }

  failed(id: string, reason: string): void {
    for (const w of this.take(id)) w.reject(new ChannelError(reason));
  }

  private take(id: string): Waiter[] {
    const all = this.waiting.get(id) ?? [];
    this.waiting.delete(id);
    for (const w of all) w.cancelTimer();
    return all;
  }

  private remove(id: string, w: Waiter): void {
    const rest = (this.waiting.get(id) ?? []).filter((x) => x !== w);
    if (rest.length) this.waiting.set(id, rest);
    else this.waiting.delete(id);
  }
}
