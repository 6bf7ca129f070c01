/**
 * The mnemonic as a person meets it on the daemon (bun src/main.ts): at the
 * first start, with stderr not a terminal, written to a 0600 file of the
 * data dir and stderr only says where (never in any log, not again on a
 * restart; the terminal case is in restore-terminal.test.ts), and read back by --restore from a file or stdin, giving the same
 * node id on an empty data dir; a mistyped word, a data dir that already has
 * a seed, or a restore option without --restore are refused with a sentence.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(import.meta.dir, '../../src/main.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'lnnode-restore-cli-'));
  dirs.push(d);
  return d;
};
const LISTEN = ['--p2p-listen', '127.0.0.1:0', '--rpc-listen', '127.0.0.1:0'];

/** Runs the daemon until it logs `ready` (then SIGTERM) or exits; its stderr, exit code, and the node id it logged. */
async function run(args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number; err: string; nodeId?: string }> {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    stdin: o.stdin === undefined ? 'ignore' : new TextEncoder().encode(o.stdin),
    stdout: 'ignore',
    stderr: 'pipe',
    env: { ...process.env, LNNODE_MNEMONIC: '', LNNODE_SEED_PASSPHRASE: '', ...o.env },
  });
  let err = '';
  const reader = p.stderr.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    err += new TextDecoder().decode(value);
    if (err.includes('"msg":"ready"')) p.kill('SIGTERM');
  }
  const code = await p.exited;
  const starting = err.split('\n').find((l) => l.includes('"msg":"starting"'));
  return { code, err, nodeId: starting ? (JSON.parse(starting) as { nodeId: string }).nodeId : undefined };
}

/** The 24 words of the notice, in order. */
function wordsOf(err: string): string[] {
  return [...err.matchAll(/\b(\d{1,2})\. ([a-z]+)/g)].sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => m[2]!);
}

describe('the mnemonic on the daemon', () => {
  test('written once to a 0600 file, stderr naming it, never the words in a log; --restore from a file gives the same node id; a restart shows nothing', async () => {
    const a = tmp();
    const first = await run(['--data-dir', a, ...LISTEN]);
    expect(first.code).toBe(0);
    // stderr is a pipe here, not a terminal: the words go to a 0600 file and stderr says where.
    const file0 = join(a, 'mnemonic.txt');
    expect(first.err).toContain(`lnnode: created a new wallet seed; its 24 words are in ${file0} (stderr is not a terminal, so they are not printed)`);
    expect(statSync(file0).mode & 0o777).toBe(0o600);
    const notice = readFileSync(file0, 'utf8');
    expect(notice).toContain('!!! lnnode created a new wallet seed. Write these 24 words down, in order, and keep them offline. !!!');
    expect(notice).toContain('This file is their only copy in words: copy them to paper, then delete it.');
    const words = wordsOf(notice);
    expect(words).toHaveLength(24);
    expect(wordsOf(first.err)).toEqual([]);
    // No JSON line carries any two consecutive words of it (single words are common English).
    const pairs = words.slice(1).map((w, i) => `${words[i]} ${w}`);
    for (const line of first.err.split('\n').filter((l) => l.startsWith('{'))) expect(pairs.filter((p) => line.includes(p))).toEqual([]);
    rmSync(file0);
    const again = await run(['--data-dir', a, ...LISTEN]);
    expect([again.code, again.err.includes('wallet seed'), existsSync(file0), again.nodeId]).toEqual([0, false, false, first.nodeId]);

    const file = join(tmp(), 'words.txt');
    writeFileSync(file, `${words.join(' ')}\n`, { mode: 0o600 });
    const restored = await run(['--data-dir', join(tmp(), 'new'), '--restore', '--restore-mnemonic-file', file, ...LISTEN]);
    expect(restored.code).toBe(0);
    expect(restored.err).not.toContain('wallet seed');
    expect(restored.nodeId).toBe(first.nodeId!);
    expect(restored.err).toContain('"seed":"restored"');

    // The words piped on stdin restore it too.
    const piped = await run(['--data-dir', join(tmp(), 'new'), '--restore', ...LISTEN], { stdin: `${words.join(' ')}\n` });
    expect([piped.code, piped.nodeId]).toEqual([0, first.nodeId]);

    // A data dir that has a seed is never overwritten.
    const onto = await run(['--data-dir', a, '--restore', '--restore-mnemonic-file', file, ...LISTEN]);
    expect(onto.code).toBe(1);
    expect(onto.err).toContain('--restore needs a data dir without a seed');
  }, 60_000);

  test('a mistyped word is named (exit 2); restore options need --restore; a passphrase gives another node', async () => {
    const words = 'abandon '.repeat(23) + 'art';
    const bad = await run(['--data-dir', tmp(), '--restore', ...LISTEN], { env: { LNNODE_MNEMONIC: words.replace('abandon abandon', 'abandon abandn') } });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('lnnode: --restore: word 2 "abandn" is not in the BIP39 English word list (did you mean "abandon"?)');

    const lone = await run(['--data-dir', tmp(), '--restore-mnemonic-file', '/x', ...LISTEN]);
    expect(lone.code).toBe(2);
    expect(lone.err).toContain('--restore-mnemonic-file goes with --restore');

    // A backup needs a chain to be restored: refused before anything is written.
    const noChain = tmp();
    const chainless = await run(['--data-dir', noChain, '--restore', '--restore-channel-backup', join(noChain, 'x.backup'), ...LISTEN], { env: { LNNODE_MNEMONIC: words } });
    expect(chainless.code).toBe(2);
    expect(chainless.err).toContain('--restore-channel-backup needs a chain source (--esplora-url or --bitcoind-rpc-url)');

    const plain = await run(['--data-dir', tmp(), '--restore', ...LISTEN], { env: { LNNODE_MNEMONIC: words } });
    const withPass = await run(['--data-dir', tmp(), '--restore', ...LISTEN], { env: { LNNODE_MNEMONIC: words, LNNODE_SEED_PASSPHRASE: 'TREZOR' } });
    expect(plain.code).toBe(0);
    expect(withPass.code).toBe(0);
    expect(withPass.nodeId).not.toBe(plain.nodeId!);
  }, 60_000);
});
