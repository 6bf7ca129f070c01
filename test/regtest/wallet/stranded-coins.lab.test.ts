// lab-peers: btcd
/**
 * Coins stranded by a broadcast that did not go through (issue 16 item 2),
 * against the lab's btcd going away and coming back, and refusing:
 *
 * - a channel funding made while btcd is away is stored, sent again once it
 *   is back, and the channel opens; ListWalletTransactions shows it waiting
 *   and ReleaseTransaction refuses it (the channel needs it);
 * - a send stored while btcd was away can be released by the operator and
 *   is then never broadcast;
 * - a send btcd refuses (fee under its minimum relay fee, no free relay) is
 *   FAILED_PRECONDITION with btcd's reason and leaves reservedSat 0, the
 *   coins spendable;
 * - a 1-sat output is refused before anything is built; a send without funds
 *   is FAILED_PRECONDITION.
 *
 * Every wallet ends exact to the sat, from the fees btcd reports.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { hex } from '../../../src/bolt/bytes.ts';
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
  lab = await ChannelLab.start('stranded');
  a = lab.startNode('a', API_LISTEN);
  b = lab.startNode('b');
  api = await apiOf(a);
  await lab.fund(a, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await lab?.stop();
});

const mempool = (): Promise<string[]> => lab.btcd.rpc.call<string[]>('getrawmempool');

describe('coins stranded by a failed broadcast', () => {
  test('a funding made while btcd is away is sent again once it is back, and the channel opens', async () => {
    const before = await lab.walletBalance(a);
    let opened: { channelId: Uint8Array; fundingTxid: string } | undefined;
    await lab.btcd.restart({
      whileDown: async () => {
        opened = await a.channels!.open(b.nodeId, { fundingSat: sat(400_000), fundingFeerate: 1_000 as FeeratePerKw });
        const listed = (await api.client.listWalletTransactions({})).transactions.find((t) => t.txidHex === opened!.fundingTxid)!;
        expect({ purpose: listed.purpose, state: listed.state, blockHeight: listed.blockHeight }).toEqual({ purpose: 'funding', state: 'unconfirmed', blockHeight: 0 });
        expect(listed.neededBy).toBe(`channel ${hex(opened.channelId)} (awaiting_lock_in), whose funding it is`);
        expect(listed.lastError).toMatch(/esplora/);
        expect(await failure(api.client.releaseTransaction({ txidHex: opened.fundingTxid }))).toEqual({
          code: 'FailedPrecondition',
          message: `transaction ${opened.fundingTxid} is still needed by channel ${hex(opened.channelId)} (awaiting_lock_in), whose funding it is; it is not released`,
        });
      },
    });
    // btcd came back with an empty mempool; the node sends the funding as soon as it finds btcd back, before any block.
    const height = await lab.btcd.height();
    await waitFor('the funding sent once btcd is back', async () => (await mempool()).includes(opened!.fundingTxid));
    expect(await lab.btcd.height()).toBe(height);
    const id = hex(opened!.channelId);
    await lab.mineUntil('the channel to open', () => !!a.channels!.get(opened!.channelId)?.active && !!b.channels!.get(opened!.channelId)?.active, 20);
    const fee = await lab.fee(opened!.fundingTxid);
    expect(await lab.walletBalance(a)).toBe(before - 400_000n - fee);
    expect(a.wallet!.transaction(opened!.fundingTxid)).toMatchObject({ state: 'unconfirmed', broadcast: true });
    await lab.settled(a, b, id);
  }, 120_000);

  test('a send stored while btcd was away can be released by the operator and is never broadcast', async () => {
    const before = await lab.walletBalance(a);
    let txid = '';
    await lab.btcd.restart({
      whileDown: async () => {
        const r = await api.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 50_000n, feeRateSatPerVbyte: 2n });
        expect(r.broadcast).toBe(false);
        expect(r.broadcastError).toMatch(/esplora/);
        txid = r.txidHex;
        expect((await api.client.walletBalance({})).reservedSat).toBeGreaterThan(0n);
        // The chain source cannot say whether it has the transaction: not released.
        expect((await failure(api.client.releaseTransaction({ txidHex: txid }))).code).toBe('Unavailable');
      },
    });
    const released = (await api.client.releaseTransaction({ txidHex: txid })).transaction!;
    expect({ state: released.state, lastError: released.lastError }).toEqual({ state: 'released', lastError: 'released by the operator' });
    expect(await api.client.walletBalance({})).toMatchObject({ confirmedSat: before, reservedSat: 0n });
    for (let i = 0; i < 2; i++) {
      await lab.btcd.generate(1);
      await lab.synced(a);
      await Bun.sleep(400);
    }
    expect(await mempool()).toEqual([]);
    expect(await lab.btcd.rpc.call('getrawtransaction', txid).catch(() => 'unknown')).toBe('unknown');
    expect(await lab.walletBalance(a)).toBe(before);
  }, 120_000);

  test('a send btcd refuses (fee under its minimum) leaves reservedSat 0 and the coins spendable', async () => {
    const before = await lab.walletBalance(a);
    // A 5 sat/vB minimum with no free relay (btcd's "high priority" and penny allowances off):
    // the faucet's ~7 sat/vB still passes, 2 sat/vB does not.
    await lab.btcd.restart({ args: ['--minrelaytxfee=0.00005', '--norelaypriority', '--limitfreerelay=0'] });
    try {
      await lab.synced(a);
      const refused = await failure(api.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 100_000n, feeRateSatPerVbyte: 2n }));
      expect(refused.code).toBe('FailedPrecondition');
      expect(refused.message).toMatch(/^the network refused transaction ([0-9a-f]{64}) \(.*TX rejected: transaction \1 has been rejected by the rate limiter due to low fees.*\); nothing was paid and its coins are spendable again$/);
      expect(await api.client.walletBalance({})).toMatchObject({ confirmedSat: before, unconfirmedSat: 0n, reservedSat: 0n });
      expect(a.wallet!.spendable().reduce((s, c) => s + c.value, 0n)).toBe(before);
      const listed = (await api.client.listWalletTransactions({})).transactions[0]!;
      expect({ state: listed.state, purpose: listed.purpose }).toEqual({ state: 'failed', purpose: 'send' });
      // The same coins pay at a rate btcd takes.
      const ok = await api.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 100_000n, feeRateSatPerVbyte: 10n });
      expect(ok.broadcast).toBe(true);
      expect(await mempool()).toContain(ok.txidHex);
      await lab.btcd.generate(1);
      expect(await lab.walletBalance(a)).toBe(before - 100_000n - ok.feeSat);
      expect(await lab.fee(ok.txidHex)).toBe(ok.feeSat);
    } finally {
      await lab.btcd.restart({ args: [] });
    }
  }, 120_000);

  test('a 1-sat output is refused before anything is built; a send without funds is FAILED_PRECONDITION', async () => {
    const before = await api.client.walletBalance({});
    expect(await failure(api.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 1n }))).toEqual({
      code: 'FailedPrecondition',
      message: '1 sat is below the dust limit of 294 sat for that address: the network would refuse the transaction',
    });
    expect(await api.client.walletBalance({})).toEqual(before);
    expect(await mempool()).toEqual([]);
    const empty = lab.startNode('empty', API_LISTEN);
    const emptyApi = await apiOf(empty);
    try {
      await waitFor('empty node synced', () => empty.tip !== undefined);
      const r = await failure(emptyApi.client.sendToAddress({ address: lab.btcd.miner.address, amountSat: 10_000n }));
      expect(r.code).toBe('FailedPrecondition');
      expect(r.message).toMatch(/^insufficient funds: need \d+ sat including fees, have 0 sat spendable$/);
    } finally {
      await emptyApi.stop();
      lab.stopNode(empty);
    }
  }, 60_000);
});
