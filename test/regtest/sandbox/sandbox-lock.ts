/**
 * The sandbox lives in the repo's one .lab/ directory (the README's commands
 * name it), so two lab files that start it must not run at once: the runner
 * runs lab files in parallel. Each such file holds this lock for its whole
 * run: a directory made atomically, with the holder's pid, taken over when
 * that process is gone.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const LOCK = resolve(import.meta.dir, '../../../.lab-test.lock');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits (up to `timeoutMs`) until this process holds the sandbox; returns the release. */
export async function holdSandbox(timeoutMs = 10 * 60_000): Promise<() => void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(resolve(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = 0;
      try {
        holder = Number(readFileSync(resolve(LOCK, 'pid'), 'utf8'));
      } catch {}
      if (holder && holder !== process.pid && !alive(holder)) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > until) throw new Error(`the sandbox stayed held by pid ${holder} for ${timeoutMs} ms (${LOCK})`);
      await Bun.sleep(200);
    }
  }
}
