/**
 * The sandbox's state file (`.lab/state.json`, mode 0600): how `lab down`,
 * `lab status`, `lab fund` and `lab mine` find a lab started in another
 * shell. Every process is recorded with its start time as the kernel
 * reports it, and is signalled only while its PID still has that start
 * time, so a PID reused by another program after a crash is never killed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Everything the sandbox makes lives here and is removed when it stops. */
export const LAB_DIR = resolve(import.meta.dir, '../../../.lab');
export const STATE_FILE = join(LAB_DIR, 'state.json');
export const ENV_FILE = join(LAB_DIR, 'env');

export interface RecordedProcess {
  name: string;
  pid: number;
  /** processIdentity(pid) when it was started. */
  identity: string;
}

export interface LabState {
  version: 1;
  /** The `lab up` process, which stops the rest itself when signalled. */
  up: RecordedProcess;
  processes: RecordedProcess[];
  control: { url: string; token: string };
  /** What `lab up` printed, for `lab status`. */
  summary: string;
}

/**
 * What identifies a running process beyond its PID: its start time (Linux:
 * field 22 of /proc/<pid>/stat, clock ticks since boot; elsewhere ps's
 * lstart). Undefined when no such process exists.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return `linux:${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    if (existsSync('/proc/self/stat')) return undefined;
  }
  const r = Bun.spawnSync(['ps', '-o', 'lstart=', '-p', String(pid)], { stdout: 'pipe', stderr: 'ignore' });
  const out = r.stdout.toString().trim();
  return r.exitCode === 0 && out ? `ps:${out}` : undefined;
}

export function record(name: string, pid: number): RecordedProcess {
  const identity = processIdentity(pid);
  if (!identity) throw new Error(`${name} (pid ${pid}) is not running`);
  return { name, pid, identity };
}

/** Whether the recorded process is still the one that runs under its PID. */
export function stillRunning(p: RecordedProcess): boolean {
  return processIdentity(p.pid) === p.identity;
}

/** Signals the recorded process only if its PID still belongs to it; returns whether it did. */
export function signalVerified(p: RecordedProcess, signal: NodeJS.Signals): boolean {
  if (!stillRunning(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function readState(): LabState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  try {
    const s = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LabState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  writeFileSync(STATE_FILE, JSON.stringify(s, null, 2), { mode: 0o600 });
}
