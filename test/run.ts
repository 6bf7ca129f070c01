/**
 * The test command. `npm test`: type check, the unit set (all of test/
 * but test/regtest/: no lab peer, no Go, no Rust) in three `bun test` processes, then
 * the lab set (test/regtest/), each file in its own process, two at a time,
 * after building only the lab peers those files declare (`// lab-peers:`,
 * see runner/plan.ts). Ends with the per-BOLT tally of the specification
 * vectors from the merged JUnit reports and exits non-zero if anything failed.
 *
 *   bun test/run.ts [--unit | --lab] [--jobs N] [files or folders...] [bun test flags, e.g. -t <pattern>]
 *
 * `--unit` (npm run test:unit) runs only unit files and never builds a peer;
 * `--lab` only lab files. Named files or folders narrow either set. A lab
 * file whose peer could not be built is reported failed, with the build's
 * error, without being run; a failing lab file's whole output is printed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type TestCase, tally, testCases, vectorsPerBolt } from './runner/junit.ts';
import { allTests, type LabPeer, peersOf, REPO, select } from './runner/plan.ts';
import { type FileRun, runInParallel } from './runner/parallel-files.ts';
import { receiverRulesSummary } from './support/receiver-rules-tally.ts';
import { runUnitShards } from './runner/unit-shards.ts';

const run = (cmd: string, args: string[]): number => spawnSync(cmd, args, { stdio: 'inherit', cwd: REPO }).status ?? 1;
process.chdir(REPO);

// ---- command line
let only: 'unit' | 'lab' | undefined;
// Unit files wait on short timers between their CPU-bound parts: a third process on 2 cores fills those waits
// (unit set 60 -> 51-55 s). Lab files are CPU-bound throughout, and timing-dependent write counts get flaky at 3.
const envJobs = process.env.LNNODE_TEST_JOBS;
let jobs: number | undefined = envJobs === undefined ? undefined : Number(envJobs);
const names: string[] = [];
const bunFlags: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--unit' || a === '--lab') only = a === '--unit' ? 'unit' : 'lab';
  else if (a === '--jobs') jobs = Number(argv[++i]);
  else if (a.startsWith('--jobs=')) jobs = Number(a.slice('--jobs='.length));
  else if (a === '-t' || a === '--test-name-pattern' || a === '--timeout') bunFlags.push(a, argv[++i] ?? '');
  else if (a.startsWith('-')) bunFlags.push(a);
  else names.push(a);
}
// bunfig.toml's [test] timeout is not applied by this Bun (a test stops at 5 s): CPU-bound unit tests on a
// loaded 2-core machine need longer, so the runner passes the intended 30 s (unit and lab files) unless told otherwise.
if (!bunFlags.includes('--timeout')) bunFlags.push('--timeout', '30000');
if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
  console.error(`--jobs: expected a whole number of at least 1, got "${jobs}"`);
  process.exit(2);
}
let selection;
try {
  selection = names.length ? select(names) : allTests();
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}
const unitFiles = only === 'lab' ? [] : selection.unit;
const labFiles = only === 'unit' ? [] : selection.lab;

console.log('== type check (tsc --noEmit)');
const tsc = run('node_modules/.bin/tsc', ['--noEmit', '-p', 'tsconfig.json']);
if (tsc !== 0) {
  console.error('type check failed');
  process.exit(tsc);
}

const results = '.test-results';
mkdirSync(results, { recursive: true });
for (const f of readdirSync(results)) if (/^unit(-\d+)?\.(xml|log)$/.test(f)) rmSync(join(results, f), { force: true });
const startedAt = Date.now();
const cases: TestCase[] = [];
/** Files that failed outside any test case (a crash, a timeout, a peer not built, a hook that threw). */
const fileFailures: { file: string; why: string }[] = [];
const failFile = (file: string, why: string): void => {
  fileFailures.push({ file, why });
  cases.push({ name: `${file}: ${why}`, file, outcome: 'failed', seconds: 0 });
};

// ---- the unit set: no lab, `unitJobs` bun processes side by side (runner/unit-shards.ts)
if (unitFiles.length) {
  const unitJobs = jobs ?? 3;
  console.log(`== unit tests (${unitFiles.length} files, ${Math.min(unitJobs, unitFiles.length)} processes)`);
  const t0 = performance.now();
  const shards = await runUnitShards(unitFiles, { jobs: unitJobs, outDir: results, bunFlags });
  for (const [i, r] of shards.entries()) {
    console.log(`---- unit shard ${i + 1} (${r.files.length} files, ${r.seconds.toFixed(1)} s)`);
    console.log(readFileSync(r.logPath, 'utf8').trimEnd());
    const shardCases = existsSync(r.reportPath) ? testCases(readFileSync(r.reportPath, 'utf8')) : [];
    cases.push(...shardCases);
    if (r.exitCode !== 0 && !shardCases.some((c) => c.outcome === 'failed')) failFile(`unit shard ${i + 1}`, `bun test exited ${r.exitCode} (see its output above)`);
  }
  console.log(`== unit tests took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- the lab set: build what the files need, then run them in parallel
const timings: FileRun[] = [];
if (labFiles.length) {
  const needs = new Map<string, LabPeer[]>();
  for (const f of labFiles) {
    const { peers, declared } = peersOf(f);
    if (!declared) console.log(`note: ${f} has no "// lab-peers:" line; from its imports it needs: ${peers.join(' ') || 'none'}`);
    needs.set(f, peers);
  }
  const wanted = [...new Set([...needs.values()].flat())];
  const unbuilt = new Map<LabPeer, string>();
  for (const peer of ['btcd', 'lnd', 'ldk-peer', 'go-client'] as const) {
    if (!wanted.includes(peer)) continue;
    console.log(`== lab peer ${peer} (cached build)`);
    const built = spawnSync('bash', [`test/lab/build/${peer}.sh`], { cwd: REPO, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
    process.stderr.write(built.stderr ?? '');
    if (built.status !== 0) {
      const tail = (built.stderr ?? '').trim().split('\n').slice(-5).join('\n');
      unbuilt.set(peer, `building the lab peer ${peer} failed (bash test/lab/build/${peer}.sh exited ${built.status}):\n${tail}`);
      console.error(`building the lab peer ${peer} failed: the lab files that need it are reported failed`);
    }
  }
  const runnable: string[] = [];
  for (const f of labFiles) {
    const missing = needs.get(f)!.filter((p) => unbuilt.has(p));
    if (missing.length) {
      const why = `not run: it needs the lab peer ${missing.join(', ')}, which could not be built`;
      failFile(f, why);
      console.log(`FAIL  ${f}: ${why}\n${missing.map((p) => unbuilt.get(p)).join('\n')}`);
    } else runnable.push(f);
  }
  const labDir = join(results, 'lab');
  const labJobs = jobs ?? 2;
  console.log(`== lab tests (${runnable.length} files, ${labJobs} at a time)`);
  const t0 = performance.now();
  await runInParallel(runnable, {
    jobs: labJobs,
    outDir: labDir,
    timeoutMs: Number(process.env.LNNODE_LAB_FILE_TIMEOUT_MS ?? 20 * 60_000),
    bunFlags,
    onDone(r) {
      timings.push(r);
      const fileCases = existsSync(r.reportPath) ? testCases(readFileSync(r.reportPath, 'utf8')) : [];
      cases.push(...fileCases);
      const t = tally(fileCases);
      const ok = r.exitCode === 0 && t.failed === 0;
      console.log(`${ok ? 'PASS' : 'FAIL'}  ${r.seconds.toFixed(1).padStart(6)} s  ${r.file}  (${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ''})`);
      if (ok) return;
      if (r.timedOut) failFile(r.file, `killed after ${(r.seconds / 60).toFixed(1)} min (LNNODE_LAB_FILE_TIMEOUT_MS)`);
      else if (t.failed === 0) failFile(r.file, `bun test exited ${r.exitCode} outside any test (a hook or a crash)`);
      console.log(`---- output of ${r.file} (${r.logPath})`);
      console.log(readFileSync(r.logPath, 'utf8').trimEnd());
      console.log(`---- end of ${r.file}`);
    },
  });
  console.log(`\n== lab files by time (${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${labJobs} at a time)`);
  for (const r of [...timings].sort((a, b) => b.seconds - a.seconds)) console.log(`  ${r.seconds.toFixed(1).padStart(6)} s  ${r.file}`);
}

// ---- tallies over every report
const perBolt = vectorsPerBolt(cases);
if (perBolt.size) console.log('\n== specification vectors per BOLT');
for (const [bolt, t] of perBolt) {
  const extra = t.skipped ? `, ${t.skipped} SKIPPED` : '';
  console.log(`  ${/^\d\d$/.test(bolt) ? `BOLT #${bolt}` : `${bolt} (not a BOLT)`}: ${t.passed} passed, ${t.failed} failed${extra}`);
}
const vectorSkips = [...perBolt.values()].reduce((n, t) => n + t.skipped, 0);
if (vectorSkips > 0) console.error(`${vectorSkips} vector tests were skipped: every vector must run`);

// Further tallies over `cases` (every test case of the run, unit and lab) go here.
const rules = receiverRulesSummary(startedAt);
for (const l of rules.lines) (rules.ok ? console.log : console.error)(l);

if (fileFailures.length) {
  console.log('\n== files that failed outside a test case');
  for (const f of fileFailures) console.log(`  ${f.file}: ${f.why}`);
}
const total = tally(cases);
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 || vectorSkips > 0 || fileFailures.length > 0 || !rules.ok ? 1 : 0);
