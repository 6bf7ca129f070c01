/**
 * ExportChannelBackup (lnnode.v1) and `lnnode-cli exportchanbackup <file>`:
 * the bytes are the node's channel.backup, opened with the node's own key;
 * a node without a chain source (so without channels) says so
 * (FAILED_PRECONDITION). A node with a chain source that does not answer
 * still has its channel manager and backup, which is all this needs.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { hex } from '../../src/bolt/bytes.ts';
import { backupKey, decryptBackup } from '../../src/node/backup/format.ts';
import { main } from '../../src/cli/main.ts';
import { type NodeWithApi, startNodeWithApi } from './node-with-api.ts';

const nodes: NodeWithApi[] = [];
afterAll(async () => {
  for (const n of nodes) await n.stop();
});

describe('ExportChannelBackup', () => {
  test('the node\'s channel.backup, opened with its own key; lnnode-cli writes it to a file (0600)', async () => {
    // Nothing listens on port 1: the chain source stays unavailable, the channel layer exists.
    const n = await startNodeWithApi({ chain: { kind: 'esplora', url: 'http://127.0.0.1:1' } });
    nodes.push(n);
    const r = await n.client.exportChannelBackup({});
    expect(r.path).toBe(join(n.dataDir, 'channel.backup'));
    expect(hex(r.backup)).toBe(hex(readFileSync(r.path)));
    const b = decryptBackup(backupKey(n.node.identity.root, 'regtest'), r.backup);
    expect([b.nodeId, b.network, b.channels.length, r.numChannels]).toEqual([hex(n.node.nodeId), 'regtest', 0, 0]);

    const out: string[] = [];
    const err: string[] = [];
    const file = join(n.dataDir, 'exported.backup');
    const code = await main(['--data-dir', n.dataDir, '--rpc', `127.0.0.1:${n.api.port}`, 'exportchanbackup', file], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      env: {},
      now: () => 0,
    });
    expect([code, err]).toEqual([0, []]);
    expect(out).toEqual([`wrote ${r.backup.length} bytes (0 channels) to ${file}`]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(decryptBackup(backupKey(n.node.identity.root, 'regtest'), new Uint8Array(readFileSync(file))).nodeId).toBe(hex(n.node.nodeId));
  });

  test('without a chain source: FAILED_PRECONDITION, saying why', async () => {
    const n = await startNodeWithApi();
    nodes.push(n);
    const e = await n.client.exportChannelBackup({}).then(() => undefined, (x: unknown) => ConnectError.from(x));
    expect(e?.code).toBe(Code.FailedPrecondition);
    expect(e?.rawMessage).toBe('no channel backup: the node runs without a chain source, so it has no channels');
  });
});
