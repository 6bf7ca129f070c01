/**
 * The mnemonic in a real terminal (tmux): a first start shows the words on
 * the screen (and writes them nowhere); `lnnode --restore` as a person meets it: the
 * prompt for the words, then for the passphrase (Enter for none), and the
 * node started with the node id those words give; a typo is named on the
 * screen as soon as the words are entered, and the daemon exits 2 without
 * writing a seed. Skipped where tmux
 * is not installed.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hex } from '../../src/bolt/bytes.ts';
import { deriveIdentity } from '../../src/node/identity.ts';
import { newMnemonic, seedOfMnemonic } from '../../src/node/mnemonic.ts';

const TMUX = Bun.which('tmux');
const MAIN = resolve(import.meta.dir, '../../src/main.ts');
const socket = `lnnode-restore-test-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'lnnode-restore-term-'));
let sessions = 0;

const tmux = (...args: string[]): string => {
  const r = Bun.spawnSync([TMUX!, '-L', socket, ...args], { stdout: 'pipe', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};
const screenOf = (s: string): string => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', s);

async function until(s: string, what: RegExp | string, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const screen = screenOf(s);
    if (typeof what === 'string' ? screen.includes(what) : what.test(screen)) return screen;
    if (Date.now() > deadline) throw new Error(`screen never showed ${what}; it shows:\n${screen}`);
    await Bun.sleep(50);
  }
}

/** A terminal running bash; the daemon is started in it, so its exit code can be echoed. */
function terminal(): string {
  const s = `t${++sessions}`;
  tmux('new-session', '-d', '-s', s, '-x', '220', '-y', '50', 'bash --norc --noprofile');
  tmux('set-option', '-t', s, 'history-limit', '10000');
  return s;
}
const typeLine = (s: string, text: string): void => {
  tmux('send-keys', '-t', s, '-l', text);
  tmux('send-keys', '-t', s, 'Enter');
};

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!TMUX)('the mnemonic in a terminal', () => {
  const daemon = (dataDir: string): string =>
    `env -u LNNODE_MNEMONIC -u LNNODE_SEED_PASSPHRASE "${process.execPath}" "${MAIN}" --data-dir "${dataDir}" --restore --p2p-listen 127.0.0.1:0 --rpc-listen 127.0.0.1:0; echo "[exit $?]"`;

  test('a first start on a terminal shows the 24 words on the screen, once, and writes them nowhere', async () => {
    const s = terminal();
    const dir = join(root, 'new');
    typeLine(s, `env -u LNNODE_SEED_PASSPHRASE "${process.execPath}" "${MAIN}" --data-dir "${dir}" --p2p-listen 127.0.0.1:0 --rpc-listen 127.0.0.1:0; echo "[exit $?]"`);
    const screen = await until(s, '"msg":"ready"');
    expect(screen).toContain('!!! lnnode created a new wallet seed. Write these 24 words down, in order, and keep them offline. !!!');
    expect(screen).toContain('They are shown only this once and are not stored in words anywhere');
    const words = [...screen.matchAll(/\b(\d{1,2})\. ([a-z]+)/g)].sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => m[2]!);
    expect(words).toHaveLength(24);
    expect(existsSync(join(dir, 'mnemonic.txt'))).toBe(false);
    // The words on the screen are the seed's.
    const nodeId = /"msg":"starting".*?"nodeId":"([0-9a-f]{66})"/.exec(screen)![1];
    expect(nodeId).toBe(hex(deriveIdentity(seedOfMnemonic(words), 'regtest').nodeId));
    tmux('send-keys', '-t', s, 'C-c');
    await until(s, '[exit 0]');
  }, 40_000);

  test('asks for the words and the passphrase, then starts with the node id they give', async () => {
    const words = newMnemonic((n) => crypto.getRandomValues(new Uint8Array(n)));
    const expected = hex(deriveIdentity(seedOfMnemonic(words), 'regtest').nodeId);
    const s = terminal();
    typeLine(s, daemon(join(root, 'a')));
    await until(s, 'type your mnemonic words (on one line, separated by spaces), then Enter:');
    typeLine(s, words.join(' '));
    await until(s, 'BIP39 passphrase (Enter for none');
    typeLine(s, '');
    const screen = await until(s, '"msg":"ready"');
    expect(screen).toContain(`"nodeId":"${expected}"`);
    expect(screen).toContain('"seed":"restored"');
    tmux('send-keys', '-t', s, 'C-c');
    await until(s, '[exit 0]');
  }, 40_000);

  test('a typo is named on the screen; exit 2 and no seed written', async () => {
    const words = newMnemonic((n) => crypto.getRandomValues(new Uint8Array(n)));
    words[4] = 'bitcoinz';
    const s = terminal();
    const dir = join(root, 'b');
    typeLine(s, daemon(dir));
    await until(s, 'type your mnemonic words');
    typeLine(s, words.join(' '));
    // Named at once, before the passphrase is asked.
    const screen = await until(s, /\[exit \d+\]/);
    expect(screen).not.toContain('BIP39 passphrase');
    expect(screen).toContain('lnnode: --restore: word 5 "bitcoinz" is not in the BIP39 English word list');
    expect(screen).toContain('[exit 2]');
    expect(existsSync(join(dir, 'seed'))).toBe(false);
  }, 40_000);
});
