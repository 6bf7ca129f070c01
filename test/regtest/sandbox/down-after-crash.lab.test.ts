// lab-peers: btcd lnd ldk-peer
/**
 * `lab down` after `lab up` died without cleaning up (SIGKILL): it stops
 * the processes the state file records, but only those whose PID still has
 * the recorded start time (one entry is made to look reused and must be
 * left alone), and removes .lab/. A second `lab up` meanwhile is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { LAB_DIR, readState, signalVerified, stillRunning, writeState, type RecordedProcess } from '../../lab/sandbox/state.ts';
import { cleanStale } from '../../lab/sandbox/up.ts';
import { holdSandbox } from './sandbox-lock.ts';

const REPO = resolve(import.meta.dir, '../../..');
const LAB = resolve(REPO, 'test/lab/cli.ts');
const bystander = Bun.spawn(['sleep', '120']);
let up: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined;

// The other sandbox lab file may be running: one .lab/ for both.
let release: (() => void) | undefined;
beforeAll(async () => {
  release = await holdSandbox();
}, 11 * 60_000);

afterAll(async () => {
  bystander.kill('SIGKILL');
  up?.kill('SIGKILL');
  await cleanStale();
  release?.();
});

const lab = (...args: string[]) => Bun.spawnSync([process.execPath, LAB, ...args], { cwd: REPO, stdout: 'pipe', stderr: 'pipe' });

describe('lab down after a crashed lab up', () => {
  test('stops only what is still the sandbox, removes .lab/', async () => {
    expect(existsSync(resolve(LAB_DIR, 'state.json'))).toBe(false);
    up = Bun.spawn([process.execPath, LAB, 'up'], { cwd: REPO, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    const reader = up.stdout.getReader();
    let out = '';
    while (!out.includes('sandbox is up')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`lab up ended: ${await new Response(up.stderr).text()}`);
      out += new TextDecoder().decode(value);
    }
    const again = lab('up');
    expect([again.exitCode, again.stderr.toString()]).toEqual([1, expect.stringContaining('a sandbox is already running (lab up, pid')]);

    const state = readState()!;
    up.kill('SIGKILL');
    await up.exited;
    const children: RecordedProcess[] = state.processes;
    expect(children.map((p) => p.name)).toEqual(['btcd', 'lnnode A', 'lnnode B']);
    for (const p of children) expect(stillRunning(p)).toBe(true);
    // As if btcd's PID now belonged to another program: the bystander, with its own start time.
    const reused = { ...children[0]!, pid: bystander.pid };
    writeState({ ...state, processes: [reused, ...children.slice(1)] });

    const status = lab('status');
    expect([status.exitCode, status.stderr.toString()]).toEqual([1, expect.stringContaining('is gone; `npm run lab down` cleans up after it')]);
    const down = lab('down');
    expect(down.exitCode).toBe(0);
    expect(down.stdout.toString()).toContain(`btcd (pid ${bystander.pid}) was not running`);
    expect(down.stdout.toString()).toContain('stopped lnnode A');
    expect(down.stdout.toString()).toContain('stopped lnnode B');
    expect(bystander.exitCode).toBeNull();
    for (const p of children.slice(1)) expect(stillRunning(p)).toBe(false);
    expect(existsSync(LAB_DIR)).toBe(false);
    // The real btcd was left running by this test's pretence; stop it the way a person would have to. (It may be gone
    // already: its log went through a pipe of the killed lab up, and btcd logs the lab's websocket closing, so a write
    // there ends it with SIGPIPE.)
    if (stillRunning(children[0]!)) expect(signalVerified(children[0]!, 'SIGKILL')).toBe(true);
  }, 90_000);
});
