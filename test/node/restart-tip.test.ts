/**
 * Issue 16 item 7 / issue 13: right after a start, before the chain source
 * has answered, the node checks an incoming HTLC's expiry against the tip it
 * stored before it stopped, never against height 0 (HTLCs are resolved on
 * reestablish, which can come before the first tip).
 */
import { afterAll, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { Store } from '../../src/node/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'lnnode-restart-tip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('before the chain source answers, the known height is the stored tip', () => {
  const store = Store.open(join(dir, 'lnnode.sqlite'));
  const tip = { height: 812_345, hash: '11'.repeat(32) };
  store.db.query('INSERT INTO meta (key, value) VALUES (?, ?)').run('chain_tip', new TextEncoder().encode(JSON.stringify(tip)));
  store.close();
  // A chain source nobody answers at: the node keeps retrying it in the background.
  const node = LightningNode.start({ network: 'regtest', dataDir: dir, chain: { kind: 'esplora', url: 'http://127.0.0.1:9' }, connect: [], logLevel: 'error' }, silentLogger);
  try {
    expect([node.tip, node.knownHeight]).toEqual([undefined, 812_345]);
  } finally {
    node.stop();
  }
});
