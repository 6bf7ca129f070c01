// lab-peers: btcd lnd ldk-peer
/**
 * The README's sandbox example, run as written there so the docs cannot
 * rot: its first line (`npm run lab up`) in the background as one terminal,
 * every other line in one bash session as the second terminal, in order;
 * each `# → text` comment is what that command must print. A read-only
 * command (a list) may be typed again until it shows it, as
 * a person would after a block; every other command must show it at once.
 * Afterwards nothing of the sandbox is left: no .lab/, none of its
 * processes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LAB_DIR, readState, stillRunning, type RecordedProcess } from '../../lab/sandbox/state.ts';
import { cleanStale } from '../../lab/sandbox/up.ts';
import { holdSandbox } from './sandbox-lock.ts';

const REPO = resolve(import.meta.dir, '../../..');
const README = readFileSync(join(REPO, 'README.md'), 'utf8');

interface Step {
  line: string;
  expect?: string;
}

/** The example's lines and their `# →` expectations, from between the README's markers. */
export function exampleSteps(readme: string): Step[] {
  const block = /<!-- sandbox-example:start -->\n([\s\S]*?)<!-- sandbox-example:end -->/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no sandbox-example block');
  return block
    .split('\n')
    .filter((l) => l.startsWith('    '))
    .map((l) => {
      const line = l.slice(4);
      const m = /\s+# → (.*)$/.exec(line);
      return { line, expect: m?.[1] };
    });
}

const steps = exampleSteps(README);
// Not walletbalance: a balance answers with every block the node has seen (Wallet.caughtUp), so it must show it at once.
const READ_ONLY = /^lnnode-[ab] (listchannels|listinvoices|getinfo)\b/;
const work = mkdtempSync(join(tmpdir(), 'lnnode-readme-'));
let labUp: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined;
let shell: Bun.Subprocess<'pipe', 'pipe', 'pipe'> | undefined;
let recorded: RecordedProcess[] = [];

// The other sandbox lab file may be running: one .lab/ for both.
let release: (() => void) | undefined;
beforeAll(async () => {
  release = await holdSandbox();
}, 11 * 60_000);

afterAll(async () => {
  shell?.kill('SIGKILL');
  if (labUp && labUp.exitCode === null) {
    labUp.kill('SIGTERM');
    await labUp.exited;
  }
  await cleanStale();
  rmSync(work, { recursive: true, force: true });
  release?.();
});

/** Reads a stream until `pattern` appears; returns all text so far. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, pattern: RegExp, sofar: { text: string }): Promise<string> {
  while (!pattern.test(sofar.text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${pattern}: ${sofar.text}`);
    sofar.text += new TextDecoder().decode(value);
  }
  return sofar.text;
}

describe('README sandbox example', () => {
  test('the example has its first and last lines and expectations', () => {
    expect(steps[0]!.line).toBe('npm run lab up');
    expect(steps.at(-1)!.line).toStartWith('npm run lab down');
    expect(steps.filter((s) => s.expect).length).toBeGreaterThanOrEqual(10);
  });

  test('runs verbatim against the sandbox, and leaves nothing behind', async () => {
    expect(existsSync(join(LAB_DIR, 'state.json'))).toBe(false);
    labUp = Bun.spawn(['bash', '-c', steps[0]!.line], { cwd: REPO, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    const upOut = { text: '' };
    await readUntil(labUp.stdout.getReader(), /sandbox is up/, upOut);
    recorded = [readState()!.up, ...readState()!.processes];

    shell = Bun.spawn(['bash', '--norc', '--noprofile'], { cwd: REPO, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    const out = shell.stdout.getReader();
    const sofar = { text: '' };
    let n = 0;
    const run = async (line: string): Promise<{ code: number; output: string }> => {
      const i = n++;
      const file = join(work, `out.${i}`);
      shell!.stdin.write(`{ ${line}\n} >'${file}' 2>&1; echo "__done ${i} $?"\n`);
      shell!.stdin.flush();
      const text = await readUntil(out, new RegExp(`__done ${i} (\\d+)\\n`), sofar);
      const code = Number(new RegExp(`__done ${i} (\\d+)\\n`).exec(text)![1]);
      return { code, output: readFileSync(file, 'utf8') };
    };

    for (const step of steps.slice(1)) {
      let r = await run(step.line);
      for (let tries = 0; READ_ONLY.test(step.line) && step.expect && !r.output.includes(step.expect) && tries < 40; tries++) {
        await Bun.sleep(250);
        r = await run(step.line);
      }
      expect({ line: step.line, code: r.code, output: r.output }).toEqual({ line: step.line, code: 0, output: step.expect ? expect.stringContaining(step.expect) : expect.any(String) });
    }
    shell.stdin.end();
    expect(await labUp.exited).toBe(0);
    expect(existsSync(LAB_DIR)).toBe(false);
    for (const p of recorded) expect({ name: p.name, running: stillRunning(p) }).toEqual({ name: p.name, running: false });
  }, 180_000);
});
