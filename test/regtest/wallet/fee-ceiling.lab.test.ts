// lab-peers: btcd
/**
 * No fee above the ceiling (issue 16 item 3): the lab's Esplora quotes
 * 5,000 sat/vB, absurd next to the 20 sat/vB ceiling both nodes run with
 * (--max-feerate 20). The estimate the node uses is clamped to 20 sat/vB, so
 * the channel's update_fee, a send_all and a mutual close pay at most that;
 * API fee rates above it are INVALID_ARGUMENT naming the option. Fees are
 * read back from btcd, balances exact to the sat.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { closingFee } from '../../../src/bolt/bolt3/closing.ts';
import { type FeeratePerKw, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { API_LISTEN, apiOf, failure } from './node-api.ts';

const CAP_SAT_VB = 20;
const CAP_PER_KW = CAP_SAT_VB * 250;
const ABSURD_SAT_VB = 5_000;

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let api: Awaited<ReturnType<typeof apiOf>>;

beforeAll(async () => {
  lab = await ChannelLab.start('feecap');
  a = lab.startNode('a', { ...API_LISTEN, maxFeerateSatPerVb: CAP_SAT_VB });
  b = lab.startNode('b', { maxFeerateSatPerVb: CAP_SAT_VB });
  api = await apiOf(a);
  await lab.fund(a, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  lab?.esplora.setFeeRate(2);
  await api?.stop();
  await lab?.stop();
});

async function vsize(txid: string): Promise<bigint> {
  return BigInt((await lab.btcd.rpc.call<{ vsize: number }>('getrawtransaction', txid, 1)).vsize);
}

describe('an Esplora quoting absurd fees', () => {
  test('update_fee, send_all and a mutual close pay at most the ceiling; API rates above it are refused', async () => {
    const ch = await lab.openChannel(a, b, sat(300_000));
    const fundingFee = await lab.fee(ch.fundingTxid);
    const id = fromHex(ch.id);
    expect(a.channels!.get(id)!.feeratePerKw).toBe(500 as FeeratePerKw);

    lab.esplora.setFeeRate(ABSURD_SAT_VB);
    // The estimate every fee comes from is clamped; as opener A moves the commitment to it with update_fee.
    await lab.mineUntil('the commitment at the ceiling', () => a.channels!.get(id)!.feeratePerKw === CAP_PER_KW && b.channels!.get(id)!.feeratePerKw === CAP_PER_KW, 5);
    expect(a.channels!.feerateEstimate).toBe(CAP_PER_KW as FeeratePerKw);

    for (const call of [
      api.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 10_000n, feeRateSatPerVbyte: BigInt(CAP_SAT_VB + 1) }),
      api.client.closeChannel({ channelId: id, feeRateSatPerVbyte: 100_000n }),
    ]) {
      const f = await failure(call);
      expect(f.code).toBe('InvalidArgument');
      expect(f.message).toMatch(new RegExp(`sat/vB is above the node's maximum of ${CAP_SAT_VB} sat/vB \\(--max-feerate\\)$`));
    }

    // send_all at the estimate: what is left of the wallet, less a fee at 20 sat/vB at most.
    const left = await lab.walletBalance(a);
    const swept = await api.client.sendToAddress({ address: lab.btcd.miner.address, sendAll: true });
    const sweepFee = await lab.fee(swept.txidHex);
    expect(sweepFee).toBe(swept.feeSat);
    // At most the ceiling on the real size, give or take the signature-size slack of one input.
    expect(sweepFee).toBeLessThanOrEqual(BigInt(CAP_SAT_VB) * ((await vsize(swept.txidHex)) + 1n));
    expect(sweepFee).toBeGreaterThan(BigInt(CAP_SAT_VB - 1) * (await vsize(swept.txidHex)));
    expect((await lab.outputs(swept.txidHex))).toEqual([left - sweepFee]);
    await lab.btcd.generate(1);
    expect(await lab.walletBalance(a)).toBe(0n);

    // A mutual close at the (clamped) estimate.
    await lab.settled(a, b, ch.id);
    const local = a.channels!.get(id)!.localBalanceMsat / 1000n;
    const { closingTxid } = await a.channels!.close(id);
    await waitFor('closing transaction in the mempool', async () => (await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(closingTxid));
    const closeFee = await lab.fee(closingTxid);
    // At most the ceiling over BOLT 3's closing weight (two P2WPKH outputs; it counts 73-byte signatures).
    const p2wpkh = new Uint8Array(22);
    expect(closeFee).toBeLessThanOrEqual(closingFee(CAP_PER_KW as FeeratePerKw, p2wpkh, p2wpkh));
    await lab.mineUntil('channel closed on both sides', () => a.channels!.get(id)?.phase === 'closed' && b.channels!.get(id)?.phase === 'closed', 10);
    // A was the opener: the closing fee came out of its side; the rest of the 300,000 sat went to B, which was paid nothing.
    expect(await lab.walletBalance(a)).toBe(local - closeFee);
    expect(await lab.walletBalance(b)).toBe(300_000n - local);
    expect(fundingFee).toBeGreaterThan(0n);
  }, 180_000);
});
