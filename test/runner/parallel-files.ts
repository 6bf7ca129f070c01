/**
 * Runs test files each in its own `bun test` process, `jobs` at a time: the
 * lab files, which start their own btcd/lnd/LDK and share nothing, so two
 * keep a 2-core machine busy while one waits on blocks. Each file writes its
 * own JUnit report and log; the longest files start first, so the run ends
 * soon after its longest file: by this machine's last run (`times.json` in
 * the output folder), else by the times committed in lab-times.json (a fresh
 * clone, CI).
 * A file past `timeoutMs` gets SIGTERM (the lab kills its daemons on it),
 * then SIGKILL.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FileRun {
  file: string;
  /** Exit code of its `bun test` (null if killed). */
  exitCode: number | null;
  seconds: number;
  logPath: string;
  reportPath: string;
  timedOut: boolean;
}

export interface ParallelOptions {
  jobs: number;
  outDir: string;
  timeoutMs: number;
  /** Passed to each file's bun test (-t patterns, --timeout). */
  bunFlags?: readonly string[];
  /** Called as each file ends, in the order they end. */
  onDone(r: FileRun): void;
  /** Called as each file starts. */
  onStart?(file: string): void;
}

const slug = (file: string): string => file.replace(/^test\//, '').replace(/\.test\.ts$/, '').replace(/[^A-Za-z0-9.-]+/g, '_');

const readTimes = (p: string): Record<string, number> => {
  try {
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, number>) : {};
  } catch {
    return {};
  }
};

const lastTimes = (outDir: string): Record<string, number> => ({ ...readTimes(join(import.meta.dir, 'lab-times.json')), ...readTimes(join(outDir, 'times.json')) });

/** Files never timed first (they may be long), then the longest first. */
export function longestFirst(files: readonly string[], times: Record<string, number>): string[] {
  return [...files].sort((a, b) => (times[b] ?? Infinity) - (times[a] ?? Infinity) || a.localeCompare(b));
}

function runOne(file: string, o: ParallelOptions): Promise<FileRun> {
  const base = join(o.outDir, slug(file));
  const logPath = `${base}.log`;
  const reportPath = `${base}.xml`;
  const fd = openSync(logPath, 'w');
  const t0 = performance.now();
  const child = spawn(process.execPath, ['test', `./${file}`, ...(o.bunFlags ?? []), '--reporter=junit', `--reporter-outfile=${reportPath}`], { stdio: ['ignore', fd, fd] });
  let timedOut = false;
  const term = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, o.timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(term);
      closeSync(fd);
      resolve({ file, exitCode: code, seconds: (performance.now() - t0) / 1000, logPath, reportPath, timedOut });
    });
  });
}

export async function runInParallel(files: readonly string[], o: ParallelOptions): Promise<FileRun[]> {
  mkdirSync(o.outDir, { recursive: true });
  const times = lastTimes(o.outDir);
  const queue = longestFirst(files, times);
  const done: FileRun[] = [];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      o.onStart?.(file);
      const r = await runOne(file, o);
      done.push(r);
      o.onDone(r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, files.length)) }, worker));
  for (const r of done) times[r.file] = Math.round(r.seconds);
  writeFileSync(join(o.outDir, 'times.json'), `${JSON.stringify(times, null, 2)}\n`);
  return done;
}
