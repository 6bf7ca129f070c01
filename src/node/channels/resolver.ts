/**
 * What happens to a channel's money once its funding output is spent
 * (BOLT #5). On every new tip, for each channel: find the transaction that
 * spent the funding output and what it is (our mutual close, our
 * commitment, their current commitment, a revoked one of theirs, or
 * something we do not recognise), then take every output that is ours as
 * soon as its timelocks allow, into the wallet. A channel is forgotten only
 * when the closing transaction and every sweep are CLOSE_DEPTH deep.
 *
 * Everything is recomputed from the stored commitments on each tip, so a
 * restart resumes where it stopped; each sweep is stored before it is
 * broadcast, and stored transactions are broadcast again while unconfirmed.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Transaction } from '@scure/btc-signer';
import { equalBytes, hex } from '../../bolt/bytes.ts';
import { type Commitments } from '../../bolt/bolt2/channel/commitments.ts';
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type CommitSpec, type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { serializeTx, txid, type Tx } from '../../bolt/bolt3/tx.ts';
import { type Claim } from '../../bolt/bolt5/claim.ts';
import { ourCommitment, type SecondStage } from '../../bolt/bolt5/our-commitment.ts';
import { buildSweep } from '../../bolt/bolt5/sweep.ts';
import { revokedCommitmentClaims, theirCommitmentClaims, toRemoteClaim, toRemoteOutputScript } from '../../bolt/bolt5/their-commitment.ts';
import { type FeeratePerKw, type Sat } from '../../bolt/units.ts';
import { BroadcastError, type ChainSource, type TxStatus } from '../../chain/types.ts';
import { type Logger } from '../log.ts';
import { InsufficientFundsError } from '../wallet/coin-selection.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { type ChannelStore } from './store.ts';

/** Confirmations after which a closing transaction or sweep is final for us (LDK's ANTI_REORG_DELAY). */
export const CLOSE_DEPTH = 6;

export type CloseKind = 'mutual' | 'local' | 'remote' | 'revoked' | 'unknown';

export interface SweepRecord {
  txid: string;
  raw: Uint8Array;
  value: Sat;
  fee: Sat;
}

export interface CloseRecord {
  kind: CloseKind;
  /** The transaction spending the funding output. */
  txid: string;
  /** Transactions we made (mutual close, our commitment): broadcast again until confirmed. */
  raw?: Uint8Array;
  /** For `remote` / `revoked`: which of their commitments. */
  commitmentIndex?: bigint;
  revokedSpec?: CommitSpec;
  /** Where sweeps pay: one wallet script per channel. */
  sweepScript?: Uint8Array;
  /** Our transactions spending the close's outputs (sweeps, HTLC second stages), by the outpoint they spend. */
  spends: Record<string, SweepRecord>;
  /** Outpoints that are settled for us: spent by the peer, or not worth sweeping. */
  settled: string[];
  /** Height at which everything was CLOSE_DEPTH deep. */
  doneAt?: number;
}

export interface ResolvableChannel {
  channelId: Uint8Array;
  commitments: Commitments;
  secrets: ChannelSecrets;
  close?: CloseRecord;
}

export interface ResolverHooks {
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
  /** One of our HTLCs ended on chain. */
  htlcResolved(channelId: Uint8Array, htlc: HtlcEntry, preimage?: Uint8Array): void;
}

const key = (txid: string, vout: number): string => `${txid}:${vout}`;

/** Something to spend from the close: a claim we sign, or a pre-signed HTLC transaction of ours. */
type Spend =
  | { kind: 'claim'; claim: Claim; parent: string; htlc?: HtlcEntry }
  | {
      kind: 'stage'; txid: string; tx: Tx; value: Sat; parent: string; vout: number; cltv: number; htlc?: HtlcEntry; then: Claim;
      /** Anchors: the transaction pays no fee; the wallet adds it when it is due. */
      bringFee?: SecondStage['bringFee'];
    };

export class ChannelResolver {
  constructor(
    private readonly chain: ChainSource,
    private readonly wallet: Wallet,
    private readonly store: ChannelStore,
    private readonly hooks: ResolverHooks,
    private readonly log: Logger,
  ) {}

  /** What spent the funding output, or undefined while it is unspent. */
  async identify(ch: ResolvableChannel): Promise<CloseRecord | undefined> {
    const c = ch.commitments;
    const out = await this.chain.outspend(c.fundingTxid, c.fundingVout);
    if (!out.spent || !out.txid) return undefined;
    const spender = out.txid;
    const base = { txid: spender, spends: {}, settled: [] };
    if (ch.close && ch.close.txid === spender) return ch.close;
    if (spender === c.localCommit.txid) return { ...base, kind: 'local', raw: ch.close?.raw };
    if (spender === c.remoteCommit.txid) return { ...base, kind: 'remote', commitmentIndex: c.remoteCommit.index };
    if (c.nextRemoteCommit && spender === c.nextRemoteCommit.txid) return { ...base, kind: 'remote', commitmentIndex: c.nextRemoteCommit.index };
    const revoked = this.store.revokedByTxid(spender);
    if (revoked && equalBytes(revoked.channelId, ch.channelId)) {
      return { ...base, kind: 'revoked', commitmentIndex: revoked.commitmentNumber, revokedSpec: revoked.spec as CommitSpec };
    }
    if (ch.close?.kind === 'mutual') {
      // A mutual close we agreed to, with another fee than the one stored (e.g. after a reconnect).
      return { ...base, kind: 'mutual' };
    }
    return { ...base, kind: 'unknown' };
  }

  /**
   * Moves a closed channel forward at `height`. Returns the updated record
   * (the caller stores it) or undefined when nothing changed. `persist` is
   * called with the record before anything is broadcast.
   */
  async step(ch: ResolvableChannel & { close: CloseRecord }, height: number, feerate: FeeratePerKw, persist: (r: CloseRecord) => void): Promise<CloseRecord> {
    let r = ch.close;
    const status = await this.chain.txStatus(r.txid);
    if (!status) {
      if (r.raw) await this.broadcast(r.raw, r.txid);
      return r;
    }
    if (!status.confirmed) return r;
    if (!r.sweepScript && r.kind !== 'mutual') {
      r = { ...r, sweepScript: this.wallet.newChangeScript() };
      persist(r);
    }
    const spends = await this.spendsOf(ch, r);
    let allDeep = status.confirmations >= CLOSE_DEPTH;
    for (const s of spends) {
      const res = await this.advance(ch, r, s, height, feerate, persist);
      r = res.record;
      if (!res.deep) allDeep = false;
    }
    if (allDeep && r.doneAt === undefined) {
      r = { ...r, doneAt: height };
      persist(r);
    }
    return r;
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
        const oc = ourCommitment(c, ch.secrets, preimageOf);
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
        return theirCommitmentClaims(c, ch.secrets, commit, preimageOf).claims.map((claim): Spend => ({
          kind: 'claim', claim, parent: r.txid,
          htlc: claim.kind === 'htlc_timeout' ? byHash(commit.spec, claim.paymentHash!, 'out') : undefined,
        }));
      }
      case 'revoked':
        return revokedCommitmentClaims(c, ch.secrets, r.commitmentIndex!, r.revokedSpec!).claims.map((claim) => ({ kind: 'claim', claim, parent: r.txid }));
      case 'unknown':
        return (await this.unknownClaims(ch, r)).map((claim): Spend => ({ kind: 'claim', claim, parent: r.txid }));
    }
  }

  /** For a commitment we cannot place (we lost data): our to_remote output does not depend on the commitment, so it is still ours. */
  private async unknownClaims(ch: ResolvableChannel, r: CloseRecord): Promise<Claim[]> {
    const raw = await this.chain.transaction(r.txid);
    if (!raw) return [];
    const tx = Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
    const script = toRemoteOutputScript(ch.commitments);
    const claims: Claim[] = [];
    for (let i = 0; i < tx.outputsLength; i++) {
      const o = tx.getOutput(i);
      if (o.script && equalBytes(o.script, script)) claims.push(toRemoteClaim(ch.commitments, ch.secrets, r.txid, i, o.amount!));
    }
    return claims;
  }

  private async advance(
    ch: ResolvableChannel,
    r: CloseRecord,
    s: Spend,
    height: number,
    feerate: FeeratePerKw,
    persist: (r: CloseRecord) => void,
  ): Promise<{ record: CloseRecord; deep: boolean }> {
    const outpoint = s.kind === 'claim' ? key(s.claim.txid, s.claim.vout) : key(s.parent, s.vout);
    if (r.settled.includes(outpoint)) return { record: r, deep: true };
    const ours = r.spends[outpoint];
    if (ours) {
      const st = await this.chain.txStatus(ours.txid);
      if (!st) {
        // Not known: either never relayed, or the peer spent the output first.
        const out = await this.outspendOf(outpoint);
        if (out.spent && out.txid !== ours.txid) return this.spentByPeer(ch, r, s, outpoint, out.txid!, persist);
        await this.broadcast(ours.raw, ours.txid);
        return { record: r, deep: false };
      }
      if (s.kind === 'stage') {
        // The second stage confirmed: its output is a delayed claim of its own.
        if (st.confirmed && s.htlc) this.hooks.htlcResolved(ch.channelId, s.htlc);
        // With anchors the stage we broadcast carries wallet inputs: its txid is the stored one, not the bare transaction's.
        const next = await this.advance(ch, r, { kind: 'claim', claim: { ...s.then, txid: ours.txid }, parent: ours.txid }, height, feerate, persist);
        return { record: next.record, deep: next.deep && st.confirmations >= CLOSE_DEPTH };
      }
      if (st.confirmed && st.confirmations >= CLOSE_DEPTH && s.htlc) this.hooks.htlcResolved(ch.channelId, s.htlc);
      return { record: r, deep: st.confirmations >= CLOSE_DEPTH };
    }
    const parent = await this.chain.txStatus(s.parent);
    if (!parent?.confirmed) return { record: r, deep: false };
    const out = await this.outspendOf(outpoint);
    if (out.spent && out.txid) return this.spentByPeer(ch, r, s, outpoint, out.txid, persist);
    if (!mature(s, parent, height)) return { record: r, deep: false };
    let record: SweepRecord;
    if (s.kind === 'stage' && s.bringFee) {
      const bf = s.bringFee;
      let signed;
      try {
        signed = this.wallet.bringFee(`htlc-stage:${outpoint}`, s.tx, bf.weight, feerate, (final) => [bf.witness(final)]);
      } catch (e) {
        if (!(e instanceof InsufficientFundsError)) throw e;
        this.log.error('the wallet cannot pay the fee of an HTLC transaction; retried on the next block', { channelId: hex(ch.channelId), outpoint, error: e.message });
        return { record: r, deep: false };
      }
      record = { txid: signed.txid, raw: signed.raw, value: s.value, fee: signed.feeSat };
    } else if (s.kind === 'stage') {
      record = { txid: s.txid, raw: serializeTx(s.tx), value: s.value, fee: 0n as Sat };
    } else {
      const sweep = buildSweep([s.claim], r.sweepScript!, feerate);
      if (!sweep) {
        this.log.info('output not worth sweeping at this fee rate; left on chain', { outpoint, amount: s.claim.amount });
        const next = { ...r, settled: [...r.settled, outpoint] };
        persist(next);
        return { record: next, deep: true };
      }
      record = { txid: txid(sweep.tx), raw: serializeTx(sweep.tx), value: sweep.value, fee: sweep.fee };
    }
    const next = { ...r, spends: { ...r.spends, [outpoint]: record } };
    persist(next);
    this.log.info('sweeping a channel output', { channelId: hex(ch.channelId), outpoint, kind: s.kind === 'claim' ? s.claim.kind : 'htlc_second_stage', txid: record.txid });
    await this.broadcast(record.raw, record.txid);
    return { record: next, deep: false };
  }

  /** The peer took the output (an HTLC with its preimage or after its timeout, or a revoked one before us). */
  private async spentByPeer(ch: ResolvableChannel, r: CloseRecord, s: Spend, outpoint: string, spender: string, persist: (r: CloseRecord) => void): Promise<{ record: CloseRecord; deep: boolean }> {
    const st = await this.chain.txStatus(spender);
    if (!st || st.confirmations < CLOSE_DEPTH) return { record: r, deep: false };
    if (s.htlc) {
      const raw = await this.chain.transaction(spender);
      const preimage = raw ? findPreimage(raw, s.htlc.paymentHash) : undefined;
      this.hooks.htlcResolved(ch.channelId, s.htlc, preimage);
    }
    this.log.warn('a channel output was spent by the peer', { channelId: hex(ch.channelId), outpoint, spender });
    const next = { ...r, settled: [...r.settled, outpoint] };
    persist(next);
    return { record: next, deep: true };
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
