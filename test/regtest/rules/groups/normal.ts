/**
 * Lab group "normal": channels in normal operation, opened to the node by
 * hostile funders (fleets, funded in one transaction), each row breaking one
 * rule of update_add_htlc, the removals, commitment_signed, revoke_and_ack
 * or update_fee, or checking what the node does with an HTLC it must fail.
 * A row that fails a channel takes a fresh channel of the pool; the rows
 * about what a failed channel broadcasts and keep (never a revoked
 * commitment, the last one, not forgotten) run last, over every channel the
 * group failed.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../../src/bolt/bytes.ts';
import { sendFailMalformed } from '../../../../src/bolt/bolt2/channel/commitments.ts';
import { pointFromSecret } from '../../../../src/bolt/bolt3/keys.ts';
import { FailureCode } from '../../../../src/bolt/bolt4/failure-codes.ts';
import { decodeFailureMessage } from '../../../../src/bolt/bolt4/failure-message.ts';
import { decryptFailurePacket } from '../../../../src/bolt/bolt4/failure-packet.ts';
import { encodeHopPayload } from '../../../../src/bolt/bolt4/payload.ts';
import { constructOnion } from '../../../../src/bolt/bolt4/sphinx.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, msat, sat } from '../../../../src/bolt/units.ts';
import { type Received, textOf } from '../../../lab/hostile-peer.ts';
import { corrupt, type HostileChannel, highS, hostileInvoice, openChannel } from '../../../lab/hostile-peer-channel.ts';
import { fundOutputs, inMempool, spenderOf } from '../../../lab/hostile-peer-chain.ts';
import { type ChannelBalances } from '../../../lab/hostile-peer-victim.ts';
import { waitFor } from '../../../lab/processes.ts';
import { type Table } from '../lab-table.ts';

/** A failed channel of this group: what the node's latest commitment was (as we hold it) and the ones it had revoked. */
interface Failed {
  ch: HostileChannel;
  latest: string;
  revoked: string[];
}

/** A final-hop onion for the node (BOLT 4) with the parts a row changes: the associated data, the amount it names. */
function onionFor(payee: Uint8Array, h: { amountMsat: Msat; cltvExpiry: CltvExpiry; paymentHash: Uint8Array; paymentSecret: Uint8Array }, o: { associatedData?: Uint8Array; amtToForward?: Msat } = {}) {
  const amt = o.amtToForward ?? h.amountMsat;
  const payload = encodeHopPayload({ amt_to_forward: amt, outgoing_cltv_value: h.cltvExpiry, payment_data: { paymentSecret: h.paymentSecret, totalMsat: amt } });
  const sessionKey = crypto.getRandomValues(new Uint8Array(32));
  return constructOnion({ sessionKey, hops: [{ pubkey: payee, payload }], associatedData: o.associatedData ?? h.paymentHash });
}

export function normalGroup(t: Table): void {
  describe('normal: channels in normal operation, the hostile peer the funder', () => {
    /** Fresh channels for rows that fail one (push 100,000 sat to the node, 400,000 sat the peer's). */
    let pool: HostileChannel[];
    /** One channel per peer: the node pays over them (PayInvoice picks the peer's channel). */
    let paying: HostileChannel[];
    /** A channel that stays normal: the rows whose HTLC the node must fail run on it one after another. */
    let good: HostileChannel;
    /** The node's commitments on `good` (txids), one per state, as we signed them: all but the last are revoked. */
    const failed: Failed[] = [];
    /** Rows get 60 s: longer than any wait inside one, so a row fails by its own error (a bun timeout kills the daemon). */
    const row = (id: string, f: () => Promise<void>, ms = 60_000): void => t.row('normal', id, f, ms);
    const take = (): HostileChannel => pool.shift() ?? (() => { throw new Error('the normal group ran out of channels'); })();

    beforeAll(async () => {
      const all = await t.fleet(15);
      good = all.shift()!;
      pool = all;
      paying = await t.fleet(4, { perPeer: 1 });
    }, 240_000);

    /** The node's commitment txids on `ch` as we know them: the current one and each one before it (revoked). */
    const history = new Map<HostileChannel, string[]>();
    const track = (ch: HostileChannel): void => {
      const h = history.get(ch) ?? [];
      for (const cur of [ch.state.remoteCommit.txid, ch.state.nextRemoteCommit?.txid]) if (cur && !h.includes(cur)) h.push(cur);
      history.set(ch, h);
    };

    /** Sends what breaks the rule (by `act`) and checks the node failed the channel (lab-table expectFailed); records it for the last rows. */
    async function fails(ch: HostileChannel, act: () => void | Promise<void>, why: string | RegExp, before?: ChannelBalances): Promise<Received> {
      track(ch);
      const b = before ?? t.victim.balances(ch.id);
      const from = ch.peer.mark();
      await act();
      const err = await t.expectFailed(ch, from, b);
      expect(textOf(err)).toMatch(why);
      const latest = ch.state.remoteCommit.txid;
      // The node's commitments we signed: those before the latest it revoked (its revoke_and_ack for each checked by our state).
      const signed = new Set([...history.get(ch)!, ...ch.revokedStates.flatMap((x) => [x.remoteCommit.txid, ...(x.nextRemoteCommit ? [x.nextRemoteCommit.txid] : [])])]);
      signed.delete(latest);
      failed.push({ ch, latest, revoked: [...signed] });
      return err;
    }

    // ---------------------------------------------------------------- update_add_htlc that fail the channel

    row('update_add_htlc/amount-zero', async () => {
      const ch = take();
      const h = await t.htlcToNode(1_000_000n);
      await fails(ch, () => void ch.addHtlc({ ...h, amountMsat: msat(0n) }), 'update_add_htlc amount is zero');
    });

    row('update_add_htlc/unaffordable', async () => {
      const ch = take();
      // The peer holds 400,000 sat.
      const h = await t.htlcToNode(450_000_000n);
      await fails(ch, () => void ch.addHtlc(h), 'update_add_htlc: the peer cannot afford this HTLC');
    });

    row('update_add_htlc/below-reserve', async () => {
      const ch = take();
      // 400,000 sat less 395,000 leaves 5,000, the reserve itself, from which the commitment fee (1,000 sat/kw) would come.
      const h = await t.htlcToNode(395_000_000n);
      await fails(ch, () => void ch.addHtlc(h), 'update_add_htlc would take the peer below its channel reserve');
    });

    row('update_add_htlc/too-many', async () => {
      const ch = take();
      const h = await t.htlcToNode(1_000n);
      const before = t.victim.balances(ch.id);
      for (let i = 0; i < 483; i++) ch.addHtlc({ ...h, amountMsat: msat(1_000n) });
      // The 483 are accepted: nothing back yet.
      await ch.peer.barrier();
      expect(ch.peer.about(ch.id, ch.cursor)).toEqual([]);
      await fails(ch, () => void ch.addHtlc({ ...h, amountMsat: msat(1_000n) }), 'more than our limit of 483 HTLCs', before);
      // Never settled: the node sent no update for any of them.
      expect(ch.peer.about(ch.id, ch.cursor).filter((r) => r.name.startsWith('update_'))).toEqual([]);
    }, 120_000);

    row('update_add_htlc/cltv-timestamp', async () => {
      const ch = take();
      const h = await t.htlcToNode(1_000_000n);
      await fails(ch, () => void ch.addHtlc({ ...h, cltvExpiry: 500_000_000 as CltvExpiry }), 'cltv_expiry is not a block height');
    });

    row('update_add_htlc/id-gap', async () => {
      const ch = take();
      const h = await t.htlcToNode(1_000_000n);
      await fails(ch, () => void ch.addHtlc({ ...h, id: 5n }), 'update_add_htlc id 5, expected 0');
    });

    // ---------------------------------------------------------------- removals that fail the channel

    row('update_fulfill_htlc/unknown-id', async () => {
      const ch = take();
      await fails(ch, () => ch.peer.send('update_fulfill_htlc', { channelId: ch.channelId, id: 7n, paymentPreimage: new Uint8Array(32).fill(7) }), 'fulfill for unknown or unsettleable HTLC 7');
    });

    /** The node pays the peer of `ch` (its only channel); resolves with the call's outcome, never rejects. */
    function nodePays(ch: HostileChannel, amountMsat: bigint) {
      const inv = hostileInvoice(ch.peer, msat(amountMsat));
      const call = t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 60 }).then((r) => r, (e: Error) => e);
      return { inv, call };
    }
    /** Until the node's HTLC is irrevocably committed on both sides (held, not settled). */
    async function heldHtlc(ch: HostileChannel, amountMsat: bigint) {
      const p = nodePays(ch, amountMsat);
      await ch.run('the node offers an HTLC', () => ch.incoming.length === 1 && !ch.state.nextRemoteCommit && ch.state.localCommit.spec.htlcs.length === 1 && ch.state.remoteCommit.spec.htlcs.length === 1);
      await waitFor('the node holds the HTLC on its commitment', () => t.victim.balances(ch.id).htlcs === 1 && t.victim.channel(ch.id)!.rec.commitments.remoteCommit.spec.htlcs.length === 1);
      return { ...p, htlc: ch.incoming[0]! };
    }
    /** The node's payment is not (and was not reported) succeeded. */
    const notSucceeded = async (p: { inv: { paymentHash: Uint8Array }; call: Promise<unknown> }): Promise<void> => {
      const r = await Promise.race([p.call, Bun.sleep(300).then(() => 'pending')]);
      if (r !== 'pending') expect((r as { status?: number }).status).not.toBe(1);
      const pay = (await t.victim.api.listPayments({})).payments.find((x) => hex(x.paymentHash) === hex(p.inv.paymentHash));
      expect(pay?.status).toBe(1); // in flight
    };

    row('update_fail_htlc/not-yet-committed', async () => {
      const ch = paying.shift()!;
      const p = nodePays(ch, 2_000_000n);
      // The node's update_add_htlc, not yet on our commitment (its commitment_signed not answered).
      const add = await Promise.race([
        ch.nextMessage('update_add_htlc from the node', (r) => r.name === 'update_add_htlc'),
        p.call.then((r) => Promise.reject(new Error(`the payment ended before any HTLC: ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))} ${r}`))),
      ]);
      await fails(ch, () => ch.peer.send('update_fail_htlc', { channelId: ch.channelId, id: add.msg.id as bigint, reason: new Uint8Array(292) }), `fail for unknown or unsettleable HTLC ${add.msg.id}`);
      // The HTLC is on no commitment now: the payment ends once the broadcast commitment is deep (not here), and never succeeds.
      await notSucceeded(p);
    });

    row('update_fulfill_htlc/wrong-preimage', async () => {
      const ch = paying.shift()!;
      const p = await heldHtlc(ch, 2_000_000n);
      await fails(ch, () => ch.peer.send('update_fulfill_htlc', { channelId: ch.channelId, id: p.htlc.id, paymentPreimage: crypto.getRandomValues(new Uint8Array(32)) }), `update_fulfill_htlc ${p.htlc.id}: the preimage does not match the payment hash`);
      // Not succeeded: the HTLC resolves on chain, never with our bogus preimage.
      await notSucceeded(p);
    });

    row('update_fail_malformed_htlc/no-badonion', async () => {
      const ch = paying.shift()!;
      const p = await heldHtlc(ch, 2_000_000n);
      await fails(
        ch,
        () => ch.peer.send('update_fail_malformed_htlc', { channelId: ch.channelId, id: p.htlc.id, sha256OfOnion: sha256(p.htlc.onion), failureCode: 0x4002 }),
        'update_fail_malformed_htlc without the BADONION bit',
      );
    });

    row('update_fail_malformed_htlc/sha256-mismatch', async () => {
      const ch = paying.shift()!;
      const p = await heldHtlc(ch, 2_000_000n);
      const from = ch.peer.mark();
      const s = sendFailMalformed(ch.state, p.htlc.id, sha256(Uint8Array.of(1, 2, 3)), FailureCode.invalid_onion_hmac);
      ch.state = s.state;
      for (const o of s.send) ch.send(o);
      ch.signAndSend();
      await ch.run('the removal settled', () => ch.quiet);
      const r = (await p.call) as { status: number; failureMessage: string };
      expect(r.status).toBe(2);
      expect(r.failureMessage).toContain(`0x${FailureCode.invalid_onion_hmac.toString(16)}`);
      // No retry: one HTLC only, no error, the channel still normal with the node's balance as before.
      await ch.peer.barrier();
      expect(ch.peer.since(from, (x) => x.name === 'update_add_htlc' || x.name === 'error' || x.name === 'warning')).toEqual([]);
      expect(t.victim.phase(ch.id)).toBe('normal');
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: 100_000_000n, htlcs: 0 });
    });

    // ---------------------------------------------------------------- commitment_signed / revoke_and_ack / update_fee

    const badCommits: [string, (m: Record<string, unknown>) => void, string][] = [
      ['commitment_signed/signature-invalid', (m) => (m.signature = corrupt(m.signature as Uint8Array)), 'invalid commitment signature for commitment 1'],
      ['commitment_signed/signature-high-s', (m) => (m.signature = highS(m.signature as Uint8Array)), 'invalid commitment signature for commitment 1'],
      ['commitment_signed/num_htlcs', (m) => (m.htlcSignatures = []), 'expected 1 HTLC signatures, got 0'],
      ['commitment_signed/htlc-signature-invalid', (m) => (m.htlcSignatures = [corrupt((m.htlcSignatures as Uint8Array[])[0]!)]), 'invalid HTLC signature 0 for commitment 1'],
    ];
    for (const [id, tweak, why] of badCommits) {
      row(id, async () => {
        const ch = take();
        const h = await t.htlcToNode(10_000_000n);
        ch.addHtlc(h);
        const from = ch.peer.mark();
        await fails(ch, () => void ch.commit(tweak), why);
        expect(ch.peer.since(from, (r) => r.name === 'revoke_and_ack')).toEqual([]);
      });
    }

    row('commitment_signed/revoke', async () => {
      const ch = good;
      const theirPoint0 = ch.state.remoteCommit.point;
      track(ch);
      const h = await t.htlcToNode(3_000_000n);
      ch.addHtlc(h);
      ch.commit();
      const rev = await ch.nextMessage('revoke_and_ack', (r) => r.name === 'revoke_and_ack');
      // The secret of the node's commitment 0, the one our commitment_signed replaced.
      expect(hex(pointFromSecret(rev.msg.perCommitmentSecret as Uint8Array))).toBe(hex(theirPoint0));
      ch.cursor = rev.seq;
      await ch.run('the HTLC settled', () => ch.quiet && ch.state.localCommit.index >= 2n);
      track(ch);
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: 103_000_000n, htlcs: 0 });
    });

    row('revoke_and_ack/wrong-secret', async () => {
      const ch = take();
      const h = await t.htlcToNode(5_000_000n);
      ch.addHtlc(h);
      ch.commit();
      // The node revokes and signs our commitment; our revoke_and_ack for it is withheld and sent with a random secret.
      await ch.run('the node signs our commitment', () => ch.withheld.length === 1, { withhold: (o) => o.name === 'revoke_and_ack' });
      await waitFor('the node on its new commitment', () => t.victim.balances(ch.id).index === 1n);
      const rev = ch.withheld[0]!;
      await fails(ch, () => ch.send(rev, (m) => (m.perCommitmentSecret = crypto.getRandomValues(new Uint8Array(32)))), /per_commitment_secret does not match commitment 0/);
    });

    row('update_fee/below-floor', async () => {
      const ch = take();
      await fails(ch, () => ch.updateFee(252 as FeeratePerKw), 'update_fee of 252 sat/kw is below the minimum relay fee');
    });

    row('update_fee/unaffordable', async () => {
      // Their own channels: the funder pushes 492,500 of 500,000 sat and keeps 7,500 (reserve 5,000).
      const [a, b] = await t.fleet(2, { pushMsat: msat(492_500_000n) });
      // 25,000 sat/kw costs 18,100 sat: more than it has.
      await fails(a!, () => a!.updateFee(25_000 as FeeratePerKw), /^the peer cannot afford its own update_fee of 25000 sat\/kw$/);
      // 4,000 sat/kw costs 2,896 sat: payable only from the reserve.
      await fails(b!, () => b!.updateFee(4_000 as FeeratePerKw), 'the peer cannot afford its own update_fee of 4000 sat/kw above its channel reserve of 5000 sat');
    }, 60_000);

    // ---------------------------------------------------------------- HTLCs the node must fail, the channel normal

    /** Offers `h` (with `onion`) on `good`, lets both sides sign, and returns what the node removed it with. */
    async function failedBack(h: { amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry }, onion: Uint8Array): Promise<Received> {
      const ch = good;
      const from = ch.peer.mark();
      const before = t.victim.balances(ch.id);
      const sent = ch.addHtlc({ ...h, onion });
      ch.commit();
      await ch.run('the node removes the HTLC', () => ch.quiet);
      track(ch);
      const removal = ch.applied.find((r) => r.seq >= from && r.name.startsWith('update_') && r.msg.id === sent.id)!;
      expect(removal).toBeDefined();
      await ch.peer.barrier();
      expect(ch.peer.since(from, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
      expect(t.victim.phase(ch.id)).toBe('normal');
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: before.localMsat, remoteMsat: before.remoteMsat, htlcs: 0 });
      return removal;
    }
    const invoiceState = async (paymentHash: Uint8Array): Promise<number | undefined> =>
      (await t.victim.api.listInvoices({})).invoices.find((i) => hex(i.paymentHash) === hex(paymentHash))?.state;
    /** The failure the node encrypted for us, read with the onion's shared secret. */
    const failureOf = (removal: Received, sharedSecrets: Uint8Array[]): string => {
      const f = decryptFailurePacket(sharedSecrets, removal.msg.reason as Uint8Array);
      if (!f.ok) throw new Error('the node’s failure does not decrypt');
      return decodeFailureMessage(f.failureMessage).name;
    };

    row('deadlines/fail-past-fulfillment-deadline', async () => {
      // The invoice asks 18 blocks; the HTLC expires 5 blocks ahead, inside the fulfillment deadline.
      const h = await t.htlcToNode(4_000_000n, { cltvDelta: 5 });
      const o = onionFor(t.victim.nodeId, h);
      const removal = await failedBack(h, o.packet);
      expect(removal.name).toBe('update_fail_htlc');
      expect(failureOf(removal, o.sharedSecrets)).toBe('incorrect_or_unknown_payment_details');
      expect(await invoiceState(h.paymentHash)).toBe(1);
    });

    row('update_add_htlc/onion-associated-data', async () => {
      const h = await t.htlcToNode(4_000_000n);
      const o = onionFor(t.victim.nodeId, h, { associatedData: sha256(Uint8Array.of(9)) });
      const removal = await failedBack(h, o.packet);
      expect(removal.name).toBe('update_fail_malformed_htlc');
      expect(removal.msg.failureCode).toBe(FailureCode.invalid_onion_hmac);
      expect(hex(removal.msg.sha256OfOnion as Uint8Array)).toBe(hex(sha256(o.packet)));
      expect(await invoiceState(h.paymentHash)).toBe(1);
    });

    row('update_add_htlc/onion-undecryptable', async () => {
      const h = await t.htlcToNode(4_000_000n);
      const packet = onionFor(t.victim.nodeId, h).packet.slice();
      packet[0] = 1;
      const removal = await failedBack(h, packet);
      expect(removal.name).toBe('update_fail_malformed_htlc');
      expect(removal.msg.failureCode).toBe(FailureCode.invalid_onion_version);
      expect(hex(removal.msg.sha256OfOnion as Uint8Array)).toBe(hex(sha256(packet)));
    });

    row('update_add_htlc/payload-amount-mismatch', async () => {
      const h = await t.htlcToNode(4_000_000n);
      const o = onionFor(t.victim.nodeId, h, { amtToForward: msat(4_000_001n) });
      const removal = await failedBack(h, o.packet);
      expect(removal.name).toBe('update_fail_htlc');
      expect(failureOf(removal, o.sharedSecrets)).toBe('final_incorrect_htlc_amount');
      expect(await invoiceState(h.paymentHash)).toBe(1);
    });

    row('update_add_htlc/same-payment-hash', async () => {
      const ch = good;
      const from = ch.peer.mark();
      const before = t.victim.balances(ch.id);
      const h = await t.htlcToNode(4_000_000n);
      const a = ch.addHtlc(h);
      const b = ch.addHtlc({ ...h, onion: onionFor(t.victim.nodeId, h).packet });
      ch.commit();
      await ch.run('the node settles both', () => ch.quiet);
      track(ch);
      const removals = ch.applied.filter((r) => r.seq >= from && r.name.startsWith('update_'));
      expect(removals.map((r) => r.name).sort()).toEqual(['update_fail_htlc', 'update_fulfill_htlc']);
      expect(removals.map((r) => r.msg.id as bigint).sort()).toEqual([a.id, b.id]);
      await ch.peer.barrier();
      expect(ch.peer.since(from, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
      expect(t.victim.phase(ch.id)).toBe('normal');
      expect(t.victim.balances(ch.id)).toMatchObject({ localMsat: before.localMsat + 4_000_000n, htlcs: 0 });
      expect(await invoiceState(h.paymentHash)).toBe(2);
    });

    row('revoke_and_ack/no-signed-commitment-stored', async () => {
      // After the rounds above: the node holds our signature on its commitment (so it could sign and broadcast it), and nothing it signed itself.
      const c = t.victim.channel(good.id)!;
      expect(c.rec.commitments.localCommit.index).toBeGreaterThanOrEqual(6n);
      expect(c.rec.commitments.localCommit.remoteSig).toBeDefined();
      expect(c.rec.close).toBeUndefined();
      expect(Object.keys(c.rec.commitments.localCommit).sort()).toEqual(['htlcSigs', 'index', 'remoteSig', 'spec', 'txid']);
      expect(await inMempool(t.lab, c.rec.commitments.localCommit.txid)).toBe(false);
    });

    // ---------------------------------------------------------------- channel_ready and push_msat

    row('channel_ready/funding-output-wrong-amount', async () => {
      const p = await t.peer();
      const { opening } = await openChannel(p, { fundingSat: sat(300_000) });
      const { txid, vouts } = await fundOutputs(t.lab, [{ script: opening!.fundingOutputScript(), amount: 299_000n }]);
      const { channel } = await opening!.fundingCreated({ txid, vout: vouts[0]! });
      const ch = channel!;
      await t.mine(3);
      ch.sendReady();
      const err = await t.oneRefusal(p, ch.id, ch.cursor);
      expect(textOf(err)).toBe(`funding output ${vouts[0]} pays 299000 sat, funding_satoshis is 300000`);
      await waitFor('the channel forgotten', () => t.victim.phase(ch.id) === 'closed');
      expect(p.about(ch.id).filter((r) => r.name === 'channel_ready')).toEqual([]);
    }, 60_000);

    row('open_channel/push-not-received-before-depth', async () => {
      const p = await t.peer();
      const { opening } = await openChannel(p, { fundingSat: sat(300_000), pushMsat: msat(100_000_000n) });
      const { txid, vouts } = await fundOutputs(t.lab, [{ script: opening!.fundingOutputScript(), amount: 300_000n }]);
      const ch = (await opening!.fundingCreated({ txid, vout: vouts[0]! })).channel!;
      const listed = async () => (await t.victim.api.listChannels({})).channels.find((c) => hex(c.channelId) === ch.id)!;
      await t.mine(1);
      ch.sendReady();
      await ch.peer.barrier();
      // One confirmation of three: the pushed 100,000 sat are not the node's to spend.
      expect((await listed()).usable).toBe(false);
      const from = p.mark();
      const early = hostileInvoice(p, msat(10_000_000n));
      const r = await t.victim.api.payInvoice({ paymentRequest: early.bolt11, timeoutSeconds: 10 }).then((x) => x, (e: Error) => e);
      if (!(r instanceof Error)) expect(r.status).toBe(2);
      await p.barrier();
      expect(p.since(from, (x) => x.name === 'update_add_htlc')).toEqual([]);
      await t.mine(2);
      await ch.run('channel_ready from the node', () => ch.theirReady);
      await waitFor('the channel usable', async () => (await listed()).usable);
      const later = hostileInvoice(p, msat(10_000_000n));
      const paid = t.victim.api.payInvoice({ paymentRequest: later.bolt11, timeoutSeconds: 30 });
      await ch.run('the node pays', () => ch.incoming.length === 1 && ch.quiet, { onIncoming: () => ({ fulfill: later.preimage }) });
      expect((await paid).status).toBe(1);
    }, 60_000);

    // ---------------------------------------------------------------- what every failed channel broadcast and kept

    /** What spent the channel's funding output (mempool or block): the node's broadcast. */
    const spender = async (ch: HostileChannel): Promise<string | undefined> => spenderOf(t.lab, ch.state.fundingTxid, ch.state.fundingVout);

    // One channel with a history first: three payments (six commitments of the node's revoked), then failed.
    row('revoke_and_ack/never-broadcast-revoked', async () => {
      const ch = take();
      track(ch);
      for (let i = 0; i < 3; i++) {
        // t.payNode, with each commitment of the node we sign recorded.
        const h = await t.htlcToNode(1_000_000n);
        ch.addHtlc(h);
        ch.commit();
        const index = ch.state.localCommit.index;
        await ch.run('the HTLC settled', (c) => (track(ch), ch.quiet && c.localCommit.index > index + 1n));
      }
      expect(t.victim.balances(ch.id)).toMatchObject({ index: 6n, localMsat: 103_000_000n });
      await fails(ch, () => ch.updateFee(252 as FeeratePerKw), 'below the minimum relay fee');
      const f = failed.at(-1)!;
      expect(f.revoked).toHaveLength(6);
      expect(await spender(ch)).toBe(f.latest);
    });

    row('revoked/never-own-revoked', async () => {
      expect(failed.length).toBe(19);
      for (const f of failed) {
        const spent = await spender(f.ch);
        expect(spent).toBe(f.latest);
        expect(f.revoked).not.toContain(spent);
      }
    });

    row('fail/broadcast-last-commitment', async () => {
      for (const f of failed) {
        const c = t.victim.channel(f.ch.id)!;
        expect(c.rec.close?.kind).toBe('local');
        expect(c.rec.close!.txid).toBe(c.rec.commitments.localCommit.txid);
        expect(c.rec.close!.txid).toBe(f.latest);
      }
    });

    row('fail/not-forgotten', async () => {
      // The rule's own case: a commitment with nothing of the node's (no to_local, no HTLC): a channel the peer funded without pushing anything.
      const [empty] = await t.fleet(1, { pushMsat: msat(0n) });
      await fails(empty!, () => empty!.updateFee(252 as FeeratePerKw), 'below the minimum relay fee');
      // The commitments confirm; each channel stays stored (closing) while its outputs are resolved, none forgotten.
      await t.mine(1);
      for (const f of failed) {
        const c = t.victim.channel(f.ch.id);
        expect(c?.phase).toBe('closing');
        expect(c!.rec.close!.txid).toBe(f.latest);
      }
      const listed = (await t.victim.api.listChannels({})).channels.map((c) => hex(c.channelId));
      for (const f of failed) expect(listed).toContain(f.ch.id);
      // Until its close is deep the empty one is still watched (a reorg could undo it): stored, listed, its close known.
      expect(await spender(empty!)).toBe(failed.at(-1)!.latest);
      expect(t.victim.channel(empty!.id)!.rec.close!.txid).toBe(failed.at(-1)!.latest);
      expect(fromHex(empty!.id)).toHaveLength(32);
    });
  });
}
