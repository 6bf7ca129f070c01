/**
 * The test cases of Bun's JUnit reports (one per `bun test` process, merged
 * by the runner) and the per-BOLT tally of the specification vectors: tests
 * named "vector: ..." in test/boltNN/ files, so a skipped or missing vector shows.
 */

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface TestCase {
  name: string;
  file: string;
  outcome: Outcome;
  seconds: number;
}

const CASE = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
const attr = (attrs: string, name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];
const unescape = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

export function testCases(xml: string): TestCase[] {
  const out: TestCase[] = [];
  for (const m of xml.matchAll(CASE)) {
    const attrs = m[1] ?? '';
    const body = m[3] ?? '';
    out.push({
      name: unescape(attr(attrs, 'name') ?? ''),
      file: unescape(attr(attrs, 'file') ?? attr(attrs, 'classname') ?? ''),
      outcome: /<(failure|error)\b/.test(body) ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed',
      seconds: Number(attr(attrs, 'time') ?? 0),
    });
  }
  return out;
}

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

export const emptyTally = (): Tally => ({ passed: 0, failed: 0, skipped: 0 });

export function tally(cases: readonly TestCase[]): Tally {
  const t = emptyTally();
  for (const c of cases) t[c.outcome]++;
  return t;
}

/** Vector tests per BOLT number ("01", "02", ...) from the file path or the test name, else per test folder ("chain"). */
export function vectorsPerBolt(cases: readonly TestCase[]): Map<string, Tally> {
  const perBolt = new Map<string, Tally>();
  for (const c of cases) {
    if (!c.name.startsWith('vector:')) continue;
    const bolt = /bolt(\d\d)/i.exec(c.file)?.[1] ?? /BOLT ?#?(\d+)/i.exec(c.name)?.[1]?.padStart(2, '0') ?? /^test\/([^/]+)\//.exec(c.file)?.[1] ?? '??';
    const t = perBolt.get(bolt) ?? emptyTally();
    t[c.outcome]++;
    perBolt.set(bolt, t);
  }
  return new Map([...perBolt].sort(([a], [b]) => a.localeCompare(b)));
}
