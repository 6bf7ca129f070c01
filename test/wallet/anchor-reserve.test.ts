/**
 * Issue 13 hole 7, the on-chain reserve for anchors channels: 10,000 sat
 * per anchors channel for at most 10 (lnd's constants). A send or a channel
 * funding that would leave less in the wallet is refused before anything is
 * built or broadcast, with an error naming the reserve, which the API
 * reports as FAILED_PRECONDITION; an inbound anchors open is refused when
 * the wallet cannot keep the reserve with one channel more. Against a real
 * wallet on an in-memory chain; amounts to the sat.
 */
import { describe, expect, test } from 'bun:test';
import { Code } from '@connectrpc/connect';
import { HDKey } from '@scure/bip32';
import { Address, OutScript } from '@scure/btc-signer';
import { p2wsh } from '../../src/bolt/bolt3/script.ts';
import { type FeeratePerKw, sat } from '../../src/bolt/units.ts';
import { silentLogger } from '../../src/node/log.ts';
import { Store } from '../../src/node/store.ts';
import {
  ANCHOR_RESERVE_PER_CHANNEL_SAT,
  anchorReserve,
  AnchorReserveError,
  inboundReserveRefusal,
  MAX_ANCHOR_RESERVE_SAT,
} from '../../src/node/wallet/anchor-reserve.ts';
import { Wallet, WalletError } from '../../src/node/wallet/wallet.ts';
import { toConnectError } from '../../src/rpc/errors.ts';
import { FakeChain } from '../chain/fake-chain.ts';

const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
const ELSEWHERE = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
const FEERATE = 1_000 as FeeratePerKw;

async function walletWith(value: bigint, anchorChannels: number) {
  const chain = new FakeChain();
  chain.mineMany(10);
  const wallet = new Wallet(Store.open(':memory:'), HDKey.fromMasterSeed(new Uint8Array(32).fill(4)), 'regtest', chain.source(), silentLogger);
  wallet.anchorReserve = (extra) => anchorReserve(anchorChannels + extra);
  chain.fund([{ script: OutScript.encode(Address(REGTEST).decode(wallet.newAddress())), value }]);
  chain.mine();
  await wallet.sync();
  return { chain, wallet };
}

describe('the anchors reserve', () => {
  test('10,000 sat per anchors channel, 100,000 sat at most', () => {
    expect([0, 1, 3, 10, 11, 50].map((n) => anchorReserve(n))).toEqual([0n, 10_000n, 30_000n, 100_000n, 100_000n, 100_000n].map(sat));
    expect(ANCHOR_RESERVE_PER_CHANNEL_SAT).toBe(sat(10_000));
    expect(MAX_ANCHOR_RESERVE_SAT).toBe(sat(100_000));
    expect(anchorReserve(3, sat(0))).toBe(sat(0));
  });

  test('a send that would dip below the reserve is refused before anything is built; one that leaves it goes out', async () => {
    const { chain, wallet } = await walletWith(100_000n, 2);
    const e = await wallet.send({ address: ELSEWHERE, amountSat: sat(85_000), feerate: FEERATE }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AnchorReserveError);
    expect(e).toBeInstanceOf(WalletError);
    expect((e as AnchorReserveError).reserveSat).toBe(20_000n);
    expect((e as Error).message).toMatch(/^this send would leave \d+ sat in the wallet, below the on-chain reserve of 20000 sat kept for fee bumping anchors channels/);
    // The API says FAILED_PRECONDITION, with the same words.
    const ce = toConnectError(e);
    expect(ce.code).toBe(Code.FailedPrecondition);
    expect(ce.rawMessage).toContain('on-chain reserve of 20000 sat');
    expect(chain.broadcasts).toEqual([]);
    expect(wallet.transactions()).toEqual([]);
    // Sweeping everything leaves nothing: refused too.
    await expect(wallet.send({ address: ELSEWHERE, amountSat: 'all', feerate: FEERATE })).rejects.toThrow(/this send would leave 0 sat in the wallet, below the on-chain reserve of 20000 sat/);
    // 79,000 + fee leaves more than 20,000: sent.
    const ok = await wallet.send({ address: ELSEWHERE, amountSat: sat(79_000), feerate: FEERATE });
    expect(chain.mempool.has(ok.txid)).toBe(true);
    expect(100_000n - 79_000n - ok.feeSat).toBeGreaterThanOrEqual(20_000n);
  });

  test('a funding counts the channel it opens: an anchors one must leave the reserve for one channel more', async () => {
    const script = p2wsh(new Uint8Array(40).fill(1));
    // One anchors channel open: 85,000 sat of funding leaves under 15,000, enough for 1 channel but not for 2.
    const a = await walletWith(100_000n, 1);
    expect(() => a.wallet.fundingTransaction(script, sat(85_000), FEERATE, { anchors: true })).toThrow(/this channel funding would leave \d+ sat in the wallet, below the on-chain reserve of 20000 sat/);
    expect(a.wallet.transactions()).toEqual([]);
    const legacy = a.wallet.fundingTransaction(script, sat(85_000), FEERATE);
    expect(a.wallet.transaction(legacy.txid)!.state).toBe('held');
    // With no reserve (0 per channel) nothing is refused.
    const none = await walletWith(100_000n, 0);
    none.wallet.anchorReserve = () => sat(0);
    expect(none.wallet.fundingTransaction(script, sat(95_000), FEERATE, { anchors: true }).txid).toMatch(/^[0-9a-f]{64}$/);
  });

  test('an inbound anchors open is refused, naming the reserve, when the wallet cannot keep it with one channel more', () => {
    expect(inboundReserveRefusal(0n, 0)).toBe('open_channel: anchors channels need an on-chain reserve of 10000 sat for fee bumping and this node\'s wallet has 0 sat');
    expect(inboundReserveRefusal(10_000n, 0)).toBeUndefined();
    expect(inboundReserveRefusal(25_000n, 2)).toBe('open_channel: anchors channels need an on-chain reserve of 30000 sat for fee bumping and this node\'s wallet has 25000 sat');
    expect(inboundReserveRefusal(100_000n, 40)).toBeUndefined();
    expect(inboundReserveRefusal(0n, 5, sat(0))).toBeUndefined();
  });
});
