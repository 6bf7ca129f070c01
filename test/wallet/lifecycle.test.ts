/**
 * The wallet's transactions from signing to final, against an in-memory
 * regtest chain (test/chain/fake-chain.ts) that can refuse, go away, mine
 * a double spend and reorganise with its mempool emptied: refused sends
 * release their coins, dust is refused before anything is built, a funding
 * whose broadcast failed is sent again on the next block, a double-spent
 * transaction is marked conflicted and its other coins come back (and it is
 * reopened when a reorg undoes the conflict), channel funding spends only
 * confirmed coins or our own change, fees above a share of the amount need
 * consent, and the operator can release what is not on chain. Balances are
 * checked to the sat.
 */
import { describe, expect, test } from 'bun:test';
import { HDKey } from '@scure/bip32';
import { Address, OutScript } from '@scure/btc-signer';
import { type FeeratePerKw, sat } from '../../src/bolt/units.ts';
import { parseTx } from '../../src/chain/txid.ts';
import { type ChainSource, ChainSourceError } from '../../src/chain/types.ts';
import { silentLogger } from '../../src/node/log.ts';
import { type Tx } from '../../src/bolt/bolt3/tx.ts';
import { Store } from '../../src/node/store.ts';
import { UnconfirmedFundsError } from '../../src/node/wallet/errors.ts';
import { Wallet, WalletError } from '../../src/node/wallet/wallet.ts';
import { FakeChain, rawTx } from '../chain/fake-chain.ts';

const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
const scriptOf = (address: string): Uint8Array => OutScript.encode(Address(REGTEST).decode(address));
const FEERATE = 1_000 as FeeratePerKw;
const ELSEWHERE = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';

interface Setup {
  chain: FakeChain;
  wallet: Wallet;
  store: Store;
  /** While true, every call to the chain source fails as an unreachable server does. */
  down: { value: boolean };
}

function setup(): Setup {
  const chain = new FakeChain();
  chain.mineMany(10);
  const down = { value: false };
  const honest = chain.source();
  const source = Object.fromEntries(
    Object.entries(honest).map(([k, v]) => [
      k,
      typeof v === 'function'
        ? async (...args: unknown[]) => {
            if (down.value) throw new ChainSourceError('fake', 'connection refused');
            return (v as (...a: unknown[]) => unknown)(...args);
          }
        : v,
    ]),
  ) as unknown as ChainSource;
  const store = Store.open(':memory:');
  const wallet = new Wallet(store, HDKey.fromMasterSeed(new Uint8Array(32).fill(9)), 'regtest', source, silentLogger);
  return { chain, wallet, store, down };
}

/** Pays `values` to fresh wallet addresses from outside and mines them (unless `confirm` is false). */
async function receive(s: Setup, values: bigint[], confirm = true): Promise<void> {
  for (const v of values) s.chain.fund([{ script: scriptOf(s.wallet.newAddress()), value: v }]);
  if (confirm) s.chain.mine();
  await s.wallet.sync();
}

async function block(s: Setup, o: { forkHeight?: number } = {}): Promise<void> {
  await s.wallet.onBlock(o);
}

describe('wallet: refused and failed broadcasts release their coins', () => {
  test('a send the network refuses for good (fee below its minimum) leaves nothing reserved and the coins spendable', async () => {
    const s = setup();
    await receive(s, [100_000n]);
    s.chain.refusal = () => 'min relay fee not met, 110 < 141';
    const e = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(50_000), feerate: FEERATE }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WalletError);
    expect((e as Error).message).toMatch(/the network refused transaction [0-9a-f]{64} \(min relay fee not met, 110 < 141\); nothing was paid and its coins are spendable again/);
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(100_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
    expect(s.wallet.spendable().map((c) => c.value)).toEqual([sat(100_000)]);
    expect(s.wallet.transactions()[0]).toMatchObject({ state: 'failed', purpose: 'send', lastError: 'min relay fee not met, 110 < 141' });
    // The same coins pay once the network takes the transaction.
    s.chain.refusal = undefined;
    const ok = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(50_000), feerate: FEERATE });
    expect(ok.broadcast).toBe(true);
    expect(s.chain.mempool.has(ok.txid)).toBe(true);
  });

  test('an output below dust is refused before anything is built or broadcast', async () => {
    const s = setup();
    await receive(s, [100_000n]);
    await expect(s.wallet.send({ address: ELSEWHERE, amountSat: sat(1), feerate: FEERATE })).rejects.toThrow('1 sat is below the dust limit of 294 sat for that address: the network would refuse the transaction');
    const p2wsh = Address(REGTEST).encode(OutScript.decode(Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(3)])));
    await expect(s.wallet.send({ address: p2wsh, amountSat: sat(329), feerate: FEERATE })).rejects.toThrow(/below the dust limit of 330 sat/);
    expect(s.chain.broadcasts).toEqual([]);
    expect(s.wallet.transactions()).toEqual([]);
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(100_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
  });

  test('a send while the chain source is away is stored, returned unbroadcast, and sent on the next block', async () => {
    const s = setup();
    await receive(s, [100_000n]);
    s.down.value = true;
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(40_000), feerate: FEERATE, idempotencyKey: 'k1' });
    expect(sent.broadcast).toBe(false);
    expect(sent.broadcastError).toContain('connection refused');
    expect(s.wallet.balance().reservedSat).toBe(sat(100_000));
    await block(s);
    expect(s.chain.mempool.has(sent.txid)).toBe(false);
    s.down.value = false;
    await block(s);
    expect(s.chain.mempool.has(sent.txid)).toBe(true);
    // A retry with the same key returns the same transaction.
    expect((await s.wallet.send({ address: ELSEWHERE, amountSat: sat(40_000), feerate: FEERATE, idempotencyKey: 'k1' })).txid).toBe(sent.txid);
    s.chain.mine();
    await block(s);
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(100_000n - 40_000n - sent.feeSat), unconfirmedSat: sat(0), reservedSat: sat(0) });
  });

  test('a channel funding is held until the channel layer asks; if that broadcast fails it is sent again each block', async () => {
    const s = setup();
    await receive(s, [500_000n]);
    const funding = s.wallet.fundingTransaction(Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(5)]), sat(200_000), FEERATE);
    await block(s);
    expect(s.chain.broadcasts).toEqual([]); // held: the peer has not signed our commitment yet
    s.down.value = true;
    await expect(s.wallet.broadcastStored(funding.txid)).rejects.toThrow(/not broadcast yet .*connection refused.*; sent again on every block/);
    s.down.value = false;
    await block(s);
    expect(s.chain.mempool.has(funding.txid)).toBe(true);
    s.chain.mine();
    for (let i = 0; i < 6; i++) {
      s.chain.mine({ txs: [] });
      await block(s);
    }
    expect(s.wallet.transaction(funding.txid)).toMatchObject({ state: 'confirmed', blockHeight: 12 });
  });

  test('an abandoned open forgets its held funding and its coins come back', async () => {
    const s = setup();
    await receive(s, [300_000n]);
    const funding = s.wallet.fundingTransaction(Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(5)]), sat(200_000), FEERATE);
    expect(s.wallet.balance().reservedSat).toBe(sat(300_000));
    s.wallet.abandon(funding.txid);
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(300_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
  });
});

describe('wallet: double spends and reorgs', () => {
  test('a transaction whose input another confirmed transaction spent is conflicted; its other coins are released', async () => {
    const s = setup();
    await receive(s, [60_000n, 70_000n]);
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(100_000), feerate: FEERATE });
    const inputs = s.wallet.transaction(sent.txid)!.inputs;
    expect(inputs.length).toBe(2);
    // Someone with the key of the 60k coin spends it elsewhere and gets it mined; the mempool forgets ours.
    const valueOf = (outpoint: string): bigint | undefined => {
      const [txid, vout] = outpoint.split(':') as [string, string];
      return parseTx(s.chain.txs.get(txid)!).getOutput(Number(vout)).amount;
    };
    const [ptxid, pvout] = inputs.find((o) => valueOf(o) === 60_000n)!.split(':') as [string, string];
    const thief = rawTx([{ txid: ptxid, vout: Number(pvout) }], [{ script: scriptOf(ELSEWHERE), value: 59_000n }]);
    s.chain.mempool.delete(sent.txid);
    const conflictBlock = s.chain.mine({ txs: [thief] });
    await block(s);
    expect(s.wallet.transaction(sent.txid)).toMatchObject({ state: 'conflicted', conflictHeight: conflictBlock.height });
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(70_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
    expect(s.wallet.spendable().map((c) => c.value)).toEqual([sat(70_000)]);

    // A reorg undoes the double spend and the mempool is empty: ours is valid again and sent again.
    s.chain.mine({ txs: [], on: conflictBlock.height - 1 });
    s.chain.mine({ txs: [] });
    await block(s, { forkHeight: conflictBlock.height - 1 });
    expect(s.wallet.transaction(sent.txid)!.state).toBe('unconfirmed');
    expect(s.chain.mempool.has(sent.txid)).toBe(true);
    s.chain.mine();
    await block(s);
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(130_000n - 100_000n - sent.feeSat), unconfirmedSat: sat(0), reservedSat: sat(0) });
  });

  test('a confirmed send reorged out with the mempool emptied is sent again', async () => {
    const s = setup();
    await receive(s, [80_000n]);
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(30_000), feerate: FEERATE });
    const b = s.chain.mine();
    await block(s);
    expect(s.wallet.transaction(sent.txid)).toMatchObject({ state: 'unconfirmed', blockHeight: b.height });
    // Two empty blocks replace it; nothing is in the mempool.
    s.chain.mine({ txs: [], on: b.height - 1 });
    s.chain.mine({ txs: [] });
    s.chain.mempool.clear();
    await block(s, { forkHeight: b.height - 1 });
    expect(s.chain.mempool.has(sent.txid)).toBe(true);
    expect(s.wallet.transaction(sent.txid)!.blockHeight).toBeUndefined();
  });

  test('a send spending a coin whose parent vanished is kept and can be released by the operator', async () => {
    const s = setup();
    await receive(s, [90_000n], false);
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(20_000), feerate: FEERATE });
    // The sender replaced the parent: neither is known any more.
    s.chain.mempool.clear();
    await block(s);
    const t = s.wallet.transaction(sent.txid)!;
    expect(t.state).toBe('unconfirmed');
    expect(t.lastError).toMatch(/in a transaction the chain source does not know/);
    const released = await s.wallet.release(sent.txid);
    expect(released.state).toBe('released');
    expect(s.wallet.balance().reservedSat).toBe(sat(0));
  });
});

describe('wallet: blocks faster than syncs', () => {
  test('blocks that come while a sync runs are handled by one more sync, not one each; a reorg among them is still applied', async () => {
    const s = setup();
    await receive(s, [80_000n]);
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(30_000), feerate: FEERATE });
    const b = s.chain.mine();
    await block(s);
    expect(s.wallet.transaction(sent.txid)!.blockHeight).toBe(b.height);
    let syncs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sync = s.wallet.sync.bind(s.wallet);
    s.wallet.sync = async () => {
      if (++syncs === 1) await gate; // the first sync is slow
      return sync();
    };
    const first = s.wallet.onBlock();
    while (syncs === 0) await Bun.sleep(1);
    // While it runs, the send is reorged out with the mempool emptied and 19 more blocks arrive.
    s.chain.mine({ txs: [], on: b.height - 1 });
    s.chain.mine({ txs: [] });
    s.chain.mempool.clear();
    const later = Array.from({ length: 19 }, (_, i) => s.wallet.onBlock(i === 7 ? { forkHeight: b.height - 1 } : {}));
    release();
    await Promise.all([first, ...later]);
    expect(syncs).toBe(2);
    expect(s.wallet.transaction(sent.txid)!.blockHeight).toBeUndefined();
    expect(s.chain.mempool.has(sent.txid)).toBe(true);
  });
});

describe('wallet: funding spends only coins nobody else can take back', () => {
  test('an unconfirmed coin from another wallet is not used for funding; the error says why and how much is confirmed', async () => {
    const s = setup();
    await receive(s, [150_000n]);
    await receive(s, [400_000n], false);
    const script = Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(5)]);
    const e = (() => {
      try {
        s.wallet.fundingTransaction(script, sat(300_000), FEERATE);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(UnconfirmedFundsError);
    expect((e as Error).message).toMatch(
      /^insufficient confirmed funds for a channel funding: need 300\d{3} sat including fees, have 150000 sat confirmed \(or our own change\); 400000 sat more is unconfirmed from other wallets and is not used until it confirms, since its sender could replace it$/,
    );
    expect(s.wallet.transactions()).toEqual([]);
    // Our own unconfirmed change is fine: send from the confirmed coin, then fund from its change.
    const sent = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(10_000), feerate: FEERATE });
    await s.wallet.sync();
    const change = s.wallet.spendable().find((c) => c.txid === sent.txid)!;
    expect(change.confirmed).toBe(false);
    const funding = s.wallet.fundingTransaction(script, sat(120_000), FEERATE);
    expect(s.wallet.transaction(funding.txid)!.inputs).toEqual([`${sent.txid}:${change.vout}`]);
    // Once the foreign coin confirms it may fund too.
    s.chain.mine();
    await s.wallet.sync();
    expect(() => s.wallet.fundingTransaction(script, sat(300_000), FEERATE)).not.toThrow();
  });
});

describe('wallet: fees and operator release', () => {
  test('a fee above 10% of the amount needs explicit consent', async () => {
    const s = setup();
    await receive(s, [100_000n]);
    const high = 50_000 as FeeratePerKw; // 200 sat/vB: about 28,000 sat for one input and two outputs
    await expect(s.wallet.send({ address: ELSEWHERE, amountSat: sat(20_000), feerate: high })).rejects.toThrow(
      /^the fee of \d+ sat is more than 10% of the 20000 sat sent; lower the fee rate or allow a high fee explicitly \(allow_high_fee in lnnode.v1 SendToAddress\)$/,
    );
    expect(s.wallet.balance().reservedSat).toBe(sat(0));
    const ok = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(20_000), feerate: high, allowHighFee: true });
    expect(ok.feeSat).toBeGreaterThan(sat(20_000 / 10));
  });

  test('release refuses what the chain has or a channel needs, and frees what is stuck', async () => {
    const s = setup();
    await receive(s, [100_000n, 100_000n]);
    const inMempool = await s.wallet.send({ address: ELSEWHERE, amountSat: sat(10_000), feerate: FEERATE });
    await expect(s.wallet.release(inMempool.txid)).rejects.toThrow(/is in the mempool and may still confirm; it is not released/);
    const funding = s.wallet.fundingTransaction(Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(5)]), sat(50_000), FEERATE);
    s.wallet.dependents = (txid) => (txid === funding.txid ? 'channel ab12 (awaiting_lock_in), whose funding it is' : undefined);
    await expect(s.wallet.release(funding.txid)).rejects.toThrow(`transaction ${funding.txid} is still needed by channel ab12 (awaiting_lock_in), whose funding it is; it is not released`);
    s.wallet.dependents = () => undefined;
    const before = s.wallet.balance();
    expect((await s.wallet.release(funding.txid)).state).toBe('released');
    expect(s.wallet.balance().reservedSat).toBe(sat(before.reservedSat - 100_000n));
    await expect(s.wallet.release('ab'.repeat(32))).rejects.toThrow(`no wallet transaction ${'ab'.repeat(32)}`);
  });
});

describe('wallet: HTLC fee bumps (anchors channels)', () => {
  /** An HTLC transaction spending an output of someone else's transaction, paying no fee of its own. */
  function htlcTx(s: Setup): { tx: Tx; outpoint: string } {
    const parent = s.chain.fund([{ script: Uint8Array.from([0x00, 0x20, ...new Uint8Array(32).fill(8)]), value: 20_000n }]);
    s.chain.mine();
    return {
      tx: { version: 2, locktime: 0, inputs: [{ txid: parent.txid, vout: 0, sequence: 1, witness: [] }], outputs: [{ value: 20_000n, script: scriptOf(ELSEWHERE) }] },
      outpoint: `${parent.txid}:0`,
    };
  }

  test('the fee coin of an HTLC transaction whose output the peer claimed first is released', async () => {
    const s = setup();
    await receive(s, [50_000n]);
    const { tx, outpoint } = htlcTx(s);
    const bumped = s.wallet.bringFee(`htlc-stage:${outpoint}`, tx, 700, FEERATE, () => [[Uint8Array.of(1)]]);
    expect(s.wallet.balance().reservedSat).toBe(sat(50_000));
    await block(s);
    expect(s.chain.mempool.has(bumped.txid)).toBe(true);
    // The peer's claim of the same HTLC output is mined; ours drops out of the mempool.
    const [ptxid, pvout] = outpoint.split(':') as [string, string];
    s.chain.mempool.delete(bumped.txid);
    const claim = s.chain.mine({ txs: [rawTx([{ txid: ptxid, vout: Number(pvout) }], [{ script: Uint8Array.of(0x51), value: 19_000n }])] });
    await block(s);
    expect(s.wallet.transaction(bumped.txid)).toMatchObject({ state: 'conflicted', purpose: 'fee-bump', conflictHeight: claim.height });
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(50_000), unconfirmedSat: sat(0), reservedSat: sat(0) });
    // The same key builds a new one (not the dead transaction).
    const again = s.wallet.bringFee(`htlc-stage:${outpoint}`, tx, 700, FEERATE, () => [[Uint8Array.of(1)]]);
    expect(again.txid).not.toBe(bumped.txid);
  });

  test('a fee bump the network refuses stays reserved (the channel layer holds it) and cannot be released', async () => {
    const s = setup();
    await receive(s, [50_000n]);
    const { tx, outpoint } = htlcTx(s);
    s.chain.refusal = () => 'mandatory-script-verify-flag-failed';
    const bumped = s.wallet.bringFee(`htlc-stage:${outpoint}`, tx, 700, FEERATE, () => [[Uint8Array.of(1)]]);
    await block(s);
    expect(s.wallet.transaction(bumped.txid)).toMatchObject({ state: 'unconfirmed', lastError: 'mandatory-script-verify-flag-failed (kept: the channel layer sends this fee bump itself)' });
    expect(s.wallet.balance().reservedSat).toBe(sat(50_000));
    await expect(s.wallet.release(bumped.txid)).rejects.toThrow(/is still needed by the channel layer, which sends this HTLC transaction or CPFP child until it confirms or can never confirm/);
  });

  test('fee bumps do not spend unconfirmed coins from other wallets', async () => {
    const s = setup();
    const { tx, outpoint } = htlcTx(s);
    await receive(s, [80_000n], false);
    expect(() => s.wallet.bringFee(`htlc-stage:${outpoint}`, tx, 700, FEERATE, () => [[Uint8Array.of(1)]])).toThrow(
      /^insufficient confirmed funds for an HTLC transaction fee: need \d+ sat including fees, have 0 sat confirmed \(or our own change\); 80000 sat more is unconfirmed from other wallets/,
    );
    expect(s.wallet.transactions()).toEqual([]);
  });
});


describe('wallet: a balance asked right after a block', () => {
  test('caughtUp waits for the block handed to onBlock, so the balance has what it brought; a chain source that hangs only delays it by maxMs', async () => {
    const s = setup();
    await receive(s, [100_000n]);
    s.chain.fund([{ script: scriptOf(s.wallet.newAddress()), value: 20_000n }]);
    s.chain.mine();
    // The node hands the block over and answers the next call at once, without awaiting it.
    void s.wallet.onBlock();
    expect(s.wallet.balance().confirmedSat).toBe(sat(100_000));
    await s.wallet.caughtUp(3_000);
    expect(s.wallet.balance().confirmedSat).toBe(sat(120_000));

    // A sync that never ends (a server that accepts and never answers): the call still answers after maxMs.
    const hung = s.wallet as unknown as { chain: ChainSource };
    const real = hung.chain.scriptUtxos;
    hung.chain.scriptUtxos = () => new Promise(() => {});
    void s.wallet.onBlock();
    const t0 = performance.now();
    await s.wallet.caughtUp(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(s.wallet.balance().confirmedSat).toBe(sat(120_000));
    hung.chain.scriptUtxos = real;
  });

  test('right after a start (no sync yet) caughtUp waits for the first sync to read the coins, then answers at once', async () => {
    const s = setup();
    s.chain.fund([{ script: scriptOf(s.wallet.newAddress()), value: 30_000n }]);
    s.chain.mine();
    // A wallet as a restart leaves it: coins unknown until the first tip hands it a block.
    const fresh = new Wallet(s.store, HDKey.fromMasterSeed(new Uint8Array(32).fill(9)), 'regtest', (s.wallet as unknown as { chain: ChainSource }).chain, silentLogger);
    const waited = fresh.caughtUp(3_000).then(() => fresh.balance().confirmedSat);
    await Bun.sleep(50);
    void fresh.onBlock();
    expect(await waited).toBe(sat(30_000));
    const t0 = performance.now();
    await fresh.caughtUp(3_000);
    expect(performance.now() - t0).toBeLessThan(100);
  });
});

describe('wallet: a sync during which a block comes', () => {
  test('a coin read before the block that spends it and the change read after are not both counted: the pass is read again', async () => {
    const chain = new FakeChain();
    chain.mineMany(10);
    let held: Uint8Array | undefined;
    let mineDuringNextRead = false;
    const honest = chain.source();
    const source: ChainSource = {
      ...honest,
      // The network "accepts" our send but it reaches the chain only in the block mined below.
      broadcast: async (raw) => {
        held = raw;
        return parseTx(raw).id;
      },
      // The first script read of the armed pass sees the coin unspent; the block spending it comes right after.
      scriptUtxos: async (script) => {
        const r = await honest.scriptUtxos(script);
        if (mineDuringNextRead && held) {
          mineDuringNextRead = false;
          chain.mine({ txs: [held] });
        }
        return r;
      },
    };
    const store = Store.open(':memory:');
    const wallet = new Wallet(store, HDKey.fromMasterSeed(new Uint8Array(32).fill(9)), 'regtest', source, silentLogger);
    chain.fund([{ script: scriptOf(wallet.newAddress()), value: 100_000n }]);
    chain.mine();
    await wallet.sync();
    const sent = await wallet.send({ address: ELSEWHERE, amountSat: sat(30_000), feerate: FEERATE });
    mineDuringNextRead = true;
    await wallet.sync();
    const b = wallet.balance();
    // Only the change is ours, confirmed; nothing is left reserved for a transaction the chain already has.
    expect([b.confirmedSat, b.reservedSat, b.unconfirmedSat]).toEqual([sat(100_000n - 30_000n - sent.feeSat), sat(0), sat(0)]);
  });
});
