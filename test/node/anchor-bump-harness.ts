/**
 * An anchors channel (A offered a 200,000 sat HTLC expiring 20 blocks
 * ahead, commitment at `commitFeerate`) force closed by A, with A's
 * resolver and a real wallet holding one 200,000 sat coin, on an in-memory
 * chain that takes replacements: what the CPFP tests (test/node/
 * anchor-bump.test.ts and the receiver-rule checker) drive tip by tip.
 */
import { HDKey } from '@scure/bip32';
import { Address, OutScript } from '@scure/btc-signer';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { parseTx } from '../../src/chain/txid.ts';
import { ChannelResolver, type CloseRecord } from '../../src/node/channels/resolver.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { createLogger, silentLogger } from '../../src/node/log.ts';
import { Store } from '../../src/node/store.ts';
import { Wallet } from '../../src/node/wallet/wallet.ts';
import { Pair } from '../bolt02/channel-harness.ts';
import { FakeChain } from '../chain/fake-chain.ts';

const REGTEST_NET = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
export const COIN = 200_000n;

export function anchorsForceClose(channelType = ANCHORS_TYPE, htlc = true, commitFeerate = 253, maxFeerate?: FeeratePerKw) {
  const chain = new FakeChain();
  chain.mineMany(100);
  chain.replaceByFee = true;
  const source = chain.source();
  const store = Store.open(':memory:');
  const wallet = new Wallet(store, HDKey.fromMasterSeed(new Uint8Array(32).fill(5)), 'regtest', source, silentLogger);
  chain.fund([{ script: OutScript.encode(Address(REGTEST_NET).decode(wallet.newAddress())), value: COIN }]);
  chain.mine();
  const p = Pair.open(sat(1_000_000), 0n as Msat, commitFeerate as FeeratePerKw, channelType);
  const deadline = chain.tip.height + 20;
  if (htlc) {
    const r = sendAdd(p.a.state, { amountMsat: 200_000_000n as Msat, paymentHash: sha256(Uint8Array.of(1)), cltvExpiry: deadline as CltvExpiry, onion: new Uint8Array(1366) });
    p.a.state = r.state;
    p.send(p.a, r.send);
    p.sign(p.a);
    p.settle();
    p.sign(p.b);
    p.settle();
  }
  // The funding output exists outside this chain (Pair funds 'abab…:1').
  chain.externalCoins.add(`${'ab'.repeat(32)}:1`);
  const resolver = new ChannelResolver(source, wallet, new ChannelStore(store), { preimageOf: () => undefined, htlcResolved: () => {} }, process.env.DBG ? createLogger({ level: 'debug' }) : silentLogger, maxFeerate);
  const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
  let close: CloseRecord = { kind: 'local', txid: oc.txid, raw: serializeTx(oc.tx), spends: {}, settled: [] };
  const ch = { channelId: p.a.state.channelId, commitments: p.a.state, secrets: p.a.secrets };
  const persisted: CloseRecord[] = [];
  const step = async (estimate: number, height = chain.tip.height): Promise<CloseRecord> => {
    close = await resolver.step({ ...ch, close }, height, estimate as FeeratePerKw, (r) => persisted.push(r));
    return close;
  };
  return { chain, source, wallet, p, oc, resolver, ch, step, persisted, deadline, get close() { return close; } };
}

/** Fee of a mempool or mined transaction of the fake chain, from its inputs' previous outputs (the funding output: 1,000,000 sat). */
export function feeOf(chain: FakeChain, raw: Uint8Array): bigint {
  const tx = parseTx(raw);
  let inputs = 0n;
  for (let i = 0; i < tx.inputsLength; i++) {
    const inp = tx.getInput(i);
    const prevTxid = Buffer.from(inp.txid!).toString('hex');
    if (prevTxid === 'ab'.repeat(32)) inputs += 1_000_000n;
    else inputs += parseTx(chain.txs.get(prevTxid) ?? chain.mempool.get(prevTxid)!).getOutput(inp.index!).amount!;
  }
  let outputs = 0n;
  for (let i = 0; i < tx.outputsLength; i++) outputs += tx.getOutput(i).amount!;
  return inputs - outputs;
}

