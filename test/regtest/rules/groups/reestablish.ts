/**
 * Lab group "reestablish": the hostile peer disconnects and reconnects
 * (BOLT 2 "Message Retransmission") and answers the node's
 * channel_reestablish honestly or with one field wrong. Each channel has a
 * peer of its own (a reconnection reestablishes every channel of the peer),
 * except the peer of transmit-each, which has three.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../../../src/bolt/bytes.ts';
import { type ReestablishFields } from '../../../../src/bolt/bolt2/channel/commitments.ts';
import { msat } from '../../../../src/bolt/units.ts';
import { channelOf, type Received, textOf } from '../../../lab/hostile-peer.ts';
import { type HostileChannel, hostileInvoice } from '../../../lab/hostile-peer-channel.ts';
import { waitFor } from '../../../lab/processes.ts';
import { type Table } from '../lab-table.ts';

export function reestablishGroup(t: Table): void {
  describe('reestablish: reconnections', () => {
    /** Normal channels, one peer each. */
    let pool: HostileChannel[];
    /** Three normal channels of one peer. */
    let three: HostileChannel[];
    const take = (): HostileChannel => pool.shift() ?? (() => { throw new Error('the reestablish group ran out of channels'); })();
    const row = (id: string, f: () => Promise<void>, ms = 60_000): void => t.row('reestablish', id, f, ms);

    beforeAll(async () => {
      pool = await t.fleet(11, { perPeer: 1 });
      three = await t.fleet(3, { perPeer: 3 });
    }, 240_000);

    /** Reconnects `ch`'s peer; returns the node's channel_reestablish for `ch` (our cursor moved past it; our unsigned updates forgotten). */
    async function reconnect(ch: HostileChannel): Promise<Received> {
      const from = ch.peer.mark();
      await ch.peer.reconnect();
      const r = await ch.peer.next('channel_reestablish from the node', (x) => x.name === 'channel_reestablish' && channelOf(x) === ch.id, from, () => ch.peer.closedReason);
      ch.cursor = r.seq + 1;
      ch.forgetUnsigned();
      return r;
    }
    /** Our channel_reestablish: honest, but for the fields in `o`. */
    const reestablish = (ch: HostileChannel, o: Partial<ReestablishFields> = {}): void =>
      ch.peer.send('channel_reestablish', { channelId: ch.channelId, ...ch.reestablishFields(), ...o });
    /** No error or warning since `from`, after everything sent was handled. */
    const quietSince = async (ch: HostileChannel, from: number): Promise<void> => {
      await ch.peer.barrier();
      expect(ch.peer.since(from, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
    };
    /** The node pays the channel's peer and we settle: the channel works on this connection. */
    async function nodePaysUs(ch: HostileChannel, amountMsat: bigint): Promise<void> {
      const inv = hostileInvoice(ch.peer, msat(amountMsat));
      const paid = t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 });
      const n = ch.incoming.length;
      await ch.run('the node pays us', () => ch.incoming.length === n + 1 && ch.quiet, { onIncoming: () => ({ fulfill: inv.preimage }) });
      expect((await paid).status).toBe(1);
    }

    // ---------------------------------------------------------------- remembering channels

    row('reestablish/funder-remembers', async () => {
      const p = await t.peer();
      const ch = await t.nodeOpens(p, 300_000n);
      const r = await reconnect(ch);
      expect(r.msg).toMatchObject({ nextCommitmentNumber: 1n, nextRevocationNumber: 0n });
      const from = p.mark();
      reestablish(ch);
      await nodePaysUs(ch, 5_000_000n);
      await quietSince(ch, from);
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: 295_000_000n, remoteMsat: 5_000_000n });
    });

    row('reestablish/fundee-remembers', async () => {
      const [ch] = await t.fleet(1, { ready: false });
      expect(t.victim.phase(ch!.id)).toBe('awaiting_lock_in');
      const r = await reconnect(ch!);
      expect(r.msg).toMatchObject({ nextCommitmentNumber: 1n, nextRevocationNumber: 0n });
      const from = ch!.peer.mark();
      reestablish(ch!);
      await quietSince(ch!, from);
      expect(t.victim.phase(ch!.id)).toBe('awaiting_lock_in');
    });

    row('reestablish/transmit-each', async () => {
      const p = three[0]!.peer;
      const from = p.mark();
      await p.reconnect();
      for (const ch of three) await p.next('channel_reestablish', (x) => x.name === 'channel_reestablish' && channelOf(x) === ch.id, from);
      for (const ch of three) {
        ch.cursor = p.mark();
        reestablish(ch);
      }
      await quietSince(three[0]!, from);
      const got = p.since(from, (x) => x.name === 'channel_reestablish').map((x) => channelOf(x)).sort();
      expect(got).toEqual(three.map((c) => c.id).sort());
    });

    // ---------------------------------------------------------------- one channel carried over connections

    let used: HostileChannel;
    row('reestablish/continuation', async () => {
      used = take();
      await t.payNode(used, 2_000_000n);
      await reconnect(used);
      const from = used.peer.mark();
      reestablish(used);
      await t.payNode(used, 3_000_000n);
      await quietSince(used, from);
      expect(t.victim.balances(used.id)).toMatchObject({ localMsat: 105_000_000n, htlcs: 0 });
    });

    row('reestablish/no-channel_ready', async () => {
      const from = used.peer.mark();
      await reconnect(used);
      reestablish(used);
      await quietSince(used, from);
      expect(used.peer.since(from, (r) => r.name === 'channel_ready')).toEqual([]);
    });

    row('reestablish/ignore-channel_ready', async () => {
      const before = t.victim.channel(used.id)!.rec.commitments;
      const from = used.peer.mark();
      used.sendReady();
      await used.peer.barrier();
      expect(used.peer.about(used.id, from)).toEqual([]);
      const after = t.victim.channel(used.id)!;
      expect(after.phase).toBe('normal');
      expect(hex(after.rec.commitments.remoteNextPoint!)).toBe(hex(before.remoteNextPoint!));
      expect(after.rec.commitments.remoteCommit.index).toBe(before.remoteCommit.index);
      // And it still pays.
      await t.payNode(used, 1_000_000n);
    });

    row('reestablish/retransmit-channel_ready', async () => {
      const ch = take();
      await reconnect(ch);
      const from = ch.peer.mark();
      reestablish(ch);
      const ready = await ch.peer.next('channel_ready again', (r) => r.name === 'channel_ready' && channelOf(r) === ch.id, from);
      expect(ready.msg.secondPerCommitmentPoint).toEqual(ch.state.remoteNextPoint);
      await quietSince(ch, from);
    });

    row('reestablish/ignore-current-point', async () => {
      const ch = take();
      await t.payNode(ch, 1_000_000n);
      await reconnect(ch);
      const from = ch.peer.mark();
      reestablish(ch, { myCurrentPerCommitmentPoint: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true) });
      await t.payNode(ch, 1_000_000n);
      await quietSince(ch, from);
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: 102_000_000n });
    });

    // ---------------------------------------------------------------- uncommitted updates

    let unsigned: HostileChannel;
    let unsignedHtlc: Awaited<ReturnType<Table['htlcToNode']>>;
    row('reestablish/reverse-uncommitted', async () => {
      unsigned = take();
      unsignedHtlc = await t.htlcToNode(2_000_000n);
      unsigned.addHtlc(unsignedHtlc);
      await unsigned.peer.barrier();
      expect(t.victim.channel(unsigned.id)!.rec.commitments.remoteChanges.proposed).toHaveLength(1);
      await reconnect(unsigned);
      const c = await waitFor('the node forgets the add', () => {
        const x = t.victim.channel(unsigned.id)!.rec.commitments;
        return x.remoteChanges.proposed.length === 0 ? x : undefined;
      });
      expect(c.remoteNextHtlcId).toBe(0n);
      expect(c.localCommit.spec.htlcs).toEqual([]);
      expect(unsigned.state.localNextHtlcId).toBe(0n);
    });

    row('update_add_htlc/repeated-id-after-reconnect', async () => {
      const ch = unsigned;
      const from = ch.peer.mark();
      reestablish(ch);
      // The same add, id 0 again, now signed.
      const again = ch.addHtlc(unsignedHtlc);
      expect(again.id).toBe(0n);
      ch.commit();
      await ch.run('the HTLC settled', (c) => ch.quiet && c.localCommit.index >= 2n);
      await quietSince(ch, from);
      const settled = await t.victim.api.waitInvoiceSettled({ paymentHash: unsignedHtlc.paymentHash, timeoutSeconds: 10 });
      expect(settled.amountReceivedMsat).toBe(2_000_000n);
    });

    // ---------------------------------------------------------------- lost messages sent again

    let lost: HostileChannel;
    let lostRevoke: Received;
    let lostCommit: Received;
    row('reestablish/wait-for-peer', async () => {
      lost = take();
      const h = await t.htlcToNode(2_000_000n);
      lost.addHtlc(h);
      lost.commit();
      // The node revokes and signs; we act as if both were lost.
      lostRevoke = await lost.nextMessage('revoke_and_ack', (r) => r.name === 'revoke_and_ack');
      lostCommit = await lost.nextMessage('commitment_signed', (r) => r.name === 'commitment_signed');
      const from = lost.peer.mark();
      await reconnect(lost);
      // Nothing of ours for the channel yet: the node sends nothing but its channel_reestablish.
      await lost.peer.barrier();
      await Bun.sleep(300);
      expect(lost.peer.about(lost.id, from).map((r) => r.name)).toEqual(['channel_reestablish']);
    });

    let resent: Received[];
    row('reestablish/resend-revoke', async () => {
      const from = lost.peer.mark();
      reestablish(lost);
      await lost.peer.next('commitment_signed again', (r) => r.name === 'commitment_signed' && channelOf(r) === lost.id, from);
      resent = lost.peer.about(lost.id, from);
      const rev = resent.find((r) => r.name === 'revoke_and_ack')!;
      expect(hex(rev.msg.perCommitmentSecret as Uint8Array)).toBe(hex(lostRevoke.msg.perCommitmentSecret as Uint8Array));
      expect(hex(rev.msg.nextPerCommitmentPoint as Uint8Array)).toBe(hex(lostRevoke.msg.nextPerCommitmentPoint as Uint8Array));
    });

    row('reestablish/revoke-commit-order', async () => {
      expect(resent.map((r) => r.name)).toEqual(['revoke_and_ack', 'commitment_signed']);
      expect(hex(resent[1]!.msg.signature as Uint8Array)).toBe(hex(lostCommit.msg.signature as Uint8Array));
      // Applied now, they settle the HTLC as if nothing had been lost.
      await lost.run('the HTLC settled', (c) => lost.quiet && c.localCommit.index >= 2n);
      expect(t.victim.balances(lost.id)).toMatchObject({ localMsat: 102_000_000n, htlcs: 0 });
    });

    row('reestablish/reuse-commitment-number', async () => {
      const ch = take();
      const inv = hostileInvoice(ch.peer, msat(3_000_000n));
      const paid = t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 30 });
      // The node's add and commitment_signed, neither applied: lost.
      const add = await ch.nextMessage('update_add_htlc', (r) => r.name === 'update_add_htlc');
      const commit = await ch.nextMessage('commitment_signed', (r) => r.name === 'commitment_signed');
      await reconnect(ch);
      const from = ch.peer.mark();
      reestablish(ch);
      await ch.peer.next('commitment_signed again', (r) => r.name === 'commitment_signed' && channelOf(r) === ch.id, from);
      const again = ch.peer.about(ch.id, from);
      // Both sides still expect commitment 1 next, so channel_ready comes first (row retransmit-channel_ready), then the lost two, as they were.
      expect(again.map((r) => r.name)).toEqual(['channel_ready', 'update_add_htlc', 'commitment_signed']);
      expect(again[1]!.msg).toEqual(add.msg);
      expect(hex(again[2]!.msg.signature as Uint8Array)).toBe(hex(commit.msg.signature as Uint8Array));
      await ch.run('the node pays us', () => ch.incoming.length === 1 && ch.quiet, { onIncoming: () => ({ fulfill: inv.preimage }) });
      expect((await paid).status).toBe(1);
    });

    // ---------------------------------------------------------------- reestablish fields that fail the channel

    let failedFirst: HostileChannel;
    const failing: [string, (ch: HostileChannel) => Partial<ReestablishFields>, RegExp, boolean][] = [
      ['reestablish/next_commitment-zero', () => ({ nextCommitmentNumber: 0n }), /next_commitment_number 0: the peer lost its channel state and asks us to close/, true],
      ['reestablish/next_commitment-ahead', (ch) => ({ nextCommitmentNumber: ch.reestablishFields().nextCommitmentNumber + 5n }), /ahead of the/, true],
      ['reestablish/next_revocation-behind', (ch) => ({ nextRevocationNumber: ch.reestablishFields().nextRevocationNumber - 2n }), /next_revocation_number 0 but our commitment is 2/, true],
      ['reestablish/next_revocation-without-revoke', () => ({ nextRevocationNumber: 1n, yourLastPerCommitmentSecret: new Uint8Array(32) }), /next_revocation_number 1 is ahead of our commitment 0/, false],
      ['reestablish/wrong-last-secret', () => ({ yourLastPerCommitmentSecret: new Uint8Array(32).fill(9) }), /your_last_per_commitment_secret is not the last secret we sent/, true],
    ];
    for (const [id, fields, why, paid] of failing) {
      row(id, async () => {
        const ch = take();
        failedFirst ??= ch;
        if (paid) await t.payNode(ch, 1_000_000n);
        await reconnect(ch);
        const before = t.victim.balances(ch.id);
        const from = ch.peer.mark();
        reestablish(ch, fields(ch));
        const err = await t.expectFailed(ch, from, before);
        expect(textOf(err)).toMatch(why);
        expect(t.victim.channel(ch.id)!.rec.close!.txid).toBe(ch.state.remoteCommit.txid);
      });
    }

    row('reestablish/error-state', async () => {
      const ch = failedFirst;
      const reason = t.victim.channel(ch.id)!.rec.closeReason!;
      const from = ch.peer.mark();
      await ch.peer.reconnect();
      await ch.peer.barrier();
      // A failed channel is not reestablished by the node...
      expect(ch.peer.about(ch.id, from)).toEqual([]);
      // ...and answers ours with its error again, then ignores the channel's messages.
      const at = ch.peer.mark();
      reestablish(ch);
      expect(textOf(await t.oneRefusal(ch.peer, ch.id, at))).toBe(reason);
      const after = ch.peer.mark();
      const h = await t.htlcToNode(1_000_000n);
      ch.addHtlc(h);
      ch.commit();
      reestablish(ch);
      await ch.peer.barrier();
      expect(ch.peer.about(ch.id, after)).toEqual([]);
      expect(t.victim.channel(ch.id)!.rec.commitments.remoteChanges.proposed).toEqual([]);
    });
  });
}
