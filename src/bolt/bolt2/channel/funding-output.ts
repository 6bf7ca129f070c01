/**
 * The fundee's check of the funding output (BOLT #2 "The channel_ready
 * Message": a node MUST NOT send channel_ready unless the outpoint given in
 * funding_created pays exactly funding_satoshis to the BOLT 3 funding script).
 * Without it a funder can name an output of any amount or script, get HTLCs
 * accepted on a channel that holds nothing (the CVE-2019-12998 class).
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#the-channel_ready-message
 */
import { equalBytes } from '../../bytes.ts';
import { p2wsh } from '../../bolt3/script.ts';
import { fundingScript } from '../../bolt3/scripts.ts';
import { type Commitments } from './commitments.ts';

export interface TxOut {
  script: Uint8Array;
  amount: bigint;
}

/** Why the funding transaction's outputs do not fund this channel, or undefined when they do. */
export function fundingOutputProblem(c: Commitments, outputs: readonly TxOut[]): string | undefined {
  const o = outputs[c.fundingVout];
  // BOLT 2 channel_ready sender: the outpoint pays exactly funding_satoshis to the 2-of-2 P2WSH of both funding keys.
  if (!o) return `the funding transaction has no output ${c.fundingVout}`;
  const expected = p2wsh(fundingScript(c.localBasepoints.funding, c.remoteBasepoints.funding));
  if (!equalBytes(o.script, expected)) return `funding output ${c.fundingVout} does not pay the 2-of-2 of both funding keys`;
  if (o.amount !== c.fundingSat) return `funding output ${c.fundingVout} pays ${o.amount} sat, funding_satoshis is ${c.fundingSat}`;
  return undefined;
}
