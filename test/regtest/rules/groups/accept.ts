/**
 * Lab group "accept": the node opens channels to the hostile peer (through
 * its API), which answers accept_channel / funding_signed with one field
 * wrong: the node must refuse, broadcast no funding and release its coins.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { hex } from '../../../../src/bolt/bytes.ts';
import { channelIdFrom } from '../../../../src/bolt/bolt2/channel-id.ts';
import { type OpenChannelMessage } from '../../../../src/bolt/bolt2/channel/open.ts';
import { p2wpkh } from '../../../../src/bolt/bolt3/script.ts';
import { type FeeratePerKw } from '../../../../src/bolt/units.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type HostilePeer, type Received, textOf } from '../../../lab/hostile-peer.ts';
import { acceptChannel, corrupt, fundingSigned, highS } from '../../../lab/hostile-peer-channel.ts';
import { inMempool } from '../../../lab/hostile-peer-chain.ts';
import { waitFor } from '../../../lab/processes.ts';
import { ACCEPT_DEVIATIONS } from '../deviations.ts';
import { type Table } from '../lab-table.ts';

export function acceptGroup(t: Table): void {
  describe('accept: the node opens channels to the hostile peer', () => {
    let p: HostilePeer;
    beforeAll(async () => {
      p = await t.peer('acceptor');
    });

    /** Starts an open from the node's API; returns the call (settled, never rejected) and the node's open_channel. */
    async function nodeOpen(): Promise<{ call: Promise<unknown>; open: OpenChannelMessage; from: number }> {
      const from = p.mark();
      const call = t.victim.api.openChannel({ peerPubkey: p.nodeId, localFundingAmountSat: 300_000n, fundingFeeRateSatPerVbyte: 2n }).then((r) => r, (e: Error) => e);
      const open = (await p.next('open_channel from the node', (r) => r.name === 'open_channel', from)).msg as unknown as OpenChannelMessage;
      return { call, open, from };
    }
    const walletBack = async (before: { confirmed: bigint; reserved: bigint }): Promise<void> => {
      await waitFor('the node releases its coins', async () => {
        const w = await t.victim.wallet();
        return w.confirmed === before.confirmed && w.reserved === before.reserved;
      });
    };

    for (const [id, d] of Object.entries(ACCEPT_DEVIATIONS)) {
      t.row('accept', id, async () => {
        const before = await t.victim.wallet();
        const count = t.victim.channelCount();
        const { call, open, from } = await nodeOpen();
        acceptChannel(p, open, d.tweak);
        if (d.outcome === 'undecodable') {
          expect(await p.closedByNode()).toBe('connection closed');
          await p.reconnect();
        } else {
          const err = await t.oneRefusal(p, open.temporaryChannelId, from);
          expect(textOf(err)).toMatch(d.why!);
        }
        expect(await call).toBeInstanceOf(Error);
        expect(p.since(from, (r) => r.name === 'funding_created')).toEqual([]);
        expect(t.victim.channelCount()).toBe(count);
        await walletBack(before);
      });
    }

    /** Accepts honestly and waits for the node's funding_created. */
    async function upToFundingCreated() {
      const before = await t.victim.wallet();
      const o = await nodeOpen();
      const a = acceptChannel(p, o.open);
      const created: Received = await p.next('funding_created', (r) => r.name === 'funding_created', o.from);
      const txid = hex((created.msg.fundingTxid as Uint8Array).slice().reverse());
      return { ...o, ...a, created, txid, before };
    }

    for (const [id, bad] of [['funding_signed/signature-invalid', corrupt], ['funding_signed/signature-high-s', highS]] as const) {
      t.row('accept', id, async () => {
        const s = await upToFundingCreated();
        const from = p.mark();
        const ch = fundingSigned(p, { ...s, open: s.open }, (m) => (m.signature = bad(m.signature as Uint8Array)));
        const err = await t.oneRefusal(p, ch.id, from);
        expect(textOf(err)).toContain('invalid commitment signature for commitment 0');
        expect(await s.call).toBeInstanceOf(Error);
        expect(t.victim.phase(ch.id)).toBe('closed');
        expect(await inMempool(t.lab, s.txid)).toBe(false);
        await walletBack(s.before);
      });
    }

    t.row('accept', 'funding_signed/no-broadcast-before', async () => {
      const s = await upToFundingCreated();
      await p.barrier();
      expect(await inMempool(t.lab, s.txid)).toBe(false);
      expect(t.victim.phase(hex((s.created.msg.fundingTxid as Uint8Array).slice().reverse()))).toBeUndefined();
      // Clean up: a valid funding_signed (row funding_signed/broadcast-after checks what follows).
      fundingSigned(p, { ...s, open: s.open });
      await s.call;
    });

    t.row('accept', 'funding_signed/broadcast-after', async () => {
      const s = await upToFundingCreated();
      fundingSigned(p, { ...s, open: s.open });
      const res = (await s.call) as { fundingTxidHex: string };
      expect(res.fundingTxidHex).toBe(s.txid);
      await waitFor('the funding in the mempool', () => inMempool(t.lab, s.txid));
    });

    t.row('accept', 'shutdown/before-funding_signed', async () => {
      const s = await upToFundingCreated();
      const channelId = channelIdFrom(s.created.msg.fundingTxid as Uint8Array, s.created.msg.fundingOutputIndex as number);
      const ch = { id: hex(channelId) };
      const from = p.mark();
      p.send('shutdown', { channelId, scriptpubkey: p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)) });
      await t.oneRefusal(p, ch.id, from);
      expect(await s.call).toBeInstanceOf(Error);
      expect(t.victim.phase(ch.id)).toBe('closed');
      expect(await inMempool(t.lab, s.txid)).toBe(false);
      await walletBack(s.before);
    });

    t.row('accept', 'reestablish/funder-forgets-unsigned', async () => {
      const s = await upToFundingCreated();
      await p.reconnect();
      const from = p.mark();
      expect(await s.call).toBeInstanceOf(Error);
      const id = hex(channelIdFrom(s.created.msg.fundingTxid as Uint8Array, s.created.msg.fundingOutputIndex as number));
      expect(t.victim.phase(id)).toBe('closed');
      await p.barrier();
      expect(p.about(id, from)).toEqual([]);
      expect(await inMempool(t.lab, s.txid)).toBe(false);
      await walletBack(s.before);
    });

    t.row('accept', 'update_fee/from-non-opener', async () => {
      const ch = await t.nodeOpens(p);
      const before = t.victim.balances(ch.id);
      const from = p.mark();
      p.send('update_fee', { channelId: ch.channelId, feeratePerKw: 2000 as FeeratePerKw });
      const err = await t.expectFailed(ch, from, before);
      expect(textOf(err)).toBe('update_fee from the side that did not open the channel');
    }, 60_000);
  });
}
