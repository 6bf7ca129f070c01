// lab-peers: btcd
/**
 * The on-chain wallet against the lab's btcd through the Esplora adapter:
 * receive, confirm, send with an explicit fee rate, retry a send with the
 * same idempotency key, sweep, and refuse bad requests without moving coins.
 * Amounts are checked against the transactions as btcd decodes them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { type FeeratePerKw, sat } from '../../../src/bolt/units.ts';
import { EsploraChainSource } from '../../../src/chain/esplora.ts';
import { parseTx } from '../../../src/chain/txid.ts';
import { silentLogger } from '../../../src/node/log.ts';
import { Store } from '../../../src/node/store.ts';
import { InsufficientFundsError } from '../../../src/node/wallet/coin-selection.ts';
import { Wallet, WalletError } from '../../../src/node/wallet/wallet.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';

let lab: ChannelLab;
const seed = new Uint8Array(32).fill(42);

beforeAll(async () => {
  lab = await ChannelLab.start('wallet');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

function openWallet(): { wallet: Wallet; store: Store } {
  const store = Store.open(join(lab.root, 'w.sqlite'));
  const wallet = new Wallet(store, HDKey.fromMasterSeed(seed), 'regtest', new EsploraChainSource({ url: lab.esplora.url }), silentLogger);
  return { wallet, store };
}

/** Sum of a transaction's outputs paying `script`, from the raw bytes btcd returns. */
async function paidTo(txid: string, address: string): Promise<bigint> {
  const raw = await lab.btcd.rpc.call<string>('getrawtransaction', txid);
  const tx = parseTx(Buffer.from(raw, 'hex'));
  let sum = 0n;
  for (let i = 0; i < tx.outputsLength; i++) {
    const o = tx.getOutput(i);
    const v = (await lab.btcd.rpc.call<{ vout: { scriptPubKey: { addresses?: string[] } }[] }>('getrawtransaction', txid, 1)).vout[i];
    if (v?.scriptPubKey.addresses?.includes(address)) sum += o.amount!;
  }
  return sum;
}

describe('on-chain wallet (BIP84) on the lab', () => {
  test('receives, confirms, sends at the fee rate asked, and a retried send pays once', async () => {
    const { wallet, store } = openWallet();
    const a1 = wallet.newAddress();
    const a2 = wallet.newAddress();
    expect(a1).toStartWith('bcrt1q');
    expect(a2).not.toBe(a1);
    await lab.faucet.send(a1, 1_000_000n);
    await lab.faucet.send(a2, 250_000n);
    await wallet.sync();
    expect(wallet.balance()).toEqual({ confirmedSat: sat(0), unconfirmedSat: sat(1_250_000), reservedSat: sat(0) });
    await lab.btcd.generate(1);
    await wallet.sync();
    expect(wallet.balance().confirmedSat).toBe(sat(1_250_000));

    const feerate = 2_000 as FeeratePerKw; // 8 sat/vB
    const sent = await wallet.send({ address: lab.btcd.miner.address, amountSat: sat(300_000), feerate, idempotencyKey: 'job-1' });
    expect(await paidTo(sent.txid, lab.btcd.miner.address)).toBe(300_000n);
    const tx = parseTx(sent.raw);
    const weight = tx.weight;
    // The fee covers the asked rate within the signature-size slack (the final balance checks it to the sat).
    const mempool = await lab.btcd.rpc.call<string[]>('getrawmempool');
    expect(mempool).toContain(sent.txid);
    expect(sent.feeSat).toBeGreaterThanOrEqual(sat(BigInt(Math.ceil((weight * feerate) / 1000))));
    expect(sent.feeSat).toBeLessThanOrEqual(sat(BigInt(Math.ceil(((weight + 4) * feerate) / 1000))));
    expect(tx.getInput(0).sequence).toBe(0xfffffffd);

    // Same key: same transaction, nothing new in the mempool.
    const again = await wallet.send({ address: lab.btcd.miner.address, amountSat: sat(300_000), feerate, idempotencyKey: 'job-1' });
    expect(again.txid).toBe(sent.txid);
    expect((await lab.btcd.rpc.call<string[]>('getrawmempool')).length).toBe(mempool.length);

    await lab.btcd.generate(1);
    await wallet.sync();
    expect(wallet.balance().confirmedSat).toBe(sat(1_250_000n - 300_000n - sent.feeSat));
    store.close();
  }, 60_000);

  test('bad requests are refused with a clear error and move nothing', async () => {
    const { wallet, store } = openWallet();
    await wallet.sync();
    const before = wallet.balance();
    const feerate = 1_000 as FeeratePerKw;
    await expect(wallet.send({ address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', amountSat: sat(1000), feerate })).rejects.toBeInstanceOf(WalletError);
    await expect(wallet.send({ address: 'not an address', amountSat: sat(1000), feerate })).rejects.toBeInstanceOf(WalletError);
    await expect(wallet.send({ address: lab.btcd.miner.address, amountSat: sat(0), feerate })).rejects.toBeInstanceOf(WalletError);
    await expect(wallet.send({ address: lab.btcd.miner.address, amountSat: sat(100_000_000), feerate })).rejects.toBeInstanceOf(InsufficientFundsError);
    await Bun.sleep(50);
    expect(wallet.balance()).toEqual(before);
    expect(await lab.btcd.rpc.call<string[]>('getrawmempool')).toEqual([]);
    store.close();
  }, 30_000);

  test('after a reopen the same keys are found; a sweep empties the wallet to one output', async () => {
    const { wallet, store } = openWallet();
    await wallet.sync();
    const have = wallet.balance().confirmedSat;
    expect(have).toBeGreaterThan(0n);
    const dest = lab.btcd.miner.address;
    const swept = await wallet.send({ address: dest, amountSat: 'all', feerate: 253 as FeeratePerKw });
    expect(await paidTo(swept.txid, dest)).toBe(have - swept.feeSat);
    await lab.btcd.generate(1);
    await wallet.sync();
    expect(wallet.balance()).toEqual({ confirmedSat: sat(0), unconfirmedSat: sat(0), reservedSat: sat(0) });
    store.close();
  }, 30_000);
});
