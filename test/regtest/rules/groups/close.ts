/**
 * Lab group "close": shutdown and the legacy closing_signed negotiation
 * (with and without fee_range), the node as fundee (the hostile peer funds,
 * proposes and pays the fee) and as funder (the node opened the channel and
 * proposes first), with one field or one fee wrong at a time; and what a
 * failure during the negotiation broadcasts.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../../../src/bolt/bytes.ts';
import { type ClosingNegotiation, type ClosingSignedMessage, firstClosingSigned } from '../../../../src/bolt/bolt2/channel/closing.ts';
import { closingFee } from '../../../../src/bolt/bolt3/closing.ts';
import { p2wpkh } from '../../../../src/bolt/bolt3/script.ts';
import { FEERATE_FLOOR, type Sat, sat } from '../../../../src/bolt/units.ts';
import { channelOf, type HostilePeer, type Received, textOf } from '../../../lab/hostile-peer.ts';
import { corrupt, type HostileChannel } from '../../../lab/hostile-peer-channel.ts';
import { inMempool } from '../../../lab/hostile-peer-chain.ts';
import { waitFor } from '../../../lab/processes.ts';
import { LIMITS, type Table } from '../lab-table.ts';

const someScript = (): Uint8Array => p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
/** A P2PKH script: not one of the forms shutdown allows. */
const P2PKH = Uint8Array.of(0x76, 0xa9, 0x14, ...new Uint8Array(20).fill(7), 0x88, 0xac);

/** A channel in shutdown on both sides: our script and the node's. */
interface Closing {
  ch: HostileChannel;
  ours: Uint8Array;
  theirs: Uint8Array;
  /** The node's first closing_signed when it is the funder. */
  first?: ClosingSignedMessage;
}

export function closeGroup(t: Table): void {
  describe('close: shutdown and the fee negotiation', () => {
    /** Normal channels the hostile peer funded (the node holds 100,000 sat, the peer 400,000). */
    let pool: HostileChannel[];
    /** Normal channels the node opened to `acceptor` (300,000 sat, all the node's). */
    let funded: HostileChannel[];
    let acceptor: HostilePeer;
    const take = (): HostileChannel => pool.shift() ?? (() => { throw new Error('the close group ran out of channels'); })();
    const row = (id: string, f: () => Promise<void>, ms = 60_000): void => t.row('close', id, f, ms);

    beforeAll(async () => {
      pool = await t.fleet(9, { perPeer: 3 });
      acceptor = await t.peer('close-acceptor');
      funded = [];
      for (let i = 0; i < 3; i++) funded.push(await t.nodeOpens(acceptor, 300_000n, { ready: false }));
      await t.mine(1);
      for (const ch of funded) ch.sendReady();
      for (const ch of funded) await ch.run('channel_ready from the node', () => ch.theirReady);
      for (const ch of funded) await waitFor('the channel normal on the node', () => t.victim.phase(ch.id) === 'normal');
    }, 240_000);

    /** Our shutdown; waits for the node's (and, the node the funder, its first closing_signed). */
    async function shutdown(ch: HostileChannel): Promise<Closing> {
      const ours = someScript();
      ch.peer.send('shutdown', { channelId: ch.channelId, scriptpubkey: ours });
      const r = await ch.nextMessage('shutdown from the node', (x) => x.name === 'shutdown');
      const c: Closing = { ch, ours, theirs: r.msg.scriptpubkey as Uint8Array };
      if (!ch.state.weAreOpener) c.first = (await ch.nextMessage('closing_signed from the node', (x) => x.name === 'closing_signed')).msg as unknown as ClosingSignedMessage;
      return c;
    }
    /** Our closing_signed at `fee` (any fee: the signature covers the transaction, not the range), with `range` or none. */
    function signClosing(c: Closing, fee: bigint, range?: [bigint, bigint]): ClosingSignedMessage {
      const n: ClosingNegotiation = { localScript: c.ours, remoteScript: c.theirs, proposedFee: sat(fee), range: { minFeeSatoshis: sat(fee), maxFeeSatoshis: sat(fee) } };
      const m = firstClosingSigned(c.ch.state, c.ch.secrets, n).send!;
      return { ...m, feeRange: range ? { minFeeSatoshis: sat(range[0]), maxFeeSatoshis: sat(range[1]) } : undefined };
    }
    const sendClosing = (c: Closing, m: ClosingSignedMessage): void => c.ch.peer.send('closing_signed', m as unknown as Record<string, unknown>);
    const closingSigned = (c: Closing, fee: bigint, range?: [bigint, bigint]): void => sendClosing(c, signClosing(c, fee, range));
    const nextClosingSigned = async (c: Closing): Promise<ClosingSignedMessage> =>
      (await c.ch.nextMessage('closing_signed from the node', (x) => x.name === 'closing_signed' || x.name === 'error' || x.name === 'warning')).msg as unknown as ClosingSignedMessage;
    /** The node stored a mutual close paying `fee` and broadcast it. */
    async function mutualClosed(c: Closing, fee: bigint): Promise<string> {
      const stored = await waitFor('the node to store the mutual close', () => {
        const x = t.victim.channel(c.ch.id);
        return x?.phase === 'closing' && x.rec.close ? x : undefined;
      });
      expect(stored.rec.close!.kind).toBe('mutual');
      const txid = stored.rec.close!.txid;
      await waitFor('the closing transaction in the mempool', () => inMempool(t.lab, txid));
      const tx = await t.lab.btcd.rpc.call<{ vout: { value: number }[] }>('getrawtransaction', txid, 1);
      const out = tx.vout.reduce((s, o) => s + BigInt(Math.round(o.value * 1e8)), 0n);
      expect(c.ch.state.fundingSat - out).toBe(fee);
      return txid;
    }
    /** The node's fee floor for a closing transaction between these scripts (its range's minimum). */
    const floorOf = (c: Closing): Sat => closingFee(FEERATE_FLOOR, c.theirs, c.ours);

    // ---------------------------------------------------------------- shutdown

    let bad: HostileChannel;
    row('shutdown/bad-script', async () => {
      bad = take();
      const from = bad.peer.mark();
      bad.peer.send('shutdown', { channelId: bad.channelId, scriptpubkey: P2PKH });
      expect(textOf(await t.oneRefusal(bad.peer, bad.id, from, 'warning'))).toBe('shutdown scriptpubkey is not a segwit output script');
      expect(bad.peer.since(from, (r) => r.name === 'shutdown')).toEqual([]);
      expect(t.victim.phase(bad.id)).toBe('normal');
      expect(t.victim.channel(bad.id)!.rec.shutdown).toBeUndefined();
      bad.cursor = bad.peer.mark();
    });

    row('shutdown/reply', async () => {
      // The channel of the row above, quiet: a good shutdown now gets the node's.
      const c = await shutdown(bad);
      expect([0x00, 0x51]).toContain(c.theirs[0]!);
      expect(t.victim.channel(bad.id)!.rec.shutdown?.sent).toBe(true);
      // The negotiation follows to a mutual close at our fee, inside the node's range.
      closingSigned(c, 1_000n, [500n, 2_000n]);
      const answer = await nextClosingSigned(c);
      expect(answer.feeSatoshis).toBe(sat(1_000));
      await mutualClosed(c, 1_000n);
    });

    row('shutdown/upfront-mismatch', async () => {
      const committed = someScript();
      const [ch] = await t.fleet(1, { upfrontShutdownScript: committed });
      const before = t.victim.balances(ch!.id);
      const from = ch!.peer.mark();
      ch!.peer.send('shutdown', { channelId: ch!.channelId, scriptpubkey: someScript() });
      // The error, then the connection closed (BOLT 2: MUST fail the connection).
      const err = await ch!.peer.next('the error', (r) => r.name === 'error' && channelOf(r) === ch!.id, from);
      expect(textOf(err)).toBe('shutdown scriptpubkey is not the upfront_shutdown_script the peer committed to');
      expect(await ch!.peer.closedByNode()).toBe('connection closed');
      expect(ch!.peer.since(from, (r) => r.name === 'error' || r.name === 'warning' || r.name === 'shutdown')).toHaveLength(1);
      const stored = await waitFor('the channel failed', () => (t.victim.phase(ch!.id) === 'closing' ? t.victim.channel(ch!.id) : undefined));
      expect(stored.rec.close!.kind).toBe('local');
      expect(stored.rec.close!.txid).toBe(ch!.state.remoteCommit.txid);
      await waitFor('its commitment in the mempool', () => inMempool(t.lab, stored.rec.close!.txid));
      expect(t.victim.balances(ch!.id)).toEqual(before);
    }, 90_000);

    // ---------------------------------------------------------------- the node as fundee

    row('closing_signed/signature-invalid', async () => {
      const c = await shutdown(take());
      const before = t.victim.balances(c.ch.id);
      const from = c.ch.peer.mark();
      const m = signClosing(c, 1_000n, [500n, 2_000n]);
      sendClosing(c, { ...m, signature: corrupt(m.signature) });
      const err = await t.expectFailed(c.ch, from, before);
      expect(textOf(err)).toBe('invalid closing_signed signature for a fee of 1000 sat');
    });

    row('closing_signed/agrees-without-range', async () => {
      const c = await shutdown(take());
      closingSigned(c, 1_200n);
      const answer = await nextClosingSigned(c);
      expect(answer.feeSatoshis).toBe(sat(1_200));
      await mutualClosed(c, 1_200n);
    });

    row('closing_signed/no-overlap-warning', async () => {
      const c = await shutdown(take());
      const from = c.ch.peer.mark();
      // Our range lies below the node's minimum (its closing fee at the 253 sat/kw floor).
      const floor = floorOf(c);
      closingSigned(c, 50n, [1n, 100n]);
      const w = await t.oneRefusal(c.ch.peer, c.ch.id, from, 'warning');
      expect(textOf(w)).toMatch(new RegExp(`^no overlap between our fee range ${floor}\\.\\.\\d+ sat and theirs 1\\.\\.100 sat$`));
      expect(t.victim.phase(c.ch.id)).toBe('shutdown');
      c.ch.cursor = c.ch.peer.mark();
      // Still open: a closing_signed with an overlapping range closes the channel (before the 3 s timeout).
      closingSigned(c, 900n, [500n, 2_000n]);
      expect((await nextClosingSigned(c)).feeSatoshis).toBe(sat(900));
      await mutualClosed(c, 900n);
    });

    row('closing_signed/no-overlap-timeout', async () => {
      const c = await shutdown(take());
      const before = t.victim.balances(c.ch.id);
      let from = c.ch.peer.mark();
      closingSigned(c, 50n, [1n, 100n]);
      await t.oneRefusal(c.ch.peer, c.ch.id, from, 'warning');
      from = c.ch.peer.mark();
      // Nothing satisfying comes: the lowered 3 s negotiation timeout fails the channel.
      await Bun.sleep(LIMITS.closingNegotiationTimeoutMs);
      const err = await t.expectFailed(c.ch, from, before);
      expect(textOf(err)).toBe(`closing negotiation timed out: no closing_signed from the peer within ${LIMITS.closingNegotiationTimeoutMs / 1000} s`);
    });

    let countered: Closing;
    let counter: ClosingSignedMessage;
    row('closing_signed/fundee-proposes-in-overlap', async () => {
      countered = await shutdown(take());
      // Our fee 100 is below the node's minimum; our range 100..2000 overlaps its own.
      const floor = floorOf(countered);
      closingSigned(countered, 100n, [100n, 2_000n]);
      counter = await nextClosingSigned(countered);
      expect(counter.feeSatoshis).toBe(floor);
      expect(counter.feeRange!.minFeeSatoshis).toBe(floor);
    });

    row('closing_signed/fundee-fee-changed', async () => {
      const c = countered;
      const before = t.victim.balances(c.ch.id);
      const from = c.ch.peer.mark();
      closingSigned(c, BigInt(counter.feeSatoshis) + 50n, [100n, 2_000n]);
      const err = await t.expectFailed(c.ch, from, before);
      expect(textOf(err)).toBe(`closing fee ${counter.feeSatoshis + 50n} sat differs from the ${counter.feeSatoshis} sat we proposed in the overlap`);
    });

    row('closing_signed/not-strictly-between', async () => {
      const c = await shutdown(take());
      const floor = floorOf(c);
      // Without fee_range: 100 (below the node's minimum), the node counters, 100 again is no step towards it.
      closingSigned(c, 100n);
      expect((await nextClosingSigned(c)).feeSatoshis).toBe(floor);
      const before = t.victim.balances(c.ch.id);
      const from = c.ch.peer.mark();
      closingSigned(c, 100n);
      const err = await t.expectFailed(c.ch, from, before);
      expect(textOf(err)).toBe(`closing fee 100 sat is not strictly between our last ${floor} sat and their last 100 sat`);
    });

    row('fail/mutual-with-received-closing_signed', async () => {
      const c = await shutdown(take());
      // Our fee 3000 lies above our own range (500..2000), which overlaps the node's: it counters 2000, holding our signature at 3000.
      closingSigned(c, 3_000n, [500n, 2_000n]);
      expect((await nextClosingSigned(c)).feeSatoshis).toBe(sat(2_000));
      const from = c.ch.peer.mark();
      // Then another fee: the channel fails, and the node closes with our 3000 (the funder pays it), not its commitment.
      closingSigned(c, 1_500n, [500n, 2_000n]);
      expect(textOf(await t.oneRefusal(c.ch.peer, c.ch.id, from))).toBe('closing fee 1500 sat differs from the 2000 sat we proposed in the overlap');
      await mutualClosed(c, 3_000n);
      expect(await inMempool(t.lab, c.ch.state.remoteCommit.txid)).toBe(false);
    });

    row('reestablish/retransmit-shutdown', async () => {
      const ch = take();
      // The node closes (its API): it sends shutdown; we never answer, and reconnect.
      const call = t.victim.api.closeChannel({ channelId: ch.channelId }).then((r) => r, (e: Error) => e);
      const first = await ch.nextMessage('shutdown from the node', (r) => r.name === 'shutdown');
      const from = ch.peer.mark();
      await ch.peer.reconnect();
      const re = await ch.peer.next('channel_reestablish', (r) => r.name === 'channel_reestablish' && channelOf(r) === ch.id, from);
      ch.cursor = re.seq + 1;
      // Nothing before our channel_reestablish; after it, the shutdown again, with the same script.
      await ch.peer.barrier();
      expect(ch.peer.about(ch.id, from).map((r) => r.name)).toEqual(['channel_reestablish']);
      ch.peer.send('channel_reestablish', { channelId: ch.channelId, ...ch.reestablishFields() });
      const again = await ch.nextMessage('shutdown again', (r) => r.name === 'shutdown');
      expect(hex(again.msg.scriptpubkey as Uint8Array)).toBe(hex(first.msg.scriptpubkey as Uint8Array));
      // Finish it: our shutdown and fee close the channel, and the API call returns the closing txid.
      const c: Closing = { ch, ours: someScript(), theirs: again.msg.scriptpubkey as Uint8Array };
      ch.peer.send('shutdown', { channelId: ch.channelId, scriptpubkey: c.ours });
      closingSigned(c, 1_000n, [500n, 2_000n]);
      const txid = await mutualClosed(c, 1_000n);
      expect(((await call) as { closingTxidHex: string }).closingTxidHex).toBe(txid);
    });

    // ---------------------------------------------------------------- the node as funder

    row('closing_signed/same-fee-broadcast', async () => {
      const c = await shutdown(funded[0]!);
      const f = c.first!.feeSatoshis;
      const from = c.ch.peer.mark();
      closingSigned(c, f, [c.first!.feeRange!.minFeeSatoshis, c.first!.feeRange!.maxFeeSatoshis]);
      await mutualClosed(c, f);
      // Nothing more to say: its fee came back, it broadcasts without another closing_signed.
      await c.ch.peer.barrier();
      expect(c.ch.peer.since(from, (r) => r.name === 'closing_signed' || r.name === 'error' || r.name === 'warning')).toEqual([]);
    });

    let inRange: { c: Closing; fee: Sat; reply: Received; txid: string };
    row('closing_signed/fee-in-range-reply', async () => {
      const c = await shutdown(funded[1]!);
      const r = c.first!.feeRange!;
      // Another fee, inside the node's range, our range overlapping it.
      const fee = sat(c.first!.feeSatoshis === r.minFeeSatoshis ? r.minFeeSatoshis + 1n : r.minFeeSatoshis);
      closingSigned(c, fee, [r.minFeeSatoshis, r.maxFeeSatoshis + 1_000n]);
      const reply = await c.ch.nextMessage('closing_signed from the node', (x) => x.name === 'closing_signed');
      expect(reply.msg.feeSatoshis).toBe(fee);
      const txid = await mutualClosed(c, fee);
      inRange = { c, fee, reply, txid };
    });

    row('closing_signed/fee-in-range-broadcast', async () => {
      expect(t.victim.channel(inRange.c.ch.id)!.rec.close).toMatchObject({ kind: 'mutual', txid: inRange.txid });
      expect(await inMempool(t.lab, inRange.txid)).toBe(true);
    });

    row('closing_signed/funder-replies-same', async () => {
      // The reply repeats the peer's fee (and signs the same transaction it broadcast).
      expect(inRange.reply.msg.feeSatoshis).toBe(inRange.fee);
      await inRange.c.ch.peer.barrier();
      expect(inRange.c.ch.peer.since(inRange.reply.seq + 1, (r) => r.name === 'closing_signed' || r.name === 'error')).toEqual([]);
    });

    row('closing_signed/funder-fee-outside-overlap', async () => {
      const c = await shutdown(funded[2]!);
      const r = c.first!.feeRange!;
      const before = t.victim.balances(c.ch.id);
      const from = c.ch.peer.mark();
      // Our range overlaps the node's, our fee below both.
      const fee = r.minFeeSatoshis - 1n;
      closingSigned(c, fee, [1n, r.maxFeeSatoshis]);
      const err = await t.expectFailed(c.ch, from, before);
      expect(textOf(err)).toBe(`closing fee ${fee} sat is outside the overlap of our fee ranges`);
    });
  });
}
