/**
 * The data directory as one daemon's own: created 0700; when it (or what is
 * in it: seed, database, API token and keys, macaroons) is readable by group
 * or others it is tightened to 0700 / 0600 with a warning, and the daemon
 * refuses to start when it cannot be; and it is locked for the life of the
 * process, so a second daemon on the same directory refuses to start
 * instead of taking turns with the first at the peers (issue 13: the two
 * did until the peer force closed).
 *
 * The lock is an exclusive SQLite transaction held open on `lnnode.lock`:
 * SQLite's POSIX lock is released by the kernel when the process ends in any
 * way (a SIGKILLed daemon leaves no stale lock), and SQLite makes two
 * connections of one process exclude each other as two processes do.
 * `lnnode.pid` beside it names the holder for the error message.
 */
import { Database } from 'bun:sqlite';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger } from './log.ts';

export const LOCK_FILE = 'lnnode.lock';
export const PID_FILE = 'lnnode.pid';
/** Enough for the data dir's own files; anything past it is left as it is. */
const MAX_ENTRIES = 1000;

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export interface DataDirLock {
  readonly dir: string;
  release(): void;
}

export interface DataDirOptions {
  /** Tests replace it to see a directory that cannot be tightened. */
  chmod?: (path: string, mode: number) => void;
}

/**
 * Makes `dir` private to this user: group and others lose every access to it
 * and to everything under it (0755 becomes 0700, 0644 becomes 0600). Returns
 * what it changed, as "path (was 755)".
 */
export function tightenPermissions(dir: string, o: DataDirOptions = {}): string[] {
  const chmod = o.chmod ?? chmodSync;
  const changed: string[] = [];
  let seen = 0;
  const visit = (path: string, depth: number): void => {
    if (++seen > MAX_ENTRIES) return;
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return; // its target is not ours to change
    const mode = st.mode & 0o777;
    if (mode & 0o077) {
      try {
        chmod(path, mode & 0o700);
      } catch (e) {
        throw new DataDirError(`${path} is readable by group or others (mode ${mode.toString(8)}) and cannot be tightened: ${(e as Error).message}; chmod ${st.isDirectory() ? 700 : 600} it, or give another --data-dir`);
      }
      changed.push(`${path} (was ${mode.toString(8)})`);
    }
    if (st.isDirectory() && depth < 6) for (const name of readdirSync(path)) visit(join(path, name), depth + 1);
  };
  visit(dir, 0);
  return changed;
}

/** Creates `dir` if needed, tightens what others can read (with a warning), and takes its lock. */
export function openDataDir(dir: string, log: Logger, o: DataDirOptions = {}): DataDirLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const changed = tightenPermissions(dir, o);
  if (changed.length) log.warn('data dir was readable by group or others; tightened to 0700/0600', { dataDir: dir, changed });
  return lockDataDir(dir);
}

/** Holds `dir`'s lock until release() or the end of the process; throws DataDirError naming the holder when it is taken. */
export function lockDataDir(dir: string): DataDirLock {
  const db = new Database(join(dir, LOCK_FILE), { create: true });
  try {
    db.exec('PRAGMA busy_timeout = 0');
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    if (!/locked|busy/i.test((e as Error).message)) throw e;
    let holder = 'a process whose pid is not recorded';
    try {
      const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0) holder = `pid ${pid}`;
    } catch {
      // no pid file: the holder is still starting
    }
    throw new DataDirError(`data dir ${dir} is in use by another lnnode (${holder}); stop it first, or give this one another --data-dir`);
  }
  const pidPath = join(dir, PID_FILE);
  writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  let held = true;
  return {
    dir,
    release() {
      if (!held) return;
      held = false;
      try {
        if (readFileSync(pidPath, 'utf8').trim() === String(process.pid)) rmSync(pidPath, { force: true });
      } catch {
        // already gone
      }
      db.close();
    },
  };
}
