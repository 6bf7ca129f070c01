/**
 * What happens to a channel's money once its funding output is spent
 * (BOLT #5). On every new tip, for each channel: find the transaction that
 * spent the funding output and what it is (our mutual close, our
 * commitment, their current commitment, a revoked one of theirs, or
 * something we do not recognise), then take every output that is ours as
 * soon as its timelocks allow, into the wallet. A channel is closed when
 * the closing transaction and every sweep are CLOSE_DEPTH deep, and watched
 * until they are MAX_REORG_DEPTH deep: a reorg that undoes part of it
 * reopens it, and what left the chain is broadcast again (ours, or the
 * peer's commitment, which we keep).
 *
 * Everything is recomputed from the stored commitments and the chain on
 * each tip, so a restart resumes where it stopped and a reorg is followed
 * without special cases; each sweep is stored before it is broadcast, and
 * stored transactions are broadcast again while unconfirmed. The
 * revocation-key claims of a revoked commitment go out together in one
 * justice transaction, rebuilt without an input the cheater took first.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Transaction } from '@scure/btc-signer';
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { type Commitments } from '../../bolt/bolt2/channel/commitments.ts';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type CommitSpec, type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { serializeTx, txid, type Tx, weight as txWeight } from '../../bolt/bolt3/tx.ts';
import { type Claim } from '../../bolt/bolt5/claim.ts';
import { ourCommitment, type SecondStage } from '../../bolt/bolt5/our-commitment.ts';
import { buildSweep } from '../../bolt/bolt5/sweep.ts';
import { lostLocalCommitmentClaims } from '../../bolt/bolt5/lost-commitment.ts';
import { nearExpiry, penaltyGroups } from '../../bolt/bolt5/penalty-groups.ts';
import { type ConfirmedCommitment, outgoingWithoutOutput } from '../../bolt/bolt5/htlcs-without-output.ts';
import {
  revokedCommitmentClaims,
  revokedSecondStageClaims,
  type SpendingTx,
  theirCommitmentClaims,
  toRemoteClaim,
  toRemoteOutputScript,
} from '../../bolt/bolt5/their-commitment.ts';
import { type FeeratePerKw, type Sat } from '../../bolt/units.ts';
import { BroadcastError, type ChainSource, type TxStatus } from '../../chain/types.ts';
import { type Logger } from '../log.ts';
import { InsufficientFundsError } from '../wallet/coin-selection.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { AnchorBumper } from './anchor-bump.ts';
import { CLOSE_DEPTH, MAX_REORG_DEPTH } from './depths.ts';
import { type ChannelStore } from './store.ts';

export { CLOSE_DEPTH, MAX_REORG_DEPTH } from './depths.ts';

import { type CloseRecord, type SweepRecord } from '../../bolt/bolt2/channel/state.ts';
export type { CloseKind, CloseRecord, SweepRecord } from '../../bolt/bolt2/channel/state.ts';

export interface ResolvableChannel {
  channelId: Uint8Array;
  commitments: Commitments;
  secrets: ChannelSecrets;
  close?: CloseRecord;
  /** Our shutdown script, once our shutdown went out: a closing transaction we signed pays to it. */
  ourShutdownScript?: Uint8Array;
}

export interface ResolverHooks {
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
  /** One of our HTLCs ended on chain. */
  htlcResolved(channelId: Uint8Array, htlc: HtlcEntry, preimage?: Uint8Array): void;
}

const key = (txid: string, vout: number): string => `${txid}:${vout}`;

/**
 * A BOLT 3 commitment hides its number in a locktime whose top byte is
 * 0x20 and an input sequence whose top byte is 0x80; a closing transaction
 * has neither. True for a transaction of the other shape with an output to
 * `script`.
 */
export function isOurClosingTx(raw: Uint8Array, script: Uint8Array): boolean {
  let tx: Transaction;
  try {
    tx = Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
  } catch {
    return false;
  }
  const input = tx.inputsLength === 1 ? tx.getInput(0) : undefined;
  const commitmentShaped = tx.lockTime >>> 24 === 0x20 && (input?.sequence ?? 0) >>> 24 === 0x80;
  if (commitmentShaped || !input) return false;
  for (let i = 0; i < tx.outputsLength; i++) if (equalBytes(tx.getOutput(i).script ?? new Uint8Array(), script)) return true;
  return false;
}

/**
 * `htlc`: our offered HTLC this output resolves. Revoked outputs: `expiry`,
 * the height from which the cheater can take it; `replaces`, the fee of our
 * batched justice transaction this claim replaces (BIP 125: pay more).
 */
type ClaimSpend = { kind: 'claim'; claim: Claim; parent: string; htlc?: HtlcEntry; expiry?: number; replaces?: Sat };

/** How far one output's resolution is: the confirmations of what resolves it (Infinity once settled for good). */
interface Advanced {
  record: CloseRecord;
  depth: number;
}

/** Something to spend from the close: a claim we sign, or a pre-signed HTLC transaction of ours. */
type Spend =
  | ClaimSpend
  | {
      kind: 'stage'; txid: string; tx: Tx; value: Sat; parent: string; vout: number; cltv: number; htlc?: HtlcEntry; then: Claim;
      /** Anchors: the transaction pays no fee; the wallet adds it when it is due. */
      bringFee?: SecondStage['bringFee'];
    };

export class ChannelResolver {
  private readonly anchors: AnchorBumper;
  /**
   * The claims built for a close, by close txid. Building them signs every
   * HTLC transaction and sweep of the commitment (~20 ms with a few HTLCs),
   * and they change only when a preimage becomes known, so they are built
   * again only then, not on every tip the close is followed for.
   */
  private readonly builtClaims = new Map<string, { key: string; value: unknown }>();

  constructor(
    private readonly chain: ChainSource,
    private readonly wallet: Wallet,
    private readonly store: ChannelStore,
    private readonly hooks: ResolverHooks,
    private readonly log: Logger,
    /** The top of the anchor CPFP ramp (the node's --max-feerate); lnd's default ceiling when unset. */
    maxFeerate?: FeeratePerKw,
  ) {
    this.anchors = new AnchorBumper(chain, wallet, log, maxFeerate);
  }

  /** What spent the funding output; the stored close while it is unspent (a close reorged out), undefined before any. */
  async identify(ch: ResolvableChannel): Promise<CloseRecord | undefined> {
    const found = await this.identifySpender(ch);
    // Their commitment (or anything else) took the funding output: our commitment's CPFP children can never confirm.
    if (found && ch.close?.anchorBump && found.txid !== ch.close.txid) this.anchors.release(ch.close, found.txid);
    return found;
  }

  private async identifySpender(ch: ResolvableChannel): Promise<CloseRecord | undefined> {
    const c = ch.commitments;
    const out = await this.chain.outspend(c.fundingTxid, c.fundingVout);
    if (!out.spent || !out.txid) return ch.close;
    const spender = out.txid;
    if (ch.close && ch.close.txid === spender) return ch.close;
    // Kept so that it can be sent again if a reorg takes it off the chain.
    const raw = (await this.chain.transaction(spender)) ?? undefined;
    const base = { txid: spender, spends: {}, settled: [], ...(raw ? { raw } : {}) };
    if (spender === c.localCommit.txid) return { ...base, kind: 'local' };
    if (spender === c.remoteCommit.txid) return { ...base, kind: 'remote', commitmentIndex: c.remoteCommit.index };
    if (c.nextRemoteCommit && spender === c.nextRemoteCommit.txid) return { ...base, kind: 'remote', commitmentIndex: c.nextRemoteCommit.index };
    const revoked = this.store.revokedByTxid(spender);
    if (revoked && equalBytes(revoked.channelId, ch.channelId)) {
      return { ...base, kind: 'revoked', commitmentIndex: revoked.commitmentNumber, revokedSpec: revoked.spec as CommitSpec };
    }
    // Every spend of the 2-of-2 funding output carries our signature, and we sign only commitments and closing
    // transactions: one that is not commitment-shaped and pays our shutdown script is a closing_signed of ours the peer
    // completed (one we proposed before the channel failed, say), not a stranger's transaction.
    if (raw && ch.ourShutdownScript && isOurClosingTx(raw, ch.ourShutdownScript)) return { ...base, kind: 'mutual' };
    if (ch.close?.kind === 'mutual') {
      // A mutual close we agreed to, with another fee than the one stored (e.g. after a reconnect).
      return { ...base, kind: 'mutual' };
    }
    return { ...base, kind: 'unknown' };
  }

  /**
   * Moves a closed channel forward at `height`. Returns the updated record
   * (the caller stores it). `persist` is called with the record before
   * anything is broadcast.
   */
  async step(ch: ResolvableChannel & { close: CloseRecord }, height: number, feerate: FeeratePerKw, persist: (r: CloseRecord) => void): Promise<CloseRecord> {
    let r = ch.close;
    const status = await this.chain.txStatus(r.txid);
    if (!status?.confirmed) {
      // Never relayed, or reorged out with the mempool emptied: it goes out again, ours or the peer's.
      if (!status && r.raw) await this.broadcast(r.raw, r.txid);
      // So does what we had sent on it (a reorg took our sweeps away with it): now, not a block after it confirms again.
      await this.resendSpends(r);
      // Ours on an anchors channel: a CPFP child when it pays less than it must (anchor-bump.ts).
      r = await this.anchors.step(ch, r, height, feerate, (h) => this.hooks.preimageOf(h), persist);
      return this.reopen(r, persist);
    }
    if (status.block && r.confirmedAt !== status.block.height) {
      r = { ...r, confirmedAt: status.block.height };
      persist(r);
    }
    if (!r.sweepScript && r.kind !== 'mutual') {
      r = { ...r, sweepScript: this.wallet.newChangeScript() };
      persist(r);
    }
    const spends = await this.spendsOf(ch, r);
    let depth = status.confirmations;
    const justice: ClaimSpend[] = [];
    for (const s of spends) {
      const res = await this.advance(ch, r, s, height, feerate, persist, justice);
      r = res.record;
      depth = Math.min(depth, res.depth);
    }
    if (justice.length) {
      const res = await this.sweepJustice(ch, r, justice, feerate, persist, height);
      r = res.record;
      depth = Math.min(depth, res.depth);
    }
    if (status.confirmations >= CLOSE_DEPTH && !r.withoutOutputFailed) r = this.failWithoutOutput(ch, r, persist);
    if (depth < CLOSE_DEPTH) return this.reopen(r, persist);
    if (r.doneAt === undefined) {
      r = { ...r, doneAt: height };
      persist(r);
    }
    if (depth >= MAX_REORG_DEPTH && r.finalAt === undefined) {
      r = { ...r, finalAt: height };
      persist(r);
    }
    return r;
  }

  /**
   * Broadcasts again each stored transaction of ours on the close's outputs
   * that the chain source does not know, those spending the close itself
   * before those spending one of them (an HTLC transaction's delayed output).
   * One refused (its parent not back yet, or the peer's spend there first)
   * is retried on the next block, when `step` sorts out which it was.
   */
  private async resendSpends(r: CloseRecord): Promise<void> {
    const byTxid = new Map<string, { raw: Uint8Array; onClose: boolean }>();
    for (const [outpoint, rec] of Object.entries(r.spends)) {
      const onClose = outpoint.startsWith(`${r.txid}:`);
      byTxid.set(rec.txid, { raw: rec.raw, onClose: onClose || (byTxid.get(rec.txid)?.onClose ?? false) });
    }
    const ordered = [...byTxid].sort(([, x], [, y]) => Number(y.onClose) - Number(x.onClose));
    for (const [txid, { raw }] of ordered) {
      if (await this.chain.txStatus(txid)) continue;
      this.log.info('sending again a transaction of ours on a close not on chain', { close: r.txid, txid });
      await this.broadcast(raw, txid);
    }
  }

  /** A reorg undid part of a close that was done: it is followed again. */
  private reopen(r: CloseRecord, persist: (r: CloseRecord) => void): CloseRecord {
    if (r.doneAt === undefined && r.finalAt === undefined) return r;
    const { doneAt: _done, finalAt: _final, ...rest } = r;
    this.log.warn('a reorg undid part of a channel close; following it again', { txid: r.txid, doneAt: r.doneAt });
    persist(rest);
    return rest;
  }

  /**
   * BOLT 5: once the commitment is deep, our offered HTLCs it has no output
   * for are failed (trimmed, or never on it); what it has outputs for is
   * resolved output by output.
   */
  private failWithoutOutput(ch: ResolvableChannel, r: CloseRecord, persist: (r: CloseRecord) => void): CloseRecord {
    const confirmed: ConfirmedCommitment | undefined =
      r.kind === 'local' ? { kind: 'local' } : r.kind === 'remote' ? { kind: 'remote', index: r.commitmentIndex! } : r.kind === 'revoked' ? { kind: 'revoked' } : undefined;
    for (const h of confirmed ? outgoingWithoutOutput(ch.commitments, ch.secrets, confirmed) : []) {
      this.log.info('an HTLC with no output on the commitment on chain failed', { channelId: hex(ch.channelId), htlcId: h.id, close: r.kind });
      this.hooks.htlcResolved(ch.channelId, h);
    }
    const next = { ...r, withoutOutputFailed: true };
    persist(next);
    return next;
  }

  private async spendsOf(ch: ResolvableChannel, r: CloseRecord): Promise<Spend[]> {
    const c = ch.commitments;
    const preimageOf = (h: Uint8Array): Uint8Array | undefined => this.hooks.preimageOf(h);
    const byHash = (spec: CommitSpec, hash: Uint8Array, dir: 'in' | 'out'): HtlcEntry | undefined =>
      spec.htlcs.find((h) => h.direction === dir && equalBytes(h.paymentHash, hash));
    switch (r.kind) {
      case 'mutual':
        return [];
      case 'local': {
        const oc = this.built(r, c.localCommit.spec, () => ourCommitment(c, ch.secrets, preimageOf));
        return [
          ...oc.claims.map((claim): Spend => ({ kind: 'claim', claim, parent: r.txid })),
          ...oc.secondStage.map((st): Spend => {
            const input = st.tx.inputs[0]!;
            return {
              kind: 'stage', txid: st.txid, tx: st.tx, value: st.delayed.amount, parent: r.txid, vout: input.vout, cltv: st.cltv,
              htlc: st.kind === 'timeout' ? byHash(c.localCommit.spec, st.paymentHash, 'out') : undefined, then: st.delayed, bringFee: st.bringFee,
            };
          }),
        ];
      }
      case 'remote': {
        const commit = [c.remoteCommit, c.nextRemoteCommit].find((x) => x && x.index === r.commitmentIndex)!;
        return this.built(r, commit.spec, () => theirCommitmentClaims(c, ch.secrets, commit, preimageOf)).claims.map((claim): Spend => ({
          kind: 'claim', claim, parent: r.txid,
          htlc: claim.kind === 'htlc_timeout' ? byHash(commit.spec, claim.paymentHash!, 'out') : undefined,
        }));
      }
      case 'revoked':
        return this.revokedSpends(ch, r, byHash);
      case 'unknown':
        return (await this.unknownClaims(ch, r)).map((claim): Spend => ({ kind: 'claim', claim, parent: r.txid }));
    }
  }

  /** `build()` for this close, or what it gave last time if no preimage of `spec`'s HTLCs was learnt since. */
  private built<T>(r: CloseRecord, spec: CommitSpec, build: () => T): T {
    const known = spec.htlcs.filter((h) => this.hooks.preimageOf(h.paymentHash)).map((h) => `${h.direction}${h.id}`);
    const key = `${r.kind}:${r.commitmentIndex ?? ''}:${known.join(',')}`;
    const hit = this.builtClaims.get(r.txid);
    if (hit?.key === key) return hit.value as T;
    const value = build();
    this.builtClaims.delete(r.txid);
    this.builtClaims.set(r.txid, { key, value });
    // Closes being followed are few; the oldest entry goes once there are many.
    if (this.builtClaims.size > 64) this.builtClaims.delete(this.builtClaims.keys().next().value!);
    return value;
  }

  /**
   * Every output of a revoked commitment, and the outputs of the cheater's
   * HTLC-timeout / HTLC-success transactions that took one of its HTLC
   * outputs first (found again on each tip, so a reorg that undoes one is
   * followed).
   */
  private async revokedSpends(ch: ResolvableChannel, r: CloseRecord, byHash: (spec: CommitSpec, hash: Uint8Array, dir: 'in' | 'out') => HtlcEntry | undefined): Promise<Spend[]> {
    const c = ch.commitments;
    const index = r.commitmentIndex!;
    const spec = r.revokedSpec!;
    const ours = new Set(Object.values(r.spends).map((x) => x.txid));
    const spends: Spend[] = [];
    // When the cheater could take each output itself (penalty-groups.ts): its to_self_delay is the one we asked of it.
    const delayEnd = (status: TxStatus | null | undefined): number | undefined => (status?.block ? status.block.height + c.local.toSelfDelay : undefined);
    const commitmentEnd = delayEnd(await this.chain.txStatus(r.txid));
    for (const claim of this.built(r, spec, () => revokedCommitmentClaims(c, ch.secrets, index, spec)).claims) {
      const htlc = claim.paymentHash ? byHash(spec, claim.paymentHash, 'out') : undefined;
      const expiry = claim.paymentHash ? spec.htlcs.find((h) => equalBytes(h.paymentHash, claim.paymentHash!))?.cltvExpiry : commitmentEnd;
      spends.push({ kind: 'claim', claim, parent: r.txid, ...(htlc ? { htlc } : {}), ...(expiry !== undefined ? { expiry } : {}) });
      if (!claim.paymentHash) continue;
      const out = await this.chain.outspend(claim.txid, claim.vout);
      if (!out.spent || !out.txid || ours.has(out.txid)) continue;
      const raw = await this.chain.transaction(out.txid);
      if (!raw) continue;
      const stageEnd = delayEnd(await this.chain.txStatus(out.txid));
      for (const second of revokedSecondStageClaims(c, ch.secrets, index, spec, spendingTx(out.txid, raw))) {
        spends.push({ kind: 'claim', claim: second, parent: out.txid, ...(stageEnd !== undefined ? { expiry: stageEnd } : {}) });
      }
    }
    return spends;
  }

  /**
   * For a commitment we cannot place (we lost data): our to_remote output
   * does not depend on the commitment, so it is still ours; and if it is a
   * commitment of ours (broadcast before the loss), its to_local is found
   * from the commitment number it carries (lost-commitment.ts).
   */
  private async unknownClaims(ch: ResolvableChannel, r: CloseRecord): Promise<Claim[]> {
    const raw = await this.chain.transaction(r.txid);
    if (!raw) return [];
    const tx = Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
    const script = toRemoteOutputScript(ch.commitments);
    const claims: Claim[] = [];
    const outputs: { script: Uint8Array; amount: bigint }[] = [];
    for (let i = 0; i < tx.outputsLength; i++) {
      const o = tx.getOutput(i);
      outputs.push({ script: o.script ?? new Uint8Array(0), amount: o.amount ?? 0n });
      if (o.script && equalBytes(o.script, script)) claims.push(toRemoteClaim(ch.commitments, ch.secrets, r.txid, i, o.amount!));
    }
    if (tx.inputsLength === 1) {
      claims.push(...lostLocalCommitmentClaims(ch.commitments, ch.secrets, { txid: r.txid, locktime: tx.lockTime, sequence: tx.getInput(0).sequence ?? 0, outputs }));
    }
    return claims;
  }

  /**
   * One output's resolution, one step further. Revocation-key claims that
   * are ready are not swept here but collected in `justice`, to go out in
   * one transaction.
   */
  private async advance(
    ch: ResolvableChannel,
    r: CloseRecord,
    s: Spend,
    height: number,
    feerate: FeeratePerKw,
    persist: (r: CloseRecord) => void,
    justice: ClaimSpend[],
  ): Promise<Advanced> {
    const outpoint = s.kind === 'claim' ? key(s.claim.txid, s.claim.vout) : key(s.parent, s.vout);
    if (r.settled.includes(outpoint)) return { record: r, depth: Infinity };
    const ours = r.spends[outpoint];
    if (ours) {
      const st = await this.chain.txStatus(ours.txid);
      if (st && !st.confirmed && this.splitDue(ch, r, s, ours, height)) {
        // BOLT 5 (anchors): our batched justice did not confirm before security_delay: this output goes out on its own, replacing the batch.
        const spends = Object.fromEntries(Object.entries(r.spends).filter(([, x]) => x.txid !== ours.txid));
        r = { ...r, spends };
        persist(r);
        justice.push({ ...(s as ClaimSpend), replaces: ours.fee });
        return { record: r, depth: 0 };
      }
      if (st) return this.followOurs(ch, r, s, ours, st, height, feerate, persist, justice);
      // Not known: never relayed, reorged out, or the peer spent the output first.
      const out = await this.outspendOf(outpoint);
      if (out.spent && out.txid !== ours.txid) return this.spentByPeer(ch, r, s, outpoint, out.txid!, persist);
      if (!(await this.batchBroken(r, outpoint, ours.txid))) {
        await this.broadcast(ours.raw, ours.txid);
        return { record: r, depth: 0 };
      }
      // Another input of our transaction was taken: it can never confirm, so this output is claimed again without it.
      const { [outpoint]: _dead, ...spends } = r.spends;
      r = { ...r, spends };
      persist(r);
    }
    const parent = await this.chain.txStatus(s.parent);
    if (!parent?.confirmed) return { record: r, depth: 0 };
    const out = await this.outspendOf(outpoint);
    if (out.spent && out.txid) return this.spentByPeer(ch, r, s, outpoint, out.txid, persist);
    if (!mature(s, parent, height)) return { record: r, depth: 0 };
    if (s.kind === 'claim' && s.claim.kind === 'revoked') {
      justice.push(s);
      return { record: r, depth: 0 };
    }
    let record: SweepRecord;
    if (s.kind === 'stage' && s.bringFee) {
      const bf = s.bringFee;
      let signed;
      try {
        signed = this.wallet.bringFee(`htlc-stage:${outpoint}`, s.tx, bf.weight, feerate, (final) => [bf.witness(final)]);
      } catch (e) {
        if (!(e instanceof InsufficientFundsError)) throw e;
        this.log.error('the wallet cannot pay the fee of an HTLC transaction; retried on the next block', { channelId: hex(ch.channelId), outpoint, error: e.message });
        return { record: r, depth: 0 };
      }
      record = { txid: signed.txid, raw: signed.raw, value: s.value, fee: signed.feeSat };
    } else if (s.kind === 'stage') {
      record = { txid: s.txid, raw: serializeTx(s.tx), value: s.value, fee: 0n as Sat };
    } else {
      const sweep = buildSweep([s.claim], r.sweepScript!, feerate);
      if (!sweep) return this.notWorthIt(r, [outpoint], s.claim.amount, persist);
      record = { txid: txid(sweep.tx), raw: serializeTx(sweep.tx), value: sweep.value, fee: sweep.fee };
    }
    const next = { ...r, spends: { ...r.spends, [outpoint]: record } };
    persist(next);
    this.log.info('sweeping a channel output', { channelId: hex(ch.channelId), outpoint, kind: s.kind === 'claim' ? s.claim.kind : 'htlc_second_stage', txid: record.txid });
    await this.broadcast(record.raw, record.txid);
    return { record: next, depth: 0 };
  }

  /** Our transaction for an output is known to the chain (in the mempool or a block). */
  private async followOurs(
    ch: ResolvableChannel,
    r: CloseRecord,
    s: Spend,
    ours: SweepRecord,
    st: TxStatus,
    height: number,
    feerate: FeeratePerKw,
    persist: (r: CloseRecord) => void,
    justice: ClaimSpend[],
  ): Promise<Advanced> {
    // An HTLC of ours timed out on chain counts as failed only once that is deep: a reorg could still let the peer's preimage claim win.
    if (s.htlc && st.confirmations >= CLOSE_DEPTH) this.hooks.htlcResolved(ch.channelId, s.htlc);
    if (s.kind === 'claim') return { record: r, depth: st.confirmations };
    if (!st.confirmed) return { record: r, depth: 0 };
    // The second stage confirmed: its output is a delayed claim of its own.
    // With anchors the stage we broadcast carries wallet inputs: its txid is the stored one, not the bare transaction's.
    const next = await this.advance(ch, r, { kind: 'claim', claim: { ...s.then, txid: ours.txid }, parent: ours.txid }, height, feerate, persist, justice);
    return { record: next.record, depth: Math.min(next.depth, st.confirmations) };
  }

  /** An anchors channel's revoked output near its expiry, still in an unconfirmed justice transaction with others. */
  private splitDue(ch: ResolvableChannel, r: CloseRecord, s: Spend, ours: SweepRecord, height: number): boolean {
    if (s.kind !== 'claim' || s.claim.kind !== 'revoked' || ch.commitments.variant !== 'anchors' || !nearExpiry(s.expiry, height)) return false;
    return Object.values(r.spends).filter((x) => x.txid === ours.txid).length > 1;
  }

  /** Whether another output that our transaction `txid` spends was taken by someone else. */
  private async batchBroken(r: CloseRecord, outpoint: string, txid: string): Promise<boolean> {
    for (const [other, rec] of Object.entries(r.spends)) {
      if (other === outpoint || rec.txid !== txid) continue;
      const out = await this.outspendOf(other);
      if (out.spent && out.txid !== txid) return true;
    }
    return false;
  }

  /**
   * BOLT 5: the revocation-key claims ready now, in one justice transaction
   * ("MAY use a single transaction to resolve all the outputs"); one the
   * cheater invalidates by spending an input first is rebuilt without it.
   * With anchors, an output within security_delay of its expiry gets a
   * transaction of its own (penalty-groups.ts).
   */
  private async sweepJustice(ch: ResolvableChannel, r: CloseRecord, claims: ClaimSpend[], feerate: FeeratePerKw, persist: (r: CloseRecord) => void, height: number): Promise<Advanced> {
    let depth = Infinity;
    for (const group of penaltyGroups(claims, height, ch.commitments.variant === 'anchors')) {
      const res = await this.sweepPenalty(ch, r, group, feerate, persist);
      r = res.record;
      depth = Math.min(depth, res.depth);
    }
    return { record: r, depth };
  }

  private async sweepPenalty(ch: ResolvableChannel, r: CloseRecord, claims: ClaimSpend[], feerate: FeeratePerKw, persist: (r: CloseRecord) => void): Promise<Advanced> {
    const outpoints = claims.map((s) => key(s.claim.txid, s.claim.vout));
    let sweep = buildSweep(claims.map((s) => s.claim), r.sweepScript!, feerate);
    const replaces = claims.reduce((m, s) => (s.replaces !== undefined && s.replaces > m ? s.replaces : m), -1n);
    if (sweep && replaces >= 0n) {
      // BIP 125: more than the transaction it replaces, plus 1 sat/vB of its own size.
      const w = txWeight(sweep.tx);
      const need = replaces + BigInt(Math.ceil(w / 4));
      if (sweep.fee < need) sweep = buildSweep(claims.map((s) => s.claim), r.sweepScript!, Math.ceil((Number(need) * 1000) / w) as FeeratePerKw);
    }
    if (!sweep) return this.notWorthIt(r, outpoints, claims.reduce((t, s) => t + s.claim.amount, 0n), persist);
    const record: SweepRecord = { txid: txid(sweep.tx), raw: serializeTx(sweep.tx), value: sweep.value, fee: sweep.fee };
    const next = { ...r, spends: { ...r.spends, ...Object.fromEntries(outpoints.map((o) => [o, record])) } };
    persist(next);
    this.log.warn('claiming a revoked commitment: justice transaction', { channelId: hex(ch.channelId), outpoints, txid: record.txid, valueSat: sweep.value });
    await this.broadcast(record.raw, record.txid);
    return { record: next, depth: 0 };
  }

  private notWorthIt(r: CloseRecord, outpoints: string[], amount: bigint, persist: (r: CloseRecord) => void): Advanced {
    this.log.info('output not worth sweeping at this fee rate; left on chain', { outpoints, amount });
    const next = { ...r, settled: [...r.settled, ...outpoints] };
    persist(next);
    return { record: next, depth: Infinity };
  }

  /**
   * The peer took the output (an HTLC with its preimage or after its
   * timeout, a revoked one with its second stage, or one before us). A
   * preimage in its witness proves our payment at once; anything else is
   * final only once the spend is deep.
   */
  private async spendByPeerOutcome(ch: ResolvableChannel, s: Spend, spender: string, st: TxStatus | null): Promise<void> {
    if (!s.htlc || !st) return;
    const raw = await this.chain.transaction(spender);
    const preimage = raw ? findPreimage(raw, s.htlc.paymentHash) : undefined;
    if (preimage) this.hooks.htlcResolved(ch.channelId, s.htlc, preimage);
    else if (st.confirmations >= CLOSE_DEPTH) this.hooks.htlcResolved(ch.channelId, s.htlc);
  }

  private async spentByPeer(ch: ResolvableChannel, r: CloseRecord, s: Spend, outpoint: string, spender: string, persist: (r: CloseRecord) => void): Promise<Advanced> {
    const st = await this.chain.txStatus(spender);
    await this.spendByPeerOutcome(ch, s, spender, st);
    if (!st || st.confirmations < CLOSE_DEPTH) return { record: r, depth: st?.confirmations ?? 0 };
    this.log.warn('a channel output was spent by the peer', { channelId: hex(ch.channelId), outpoint, spender });
    // Ours for it can never confirm now (a wallet fee input of it is released by the wallet, which sees the conflict).
    const { [outpoint]: _dead, ...spends } = r.spends;
    const next = { ...r, spends, settled: [...r.settled, outpoint] };
    persist(next);
    return { record: next, depth: Infinity };
  }

  private async outspendOf(outpoint: string): Promise<{ spent: boolean; txid?: string }> {
    const [txid, vout] = outpoint.split(':') as [string, string];
    return this.chain.outspend(txid, Number(vout));
  }

  private async broadcast(raw: Uint8Array, txid: string): Promise<void> {
    try {
      await this.chain.broadcast(raw);
    } catch (e) {
      // Already known, or not yet valid: retried on the next tip.
      if (!(e instanceof BroadcastError)) throw e;
      this.log.debug('broadcast refused (retried on the next block)', { txid, reason: e.reason });
    }
  }
}

/** The outputs of a raw transaction. */
function spendingTx(txid: string, raw: Uint8Array): SpendingTx {
  const tx = Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
  return { txid, outputs: Array.from({ length: tx.outputsLength }, (_, i) => ({ script: tx.getOutput(i).script ?? new Uint8Array(0), amount: tx.getOutput(i).amount ?? 0n })) };
}

function mature(s: Spend, parent: TxStatus, height: number): boolean {
  const csv = s.kind === 'claim' ? s.claim.csv : 0;
  const cltv = s.kind === 'claim' ? s.claim.cltv : s.cltv;
  // BIP 68: valid in the next block when (height + 1) - parent height >= csv; BIP 65: locktime < next block height.
  return parent.confirmations >= csv && cltv <= height;
}

/** A 32-byte witness item hashing to `paymentHash`: the preimage the peer revealed on chain. */
function findPreimage(raw: Uint8Array, paymentHash: Uint8Array): Uint8Array | undefined {
  const tx = Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
  for (let i = 0; i < tx.inputsLength; i++) {
    for (const item of tx.getInput(i).finalScriptWitness ?? []) {
      if (item.length === 32 && equalBytes(sha256(item), paymentHash)) return item;
    }
  }
  return undefined;
}
