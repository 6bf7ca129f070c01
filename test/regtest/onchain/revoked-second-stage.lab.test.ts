// lab-peers: btcd
/**
 * Issue 13 hole 5, BOLT 5 "Revoked Transaction Close Handling": the cheater
 * broadcasts a revoked commitment carrying HTLCs both ways and then spends
 * those HTLC outputs with its own HTLC-success and HTLC-timeout
 * transactions. We MUST resolve those with the revocation key: their
 * outputs are ours until the cheater's to_self_delay ends. Our justice
 * transaction already sent for the commitment's outputs is invalidated by
 * them and rebuilt without the inputs they took; the outputs of the
 * second-stage transactions go into the same justice transaction as the
 * commitment's to_local.
 *
 * A ends with the whole channel amount less the fees of the transactions
 * on chain, exact to the sat; B (the cheater) with nothing of it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, fromHex } from '../../../src/bolt/bytes.ts';
import { serializeTx } from '../../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../../src/bolt/bolt5/our-commitment.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { channelSecrets } from '../../../src/node/channels/secrets.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { decoded, holdIncoming, reconnect, sendRaw } from './onchain-helpers.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(600_000);

beforeAll(async () => {
  lab = await ChannelLab.start('revoked-stage');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;

describe('a revoked commitment and the cheater\'s second-stage HTLC transactions', () => {
  test('A takes the outputs of the HTLC-success and HTLC-timeout with the revocation key, batched with to_local; wallets exact', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, 'static_remotekey');
    await lab.pay(a, b, msat(200_000_000));

    // One HTLC each way, held unresolved by its payee, so that B's commitment carries both.
    const toB = b.invoices.create({ amountMsat: msat(30_000_000), descriptionHash: sha256(Uint8Array.of(1)) });
    const toA = a.invoices.create({ amountMsat: msat(40_000_000), descriptionHash: sha256(Uint8Array.of(2)) });
    const releaseB = holdIncoming(b, toB.paymentHash);
    const releaseA = holdIncoming(a, toA.paymentHash);
    const paying = [a.payments.pay(toB.bolt11, { timeoutMs: 600_000 }), b.payments.pay(toA.bolt11, { timeoutMs: 600_000 })];
    const storedB = () => b.channels!.store.load<ChannelRecord>(fromHex(id))!;
    await waitFor('both HTLCs on both of B\'s commitments', () => {
      const c = storedB().state.commitments;
      return c.localCommit.spec.htlcs.length === 2 && c.remoteCommit.spec.htlcs.length === 2;
    });
    // B keeps this state; settling both HTLCs revokes it.
    const old = storedB();
    releaseA();
    releaseB();
    await reconnect(a, b);
    for (const p of await Promise.all(paying)) expect(p.state).toBe('succeeded');
    await lab.settled(a, b, id);

    const preimageOf = (h: Uint8Array) => (equalBytes(h, toB.paymentHash) ? toB.preimage : undefined);
    const cheat = ourCommitment(old.state.commitments, channelSecrets(b.identity.root, 'regtest', old.keyIndex), preimageOf);
    const success = cheat.secondStage.find((s) => s.kind === 'success')!;
    const timeout = cheat.secondStage.find((s) => s.kind === 'timeout')!;
    expect(success && timeout).toBeTruthy();

    // B goes away and broadcasts its revoked commitment; A answers with a justice transaction.
    lab.stopNode(b);
    await sendRaw(lab, serializeTx(cheat.tx));
    await lab.mineUntil('A sees the revoked commitment and sends its justice', () => summary(a, id).closeKind === 'revoked' && summary(a, id).sweepTxids.length === 2, 5);
    const firstJustice = (await Promise.all(summary(a, id).sweepTxids.map((t) => decoded(lab, t)))).find((t) => t.vin.length === 3);
    expect(firstJustice?.vin.map((i) => i.txid)).toEqual([cheat.txid, cheat.txid, cheat.txid]);

    // Before that confirms, the mempool is lost and the cheater's HTLC transactions get in first.
    lab.stopNode(a);
    await lab.btcd.restart();
    await sendRaw(lab, serializeTx(success.tx));
    await lab.btcd.generate(1);
    const height = await lab.btcd.height();
    if (timeout.cltv > height) await lab.btcd.generate(timeout.cltv - height);
    await sendRaw(lab, serializeTx(timeout.tx));
    await lab.btcd.generate(1);
    expect(await lab.confirmations(firstJustice!.txid)).toBeUndefined();

    a = lab.startNode('a');
    await lab.mineUntil('A swept everything and closed the channel', () => summary(a, id).phase === 'closed', 30);
    const sweeps = await Promise.all(summary(a, id).sweepTxids.map((t) => decoded(lab, t)));
    expect(sweeps).toHaveLength(2);
    const justice = sweeps.find((t) => t.vin.length > 1)!;
    // to_local of the revoked commitment and the output of each second-stage transaction, in one transaction.
    expect(justice.vin.map((i) => i.txid).sort()).toEqual([cheat.txid, success.txid, timeout.txid].sort());
    expect(justice.txid).not.toBe(firstJustice!.txid);

    const onChain = (await lab.fee(cheat.txid)) + (await lab.fee(success.txid)) + (await lab.fee(timeout.txid));
    const fundingFee = await lab.fee(fundingTxid);
    expect(await lab.walletBalance(a)).toBe(startA - fundingFee - onChain - (await lab.fees(sweeps.map((t) => t.txid))));
    b = lab.startNode('b');
    expect(await lab.walletBalance(b)).toBe(startB);
  }, 400_000);
});
