/**
 * Lab processes' temp dirs (btcd, lnd, LDK, lnnode data) go away when the
 * test process that made them exits, however it exits, unless
 * LNNODE_LAB_KEEP is set to read their logs afterwards.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

const PROCESSES = resolve(import.meta.dir, '../lab/processes.ts');

function makeDirAndExit(how: string, env: Record<string, string> = {}): string {
  const script = `import { labTempDir } from ${JSON.stringify(PROCESSES)}; const d = labTempDir('lab-tempdir-test-'); console.log(d); ${how}`;
  const r = Bun.spawnSync([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...env } });
  return r.stdout.toString().trim();
}

describe('lab temp dirs', () => {
  for (const [what, how] of [
    ['a normal end', ''],
    ['process.exit(1)', 'process.exit(1);'],
    ['an uncaught error', 'throw new Error("failed test");'],
  ] as const) {
    test(`removed after ${what}`, () => {
      const d = makeDirAndExit(how);
      expect(d).toMatch(/lab-tempdir-test-/);
      expect(existsSync(d)).toBe(false);
    });
  }

  test('kept with LNNODE_LAB_KEEP=1', () => {
    const d = makeDirAndExit('', { LNNODE_LAB_KEEP: '1' });
    expect(existsSync(d)).toBe(true);
    rmSync(d, { recursive: true, force: true });
  });
});
