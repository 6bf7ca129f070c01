/**
 * The lab chain as the hostile peer drives it: one transaction paying many
 * funding outputs at once (from a matured coinbase of btcd's miner key, so
 * no wallet is involved and each output pays exactly what the test says),
 * raw broadcasts, and blocks.
 */
import { Transaction } from '@scure/btc-signer';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { type ChannelLab } from './channel-lab.ts';

const FEE_SAT = 5_000n;

/** Pays each output from one coinbase; returns the txid and each output's index, in order. Not mined. */
export async function fundOutputs(lab: ChannelLab, outputs: { script: Uint8Array; amount: bigint }[]): Promise<{ txid: string; vouts: number[] }> {
  const need = outputs.reduce((s, o) => s + o.amount, 0n) + FEE_SAT;
  const tip = await lab.btcd.height();
  // Coinbases of blocks 1..tip-100 are mature; the faucet spends the oldest first, so take from the newest mature ones.
  const used = await lab.btcd.rpc.call<string[]>('getrawmempool');
  for (let h = tip - 100; h >= 1; h--) {
    const hash = await lab.btcd.rpc.call<string>('getblockhash', h);
    const block = await lab.btcd.rpc.call<{ tx: string[] }>('getblock', hash, 1);
    const cb = block.tx[0]!;
    const out = await lab.btcd.rpc.call<{ value: number } | null>('gettxout', cb, 0, true);
    if (!out || used.includes(cb)) continue;
    const value = BigInt(Math.round(out.value * 1e8));
    if (value < need) continue;
    const tx = new Transaction();
    tx.addInput({ txid: fromHex(cb), index: 0, witnessUtxo: { script: lab.btcd.miner.script, amount: value } });
    for (const o of outputs) tx.addOutput({ script: o.script, amount: o.amount });
    tx.addOutput({ script: lab.btcd.miner.script, amount: value - need });
    tx.sign(lab.btcd.miner.privateKey);
    tx.finalize();
    const txid = await lab.btcd.rpc.call<string>('sendrawtransaction', hex(tx.extract()));
    return { txid, vouts: outputs.map((_, i) => i) };
  }
  throw new Error(`no mature coinbase holds ${need} sat`);
}

/** Broadcasts a raw transaction through btcd; returns btcd's refusal instead of throwing when it refuses. */
export async function broadcast(lab: ChannelLab, raw: Uint8Array): Promise<{ txid?: string; refused?: string }> {
  try {
    return { txid: await lab.btcd.rpc.call<string>('sendrawtransaction', hex(raw)) };
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

export async function inMempool(lab: ChannelLab, txid: string): Promise<boolean> {
  return (await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(txid);
}

/** The transaction spending `txid:vout` in the mempool or in a block, if btcd knows one. */
export async function spenderOf(lab: ChannelLab, txid: string, vout: number): Promise<string | undefined> {
  for (const t of await lab.btcd.rpc.call<string[]>('getrawmempool')) {
    const tx = await lab.btcd.rpc.call<{ vin: { txid: string; vout: number }[] }>('getrawtransaction', t, 1);
    if (tx.vin.some((i) => i.txid === txid && i.vout === vout)) return t;
  }
  const out = await lab.btcd.rpc.call<unknown>('gettxout', txid, vout, true);
  if (out) return undefined;
  // Spent in a block: search the blocks since the transaction confirmed.
  const info = await lab.btcd.rpc.call<{ blockhash?: string }>('getrawtransaction', txid, 1);
  if (!info.blockhash) return undefined;
  const from = (await lab.btcd.rpc.call<{ height: number }>('getblockheader', info.blockhash, true)).height;
  const tip = await lab.btcd.height();
  for (let h = from; h <= tip; h++) {
    type Tx = { txid: string; vin: { txid?: string; vout?: number }[] };
    // btcd answers verbosity 2 with the transactions under `rawtx` (bitcoind: `tx`).
    const block = await lab.btcd.rpc.call<{ tx?: Tx[]; rawtx?: Tx[] }>('getblock', await lab.btcd.rpc.call<string>('getblockhash', h), 2);
    const hit = (block.rawtx ?? block.tx ?? []).find((t) => t.vin.some((i) => i.txid === txid && i.vout === vout));
    if (hit) return hit.txid;
  }
  return undefined;
}
