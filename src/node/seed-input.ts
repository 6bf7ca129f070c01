/**
 * The daemon's side of the mnemonic: the notice that shows a new one (on
 * the terminal, once, never in the JSON log; in a 0600 file of the data dir
 * when stderr is not a terminal), and reading the words back for
 * --restore from a file, LNNODE_MNEMONIC, or stdin (with a prompt on a
 * terminal): never from argv, where `ps` and shell history would keep them.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DaemonConfig } from './config.ts';
import { type SeedSetup } from './identity.ts';
import { checkMnemonic, MnemonicError } from './mnemonic.ts';
import { type StartOptions } from './node.ts';
import { readBackupFile } from './backup/file.ts';

/** What the operator sees once when a node is created: the words, numbered, and why they matter. */
export function mnemonicNotice(words: readonly string[], withPassphrase: boolean, inFile = false): string {
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += 4) {
    rows.push('   ' + words.slice(i, i + 4).map((w, j) => `${String(i + j + 1).padStart(2)}. ${w.padEnd(10)}`).join(' ').trimEnd());
  }
  return [
    '',
    '!!! lnnode created a new wallet seed. Write these 24 words down, in order, and keep them offline. !!!',
    '',
    ...rows,
    '',
    'They are the only way to get this node\'s keys and on-chain funds back; with <data-dir>/channel.backup',
    'they also get the funds of its channels back (lnnode --restore, see the README, "Backups and recovery").',
    withPassphrase ? 'The passphrase given in LNNODE_SEED_PASSPHRASE is needed with them: without it the words restore another wallet.' : 'No passphrase was set (LNNODE_SEED_PASSPHRASE): the words alone restore everything.',
    inFile
      ? 'This file is their only copy in words: copy them to paper, then delete it. Anyone who has them can take the funds.'
      : 'They are shown only this once and are not stored in words anywhere: anyone who has them can take the funds.',
    '',
  ].join('\n');
}

/** Where the words of a new mnemonic go when stderr is not a terminal (a service manager would keep them in its log). */
export const MNEMONIC_FILE = 'mnemonic.txt';

/**
 * Shows a new mnemonic once: on a terminal, the notice itself; otherwise
 * (stderr captured by a service manager or a file) the words go to
 * <data-dir>/mnemonic.txt (0600, no more exposed than the seed file beside
 * it) and stderr only says where, so no log ever holds them.
 */
export function showNewMnemonic(words: readonly string[], dataDir: string, o: { tty: boolean; withPassphrase: boolean; write: (text: string) => void }): void {
  if (o.tty) return o.write(mnemonicNotice(words, o.withPassphrase));
  const path = join(dataDir, MNEMONIC_FILE);
  // Called only while the data dir has no seed: a file left by a start that never wrote one is replaced.
  writeFileSync(path, `${mnemonicNotice(words, o.withPassphrase, true)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  o.write(`lnnode: created a new wallet seed; its 24 words are in ${path} (stderr is not a terminal, so they are not printed): write them down, then delete that file (the node does not need it)`);
}

/** Lines of stdin, one at a time (after a prompt on stderr when it is a terminal). */
function stdinLines(): { next(prompt: string): Promise<string | undefined> } {
  const it = console[Symbol.asyncIterator]();
  return {
    async next(prompt) {
      if (process.stdin.isTTY) process.stderr.write(prompt);
      const r = await it.next();
      return r.done ? undefined : (r.value as string);
    },
  };
}

/**
 * The start options of a --restore: the checked words and passphrase, and
 * the channel backup's bytes if one was named. Throws MnemonicError (a bad
 * word named) or BackupError (an unreadable file).
 */
export async function restoreOptions(config: DaemonConfig, env: Record<string, string | undefined>, onNewMnemonic: SeedSetup['onNewMnemonic']): Promise<StartOptions> {
  const passphraseEnv = env.LNNODE_SEED_PASSPHRASE;
  if (!config.restore) return { seed: { ...(passphraseEnv ? { passphrase: passphraseEnv } : {}), onNewMnemonic } };
  let words: string[];
  let passphrase = passphraseEnv;
  if (config.restore.mnemonicFile) {
    let text: string;
    try {
      text = readFileSync(config.restore.mnemonicFile, 'utf8');
    } catch (e) {
      throw new MnemonicError(`--restore-mnemonic-file: cannot read ${config.restore.mnemonicFile}: ${(e as Error).message}`);
    }
    words = checkMnemonic(text);
  } else if (env.LNNODE_MNEMONIC) {
    words = checkMnemonic(env.LNNODE_MNEMONIC);
  } else {
    const lines = stdinLines();
    const text = (await lines.next('lnnode --restore: type your mnemonic words (on one line, separated by spaces), then Enter:\n> ')) ?? '';
    if (!text.trim()) throw new MnemonicError('--restore needs your mnemonic: type it when asked, pipe it on stdin, or give --restore-mnemonic-file <file> or LNNODE_MNEMONIC');
    // Checked before the passphrase is asked: a typo is named at once.
    words = checkMnemonic(text);
    if (passphrase === undefined && process.stdin.isTTY) passphrase = (await lines.next('BIP39 passphrase (Enter for none; it is shown as you type):\n> ')) ?? '';
  }
  const backup = config.restore.channelBackupFile ? readBackupFile(config.restore.channelBackupFile) : undefined;
  return { seed: { restore: { words, ...(passphrase ? { passphrase } : {}) } }, ...(backup ? { restoreChannelBackup: backup } : {}) };
}
