/**
 * A channel closed and resolved before the node started is still listed as
 * closed (listchannels --include-closed, lnd ClosedChannels): closed
 * channels are not run after a restart, but they are not forgotten either.
 * A crash-point test found it: a daemon killed right after storing a close
 * as resolved came back listing nothing for that channel.
 */
import { afterAll, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../../src/bolt/bytes.ts';
import { msat, sat } from '../../src/bolt/units.ts';
import { type ChannelRecord } from '../../src/node/channels/manager.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { silentLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { Store } from '../../src/node/store.ts';
import { Pair } from '../bolt02/channel-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'lnnode-closed-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a channel closed before the start is listed as closed, with its close, and is not run', () => {
  const pair = Pair.open(sat(400_000), msat(50_000_000n));
  const c = pair.a.state;
  const rec: ChannelRecord = {
    commitments: c,
    minimumDepth: 3,
    readySent: true,
    theirReady: true,
    localAlias: 7n,
    closeReason: 'mutual close requested by us',
    close: { kind: 'mutual', txid: 'ab'.repeat(32), spends: {}, settled: [], doneAt: 120, finalAt: 220 },
  };
  const store = Store.open(join(dir, 'lnnode.sqlite'));
  new ChannelStore(store).insert({ channelId: c.channelId, peer: new Uint8Array(33).fill(2), keyIndex: 0, phase: 'closed', state: rec });
  store.close();
  const node = LightningNode.start({ network: 'regtest', dataDir: dir, chain: { kind: 'esplora', url: 'http://127.0.0.1:9' }, connect: [], logLevel: 'error' }, silentLogger);
  try {
    const listed = node.channels!.list();
    expect(listed.map((x) => [x.channelId, x.phase, x.closeKind, x.closingTxid])).toEqual([[hex(c.channelId), 'closed', 'mutual', 'ab'.repeat(32)]]);
    expect(node.channels!.get(c.channelId)?.phase).toBe('closed');
    expect(listed[0]!.localBalanceMsat).toBe(c.localCommit.spec.toLocalMsat);
  } finally {
    node.stop();
  }
});
