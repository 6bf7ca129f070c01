/**
 * Our own commitment on chain when we no longer hold the channel's state
 * (restored from a static channel backup after the old node had broadcast
 * it): its to_local is still ours, and everything needed to find and spend
 * it comes from the seed and the channel's static data. The commitment
 * number is in the transaction itself (BOLT 3: obscured in locktime and
 * sequence by a factor of both payment basepoints); from it our
 * per-commitment point, hence the revocation and delayed keys, hence the
 * to_local script, which must match an output for the transaction to be
 * ours. The claim waits for to_self_delay like any to_local; if the
 * commitment was a revoked one, the peer takes the output first and the
 * resolver sees it spent.
 */
import { equalBytes } from '../bytes.ts';
import { type Commitments } from '../bolt2/channel/commitments.ts';
import { type ChannelSecrets, perCommitmentPoint } from '../bolt2/channel/keys.ts';
import { revealCommitmentNumber } from '../bolt3/commitment-number.ts';
import { commitmentKeys, derivePrivkey } from '../bolt3/keys.ts';
import { p2wsh } from '../bolt3/script.ts';
import { toLocalScript } from '../bolt3/scripts.ts';
import { type Claim } from './claim.ts';
import { witnessSize } from './sweep.ts';

export interface CommitmentLikeTx {
  txid: string;
  locktime: number;
  /** nSequence of its (only) input. */
  sequence: number;
  outputs: { script: Uint8Array; amount: bigint }[];
}

/** Commitment numbers are 48 bits. */
const MAX_COMMITMENT_NUMBER = (1n << 48n) - 1n;

/** The to_local claim of `tx` if it is a commitment of ours (of any number) with a to_local output; none otherwise. */
export function lostLocalCommitmentClaims(c: Commitments, s: ChannelSecrets, tx: CommitmentLikeTx): Claim[] {
  // BOLT 3: a commitment's locktime has upper byte 0x20 and its input's sequence upper byte 0x80.
  if (tx.locktime >>> 24 !== 0x20 || tx.sequence >>> 24 !== 0x80) return [];
  const n = revealCommitmentNumber(tx.locktime, tx.sequence, c.obscuringFactor);
  if (n < 0n || n > MAX_COMMITMENT_NUMBER) return [];
  const point = perCommitmentPoint(s, n);
  const keys = commitmentKeys(c.localBasepoints, c.remoteBasepoints, point);
  // Our to_local waits for the delay the peer imposes on us.
  const delay = c.remote.toSelfDelay;
  const script = toLocalScript(keys.revocation, delay, keys.localDelayed);
  const spk = p2wsh(script);
  const privkey = derivePrivkey(s.delayedPayment, point);
  return tx.outputs.flatMap((o, vout): Claim[] =>
    equalBytes(o.script, spk)
      ? [{
          kind: 'delayed', txid: tx.txid, vout, amount: o.amount as Claim['amount'], scriptCode: script, privkey,
          witness: (sig) => [sig, new Uint8Array(0), script], csv: delay, cltv: 0, witnessBytes: witnessSize([73, 0, script.length]),
        }]
      : [],
  );
}
