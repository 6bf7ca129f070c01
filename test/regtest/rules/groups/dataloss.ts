/**
 * Lab group "dataloss": the node restarts from an older copy of its data
 * dir, and the hostile peer's honest channel_reestablish proves that it
 * lost state (next_revocation_number ahead, with the node's own
 * per-commitment secret for it). The node must ask the peer to fail the
 * channel (an error), never broadcast its outdated commitment, refuse a
 * force close, and take its main output once the peer's commitment is on
 * chain. Runs before any other group of its file: putting back an old
 * data dir takes every channel back with it.
 */
import { describe, expect } from 'bun:test';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../../../../src/bolt/bytes.ts';
import { type Received, textOf } from '../../../lab/hostile-peer.ts';
import { type HostileChannel } from '../../../lab/hostile-peer-channel.ts';
import { broadcast, inMempool, spenderOf } from '../../../lab/hostile-peer-chain.ts';
import { waitFor } from '../../../lab/processes.ts';
import { type Table } from '../lab-table.ts';

const DB_FILES = ['lnnode.sqlite', 'lnnode.sqlite-wal', 'lnnode.sqlite-shm'];

/** Copies the daemon's database files (those that exist) from one directory to another. */
function copyDb(from: string, to: string): void {
  for (const f of DB_FILES) {
    rmSync(join(to, f), { force: true });
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  }
}

/** After a restart: the peer reconnects; returns the node's channel_reestablish (the peer has not answered yet). */
async function reconnected(ch: HostileChannel): Promise<Received> {
  const from = ch.peer.mark();
  await ch.peer.reconnect();
  const r = await ch.peer.next('channel_reestablish from the node', (x) => x.name === 'channel_reestablish' && hex(x.msg.channelId as Uint8Array) === ch.id, from);
  ch.cursor = r.seq + 1;
  return r;
}

export function dataLossGroup(t: Table): void {
  describe('dataloss: the node restarts from an older copy of its database', () => {
    let ch: HostileChannel;
    let err: Received;
    let fromReestablish: number;

    t.row('dataloss', 'reestablish/data-loss-no-broadcast', async () => {
      ch = (await t.fleet(1))[0]!;
      await t.payNode(ch, 5_000_000n);
      const backup = mkdtempSync(join(tmpdir(), 'lnnode-dataloss-'));
      // A clean copy: the daemon is down while it is taken.
      await t.victim.restart(() => copyDb(t.victim.proc.dataDir, backup));
      await reconnected(ch);
      ch.peer.send('channel_reestablish', { channelId: ch.channelId, ...ch.reestablishFields() });
      await t.payNode(ch, 3_000_000n);
      const latest = t.victim.balances(ch.id);
      // The node comes back with the copy: two commitments behind what the peer holds revoked.
      await t.victim.restart(() => copyDb(backup, t.victim.proc.dataDir));
      rmSync(backup, { recursive: true, force: true });
      expect(t.victim.balances(ch.id).index).toBe(latest.index - 2n);
      const theirs = await reconnected(ch);
      expect(theirs.msg.nextRevocationNumber).toBeLessThan(ch.state.remoteCommit.index);
      fromReestablish = ch.peer.mark();
      ch.peer.send('channel_reestablish', { channelId: ch.channelId, ...ch.reestablishFields() });
      err = await t.oneRefusal(ch.peer, ch.id, fromReestablish);
      const stored = await waitFor('the channel stored with dataLoss', () => {
        const c = t.victim.channel(ch.id);
        return c?.rec.dataLoss ? c : undefined;
      });
      expect(stored.phase).toBe('closing');
      // Nothing spends the funding output: the node's (outdated) commitment was not broadcast.
      await t.mine(1);
      expect(await spenderOf(t.lab, ch.state.fundingTxid, ch.state.fundingVout)).toBeUndefined();
      expect(await inMempool(t.lab, stored.rec.commitments.localCommit.txid)).toBe(false);
      // A force close is refused too.
      const forced = await t.victim.api.closeChannel({ channelId: ch.channelId, force: true }).then(() => undefined, (e: Error) => e);
      expect(forced?.message).toMatch(/lost channel state/);
      expect(await spenderOf(t.lab, ch.state.fundingTxid, ch.state.fundingVout)).toBeUndefined();
    }, 120_000);

    t.row('dataloss', 'reestablish/data-loss-error', async () => {
      expect(err.name).toBe('error');
      expect(textOf(err)).toMatch(/next_revocation_number/);
      expect(ch.peer.since(fromReestablish, (r) => r.name === 'error').map((r) => hex(r.msg.channelId as Uint8Array))).toEqual([ch.id]);
    });

    t.row('dataloss', 'fail/outdated-no-broadcast', async () => {
      // Still nothing from the node on chain; the peer closes with its latest commitment and the node takes its main output.
      expect(await spenderOf(t.lab, ch.state.fundingTxid, ch.state.fundingVout)).toBeUndefined();
      const before = await t.victim.wallet();
      const commit = ch.commitmentTx();
      expect((await broadcast(t.lab, commit.raw)).refused).toBeUndefined();
      await t.mine(1);
      const toNode = ch.state.localCommit.spec.toRemoteMsat / 1000n;
      const stored = await waitFor('the node sweeps its output of the peer\'s commitment', () => {
        const c = t.victim.channel(ch.id);
        return c?.rec.close && Object.keys(c.rec.close.spends).length ? c : undefined;
      });
      expect(stored.rec.close!.txid).toBe(commit.txid);
      const sweep = Object.values(stored.rec.close!.spends)[0]!.txid;
      await waitFor('the sweep in the mempool', () => inMempool(t.lab, sweep));
      await t.mine(1);
      const fee = await t.lab.fee(sweep);
      await waitFor('the sweep confirmed in the wallet', async () => (await t.victim.wallet()).confirmed !== before.confirmed);
      expect((await t.victim.wallet()).confirmed - before.confirmed).toBe(toNode - fee);
      // The node never broadcast a commitment of its own for this channel.
      expect(t.victim.logs((r) => r.msg === 'force closing: broadcasting our commitment' && r.channelId === ch.id)).toEqual([]);
    }, 60_000);
  });
}
