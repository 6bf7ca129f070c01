/**
 * Child processes of the lab. Every process is recorded by PID and killed
 * when the lab stops it, and also when the test process exits for any
 * reason (failed assertion, uncaught error, Ctrl-C), so no daemon outlives
 * the test that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';

export interface LabProcess {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Map<number, ChildProcess>();
const tempDirs: string[] = [];

function killAll(): void {
  for (const [pid] of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** The temp dirs of this run's processes go with the run (LNNODE_LAB_KEEP=1 keeps them to read their logs). */
function removeTempDirs(): void {
  if (process.env.LNNODE_LAB_KEEP) return;
  for (const d of tempDirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // a process still dying may have written into it; the OS's tmp cleaning takes the rest
    }
  }
}
/** Kills what is still running and removes the temp dirs: at process exit, and after a `bun test` run (which emits no 'exit'). */
export function cleanUpLab(): void {
  killAll();
  removeTempDirs();
}
process.on('exit', cleanUpLab);

/** A fresh directory under the system's tmp dir, removed when this process exits. */
export function labTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export function startProcess(opts: {
  name: string;
  cmd: string;
  args: string[];
  logFile: string;
  env?: Record<string, string>;
  cwd?: string;
}): LabProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(opts.cmd, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.cmd}`);
  const pid = child.pid;
  running.set(pid, child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // 'close' comes after the child's output is drained; the log is then flushed before `exited` resolves,
  // so a caller reading the log file on exit sees all of it ('exit' alone can come first).
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', () => running.delete(pid));
    child.on('close', (code) => log.end(() => resolve(code)));
  });
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    kill(signal = 'SIGKILL') {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    },
    async stop(graceMs = 5000) {
      if (!running.has(pid)) return;
      this.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Picked at random below the kernel's ephemeral
 * range (32768-60999 here): a port from `listen(0)` comes from that range, so between our close and the
 * server's bind any outgoing connection on the machine (an RPC poll, a peer dial) could take it as its
 * local port, and the server then fails to start. No port is handed out twice in one process.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 15_000 + Math.floor(Math.random() * 17_000);
    if (handedOut.has(port)) continue;
    if (!(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free TCP port found between 15000 and 32000 on 127.0.0.1');
}

/** Thrown by a `waitFor` probe when waiting longer cannot help (the awaited process died). */
export class GiveUp extends Error {}

/** Polls `probe` until it returns a value (not undefined or false) or the deadline passes; a probe that throws is retried, unless it throws GiveUp. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
