/**
 * The unit set in `jobs` bun processes at once. One process ran the 59 unit
 * files one after another in ~65 s, about half of it waiting (sockets, timers,
 * child processes), on a machine with two cores. Files are dealt longest
 * first to the shard with the least time so far, by each file's time in the
 * last run's reports (unit-times.json beside them, over the copy kept in
 * test/runner/ for a fresh clone; a file never timed counts as the slowest
 * seen, so new files spread out). Each shard writes its own
 * JUnit report and log; the logs are printed whole, one shard after another,
 * so the output stays readable.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCases } from './junit.ts';

/** Deals `files` into at most `n` shards of about equal total time (longest first, each to the lightest shard). */
export function shard(files: readonly string[], times: Record<string, number>, n: number): string[][] {
  const known = files.map((f) => times[f]).filter((t): t is number => t !== undefined);
  const unknown = known.length ? Math.max(...known) : 1;
  const cost = (f: string): number => times[f] ?? unknown;
  const shards = Array.from({ length: Math.max(1, Math.min(n, files.length)) }, () => ({ files: [] as string[], total: 0 }));
  for (const f of [...files].sort((a, b) => cost(b) - cost(a) || a.localeCompare(b))) {
    const s = shards.reduce((min, x) => (x.total < min.total ? x : min));
    s.files.push(f);
    s.total += cost(f);
  }
  return shards.map((s) => s.files.sort());
}

export interface ShardRun {
  files: string[];
  exitCode: number | null;
  reportPath: string;
  logPath: string;
  seconds: number;
}

const timesPath = (outDir: string): string => join(outDir, 'unit-times.json');

function readJson(path: string): Record<string, number> {
  try {
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/** The last run's times over the ones kept in the repository (unit-times.json here), so a fresh clone's shards are even too. */
const readTimes = (outDir: string): Record<string, number> => ({ ...readJson(join(import.meta.dir, 'unit-times.json')), ...readJson(timesPath(outDir)) });

/** Runs the shards side by side; resolves with each (in shard order) once all have ended, and records file times. */
export async function runUnitShards(files: readonly string[], o: { jobs: number; outDir: string; bunFlags: readonly string[] }): Promise<ShardRun[]> {
  const times = readTimes(o.outDir);
  const shards = shard(files, times, o.jobs);
  const runs = await Promise.all(
    shards.map(
      (list, i) =>
        new Promise<ShardRun>((resolve) => {
          const reportPath = join(o.outDir, `unit-${i + 1}.xml`);
          const logPath = join(o.outDir, `unit-${i + 1}.log`);
          const fd = openSync(logPath, 'w');
          const t0 = performance.now();
          const child = spawn(process.execPath, ['test', ...list.map((f) => `./${f}`), ...o.bunFlags, '--reporter=junit', `--reporter-outfile=${reportPath}`], { stdio: ['ignore', fd, fd] });
          child.on('close', (code) => {
            closeSync(fd);
            resolve({ files: list, exitCode: code, reportPath, logPath, seconds: (performance.now() - t0) / 1000 });
          });
        }),
    ),
  );
  for (const r of runs) {
    if (!existsSync(r.reportPath)) continue;
    const perFile = new Map<string, number>();
    for (const c of testCases(readFileSync(r.reportPath, 'utf8'))) perFile.set(c.file, (perFile.get(c.file) ?? 0) + c.seconds);
    for (const [f, s] of perFile) times[f.replace(/^\.\//, '')] = Math.round(s * 10) / 10;
  }
  writeFileSync(timesPath(o.outDir), `${JSON.stringify(times, null, 2)}\n`);
  return runs;
}
