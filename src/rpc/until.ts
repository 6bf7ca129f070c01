/**
 * Waiting inside an RPC for the node to reach a state: checked at once and
 * again whenever the node says something changed, given up when the client
 * goes away (Canceled) or the call's own time runs out. Listeners and timers
 * are removed whichever way it ends, so a finished call leaves nothing behind.
 */
import { Code, ConnectError } from '@connectrpc/connect';

export interface UntilOptions {
  /** Gives up after `ms` with `error()`. */
  timeout?: { ms: number; error: () => ConnectError };
}

/**
 * Resolves with the first value `check` returns other than undefined.
 * `listen(wake)` subscribes `wake` to the changes that matter and returns the
 * unsubscribe function.
 */
export function until<T>(listen: (wake: () => void) => () => void, check: () => T | undefined, signal: AbortSignal, o: UntilOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    let ended = false;
    let off = (): void => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = (f: () => void): void => {
      if (ended) return;
      ended = true;
      off();
      clearTimeout(timer);
      signal.removeEventListener('abort', aborted);
      f();
    };
    const wake = (): void => {
      const v = check();
      if (v !== undefined) end(() => resolve(v));
    };
    const aborted = (): void => end(() => reject(new ConnectError('the client cancelled', Code.Canceled)));
    if (signal.aborted) return aborted();
    off = listen(wake);
    signal.addEventListener('abort', aborted, { once: true });
    if (o.timeout) {
      const { ms, error } = o.timeout;
      timer = setTimeout(() => end(() => reject(error())), ms);
    }
    wake();
  });
}
