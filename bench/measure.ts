/** Times a function: runs it for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 1000): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    n++;
    if ((n & 7) === 0) now = performance.now();
    else if (n < 8) now = performance.now();
  }
  return (n * 1000) / (performance.now() - start);
}
