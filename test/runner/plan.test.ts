/**
 * The test runner's plan: which files are unit and which lab, that every lab
 * file declares exactly the peers its imports start (so `npm test -- <file>`
 * builds what it needs and nothing else), and the JUnit reading the tallies use.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { testCases, tally, vectorsPerBolt } from './junit.ts';
import { longestFirst } from './parallel-files.ts';
import { allTests, declaredPeers, inferredPeers, REPO, select } from './plan.ts';

describe('test plan', () => {
  test('unit files are all of test/ but test/regtest/; lab files are test/regtest/', () => {
    const { unit, lab } = allTests();
    expect(unit).toContain('test/bolt02/channel.test.ts');
    expect(unit).toContain('test/runner/plan.test.ts');
    expect(unit.filter((f) => f.startsWith('test/regtest/'))).toEqual([]);
    expect(lab.length).toBeGreaterThan(0);
    expect(lab.every((f) => f.startsWith('test/regtest/') && f.endsWith('.test.ts'))).toBe(true);
  });

  test('every lab file declares, in a "// lab-peers:" line, exactly the peers its imports start', () => {
    const wrong = allTests()
      .lab.map((f) => ({ f, declared: declaredPeers(f), inferred: inferredPeers(f) }))
      .filter((x) => JSON.stringify(x.declared) !== JSON.stringify(x.inferred))
      .map((x) => `${x.f}: declares ${x.declared?.join(' ') ?? '(no lab-peers line)'}, its imports start ${x.inferred.join(' ') || 'none'}`);
    expect(wrong).toEqual([]);
  });

  test('the peers behind each driver', () => {
    expect(inferredPeers('test/regtest/interop/crash-peers.lab.test.ts')).toEqual(['btcd', 'lnd', 'ldk-peer']);
    expect(inferredPeers('test/regtest/rpc/two-nodes.lab.test.ts')).toEqual(['btcd', 'go-client']);
    expect(inferredPeers('test/regtest/rpc/lnd-compat.lab.test.ts')).toEqual(['btcd', 'lnd']);
    expect(inferredPeers('test/node/daemon.test.ts')).toEqual([]);
  });

  test('named files and folders are expanded and split; an unknown name or an unknown peer is an error', () => {
    expect(select(['test/regtest/interop/lnd.lab.test.ts', './test/bolt09'])).toEqual({
      unit: ['test/bolt09/features.test.ts'],
      lab: ['test/regtest/interop/lnd.lab.test.ts'],
    });
    expect(() => select(['test/nope.test.ts'])).toThrow('no such test file or folder: test/nope.test.ts');
    expect(() => select(['test/vectors'])).toThrow('test/vectors holds no *.test.ts file');
    const dir = mkdtempSync(join(REPO, 'test', '.plan-'));
    try {
      const f = join(dir, 'x.lab.test.ts');
      writeFileSync(f, '// lab-peers: btcd bitcoind\n');
      expect(() => declaredPeers(relative(REPO, f))).toThrow('unknown lab peer "bitcoind"');
      writeFileSync(f, '// lab-peers: none\n');
      expect(declaredPeers(relative(REPO, f))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('files never timed start first, then the longest', () => {
    expect(longestFirst(['a', 'b', 'c', 'd'], { a: 10, b: 300, d: 40 })).toEqual(['c', 'b', 'd', 'a']);
  });

  test('JUnit cases: outcome, file, time; vectors tallied per BOLT from the path', () => {
    const xml = `<testsuites><testsuite name="test/bolt03/x.test.ts" file="test/bolt03/x.test.ts">
      <testcase name="vector: a &amp; b" classname="T" time="0.5" file="test/bolt03/x.test.ts" line="1" assertions="1" />
      <testcase name="vector: c" classname="T" time="0.25" file="test/bolt03/x.test.ts"><failure type="AssertionError" /></testcase>
      <testcase name="other" classname="T" time="0" file="test/bolt03/x.test.ts"><skipped /></testcase>
    </testsuite></testsuites>`;
    const cases = testCases(xml);
    expect(cases).toEqual([
      { name: 'vector: a & b', file: 'test/bolt03/x.test.ts', outcome: 'passed', seconds: 0.5 },
      { name: 'vector: c', file: 'test/bolt03/x.test.ts', outcome: 'failed', seconds: 0.25 },
      { name: 'other', file: 'test/bolt03/x.test.ts', outcome: 'skipped', seconds: 0 },
    ]);
    expect(tally(cases)).toEqual({ passed: 1, failed: 1, skipped: 1 });
    expect([...vectorsPerBolt(cases)]).toEqual([['03', { passed: 1, failed: 1, skipped: 0 }]]);
    const chain = testCases('<testcase name="vector: genesis" time="0" file="test/chain/pow.test.ts" />');
    expect([...vectorsPerBolt(chain)]).toEqual([['chain', { passed: 1, failed: 0, skipped: 0 }]]);
  });
});
