/**
 * The data dir as one daemon's own (issue 13, operator mistakes): a second
 * node on a data dir in use refuses to start with an error naming the dir
 * and the PID holding it, and the first keeps working; the lock is released
 * by stop() and by the death of its process (SIGKILL leaves no stale lock);
 * a data dir, seed and key files readable by group or others are tightened
 * to 0700 / 0600 with a warning, and refused when they cannot be.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type DaemonConfig } from '../../src/node/config.ts';
import { DataDirError, lockDataDir, openDataDir, PID_FILE } from '../../src/node/data-dir.ts';
import { createLogger, type Logger, silentLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lnnode-datadir-'));
  dirs.push(d);
  return d;
}

const config = (dataDir: string): DaemonConfig => ({ network: 'regtest', dataDir, chain: { kind: 'none' }, connect: [], logLevel: 'error' });

/** A logger that keeps its warnings. */
function recording(): { log: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'warn', sink: { write: (line) => void warnings.push(JSON.parse(line) as Record<string, unknown>) } });
  return { log, warnings };
}

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

describe('data dir lock', () => {
  test('a second node on a data dir in use refuses to start, naming the dir and the pid; the first keeps working; after stop() it starts', () => {
    const dir = freshDir();
    const first = LightningNode.start(config(dir), silentLogger);
    let err: unknown;
    try {
      LightningNode.start(config(dir), silentLogger).stop();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as Error).message).toBe(`data dir ${dir} is in use by another lnnode (pid ${process.pid}); stop it first, or give this one another --data-dir`);
    // The refused start touched nothing the first one uses.
    expect(first.invoices.list()).toEqual([]);
    expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(process.pid));
    first.stop();
    expect(existsSync(join(dir, PID_FILE))).toBe(false);
    const again = LightningNode.start(config(dir), silentLogger);
    expect(again.nodeId).toEqual(first.nodeId);
    again.stop();
  });

  test('a lock held by a process that is SIGKILLed does not block the next start', async () => {
    const dir = freshDir();
    const script = `import { lockDataDir } from ${JSON.stringify(resolve(import.meta.dir, '../../src/node/data-dir.ts'))}; (globalThis as any).held = lockDataDir(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`;
    const child = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' });
    try {
      const reader = child.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('locked');
      expect(() => lockDataDir(dir)).toThrow(`data dir ${dir} is in use by another lnnode (pid ${child.pid})`);
      child.kill('SIGKILL');
      await child.exited;
      // Its pid file is left behind; the lock is not.
      expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(child.pid));
      const lock = lockDataDir(dir);
      expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(process.pid));
      lock.release();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('data dir permissions', () => {
  test('a data dir, seed and key files readable by others are tightened to 0700/0600 with a warning', () => {
    const dir = freshDir();
    LightningNode.start(config(dir), silentLogger).stop();
    writeFileSync(join(dir, 'rpc.token'), `${'ab'.repeat(32)}\n`);
    mkdirSync(join(dir, 'data', 'chain'), { recursive: true });
    writeFileSync(join(dir, 'data', 'chain', 'admin.macaroon'), 'x');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'seed'), 0o644);
    chmodSync(join(dir, 'rpc.token'), 0o640);
    chmodSync(join(dir, 'lnnode.sqlite'), 0o604);
    chmodSync(join(dir, 'data'), 0o755);
    chmodSync(join(dir, 'data', 'chain', 'admin.macaroon'), 0o644);
    const { log, warnings } = recording();
    const node = LightningNode.start(config(dir), log);
    node.stop();
    expect([dir, 'seed', 'rpc.token', 'lnnode.sqlite', 'data', 'data/chain/admin.macaroon'].map((p) => mode(p === dir ? dir : join(dir, p)))).toEqual([
      '700', '600', '600', '600', '700', '600',
    ]);
    const w = warnings.find((r) => r.msg === 'data dir was readable by group or others; tightened to 0700/0600');
    expect(w?.dataDir).toBe(dir);
    expect(w?.changed).toEqual(expect.arrayContaining([`${dir} (was 755)`, `${join(dir, 'seed')} (was 644)`, `${join(dir, 'rpc.token')} (was 640)`]));
  });

  test('a data dir that cannot be tightened is refused, naming the path and what to do; nothing is opened', () => {
    const dir = freshDir();
    chmodSync(dir, 0o750);
    const refuse = (): never => {
      throw new Error('EPERM: operation not permitted');
    };
    expect(() => openDataDir(dir, silentLogger, { chmod: refuse })).toThrow(
      `${dir} is readable by group or others (mode 750) and cannot be tightened: EPERM: operation not permitted; chmod 700 it, or give another --data-dir`,
    );
    expect(existsSync(join(dir, PID_FILE))).toBe(false);
    expect(existsSync(join(dir, 'lnnode.sqlite'))).toBe(false);
  });
});
