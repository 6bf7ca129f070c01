// lab-peers: btcd
/**
 * Channel funding spends only coins a stranger cannot replace (issue 16
 * item 6): with 100,000 sat confirmed and 1,000,000 sat unconfirmed just
 * received from another wallet (the lab faucet), a 500,000 sat open is
 * refused (FAILED_PRECONDITION through lnnode.v1) saying how much is
 * confirmed and why the rest waits; nothing is built or reserved. Once the
 * coin confirms, the same open goes through.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FeeratePerKw, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { API_LISTEN, apiOf, failure } from './node-api.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let api: Awaited<ReturnType<typeof apiOf>>;

beforeAll(async () => {
  lab = await ChannelLab.start('fundcoins');
  a = lab.startNode('a', API_LISTEN);
  b = lab.startNode('b');
  api = await apiOf(a);
  await lab.fund(a, 100_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await lab?.stop();
});

describe('funding on coins a stranger can replace', () => {
  test('an unconfirmed coin from another wallet does not fund a channel; the error says why and how much is confirmed', async () => {
    const foreign = await lab.faucet.send(a.wallet!.newAddress(), 1_000_000n);
    await waitFor('the unconfirmed coin seen', async () => {
      await a.wallet!.sync();
      return a.wallet!.balance().unconfirmedSat === 1_000_000n;
    });
    const mempool = await lab.btcd.rpc.call<string[]>('getrawmempool');
    const refused = await failure(api.client.openChannel({ peerPubkey: b.nodeId, localFundingAmountSat: 500_000n, fundingFeeRateSatPerVbyte: 4n }));
    expect(refused.code).toBe('FailedPrecondition');
    expect(refused.message).toMatch(
      /^insufficient confirmed funds for a channel funding: need 500\d{3} sat including fees, have 100000 sat confirmed \(or our own change\); 1000000 sat more is unconfirmed from other wallets and is not used until it confirms, since its sender could replace it$/,
    );
    expect(await lab.btcd.rpc.call<string[]>('getrawmempool')).toEqual(mempool);
    expect(a.wallet!.balance()).toEqual({ confirmedSat: sat(100_000), unconfirmedSat: sat(1_000_000), reservedSat: sat(0) });
    expect(a.wallet!.transactions()).toEqual([]);

    // Confirmed, the same coin funds it.
    await lab.btcd.generate(1);
    await waitFor('the coin confirmed', async () => {
      await a.wallet!.sync();
      return a.wallet!.balance().confirmedSat === 1_100_000n;
    });
    const opened = await a.channels!.open(b.nodeId, { fundingSat: sat(500_000), fundingFeerate: 1_000 as FeeratePerKw });
    const inputs = a.wallet!.transaction(opened.fundingTxid)!.inputs;
    expect(inputs).toEqual([`${foreign}:0`]);
    await lab.mineUntil('the channel open on both sides', () => !!a.channels!.get(opened.channelId)?.active && !!b.channels!.get(opened.channelId)?.active, 10);
    expect(await lab.walletBalance(a)).toBe(1_100_000n - 500_000n - (await lab.fee(opened.fundingTxid)));
  }, 120_000);
});
