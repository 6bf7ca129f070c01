/**
 * Their commitment on chain (BOLT #5 "Unilateral Close Handling: Remote
 * Commitment Transaction" and "Revoked Transaction Close Handling"). On
 * their current (or next) commitment we take to_remote at once, HTLCs we
 * offered after their expiry and HTLCs they offered with the preimage. On a
 * revoked one, the revocation key takes every output: the justice sweep.
 * https://github.com/lightning/bolts/blob/master/05-onchain.md
 */
import { equalBytes } from '../bytes.ts';
import { buildRemote, type Commitments } from '../bolt2/channel/commitments.ts';
import { type ChannelSecrets, shachainIndex } from '../bolt2/channel/keys.ts';
import { type CommitSpec } from '../bolt2/channel/spec.ts';
import { derivePrivkey, deriveRevocationPrivkey, pointFromSecret } from '../bolt3/keys.ts';
import { hash160, p2wpkh, p2wsh } from '../bolt3/script.ts';
import { toLocalScript, toRemoteAnchorsScript } from '../bolt3/scripts.ts';
import { SecretStore } from '../bolt3/shachain.ts';
import { type Claim } from './claim.ts';
import { notIrrevocablyCommitted } from './irrevocably-committed.ts';
import { p2pkhScriptCode, witnessSize } from './sweep.ts';

export interface CommitmentClaims {
  txid: string;
  claims: Claim[];
}

/** Our to_remote output on a commitment of theirs. */
export function toRemoteClaim(c: Commitments, s: ChannelSecrets, txid: string, vout: number, amount: bigint): Claim {
  const pubkey = c.localBasepoints.payment;
  if (c.variant === 'anchors') {
    // P2WSH <our payment basepoint> OP_CHECKSIGVERIFY 1 OP_CSV: one block after the commitment confirms.
    const script = toRemoteAnchorsScript(pubkey);
    return {
      kind: 'to_remote', txid, vout, amount: amount as Claim['amount'], scriptCode: script, privkey: s.payment,
      witness: (sig) => [sig, script], csv: 1, cltv: 0, witnessBytes: witnessSize([73, script.length]),
    };
  }
  return {
    kind: 'to_remote',
    txid,
    vout,
    amount: amount as Claim['amount'],
    scriptCode: p2pkhScriptCode(hash160(pubkey)),
    privkey: s.payment,
    witness: (sig) => [sig, pubkey],
    csv: 0,
    cltv: 0,
    witnessBytes: witnessSize([73, 33]),
  };
}

/** What we can take from their unrevoked commitment `index` with per-commitment point `point`. */
export function theirCommitmentClaims(
  c: Commitments,
  s: ChannelSecrets,
  commit: { index: bigint; spec: CommitSpec; point: Uint8Array },
  preimageOf: (paymentHash: Uint8Array) => Uint8Array | undefined,
): CommitmentClaims {
  const { commitment, params, txid } = buildRemote(c, commit.spec, commit.index, commit.point);
  const htlcKey = derivePrivkey(s.htlc, commit.point);
  const csv = c.variant === 'anchors' ? 1 : 0;
  const claims: Claim[] = [];
  const pending = notIrrevocablyCommitted(c);
  commitment.outputs.forEach((o, vout) => {
    if (o.kind === 'to_remote') return claims.push(toRemoteClaim(c, s, txid, vout, o.value));
    if (o.htlc === undefined) return;
    const h = params.htlcs[o.htlc]!;
    const script = o.witnessScript!;
    // "received" on their commitment = offered by us: ours after the expiry.
    if (h.direction === 'received') {
      claims.push({
        kind: 'htlc_timeout', txid, vout, amount: o.value, scriptCode: script, privkey: htlcKey,
        witness: (sig) => [sig, new Uint8Array(0), script], csv, cltv: h.cltvExpiry, paymentHash: h.paymentHash, witnessBytes: witnessSize([73, 0, script.length]),
      });
      return;
    }
    // BOLT 5: not while they are not irrevocably committed to it, preimage or not (params.htlcs follows spec.htlcs).
    if (pending.has(commit.spec.htlcs[o.htlc]!.id)) return;
    const preimage = preimageOf(h.paymentHash);
    if (!preimage) return;
    claims.push({
      kind: 'htlc_preimage', txid, vout, amount: o.value, scriptCode: script, privkey: htlcKey,
      witness: (sig) => [sig, preimage, script], csv, cltv: 0, paymentHash: h.paymentHash, witnessBytes: witnessSize([73, 32, script.length]),
    });
  });
  return { txid, claims };
}

/** The keys of their revoked commitment `index`, whose secret they gave us. */
function revokedCommitment(c: Commitments, s: ChannelSecrets, index: bigint, spec: CommitSpec) {
  const secret = SecretStore.deserialize(c.remoteSecrets).derive(shachainIndex(index));
  if (!secret) throw new Error(`no revocation secret for commitment ${index}`);
  const built = buildRemote(c, spec, index, pointFromSecret(secret));
  const { keys, toSelfDelay } = built.params;
  return {
    built,
    revocationKey: deriveRevocationPrivkey(s.revocation, secret),
    /** Their to_local and the output of each of their HTLC transactions: revocable until to_self_delay (BOLT 3). */
    delayedScript: toLocalScript(keys.revocation, toSelfDelay, keys.localDelayed),
  };
}

/** Every output of their revoked commitment `index`, whose secret they gave us. */
export function revokedCommitmentClaims(c: Commitments, s: ChannelSecrets, index: bigint, spec: CommitSpec): CommitmentClaims {
  const { built, revocationKey } = revokedCommitment(c, s, index, spec);
  const { commitment, params, txid } = built;
  const revocationPubkey = params.keys.revocation;
  return {
    txid,
    claims: commitment.outputs.flatMap((o, vout): Claim[] => {
      if (o.kind === 'to_remote') return [toRemoteClaim(c, s, txid, vout, o.value)];
      if (!o.witnessScript || o.kind === 'local_anchor' || o.kind === 'remote_anchor') return [];
      const script = o.witnessScript;
      // to_local: <sig> 1 takes the revocation branch; an HTLC output checks the key itself.
      const marker = o.kind === 'to_local' ? Uint8Array.of(1) : revocationPubkey;
      const paymentHash = o.htlc === undefined ? undefined : params.htlcs[o.htlc]!.paymentHash;
      return [{
        kind: 'revoked', txid, vout, amount: o.value, scriptCode: script, privkey: revocationKey,
        witness: (sig) => [sig, marker, script], csv: 0, cltv: 0, witnessBytes: witnessSize([73, marker.length, script.length]),
        ...(paymentHash ? { paymentHash } : {}),
      }];
    }),
  };
}

/** A transaction as far as claims need it. */
export interface SpendingTx {
  txid: string;
  outputs: readonly { script: Uint8Array; amount: bigint }[];
}

/**
 * BOLT 5 "Revoked Transaction Close Handling": the remote node's
 * HTLC-timeout and HTLC-success transactions spending its revoked
 * commitment MUST be resolved with the revocation key. Their outputs pay
 * the same revocable script as that commitment's to_local, so each output
 * of `spender` with that script is ours until its to_self_delay ends. With
 * anchors one transaction may carry several HTLCs (SIGHASH_SINGLE |
 * ANYONECANPAY), so every matching output is taken.
 */
export function revokedSecondStageClaims(c: Commitments, s: ChannelSecrets, index: bigint, spec: CommitSpec, spender: SpendingTx): Claim[] {
  const { revocationKey, delayedScript } = revokedCommitment(c, s, index, spec);
  const script = p2wsh(delayedScript);
  return spender.outputs.flatMap((o, vout): Claim[] =>
    equalBytes(o.script, script)
      ? [{
          kind: 'revoked', txid: spender.txid, vout, amount: o.amount as Claim['amount'], scriptCode: delayedScript, privkey: revocationKey,
          witness: (sig) => [sig, Uint8Array.of(1), delayedScript], csv: 0, cltv: 0, witnessBytes: witnessSize([73, 1, delayedScript.length]),
        }]
      : [],
  );
}

/** The script our to_remote output has on any commitment of theirs (it does not depend on the commitment). */
export const toRemoteOutputScript = (c: Commitments): Uint8Array =>
  c.variant === 'anchors' ? p2wsh(toRemoteAnchorsScript(c.localBasepoints.payment)) : p2wpkh(c.localBasepoints.payment);
