/**
 * LightningNode.start with a restore: the words and a channel backup of the
 * same node start it with the same node id; a backup the words do not open
 * stops the start before the seed is written (the data dir stays new, so a
 * second try with the right words works). The chain source does not answer
 * (nothing listens on port 1): the channel layer and backup exist anyway.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../../src/bolt/bytes.ts';
import { type DaemonConfig } from '../../src/node/config.ts';
import { silentLogger } from '../../src/node/log.ts';
import { newMnemonic } from '../../src/node/mnemonic.ts';
import { LightningNode } from '../../src/node/node.ts';

const root = mkdtempSync(join(tmpdir(), 'lnnode-restore-node-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config = (name: string): DaemonConfig => ({
  network: 'regtest',
  dataDir: join(root, name),
  chain: { kind: 'esplora', url: 'http://127.0.0.1:1' },
  connect: [],
  logLevel: 'error',
});

describe('restore through LightningNode.start', () => {
  test('a backup the words do not open writes no seed; the right words then restore the same node', () => {
    let words: string[] = [];
    const a = LightningNode.start(config('a'), silentLogger, { seed: { onNewMnemonic: (w) => (words = w) } });
    const id = hex(a.nodeId);
    expect(a.seedOrigin).toBe('created');
    const backup = new Uint8Array(readFileSync(join(a.config.dataDir, 'channel.backup')));
    a.stop();

    const wrong = newMnemonic((n) => crypto.getRandomValues(new Uint8Array(n)));
    expect(() => LightningNode.start(config('b'), silentLogger, { seed: { restore: { words: wrong } }, restoreChannelBackup: backup })).toThrow(
      'the channel backup does not open with this seed: it was made by another mnemonic or passphrase (or the file is damaged)',
    );
    expect(existsSync(join(root, 'b', 'seed'))).toBe(false);

    const b = LightningNode.start(config('b'), silentLogger, { seed: { restore: { words } }, restoreChannelBackup: backup });
    expect([b.seedOrigin, hex(b.nodeId)]).toEqual(['restored', id]);
    b.stop();
    // The restored data dir restarts on its seed file, without the words.
    const again = LightningNode.start(config('b'), silentLogger);
    expect([again.seedOrigin, hex(again.nodeId)]).toEqual(['mnemonic', id]);
    again.stop();
  });
});
