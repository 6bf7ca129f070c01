/**
 * The tally of the receiver-rule table (test/regtest/rules/receiver-rules.ts)
 * across its two checkers: the lab table (a daemon and a hostile peer) and
 * the pure-level table (src/bolt directly). Each writes what it implements
 * and how each row did into .test-results/; this merges them into
 * .test-results/receiver-rules.json and the one line test/run.ts prints.
 *
 * A tested row is checked by a checker that ran, implements it and passed
 * it; a row no checker that ran implements is untested, and one that failed
 * fails the run (rows one named checker lacks are counted and listed). A checker that did not run in this run (a unit-only run)
 * leaves its rows "not run", which is said but does not fail.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type LabGroup, RULES, statusKind } from '../regtest/rules/receiver-rules.ts';

export const RESULTS_DIR = resolve(import.meta.dir, '../../.test-results');

export type Checker = 'lab' | 'unit';

export interface CheckerReport {
  /** Row ids this checker has a scenario for. */
  implemented: string[];
  /** How each row it ran did. */
  results: Record<string, 'passed' | 'failed'>;
  /**
   * The lab groups this report covers. The lab table is split over several
   * files (one daemon each, so the runner can run them side by side); a row
   * counts as checked by the lab only where a report of its group ran.
   */
  groups?: LabGroup[];
}

/** One report per checker, and for the lab one per lab file (`part`). */
const partFile = (c: Checker, part?: string): string => join(RESULTS_DIR, `receiver-rules-${c}${part ? `-${part}` : ''}.json`);

/** The reports of checker `c` written at or after `since`, merged into one (the lab's parts cover disjoint groups). */
function readChecker(c: Checker, since: number): CheckerReport | undefined {
  if (!existsSync(RESULTS_DIR)) return undefined;
  const files = readdirSync(RESULTS_DIR).filter((f) => f === `receiver-rules-${c}.json` || (f.startsWith(`receiver-rules-${c}-`) && f.endsWith('.json')));
  let merged: CheckerReport | undefined;
  for (const f of files) {
    const path = join(RESULTS_DIR, f);
    if (statSync(path).mtimeMs < since) continue;
    const r = JSON.parse(readFileSync(path, 'utf8')) as CheckerReport;
    merged ??= { implemented: [], results: {}, groups: [] };
    merged.implemented.push(...r.implemented);
    Object.assign(merged.results, r.results);
    // A report without groups (the unit table, or an older lab file) covers every row its checker names.
    if (!r.groups || !merged.groups) merged.groups = undefined;
    else merged.groups.push(...r.groups);
  }
  return merged;
}

export interface Tally {
  tested: number;
  na: number;
  pending: number;
  untested: number;
  failed: number;
  /** Tested rows whose checker did not run this time. */
  notRun: number;
  names: { pending: string[]; untested: string[]; failed: string[]; notRun: string[]; missing: string[] };
}

/** Writes one checker's report, then the merged tally. */
export function writeCheckerReport(c: Checker, r: CheckerReport, part?: string): Tally {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(partFile(c, part), JSON.stringify(r, null, 1));
  const t = tallyReceiverRules();
  writeFileSync(join(RESULTS_DIR, 'receiver-rules.json'), JSON.stringify(t, null, 1));
  return t;
}

/** Merges the checker reports written at or after `since` (ms since 1970; all when 0). */
export function tallyReceiverRules(since = 0): Tally {
  const parts: Partial<Record<Checker, CheckerReport>> = {};
  for (const c of ['lab', 'unit'] as const) parts[c] = readChecker(c, since);
  const t: Tally = { tested: 0, na: 0, pending: 0, untested: 0, failed: 0, notRun: 0, names: { pending: [], untested: [], failed: [], notRun: [], missing: [] } };
  for (const row of RULES) {
    const kind = statusKind(row.status);
    if (kind === 'na') {
      t.na++;
      continue;
    }
    if (kind === 'pending') {
      t.pending++;
      t.names.pending.push(`${row.id} (${row.status.slice('pending: '.length)})`);
      continue;
    }
    const checkers: Checker[] = [...(row.lab ? ['lab' as const] : []), ...(row.unit ? ['unit' as const] : [])];
    // Tested: a checker that ran implements the row and it passed there, and none failed. A named checker that ran
    // without a scenario for it is listed (missing) while the row stands on the other; none implementing it: untested.
    let implemented = 0;
    let ran = 0;
    let failed = false;
    for (const c of checkers) {
      const p = parts[c];
      if (!p || (c === 'lab' && p.groups && !p.groups.includes(row.lab!))) continue;
      ran++;
      if (!p.implemented.includes(row.id)) {
        t.names.missing.push(`${row.id} (${c})`);
        continue;
      }
      implemented++;
      if (p.results[row.id] !== 'passed') failed = true;
    }
    const verdict = failed ? 'failed' : implemented ? 'tested' : ran === 0 && checkers.length ? 'notRun' : 'untested';
    t[verdict]++;
    if (verdict !== 'tested') t.names[verdict].push(row.id);
    // A row whose checkers did not run in this run still counts as tested by its status in the summary line.
    if (verdict === 'notRun') t.tested++;
  }
  return t;
}

/** The summary line and whether the run may pass. */
export function receiverRulesSummary(since: number): { lines: string[]; ok: boolean } {
  const t = tallyReceiverRules(since);
  const lines = [`BOLT 2/5 receiver rules: ${t.tested} tested, ${t.na} not applicable, ${t.pending} pending, ${t.untested} untested${t.failed ? `, ${t.failed} FAILED` : ''}`];
  if (t.notRun) lines.push(`  (${t.notRun} tested rows not checked in this run: their checker did not run)`);
  if (t.pending) lines.push(`  pending: ${t.names.pending.join(', ')}`);
  if (t.untested) lines.push(`  untested: ${t.names.untested.join(', ')}`);
  if (t.names.missing.length) lines.push(`  ${t.names.missing.length} rows checked by one of their two checkers only: ${t.names.missing.join(', ')}`);
  if (t.failed) lines.push(`  failed: ${t.names.failed.join(', ')}`);
  return { lines, ok: t.untested === 0 && t.failed === 0 };
}
