/**
 * The legacy mutual close transaction (BOLT #3 "Legacy Closing
 * Transaction", used with closing_signed): the funding output split by the
 * final balances, the fee taken from the funder's output, outputs below
 * the signer's own dust limit left out, BIP 69 order.
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#legacy-closing-transaction
 */
import { compareBytes } from '../bytes.ts';
import { EncodeError } from '../errors.ts';
import { type FeeratePerKw, type Msat, type Sat, msatToSatFloor, sat } from '../units.ts';
import { feeForWeight } from './fees.ts';
import { type Tx, type TxOutput } from './tx.ts';

export interface ClosingParams {
  fundingTxid: string;
  fundingVout: number;
  localScript: Uint8Array;
  remoteScript: Uint8Array;
  localMsat: Msat;
  remoteMsat: Msat;
  localIsFunder: boolean;
  fee: Sat;
  /** The signer's dust limit: its outputs below it are dropped. */
  dustLimit: Sat;
  /** Leave the remote output out (the other side MAY drop its own output). */
  withoutRemote?: boolean;
}

export interface ClosingTx {
  tx: Tx;
  /** Output index of each side's output, when present. */
  localOutput?: number;
  remoteOutput?: number;
}

export function closingTransaction(p: ClosingParams): ClosingTx {
  let local = msatToSatFloor(p.localMsat) as bigint;
  let remote = msatToSatFloor(p.remoteMsat) as bigint;
  if (p.localIsFunder) local -= p.fee;
  else remote -= p.fee;
  if (local < 0n || remote < 0n) throw new EncodeError('fee', `fee ${p.fee} exceeds the funder's balance`);
  const outputs: (TxOutput & { side: 'local' | 'remote' })[] = [];
  if (local >= p.dustLimit) outputs.push({ side: 'local', value: local, script: p.localScript });
  if (remote >= p.dustLimit && !p.withoutRemote) outputs.push({ side: 'remote', value: remote, script: p.remoteScript });
  if (!outputs.length) throw new EncodeError('outputs', 'a closing transaction without outputs');
  outputs.sort((a, b) => (a.value !== b.value ? (a.value < b.value ? -1 : 1) : compareBytes(a.script, b.script)));
  const tx: Tx = {
    version: 2,
    locktime: 0,
    inputs: [{ txid: p.fundingTxid, vout: p.fundingVout, sequence: 0xffffffff, witness: [] }],
    outputs: outputs.map(({ value, script }) => ({ value, script })),
  };
  const at = (side: 'local' | 'remote'): number | undefined => {
    const i = outputs.findIndex((o) => o.side === side);
    return i < 0 ? undefined : i;
  };
  return { tx, localOutput: at('local'), remoteOutput: at('remote') };
}

/**
 * Weight of a closing transaction once signed: the unsigned transaction
 * plus the 2-of-2 witness (two 73-byte signatures at most, the 71-byte
 * funding script) and the segwit marker.
 */
export function closingWeight(localScript: Uint8Array, remoteScript: Uint8Array): number {
  const output = (s: Uint8Array): number => 8 + 1 + s.length;
  const stripped = 4 + 1 + 41 + 1 + output(localScript) + output(remoteScript) + 4;
  const witness = 2 + 1 + 1 + 74 + 74 + 72;
  return stripped * 4 + witness;
}

export const closingFee = (feerate: FeeratePerKw, localScript: Uint8Array, remoteScript: Uint8Array): Sat =>
  sat(feeForWeight(feerate, closingWeight(localScript, remoteScript)));
