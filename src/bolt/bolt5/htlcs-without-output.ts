/**
 * Our offered HTLCs that the commitment on chain gives no output to resolve
 * (BOLT #5 "Unilateral Close Handling"): trimmed to dust on it, or absent
 * from it (added on another commitment that never confirmed, or never
 * signed at all). Nothing on chain will ever settle them, so once that
 * commitment is deep they are failed: "the local node MUST fail the
 * corresponding incoming HTLC (if any) once the commitment transaction has
 * reached reasonable depth". On a revoked commitment every output is ours
 * with the revocation key, so every HTLC of ours counts here; a preimage the
 * cheater reveals on chain still proves the payment.
 * https://github.com/lightning/bolts/blob/master/05-onchain.md#unilateral-close-handling-local-commitment-transaction
 */
import { buildLocal, buildRemote, type Commitments } from '../bolt2/channel/commitments.ts';
import { type ChannelSecrets } from '../bolt2/channel/keys.ts';
import { type CommitSpec, type HtlcEntry } from '../bolt2/channel/spec.ts';

/** Which commitment spent the funding output. */
export type ConfirmedCommitment = { kind: 'local' } | { kind: 'remote'; index: bigint } | { kind: 'revoked' };

/** Every HTLC we offered that is or may still be on a commitment: signed either way, or proposed. */
export function outgoingHtlcs(c: Commitments): HtlcEntry[] {
  const byId = new Map<bigint, HtlcEntry>();
  const specs: CommitSpec[] = [c.localCommit.spec, c.remoteCommit.spec, ...(c.nextRemoteCommit ? [c.nextRemoteCommit.spec] : [])];
  for (const spec of specs) for (const h of spec.htlcs) if (h.direction === 'out') byId.set(h.id, h);
  for (const u of [...c.localChanges.proposed, ...c.localChanges.signed, ...c.localChanges.acked]) if (u.kind === 'add') byId.set(u.htlc.id, u.htlc);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Ids of our offered HTLCs with an output on the confirmed commitment. */
function withOutput(c: Commitments, s: ChannelSecrets, confirmed: ConfirmedCommitment): Set<bigint> {
  if (confirmed.kind === 'revoked') return new Set();
  let spec: CommitSpec;
  let built;
  if (confirmed.kind === 'local') {
    spec = c.localCommit.spec;
    built = buildLocal(c, s, spec, c.localCommit.index);
  } else {
    const commit = [c.remoteCommit, c.nextRemoteCommit].find((x) => x && x.index === confirmed.index);
    if (!commit) throw new Error(`no remote commitment ${confirmed.index}`);
    spec = commit.spec;
    built = buildRemote(c, spec, commit.index, commit.point);
  }
  const ids = new Set<bigint>();
  // params.htlcs follows spec.htlcs, so an output's htlc index is an index into spec.htlcs.
  for (const o of built.commitment.outputs) {
    const h = o.htlc === undefined ? undefined : spec.htlcs[o.htlc];
    if (h?.direction === 'out') ids.add(h.id);
  }
  return ids;
}

/** Our offered HTLCs that nothing on chain resolves once `confirmed` spent the funding output. */
export function outgoingWithoutOutput(c: Commitments, s: ChannelSecrets, confirmed: ConfirmedCommitment): HtlcEntry[] {
  const ids = withOutput(c, s, confirmed);
  return outgoingHtlcs(c).filter((h) => !ids.has(h.id));
}
