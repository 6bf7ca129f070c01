// lab-peers: btcd
/**
 * The wallet side of double spends and reorgs (issue 16 item 11), on the
 * lab's btcd with its mempool emptied (a btcd restart, as when a backend
 * restarts or evicts):
 *
 * - a send spending two coins loses one of them to a competing transaction
 *   that gets mined: the send is marked conflicted, the other coin is
 *   spendable again, and the balance counts neither;
 * - a channel funding confirmed once, then reorged out with the mempool
 *   emptied, is sent again by the running node and the channel opens.
 *
 * Each ends with the wallet exact to the sat.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { HDKey } from '@scure/bip32';
import { Address, OutScript, p2wpkh, Transaction } from '@scure/btc-signer';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { type FeeratePerKw, sat } from '../../../src/bolt/units.ts';
import { loadOrCreateSeed } from '../../../src/node/identity.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { reorg } from '../../lab/blocks.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { REGTEST } from '../../lab/regtest.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;

beforeAll(async () => {
  lab = await ChannelLab.start('conflicts');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

const mempool = (): Promise<string[]> => lab.btcd.rpc.call<string[]>('getrawmempool');

/** The private key of the receive address `address` of a node's wallet, found from its seed (as a restored copy of the wallet would). */
function keyOf(n: LightningNode, address: string): Uint8Array {
  const account = HDKey.fromMasterSeed(loadOrCreateSeed(n.config.dataDir, () => new Uint8Array())).derive("m/84'/1'/0'/0");
  for (let i = 0; i < 100; i++) {
    const k = account.deriveChild(i);
    if (p2wpkh(k.publicKey!, REGTEST).address === address) return k.privateKey!;
  }
  throw new Error(`no key for ${address}`);
}

describe('wallet transactions that can no longer confirm', () => {
  test('a send whose coin was double-spent by a mined transaction is conflicted; its other coin comes back', async () => {
    const addr60 = a.wallet!.newAddress();
    const c60 = await lab.faucet.send(addr60, 60_000n);
    await lab.faucet.send(a.wallet!.newAddress(), 70_000n);
    await lab.btcd.generate(1);
    await waitFor('both coins confirmed', async () => {
      await a.wallet!.sync();
      return a.wallet!.balance().confirmedSat === 130_000n;
    });
    const sent = await a.wallet!.send({ address: lab.btcd.miner.address, amountSat: sat(100_000), feerate: 1_000 as FeeratePerKw });
    // Two inputs, one of them the 60,000-sat coin (their order follows the random txids).
    const inputs = a.wallet!.transaction(sent.txid)!.inputs;
    expect(inputs).toHaveLength(2);
    expect(inputs).toContain(`${c60}:0`);
    expect(await mempool()).toContain(sent.txid);

    // The mempool is lost; before the node sends again (it does as soon as btcd is back), another copy of the wallet
    // spends the 60,000 sat coin, and it is mined.
    const thief = new Transaction();
    thief.addInput({ txid: fromHex(c60), index: 0, witnessUtxo: { script: OutScript.encode(Address(REGTEST).decode(addr60)), amount: 60_000n } });
    thief.addOutput({ script: lab.btcd.miner.script, amount: 59_000n });
    thief.sign(keyOf(a, addr60));
    thief.finalize();
    let thiefTxid = '';
    await lab.btcd.restart({
      beforeRestore: async (direct) => {
        thiefTxid = await direct.call<string>('sendrawtransaction', hex(thief.extract()));
        await direct.call('generate', 1);
      },
    });

    await waitFor('the send marked conflicted', () => a.wallet!.transaction(sent.txid)?.state === 'conflicted');
    expect(a.wallet!.transaction(sent.txid)).toMatchObject({ conflictTxid: thiefTxid, conflictHeight: await lab.btcd.height() });
    await a.wallet!.sync();
    expect(a.wallet!.balance()).toEqual({ confirmedSat: sat(70_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
    expect(a.wallet!.spendable().map((c) => c.value)).toEqual([sat(70_000)]);
    expect(await mempool()).not.toContain(sent.txid);
    // Spent again, exactly.
    const again = await a.wallet!.send({ address: lab.btcd.miner.address, amountSat: sat(50_000), feerate: 1_000 as FeeratePerKw });
    await lab.btcd.generate(1);
    expect(await lab.walletBalance(a)).toBe(70_000n - 50_000n - (await lab.fee(again.txid)));
  }, 120_000);

  test('a funding reorged out with the mempool emptied is sent again and the channel opens', async () => {
    await lab.fund(a, 1_000_000n);
    const start = await lab.walletBalance(a);
    const opened = await a.channels!.open(b.nodeId, { fundingSat: sat(300_000), fundingFeerate: 1_000 as FeeratePerKw });
    expect(await mempool()).toContain(opened.fundingTxid);
    await lab.btcd.generate(1);
    const minedAt = await lab.btcd.height();
    await waitFor('the funding seen confirmed', () => a.wallet!.transaction(opened.fundingTxid)?.blockHeight === minedAt);

    // Two empty blocks replace the one holding the funding; btcd puts it back in its mempool, then restarts without it.
    await reorg(lab.btcd.rpc, 1, lab.btcd.miner.script);
    await lab.btcd.restart({
      // Looked at before the node is let back in (it sends its transactions again as soon as it finds btcd back).
      beforeRestore: async (direct) => {
        expect(await direct.call<string[]>('getrawmempool')).not.toContain(opened.fundingTxid);
        // Neither in a block nor in the mempool: btcd knows nothing of it.
        expect(await direct.call('getrawtransaction', opened.fundingTxid, 1).catch(() => 'unknown')).toBe('unknown');
      },
    });

    await lab.mineUntil('the channel open on both sides', () => !!a.channels!.get(opened.channelId)?.active && !!b.channels!.get(opened.channelId)?.active, 15);
    const confirmations = (await lab.btcd.rpc.call<{ confirmations?: number }>('getrawtransaction', opened.fundingTxid, 1)).confirmations ?? 0;
    expect(confirmations).toBeGreaterThanOrEqual(3);
    expect(await lab.walletBalance(a)).toBe(start - 300_000n - (await lab.fee(opened.fundingTxid)));
  }, 120_000);
});
