/**
 * Lab group "onchain": five channels from hostile peers (to_self_delay 20
 * on the node's outputs, so delays are short), each ending on chain (in
 * this order):
 * - the peer broadcasts the commitment the node just signed, without
 *   revoking the one before: the node sees the funding spent, stops using
 *   the channel and takes its to_remote;
 * - the peer broadcasts a commitment it revoked, holding an HTLC each way:
 *   one justice transaction takes its to_local and both HTLC outputs;
 * - the node force closes and sweeps its to_local after the delay, not one
 *   block before;
 * - the node pays the peer, which never settles: past cltv_expiry + 3 the
 *   node sends an error and broadcasts its commitment (timeout deadline);
 * - the peer pays the node, which fulfils; the peer never signs the
 *   removal: at cltv_expiry - 10 the node does the same (fulfillment
 *   deadline).
 * Wallet amounts are checked to the sat against btcd.
 */
import { beforeAll, describe, expect } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../../src/bolt/bytes.ts';
import { sendFulfill } from '../../../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE } from '../../../../src/bolt/bolt2/channel/open.ts';
import { FULFILLMENT_DEADLINE_BLOCKS, TIMEOUT_GRACE_BLOCKS } from '../../../../src/bolt/bolt2/channel/htlc-deadlines.ts';
import { type CltvExpiry, msat } from '../../../../src/bolt/units.ts';
import { textOf } from '../../../lab/hostile-peer.ts';
import { type HostileChannel, hostileInvoice, paymentOnion } from '../../../lab/hostile-peer-channel.ts';
import { broadcast, inMempool, spenderOf } from '../../../lab/hostile-peer-chain.ts';
import { waitFor } from '../../../lab/processes.ts';
import { type Table } from '../lab-table.ts';

const TO_SELF_DELAY = 20;

interface DecodedTx {
  txid: string;
  vin: { txid: string; vout: number; sequence: number }[];
  vout: { value: number; scriptPubKey: { hex: string } }[];
}
const sats = (btc: number): bigint => BigInt(Math.round(btc * 1e8));

export function onchainGroup(t: Table): void {
  describe('onchain: channels the hostile peers take to the chain', () => {
    let chs: HostileChannel[];
    const decoded = (txid: string) => t.lab.btcd.rpc.call<DecodedTx>('getrawtransaction', txid, 1);
    const stored = (ch: HostileChannel) => t.victim.channel(ch.id)!;
    /** The node's one error on `ch` since `from`, then its commitment (holding `htlcs` HTLCs) in the mempool and the channel closing. */
    async function failedOnChain(ch: HostileChannel, from: number, htlcs: number): Promise<void> {
      await t.oneRefusal(ch.peer, ch.id, from);
      const c = await waitFor('the node to fail the channel', () => {
        const s = t.victim.channel(ch.id);
        return s?.phase === 'closing' && s.rec.close ? s : undefined;
      });
      expect(c.rec.close!.kind).toBe('local');
      expect(c.rec.close!.txid).toBe(c.rec.commitments.localCommit.txid);
      expect(c.rec.commitments.localCommit.spec.htlcs).toHaveLength(htlcs);
      await waitFor('its commitment in the mempool', () => inMempool(t.lab, c.rec.close!.txid));
    }

    beforeAll(async () => {
      chs = await t.fleet(5, { tweak: (m) => void (m.toSelfDelay = TO_SELF_DELAY) });
    }, 120_000);

    // ---------------------------------------------------------------- the peer's latest commitment
    let remoteCommit: { txid: string; raw: Uint8Array };
    let beforeRemote: bigint;
    t.row('onchain', 'reestablish/commitment-broadcast-any-time', async () => {
      const ch = chs[2]!;
      const h = await t.htlcToNode(4_000_000n);
      ch.addHtlc(h);
      ch.commit();
      const index = ch.state.localCommit.index;
      // The node revokes and signs our next commitment; we never revoke the one before.
      await ch.run('the node signs our next commitment', (c) => c.localCommit.index > index, { withhold: (o) => o.name === 'revoke_and_ack' });
      expect(ch.withheld.map((o) => o.name)).toEqual(['revoke_and_ack']);
      expect(stored(ch).rec.commitments.nextRemoteCommit?.txid).toBe(ch.commitmentTx().txid);
      beforeRemote = (await t.victim.wallet()).confirmed;
      remoteCommit = ch.commitmentTx();
      expect((await broadcast(t.lab, remoteCommit.raw)).refused).toBeUndefined();
      await t.mine(1);
      const c = await waitFor('the node sees the funding spent', () => (stored(ch).rec.close ? stored(ch) : undefined));
      expect(c.rec.close).toMatchObject({ kind: 'remote', txid: remoteCommit.txid });
    }, 60_000);
    t.row('onchain', 'onchain/monitor-spends', async () => {
      // The spend was seen on the block that confirmed it (the previous row), and its outputs are followed: to_remote swept.
      const ch = chs[2]!;
      const c = await waitFor('the node sweeps its output', () => (Object.keys(stored(ch).rec.close?.spends ?? {}).length ? stored(ch) : undefined));
      expect(Object.keys(c.rec.close!.spends).map((k) => k.split(':')[0])).toEqual([remoteCommit.txid]);
    });
    t.row('onchain', 'remote/handle-outputs', async () => {
      const ch = chs[2]!;
      const spend = Object.values(stored(ch).rec.close!.spends)[0]!.txid;
      await waitFor('the sweep in the mempool', () => inMempool(t.lab, spend));
      await t.mine(1);
      const sweep = await decoded(spend);
      const commit = await decoded(remoteCommit.txid);
      // to_remote (the node's balance on the peer's commitment), swept whole less its fee; the HTLC the peer never committed to is left.
      expect(sweep.vin.map((i) => i.txid)).toEqual([remoteCommit.txid]);
      const toRemote = sats(commit.vout[sweep.vin[0]!.vout]!.value);
      expect(toRemote).toBe(ch.state.localCommit.spec.toRemoteMsat / 1000n);
      const fee = await t.lab.fee(spend);
      await waitFor('the wallet has it', async () => (await t.victim.wallet()).confirmed === beforeRemote + toRemote - fee);
      const htlcVout = commit.vout.findIndex((o) => sats(o.value) === 4_000n);
      expect(await spenderOf(t.lab, remoteCommit.txid, htlcVout)).toBeUndefined();
    }, 60_000);
    t.row('onchain', 'onchain/funding-spent-fail', async () => {
      const ch = chs[2]!;
      expect(stored(ch).phase).toBe('closing');
      const before = t.victim.balances(ch.id);
      const from = ch.peer.mark();
      const h = await t.htlcToNode(3_000_000n);
      ch.forgetUnsigned();
      ch.addHtlc(h);
      await ch.peer.barrier();
      // The add is not taken into the channel: no state change, no commitment or revocation from the node.
      expect(t.victim.balances(ch.id)).toEqual(before);
      expect(ch.peer.since(from, (r) => r.name === 'commitment_signed' || r.name === 'revoke_and_ack' || r.name === 'update_fail_htlc')).toEqual([]);
      expect(stored(ch).phase).toBe('closing');
    });

    // ---------------------------------------------------------------- a revoked commitment
    t.row('onchain', 'revoked/justice-to_local', async () => {
      const ch = chs[3]!;
      await t.payNode(ch, 20_000_000n);
      // An HTLC from the node (held) and one to it with a payment hash it does not know (it fails it once committed).
      const inv = hostileInvoice(ch.peer, msat(9_000_000n));
      const paid = t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 120 });
      await ch.run('the node\'s HTLC committed', (_c, x) => x.incoming.length === 1);
      const height = await t.lab.btcd.height();
      const hash = sha256(crypto.getRandomValues(new Uint8Array(32)));
      const cltvExpiry = (height + 40) as CltvExpiry;
      ch.addHtlc({ amountMsat: msat(8_000_000n), paymentHash: hash, cltvExpiry, onion: paymentOnion({ payee: t.victim.nodeId, amountMsat: msat(8_000_000n), cltvExpiry, paymentHash: hash, paymentSecret: new Uint8Array(32).fill(1) }) });
      ch.commit();
      await ch.run('the node fails our HTLC', (c) => c.localCommit.spec.htlcs.length === 1 && c.remoteCommit.spec.htlcs.length === 1 && !c.nextRemoteCommit);
      const f = sendFulfill(ch.state, ch.incoming[0]!.id, inv.preimage);
      ch.state = f.state;
      for (const o of f.send) ch.send(o);
      ch.signAndSend();
      await ch.run('the node\'s payment settled', (c, x) => x.quiet);
      expect(hex((await paid).paymentPreimage)).toBe(hex(inv.preimage));
      const old = ch.revokedStates.find((s) => s.localCommit.spec.htlcs.length === 2);
      expect(old).toBeDefined();
      const before = (await t.victim.wallet()).confirmed;
      const cheat = ch.commitmentTx(old!);
      expect((await broadcast(t.lab, cheat.raw)).refused).toBeUndefined();
      await t.mine(1);
      const c = await waitFor('the node\'s justice', () => {
        const s = stored(ch);
        return s.rec.close?.kind === 'revoked' && Object.keys(s.rec.close.spends).length === 4 ? s : undefined;
      });
      const sweeps = [...new Set(Object.values(c.rec.close!.spends).map((x) => x.txid))];
      expect(sweeps).toHaveLength(2);
      for (const s of sweeps) await waitFor('the node\'s transactions in the mempool', () => inMempool(t.lab, s));
      await t.mine(1);
      const txs = await Promise.all(sweeps.map(decoded));
      const justice = txs.find((x) => x.vin.length === 3)!;
      expect(justice.vin.map((i) => i.txid)).toEqual([cheat.txid, cheat.txid, cheat.txid]);
      justiceVouts.push(...justice.vin.map((i) => i.vout));
      const commit = await decoded(cheat.txid);
      justiceAmounts.push(...justiceVouts.map((v) => sats(commit.vout[v]!.value)));
      // Everything on the revoked commitment is the node's now: its main output, the peer's to_local and both HTLCs, less the two fees.
      const total = commit.vout.reduce((s, o) => s + sats(o.value), 0n);
      const fees = (await t.lab.fee(sweeps[0]!)) + (await t.lab.fee(sweeps[1]!));
      await waitFor('the wallet has it all', async () => (await t.victim.wallet()).confirmed === before + total - fees);
      // The third input is the peer's to_local: the output that is neither an HTLC nor the node's main output.
      const mainOut = txs.find((x) => x.vin.length === 1)!.vin[0]!.vout;
      const others = commit.vout.map((_, v) => v).filter((v) => v !== mainOut);
      expect([...justiceVouts].sort()).toEqual(others.sort());
    }, 120_000);
    const justiceVouts: number[] = [];
    const justiceAmounts: bigint[] = [];
    t.row('onchain', 'revoked/justice-offered-htlc', async () => {
      // The peer's HTLC (8,000 sat) is one of the justice transaction's inputs.
      expect(justiceAmounts).toContain(8_000n);
    });
    t.row('onchain', 'revoked/justice-received-htlc', async () => {
      // The node's HTLC (9,000 sat) too.
      expect(justiceAmounts).toContain(9_000n);
    });

    // ---------------------------------------------------------------- the node's own commitment
    let local: { commit: string; confirmedAt: number; before: bigint };
    t.row('onchain', 'local/to_local-csv', async () => {
      const ch = chs[4]!;
      const before = (await t.victim.wallet()).confirmed;
      const { closingTxidHex } = await t.victim.api.closeChannel({ channelId: ch.channelId, force: true });
      await waitFor('the commitment in the mempool', () => inMempool(t.lab, closingTxidHex));
      await t.mine(1);
      local = { commit: closingTxidHex, confirmedAt: await t.lab.btcd.height(), before };
      // The sweep is valid in the block after the commitment has TO_SELF_DELAY confirmations.
      await t.mine(TO_SELF_DELAY - 2);
      expect(Object.keys(stored(ch).rec.close!.spends)).toEqual([]);
      const commit = await decoded(local.commit);
      for (let v = 0; v < commit.vout.length; v++) expect(await spenderOf(t.lab, local.commit, v)).toBeUndefined();
    }, 60_000);
    t.row('onchain', 'local/sweep-to_local', async () => {
      const ch = chs[4]!;
      await t.mine(1); // TO_SELF_DELAY confirmations
      const c = await waitFor('the node sweeps to_local', () => (Object.keys(stored(ch).rec.close!.spends).length ? stored(ch) : undefined));
      const spend = Object.values(c.rec.close!.spends)[0]!.txid;
      await waitFor('the sweep in the mempool', () => inMempool(t.lab, spend));
      await t.mine(1);
      const sweep = await decoded(spend);
      expect(sweep.vin.map((i) => [i.txid, i.sequence])).toEqual([[local.commit, TO_SELF_DELAY]]);
      const commit = await decoded(local.commit);
      const toLocal = sats(commit.vout[sweep.vin[0]!.vout]!.value);
      expect(toLocal).toBe(c.rec.commitments.localCommit.spec.toLocalMsat / 1000n);
      const fee = await t.lab.fee(spend);
      await waitFor('the wallet has it', async () => (await t.victim.wallet()).confirmed === local.before + toLocal - fee);
    }, 60_000);
    // The deadline rows last: their closes keep resolving (HTLC transactions, sweeps) while later blocks are mined, which would move the wallet under the exact checks above.
    // ---------------------------------------------------------------- timeout deadline
    const offeredFrom = { at: 0 };
    t.row('onchain', 'deadlines/offered-past-deadline-error', async () => {
      const ch = chs[0]!;
      const inv = hostileInvoice(ch.peer, msat(7_000_000n));
      void t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 600 }).then(() => undefined, () => undefined);
      await ch.run('the node\'s HTLC committed', (_c, x) => x.incoming.length === 1);
      const cltv = ch.incoming[0]!.cltvExpiry;
      offeredFrom.at = ch.peer.mark();
      await t.mine(cltv + TIMEOUT_GRACE_BLOCKS - 1 - (await t.lab.btcd.height()));
      await ch.peer.barrier();
      expect(ch.peer.since(offeredFrom.at, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
      expect(stored(ch).phase).toBe('normal');
      await t.mine(1); // cltv_expiry + 3
      const err = await t.oneRefusal(ch.peer, ch.id, offeredFrom.at);
      expect(textOf(err)).toMatch(/deadline|expir/i);
    }, 90_000);
    t.row('onchain', 'deadlines/offered-past-deadline-fail', async () => {
      await failedOnChain(chs[0]!, offeredFrom.at, 1);
    });

    // ---------------------------------------------------------------- fulfillment deadline
    const fulfilledFrom = { at: 0 };
    t.row('onchain', 'deadlines/fulfilled-past-deadline-error', async () => {
      const ch = chs[1]!;
      const h = await t.htlcToNode(6_000_000n);
      ch.addHtlc(h);
      ch.commit();
      // Honest up to the node's update_fulfill_htlc; after it the peer answers nothing.
      await ch.run('the node fulfils', (_c, x) => x.applied.some((r) => r.name === 'update_fulfill_htlc'));
      fulfilledFrom.at = ch.peer.mark();
      await t.mine(h.cltvExpiry - FULFILLMENT_DEADLINE_BLOCKS - 1 - (await t.lab.btcd.height()));
      await ch.peer.barrier();
      expect(ch.peer.since(fulfilledFrom.at, (r) => r.name === 'error' || r.name === 'warning')).toEqual([]);
      await t.mine(1); // cltv_expiry - 10
      const err = await t.oneRefusal(ch.peer, ch.id, fulfilledFrom.at);
      expect(textOf(err)).toMatch(/deadline|expir/i);
    }, 90_000);
    t.row('onchain', 'deadlines/fulfilled-past-deadline-fail', async () => {
      await failedOnChain(chs[1]!, fulfilledFrom.at, 1);
    });


    // ---------------------------------------------------------------- anchors: the HTLC transaction brings its fee
    t.row('onchain', 'htlc-tx/anchors-bring-fee', async () => {
      const [ch] = await t.fleet(1, { channelType: ANCHORS_TYPE, tweak: (m) => void (m.toSelfDelay = TO_SELF_DELAY) });
      const inv = hostileInvoice(ch!.peer, msat(12_000_000n));
      void t.victim.api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 600 }).then(() => undefined, () => undefined);
      await ch!.run('the node\'s HTLC committed', (_c, x) => x.incoming.length === 1);
      const cltv = ch!.incoming[0]!.cltvExpiry;
      const { closingTxidHex: commit } = await t.victim.api.closeChannel({ channelId: ch!.channelId, force: true });
      await waitFor('the commitment in the mempool', () => inMempool(t.lab, commit));
      await t.mine(1);
      const htlcVout = (await decoded(commit)).vout.findIndex((o) => sats(o.value) === 12_000n);
      expect(htlcVout).toBeGreaterThanOrEqual(0);
      await t.mine(cltv - 1 - (await t.lab.btcd.height()));
      expect(stored(ch!).rec.close!.spends[`${commit}:${htlcVout}`]).toBeUndefined();
      await t.mine(1); // cltv_expiry: the HTLC-timeout is valid in the next block
      const c = await waitFor('the node\'s HTLC-timeout', () => (stored(ch!).rec.close!.spends[`${commit}:${htlcVout}`] ? stored(ch!) : undefined));
      const stage = c.rec.close!.spends[`${commit}:${htlcVout}`]!.txid;
      await waitFor('the HTLC-timeout in the mempool', () => inMempool(t.lab, stage));
      const tx = await t.lab.btcd.rpc.call<DecodedTx & { weight: number; locktime: number }>('getrawtransaction', stage, 1);
      // The peer's signature covers input 0 and output 0 only (SIGHASH_SINGLE|ANYONECANPAY): the HTLC pays output 0 in full, a wallet coin pays the fee.
      expect(tx.vin[0]).toMatchObject({ txid: commit, vout: htlcVout });
      expect(tx.vin.length).toBeGreaterThanOrEqual(2);
      expect(tx.locktime).toBe(cltv);
      const fee = await t.lab.fee(stage);
      expect(sats(tx.vout[0]!.value)).toBe(12_000n);
      // At least the relay floor (253 sat/kw) for its whole weight, wallet input and change included.
      expect(fee * 1000n).toBeGreaterThanOrEqual(BigInt(tx.weight) * 253n);
      await t.mine(1);
      expect(await t.lab.confirmations(stage)).toBe(1);
    }, 120_000);
  });
}
