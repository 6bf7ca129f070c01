/**
 * Gets the wallet's transactions on chain and finds out when one never can
 * be. On every block each `unconfirmed` transaction is looked up: confirmed
 * ones are noted (and left alone once FINAL_DEPTH deep), ones the chain
 * source does not know are broadcast again (a failed first broadcast, a
 * mempool emptied by a restart or a reorg). A refusal is judged from the
 * chain, not from its text alone:
 *
 * - an input spent by another confirmed transaction: `conflicted`, the other
 *   inputs released (the HTLC-timeout whose HTLC the peer claimed, a send
 *   whose parent was replaced);
 * - every input present and unspent, and a reason time will not change:
 *   `failed`, inputs released, except a fee bump, which the channel layer
 *   holds and sends itself (it stays reserved and the refusal is logged);
 * - anything else (a parent not known yet, a mempool conflict, a timelock,
 *   an unreachable server): kept, and tried again on the next block.
 */
import { hex } from '../../bolt/bytes.ts';
import { BroadcastError, type ChainSource } from '../../chain/types.ts';
import { parseTx } from '../../chain/txid.ts';
import { type Logger } from '../log.ts';
import { isTemporaryRefusal } from './refusal.ts';
import { FINAL_DEPTH, type TxLedger, type WalletTx } from './tx-ledger.ts';

export type Verdict =
  | { kind: 'conflicted'; by: string; height?: number; detail: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'retry'; detail: string };

/** What one attempt to get a transaction on chain came to. */
export type SendOutcome =
  | { kind: 'accepted' }
  | { kind: 'known' }
  | { kind: 'released'; state: 'failed' | 'conflicted'; detail: string }
  | { kind: 'kept'; detail: string };

export class Broadcaster {
  constructor(
    private readonly chain: ChainSource,
    private readonly ledger: TxLedger,
    private readonly log: Logger,
  ) {}

  /** One pass over every transaction that should be on chain. */
  async pass(): Promise<void> {
    for (const t of this.ledger.toWatch()) {
      try {
        await this.watch(t);
      } catch (e) {
        this.ledger.error(t.txid, (e as Error).message);
        this.log.warn('wallet transaction not checked; retried on the next block', { txid: t.txid, error: (e as Error).message });
      }
    }
  }

  private async watch(t: WalletTx): Promise<void> {
    const status = await this.chain.txStatus(t.txid);
    if (status?.confirmed) {
      this.ledger.confirmedAt(t.txid, status.block!.height, status.confirmations >= FINAL_DEPTH);
      return;
    }
    if (status) {
      if (!t.broadcast || t.lastError) this.ledger.accepted(t.txid);
      return;
    }
    const outcome = await this.send(t);
    if (outcome.kind === 'accepted') this.log.info('wallet transaction sent again', { txid: t.txid, purpose: t.purpose });
  }

  /** Broadcasts `t` now and records what came of it; never throws for a refusal. */
  async send(t: WalletTx): Promise<SendOutcome> {
    try {
      await this.chain.broadcast(t.raw);
      this.ledger.accepted(t.txid);
      return { kind: 'accepted' };
    } catch (e) {
      if (!(e instanceof BroadcastError)) {
        this.ledger.error(t.txid, (e as Error).message);
        return { kind: 'kept', detail: (e as Error).message };
      }
      if (await this.chain.txStatus(t.txid).catch(() => null)) {
        this.ledger.accepted(t.txid);
        return { kind: 'known' };
      }
      const verdict = await this.judge(t, e.reason);
      return this.apply(t, e.reason, verdict);
    }
  }

  private apply(t: WalletTx, reason: string, v: Verdict): SendOutcome {
    if (v.kind === 'conflicted') {
      this.ledger.finish(t.txid, 'conflicted', { error: `${reason}: ${v.detail}`, conflictTxid: v.by, ...(v.height === undefined ? {} : { conflictHeight: v.height }) });
      this.log.warn('wallet transaction double-spent; its other inputs are released', { txid: t.txid, purpose: t.purpose, by: v.by, detail: v.detail });
      return { kind: 'released', state: 'conflicted', detail: v.detail };
    }
    if (v.kind === 'failed' && t.purpose !== 'fee-bump') {
      this.ledger.finish(t.txid, 'failed', { error: reason });
      this.log[t.purpose === 'funding' ? 'error' : 'warn']('the network refused a wallet transaction; its inputs are released', { txid: t.txid, purpose: t.purpose, reason });
      return { kind: 'released', state: 'failed', detail: reason };
    }
    const detail = v.kind === 'failed' ? `${reason} (kept: the channel layer sends this fee bump itself)` : `${reason}: ${v.detail}`;
    this.ledger.error(t.txid, detail);
    if (v.kind === 'failed') this.log.error('the network refused a fee bump of an HTLC transaction', { txid: t.txid, reason });
    return { kind: 'kept', detail };
  }

  /** Reads the chain to tell a refusal that is final from one that is not. */
  async judge(t: WalletTx, reason: string): Promise<Verdict> {
    const tx = parseTx(t.raw);
    let pending: Verdict | undefined;
    for (let i = 0; i < tx.inputsLength; i++) {
      const input = tx.getInput(i);
      const parentTxid = hex(input.txid!);
      const vout = input.index!;
      const parent = this.ledger.get(parentTxid);
      if (parent && (parent.state === 'failed' || parent.state === 'conflicted' || parent.state === 'released')) {
        return { kind: 'conflicted', by: parent.conflictTxid ?? parentTxid, ...(parent.conflictHeight === undefined ? {} : { height: parent.conflictHeight }), detail: `its parent ${parentTxid} is ${parent.state}` };
      }
      const spend = await this.chain.outspend(parentTxid, vout);
      if (spend.spent && spend.txid !== t.txid) {
        if (spend.status?.confirmed) return { kind: 'conflicted', by: spend.txid!, height: spend.status.block!.height, detail: `input ${parentTxid}:${vout} was spent by ${spend.txid}` };
        pending ??= { kind: 'retry', detail: `input ${parentTxid}:${vout} is spent by ${spend.txid} in the mempool` };
        continue;
      }
      if (spend.spent) continue;
      const raw = await this.chain.transaction(parentTxid);
      if (!raw) {
        pending ??= { kind: 'retry', detail: `input ${parentTxid}:${vout} is in a transaction the chain source does not know (not yet seen, or replaced)` };
      } else if (vout >= parseTx(raw).outputsLength) {
        return { kind: 'failed', detail: `input ${parentTxid}:${vout} does not exist` };
      }
    }
    if (pending) return pending;
    if (isTemporaryRefusal(reason)) return { kind: 'retry', detail: 'a refusal that may pass' };
    return { kind: 'failed', detail: 'its inputs are unspent: the network will not take it as it is' };
  }
}
