/**
 * Lab group "open": the hostile peer opens channels to the node (open_channel,
 * funding_created) with one field wrong, and what the node does before a
 * channel exists: refuse on the temporary_channel_id, store nothing.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { hex } from '../../../../src/bolt/bytes.ts';
import { p2wpkh } from '../../../../src/bolt/bolt3/script.ts';
import { sat } from '../../../../src/bolt/units.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type HostilePeer, textOf } from '../../../lab/hostile-peer.ts';
import { corrupt, highS, hostileSecrets, openChannel, openMessage } from '../../../lab/hostile-peer-channel.ts';
import { waitFor } from '../../../lab/processes.ts';
import { OPEN_DEVIATIONS, OPEN_FUNDING } from '../deviations.ts';
import { type Table } from '../lab-table.ts';

const someScript = (): Uint8Array => p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
const fakeOutpoint = () => ({ txid: hex(crypto.getRandomValues(new Uint8Array(32))), vout: 0 });

export function openGroup(t: Table): void {
  describe('open: the hostile peer opens channels to the node', () => {
    let p: HostilePeer;
    beforeAll(async () => {
      p = await t.peer('opener');
    });

    for (const [id, d] of Object.entries(OPEN_DEVIATIONS)) {
      t.row('open', id, async () => {
        const count = t.victim.channelCount();
        const from = p.mark();
        if (d.outcome === 'undecodable') {
          const m = openMessage(hostileSecrets(), { fundingSat: OPEN_FUNDING, tweak: d.tweak });
          p.send('open_channel', m as unknown as Record<string, unknown>);
          expect(await p.closedByNode()).toBe('connection closed');
          expect(p.since(from)).toEqual([]);
          expect(t.victim.channelCount()).toBe(count);
          await p.reconnect();
          return;
        }
        const { open, answer } = await openChannel(p, { fundingSat: OPEN_FUNDING, tweak: d.tweak });
        if (d.outcome === 'accept') {
          expect(answer.name).toBe('accept_channel');
          p.send('error', { channelId: open.temporaryChannelId, data: new TextEncoder().encode('done') });
          return;
        }
        const err = await t.oneRefusal(p, open.temporaryChannelId, from);
        expect(textOf(err)).toMatch(d.why!);
        expect(p.since(from, (r) => r.name === 'accept_channel')).toEqual([]);
        expect(t.victim.channelCount()).toBe(count);
      });
    }

    for (const [id, bad] of [['funding_created/signature-invalid', corrupt], ['funding_created/signature-high-s', highS]] as const) {
      t.row('open', id, async () => {
        const count = t.victim.channelCount();
        const { opening } = await openChannel(p, { fundingSat: OPEN_FUNDING });
        const from = p.mark();
        const { answer } = await opening!.fundingCreated(fakeOutpoint(), (m) => (m.signature = bad(m.signature as Uint8Array)));
        expect(answer.name).toBe('error');
        const err = await t.oneRefusal(p, opening!.open.temporaryChannelId, from);
        expect(textOf(err)).toContain('invalid commitment signature for commitment 0');
        expect(p.since(from, (r) => r.name === 'funding_signed')).toEqual([]);
        expect(t.victim.channelCount()).toBe(count);
      });
    }

    t.row('open', 'open_channel/reconnect-new-open', async () => {
      const q = await t.peer();
      const { open, answer } = await openChannel(q, { fundingSat: OPEN_FUNDING });
      expect(answer.name).toBe('accept_channel');
      await q.reconnect();
      const from = q.mark();
      q.send('open_channel', open as unknown as Record<string, unknown>);
      const again = await q.next('accept_channel again', (r) => r.name === 'accept_channel' || r.name === 'error', from);
      expect(again.name).toBe('accept_channel');
      expect(hex(again.msg.temporaryChannelId as Uint8Array)).toBe(hex(open.temporaryChannelId));
      await q.barrier();
      expect(q.since(from, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
    });

    for (const id of ['open_channel/reconnect-discards-previous', 'reestablish/fundee-forgets-unfunded-open'] as const) {
      t.row('open', id, async () => {
        const q = await t.peer();
        const count = t.victim.channelCount();
        const first = await openChannel(q, { fundingSat: OPEN_FUNDING });
        expect(first.answer.name).toBe('accept_channel');
        await q.reconnect();
        if (id === 'open_channel/reconnect-discards-previous') expect((await openChannel(q, { fundingSat: OPEN_FUNDING })).answer.name).toBe('accept_channel');
        const from = q.mark();
        q.send('funding_created', first.opening!.fundingCreatedMessage(fakeOutpoint()).msg);
        const w = await t.oneRefusal(q, first.open.temporaryChannelId, from, 'warning');
        expect(textOf(w)).toBe('funding_created for no open we accepted');
        expect(q.since(from, (r) => r.name === 'funding_signed')).toEqual([]);
        expect(t.victim.channelCount()).toBe(count);
      });
    }

    t.row('open', 'shutdown/before-funding_created', async () => {
      const q = await t.peer();
      const count = t.victim.channelCount();
      const { opening } = await openChannel(q, { fundingSat: OPEN_FUNDING });
      const temp = opening!.open.temporaryChannelId;
      const from = q.mark();
      q.send('shutdown', { channelId: temp, scriptpubkey: someScript() });
      await t.oneRefusal(q, temp, from, 'error');
      // The open is forgotten: its funding_created is for no open at all.
      const after = q.mark();
      q.send('funding_created', opening!.fundingCreatedMessage(fakeOutpoint()).msg);
      expect(textOf(await t.oneRefusal(q, temp, after, 'warning'))).toBe('funding_created for no open we accepted');
      expect(t.victim.channelCount()).toBe(count);
    });

    // A channel the node stored whose funding never comes: first shutdown before channel_ready, then the 30 blocks it waits.
    let unfunded: string;
    let unfundedPeer: HostilePeer;
    t.row('open', 'shutdown/before-channel_ready', async () => {
      unfundedPeer = await t.peer();
      const { opening } = await openChannel(unfundedPeer, { fundingSat: sat(200_000) });
      const { answer, channel } = await opening!.fundingCreated(fakeOutpoint());
      expect(answer.name).toBe('funding_signed');
      unfunded = channel!.id;
      expect(t.victim.phase(unfunded)).toBe('awaiting_lock_in');
      const from = unfundedPeer.mark();
      unfundedPeer.send('shutdown', { channelId: channel!.channelId, scriptpubkey: someScript() });
      expect(textOf(await t.oneRefusal(unfundedPeer, unfunded, from, 'warning'))).toBe('shutdown in phase awaiting_lock_in');
      expect(unfundedPeer.since(from, (r) => r.name === 'shutdown')).toEqual([]);
      expect(t.victim.phase(unfunded)).toBe('awaiting_lock_in');
      expect(t.victim.channel(unfunded)!.rec.shutdown).toBeUndefined();
    });

    t.row('open', 'channel_ready/fundee-forgets-unfunded', async () => {
      await t.mine(29);
      expect(t.victim.phase(unfunded)).toBe('awaiting_lock_in');
      await t.mine(1);
      const c = await waitFor('the node forgets the unfunded channel', () => (t.victim.phase(unfunded) === 'closed' ? t.victim.channel(unfunded) : undefined));
      expect(c.rec.closeReason).toBe('funding not confirmed within 30 blocks');
      expect(unfundedPeer.about(unfunded).filter((r) => r.name === 'channel_ready')).toEqual([]);
    });
  });
}
