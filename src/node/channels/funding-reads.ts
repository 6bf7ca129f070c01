/**
 * What the channel's steps need to know of its funding transaction, read
 * from the chain source: for lock-in (lock-in-step.ts) only the reads the
 * step asks for, and for a channel in use its depth after a reorg
 * (funding-depth.ts), as the step's input. Undefined when the source could
 * not answer (the next tip asks again) or nothing changed.
 */
import { type ChannelRecord } from '../../bolt/bolt2/channel/state.ts';
import { type FundingSeen, fundingReads, type LockInView, shortChannelIdOf } from '../../bolt/bolt2/channel/lock-in-step.ts';
import { type ChannelInput } from '../../bolt/bolt2/channel/step.ts';
import { parseTx } from '../../chain/txid.ts';
import { type ChainSource } from '../../chain/types.ts';
import { fundingDepth } from './funding-depth.ts';

export async function readFundingSeen(chain: ChainSource, v: LockInView): Promise<FundingSeen | undefined> {
  const c = v.commitments;
  const status = await chain.txStatus(c.fundingTxid).catch(() => null);
  if (!status) return undefined;
  const seen: FundingSeen = { status };
  const reads = fundingReads(v, status);
  if (reads.outputs) {
    const raw = await chain.transaction(c.fundingTxid).catch(() => null);
    if (!raw) return undefined;
    const tx = parseTx(raw);
    seen.outputs = Array.from({ length: tx.outputsLength }, (_, i) => {
      const o = tx.getOutput(i);
      return { script: o.script ?? new Uint8Array(0), amount: o.amount ?? -1n };
    });
  }
  if (reads.spentAndIndex) {
    seen.spent = (await chain.outspend(c.fundingTxid, c.fundingVout).catch(() => undefined))?.spent;
    if (seen.spent === false) seen.txIndex = (await chain.blockTxids(status.block!.hash).catch(() => [] as string[])).indexOf(c.fundingTxid);
  }
  return seen;
}

/**
 * A channel in use whose funding a reorg took off the chain or below its
 * depth stops carrying new HTLCs of ours until the funding is deep again;
 * then its short_channel_id is recomputed from where it confirmed.
 */
export async function readFundingDepth(chain: ChainSource, rec: ChannelRecord): Promise<ChannelInput | undefined> {
  const c = rec.commitments;
  const status = await chain.txStatus(c.fundingTxid).catch(() => undefined);
  if (status === undefined) return undefined;
  const depth = fundingDepth(status, rec.minimumDepth);
  if (depth.kind === 'shallow') return { kind: 'funding_shallow', confirmations: depth.confirmations };
  if (!rec.fundingDepthLost && rec.fundingConfirmedAt === depth.height && rec.shortChannelId !== undefined) return undefined;
  const index = (await chain.blockTxids(depth.hash).catch(() => undefined))?.indexOf(c.fundingTxid) ?? -1;
  if (index < 0) return undefined;
  return { kind: 'funding_deep', height: depth.height, shortChannelId: shortChannelIdOf(depth.height, index, c.fundingVout) };
}
