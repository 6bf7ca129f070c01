/**
 * The test command: type check, every test, then a per-BOLT tally of the
 * specification vectors read from the JUnit report, so a skipped or missing
 * vector shows. Exits non-zero if anything failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const bun = process.execPath;
const run = (cmd: string, args: string[]): number =>
  spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;

console.log('== type check (tsc --noEmit)');
const tsc = run('node_modules/.bin/tsc', ['--noEmit', '-p', 'tsconfig.json']);
if (tsc !== 0) {
  console.error('type check failed');
  process.exit(tsc);
}

// The regtest lab's peers are built once into a cache outside the repo
// (test/lab/build/); a fresh machine builds them here, later runs reuse them.
for (const peer of ['btcd', 'lnd', 'ldk-peer', 'go-client']) {
  console.log(`== lab peer ${peer} (cached build)`);
  const built = run('bash', [`test/lab/build/${peer}.sh`]);
  if (built !== 0) {
    console.error(`building the lab peer ${peer} failed: the tests that need it cannot run`);
    process.exit(built);
  }
}

mkdirSync('.test-results', { recursive: true });
const report = '.test-results/junit.xml';
console.log('== bun test');
const tests = run(bun, ['test', ...process.argv.slice(2), '--reporter=junit', `--reporter-outfile=${report}`]);

// Vector tests are named "vector: ..." and live in test/boltNN/ files.
interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}
const perBolt = new Map<string, Tally>();
let total: Tally = { passed: 0, failed: 0, skipped: 0 };
let xml = '';
try {
  xml = readFileSync(report, 'utf8');
} catch {
  console.error(`no JUnit report at ${report}`);
}
const caseRe = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
for (const m of xml.matchAll(caseRe)) {
  const attrs = m[1] ?? '';
  const body = m[3] ?? '';
  const name = /\bname="([^"]*)"/.exec(attrs)?.[1] ?? '';
  const file = /\bfile="([^"]*)"/.exec(attrs)?.[1] ?? /\bclassname="([^"]*)"/.exec(attrs)?.[1] ?? '';
  const outcome: keyof Tally = /<(failure|error)\b/.test(body)
    ? 'failed'
    : /<skipped\b/.test(body)
      ? 'skipped'
      : 'passed';
  total[outcome]++;
  if (!name.startsWith('vector:')) continue;
  const bolt = /bolt(\d\d)/i.exec(file)?.[1] ?? /BOLT ?#?(\d+)/i.exec(name)?.[1]?.padStart(2, '0') ?? '??';
  const t = perBolt.get(bolt) ?? { passed: 0, failed: 0, skipped: 0 };
  t[outcome]++;
  perBolt.set(bolt, t);
}

console.log('\n== specification vectors per BOLT');
for (const [bolt, t] of [...perBolt].sort()) {
  const extra = t.skipped ? `, ${t.skipped} SKIPPED` : '';
  console.log(`  BOLT #${bolt}: ${t.passed} passed, ${t.failed} failed${extra}`);
}
const vectorSkips = [...perBolt.values()].reduce((n, t) => n + t.skipped, 0);
if (vectorSkips > 0) console.error(`${vectorSkips} vector tests were skipped: every vector must run`);
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(tests !== 0 || total.failed > 0 || vectorSkips > 0 ? 1 : 0);
