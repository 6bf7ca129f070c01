/** Crash points drawn from a seed, shared by the lab's crash rounds and the in-process ones (test/node/channel-driver.test.ts). */

/**
 * `n` distinct crash points out of `writes`, drawn from `seed` (a small
 * linear congruential generator: the same seed picks the same points, so
 * a failing sample can be run again).
 */
export function sampledPoints(seed: number, n: number): (writes: number) => number[] {
  return (writes) => {
    let x = seed >>> 0;
    const chosen = new Set<number>();
    while (chosen.size < Math.min(n, writes)) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      chosen.add(1 + (x % writes));
    }
    return [...chosen].sort((p, q) => p - q);
  };
}
