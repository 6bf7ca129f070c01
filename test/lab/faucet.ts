/**
 * Hands out regtest coins from the btcd miner's matured coinbase outputs:
 * builds and signs a P2WPKH spend with @scure/btc-signer and broadcasts it.
 * Spent outpoints are remembered so back-to-back sends never reuse one.
 */
import { Transaction } from '@scure/btc-signer';
import { BitcoindRpcChainSource } from '../../src/chain/bitcoind-rpc.ts';
import { fromHex } from '../../src/bolt/bytes.ts';
import { type Btcd } from './btcd.ts';
import { REGTEST } from './regtest.ts';

const COINBASE_MATURITY = 100;
const FEE_SAT = 1_000n;

export class Faucet {
  private readonly used = new Set<string>();
  readonly chain: BitcoindRpcChainSource;

  constructor(private readonly btcd: Btcd) {
    this.chain = new BitcoindRpcChainSource({ url: btcd.rpcUrl, user: btcd.rpcUser, password: btcd.rpcPass, caCert: btcd.rpcCert });
  }

  /** Mines until at least one coinbase has matured. */
  async ensureFunds(): Promise<void> {
    const h = await this.btcd.height();
    if (h < COINBASE_MATURITY + 1) await this.btcd.generate(COINBASE_MATURITY + 1 - h);
  }

  /** Sends `amountSat` to `address` (one output) and returns the txid. Not mined. */
  async send(address: string, amountSat: bigint): Promise<string> {
    await this.ensureFunds();
    const utxos = (await this.chain.scriptUtxos(this.btcd.miner.script))
      .filter((u) => u.status.confirmations >= COINBASE_MATURITY && !this.used.has(`${u.txid}:${u.vout}`))
      .sort((a, b) => (a.status.block?.height ?? 0) - (b.status.block?.height ?? 0));
    const tx = new Transaction();
    let total = 0n;
    for (const u of utxos) {
      tx.addInput({
        txid: fromHex(u.txid),
        index: u.vout,
        witnessUtxo: { script: this.btcd.miner.script, amount: u.value },
      });
      this.used.add(`${u.txid}:${u.vout}`);
      total += u.value;
      if (total >= amountSat + FEE_SAT) break;
    }
    if (total < amountSat + FEE_SAT) throw new Error(`faucet has only ${total} sat matured`);
    tx.addOutputAddress(address, amountSat, REGTEST);
    const change = total - amountSat - FEE_SAT;
    if (change > 1000n) tx.addOutput({ script: this.btcd.miner.script, amount: change });
    tx.sign(this.btcd.miner.privateKey);
    tx.finalize();
    return this.chain.broadcast(tx.extract());
  }
}
