/**
 * A stored channel's life as one pure step: a channel (its tagged state,
 * state.ts, and connection flags) and one input (a peer message, the peer
 * connecting or leaving, a command, a new tip or what the chain says of
 * the funding and the close) give the channel after it, whether it must be
 * stored, the messages to send once it is, and the effects the node
 * carries out after that (broadcast, follow the close on chain, resolve
 * incoming HTLCs, timers), in order.
 *
 * The steps of each part of the protocol (machine.ts for updates,
 * reconnect-step.ts, shutdown-step.ts, incoming.ts, lock-in-step.ts) do
 * the rules; this file chooses among them by phase and input, and puts
 * together what follows from one (a failure that force closes, a
 * signature after an update, the shutdown that a quiet channel may now
 * send). An open, up to the channel's first write, has its own steps
 * (funder-step.ts, fundee-step.ts); from then on every change is here.
 */
import { type ErrorMessage } from '../../bolt1/messages.ts';
import { serializeTx, txid } from '../../bolt3/tx.ts';
import { ourCommitment } from '../../bolt5/our-commitment.ts';
import { type Bolt2Message } from '../index.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, type Sat } from '../../units.ts';
import { addDuringShutdown, closeWithReceived, closingSignature, type SignedClose } from './closing.ts';
import { ChannelProtocolError, ChannelRefusal, type Commitments, forgetUnsigned, lostStateReestablish, type Outgoing, type ReestablishFields, type RemoteCommit, sendAdd, sendFee } from './commitments.ts';
import { feeUpdateFor } from './fee-update.ts';
import { htlcDeadlineBreach } from './htlc-deadlines.ts';
import { unfundedExpired } from './open-admission.ts';
import { type IncomingOutcome, settleIncoming } from './incoming.ts';
import { type LockInResult } from './lock-in-step.ts';
import { type ChannelSecrets } from './keys.ts';
import { type ChannelEvent, receive, signPending, type UpdateMessage } from './machine.ts';
import { type ChannelReadySend, channelReady, channelReadyStep, lockedIn, ourChannelReestablish, type ReconnectView, reestablishStep } from './reconnect-step.ts';
import { type SafetyPolicy } from './safety-policy.ts';
import { type ShutdownInput, type ShutdownSend, type ShutdownState, shutdownStep, type ShutdownStepResult } from './shutdown-step.ts';
import { type ChannelPhase, type ChannelRecord, type ChannelState, type CloseRecord, type HtlcOutcome, type RecordByPhase } from './state.ts';

/** A stored channel as the step sees it: its tagged state, and what holds for the current connection only. */
export type ChannelView = ChannelState & {
  /** channel_reestablish exchanged on the current connection. */
  reestablished: boolean;
  /** A closed or failed channel answered the peer's channel_reestablish on the current connection (its error, or its mutual close again). */
  errorResent: boolean;
};

/** A channel known to be in one of the phases `P`. */
type InPhase<P extends ChannelPhase> = Extract<ChannelView, { phase: P }>;

/** What the step reads besides the channel: keys, limits, the connection, the chain's estimates, and two reads of the node. */
export interface StepContext {
  secrets: ChannelSecrets;
  safety: SafetyPolicy;
  /** The peer is connected now. */
  connected: boolean;
  /** The estimate a commitment we opened follows (fee-update.ts); undefined until the chain gave one. */
  commitFeerate?: FeeratePerKw;
  /** The estimate a mutual close's fee starts from. */
  closeFeerate: FeeratePerKw;
  /** A fresh wallet script, for a shutdown the peer started. */
  newScript(): Uint8Array;
  /** The preimage of an incoming HTLC we settled, for our commitment's HTLC outputs and HTLC deadlines. */
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
  /** Blocks after which an inbound channel whose funding never confirmed is forgotten (BOLT 2 channel_ready: 2016). */
  unfundedForgetBlocks: number;
}

/** The peer's messages about a stored channel. */
export type ChannelMessage = Extract<Bolt2Message, { name: 'channel_ready' | 'channel_reestablish' | 'shutdown' | 'closing_signed' }> | UpdateMessage;

const CHANNEL_MESSAGES: ReadonlySet<string> = new Set<ChannelMessage['name']>([
  'channel_ready', 'channel_reestablish', 'shutdown', 'closing_signed',
  'update_add_htlc', 'update_fulfill_htlc', 'update_fail_htlc', 'update_fail_malformed_htlc', 'update_fee', 'commitment_signed', 'revoke_and_ack',
]);

export const isChannelMessage = (m: { name: string }): m is ChannelMessage => CHANNEL_MESSAGES.has(m.name);

export type ChannelInput =
  | { kind: 'message'; m: ChannelMessage }
  | { kind: 'connected' }
  | { kind: 'disconnected' }
  /** Offer an HTLC (the payments layer); refused unless the channel is active. */
  | { kind: 'add_htlc'; amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array }
  /** Close cooperatively: our script and the feerate the fee starts from. */
  | { kind: 'close'; localScript: Uint8Array; feerate: FeeratePerKw }
  /** The peer broke the protocol or an HTLC deadline passed: tell the peer and broadcast our commitment. */
  | { kind: 'fail'; reason: string }
  /** Broadcast our commitment without a word to the peer (asked for, or the peer sent an error); refused where there is none to broadcast. */
  | { kind: 'force_close'; reason: string }
  /** As funder, the peer's funding_signed verified (funder-step.ts): the funding may go out now. */
  | { kind: 'funding_signed'; commitments: Commitments }
  /** As funder, the open ended before funding_signed (refused, timed out, the peer left): its funding is never broadcast. */
  | { kind: 'open_abandoned'; reason: string }
  /** What lock-in-step.ts made of the funding transaction on chain. */
  | { kind: 'lock_in'; result: LockInResult }
  /** A new tip: HTLC deadlines, an inbound funding that never came, the commitment's feerate. */
  | { kind: 'tip'; height: number }
  /** A channel in use whose funding a reorg took below its depth (funding-depth.ts). */
  | { kind: 'funding_shallow'; confirmations: number }
  /** A channel in use whose funding is deep (again): where it confirmed, and the short_channel_id that gives. */
  | { kind: 'funding_deep'; height: number; shortChannelId: string }
  /** The funding output was spent (or we spent it): what by. */
  | { kind: 'close_seen'; close: CloseRecord }
  /** The close's resolution on chain moved (resolver.ts): stored before its sweeps go out; done, or undone by a reorg. */
  | { kind: 'close_update'; close: CloseRecord }
  /** The payments layer's decision on one incoming HTLC committed on both sides. */
  | { kind: 'settle'; htlcId: bigint; outcome: IncomingOutcome }
  /** Sign whatever of ours is pending. */
  | { kind: 'sign' }
  /** The peer did not answer our closing_signed within `ms`. */
  | { kind: 'negotiation_timeout'; ms: number }
  /** An update settled: our shutdown may go out now, or the negotiation open. */
  | { kind: 'progress' }
  /** After channel_reestablish and the incoming HTLCs it left resolved: the close negotiation starts over, the fee follows the estimate. */
  | { kind: 'resumed' };

/** A message to the channel's peer. */
export type PeerSend =
  | Outgoing
  | ChannelReadySend
  | ShutdownSend
  | { name: 'channel_reestablish'; msg: ReestablishFields & { channelId: Uint8Array } }
  | { name: 'error' | 'warning'; msg: ErrorMessage };

export type ChannelEffect =
  /** One of our HTLCs ended: written in the same transaction as the channel. */
  | { kind: 'htlc_outcome'; outcome: HtlcOutcome }
  /** Broadcast a closing transaction that is stored (our commitment, or the mutual close). */
  | { kind: 'broadcast'; what: 'commitment' | 'mutual'; txid: string; raw: Uint8Array }
  /** Follow the close on chain now rather than at the next block (an anchors commitment's CPFP child goes out at once). */
  | { kind: 'watch_close' }
  /** Ask the payments layer about each incoming HTLC committed on both sides and not settled yet, and step each answer in. */
  | { kind: 'resolve_incoming' }
  /** The closing negotiation's timer (BOLT 2 closing_signed). */
  | { kind: 'timer'; action: 'arm' | 'clear' }
  | { kind: 'close_connection'; reason: string }
  /** A close() waiting for the mutual close learns it will not come. */
  | { kind: 'close_failed'; reason: string }
  /** Listeners (API streams, the backup) are told the channel changed. */
  | { kind: 'changed' }
  | { kind: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; text: string; fields?: Record<string, unknown> }
  /** Step this input next, on the channel as it is once the effects before it ran. */
  | { kind: 'then'; input: ChannelInput };

export interface ChannelStep {
  next: ChannelView;
  /** `next` (and `revoked`) must be stored, in one transaction with the HTLC outcomes, before anything in `send` goes out. */
  persist: boolean;
  /** A commitment of the peer's that this step revoked: what a justice transaction against it needs. */
  revoked?: RemoteCommit;
  send: PeerSend[];
  effects: ChannelEffect[];
  /** A command the channel cannot carry out now, and why; nothing else is set. */
  refused?: string;
  /** add_htlc: the new HTLC's id. */
  htlcId?: bigint;
}

/** Whether the channel can carry a new HTLC of ours now. */
export function channelActive(v: Pick<ChannelView, 'phase' | 'rec' | 'reestablished'>, connected: boolean): boolean {
  // Once a close is requested no new HTLC goes out: our shutdown waits for a quiet channel.
  // Nor while a reorg has the funding below its depth: an HTLC on an output that may never be is a gift (funding-depth.ts).
  return v.phase === 'normal' && !v.rec.shutdown && !v.rec.fundingDepthLost && v.reestablished && connected;
}

export function channelStep(v: ChannelView, input: ChannelInput, ctx: StepContext): ChannelStep {
  switch (input.kind) {
    case 'message':
      return onMessage(v, input.m, ctx);
    case 'connected':
      return onConnected(v, ctx);
    case 'disconnected':
      return onDisconnected(v);
    case 'add_htlc':
      return addHtlc(v, input, ctx);
    case 'close':
      return shutdownBy(v, { kind: 'close', localScript: input.localScript, feerate: input.feerate }, ctx);
    case 'fail':
      return fail(v, input.reason, ctx);
    case 'force_close':
      return forceCloseAsked(v, input.reason, ctx);
    case 'funding_signed':
      if (v.phase !== 'awaiting_funding_signed') return nothing(v);
      return changed(stored(v, 'awaiting_lock_in', { ...v.rec, commitments: input.commitments }));
    case 'open_abandoned':
      if (v.phase !== 'awaiting_funding_signed') return nothing(v);
      return changed(stored(v, 'closed', { ...v.rec, closeReason: input.reason }));
    case 'lock_in':
      return lockIn(v, input.result, ctx);
    case 'tip':
      return onTip(v, input.height, ctx);
    case 'funding_shallow':
      if (!channelInUse(v) || v.rec.fundingDepthLost) return nothing(v);
      return withLog(changed(updated(v, { fundingDepthLost: true })), 'warn', 'a reorg took the funding below its depth: no new HTLCs until it is back', {
        fundingTxid: v.rec.commitments.fundingTxid,
        confirmations: input.confirmations,
      });
    case 'funding_deep': {
      if (!channelInUse(v)) return nothing(v);
      const { fundingDepthLost: _lost, ...rec } = v.rec;
      const s = changed(stored(v, v.phase, { ...rec, fundingConfirmedAt: input.height, shortChannelId: input.shortChannelId }));
      if (input.shortChannelId === v.rec.shortChannelId) return s;
      return withLog(s, 'warn', 'the funding confirmed in another block: short_channel_id recomputed', { was: v.rec.shortChannelId, now: input.shortChannelId });
    }
    case 'close_seen':
      return closeSeen(v, input.close);
    case 'close_update':
      return closeUpdate(v, input.close);
    case 'settle': {
      const r = settleIncoming(v.rec.commitments, input.htlcId, input.outcome);
      return { ...updated(v, { commitments: r.state }), send: r.send };
    }
    case 'sign':
      return sign(v, ctx);
    case 'negotiation_timeout':
      if (v.phase !== 'shutdown' || !v.rec.shutdown?.negotiation) return nothing(v);
      return fail(v, `closing negotiation timed out: no closing_signed from the peer within ${input.ms / 1000} s`, ctx);
    case 'progress':
      return shutdownBy(v, { kind: 'progress' }, ctx);
    case 'resumed':
      return changed(then(shutdownBy(v, { kind: 'reconnected' }, ctx), (w) => followFee(w, ctx)));
  }
}

// --------------------------------------------------------------- messages

function onMessage(v: ChannelView, m: ChannelMessage, ctx: StepContext): ChannelStep {
  if (v.phase === 'recovering') return recoveringMessage(v, m.name);
  if (v.phase === 'closing' || v.phase === 'closed') return failedChannelMessage(v, m.name);
  switch (m.name) {
    case 'channel_ready': {
      const r = channelReadyStep(reconnectView(v, ctx), m.msg);
      const s = updated(v, { commitments: r.commitments, theirReady: r.theirReady, remoteAlias: r.remoteAlias });
      return then(s, (w) => maybeNormal(w, ctx));
    }
    case 'channel_reestablish':
      return onReestablish(v, m.msg, ctx);
    case 'shutdown': {
      const r = shutdownStep(shutdownView(v, ctx), { kind: 'shutdown', scriptpubkey: m.msg.scriptpubkey, newScript: ctx.newScript, feerate: ctx.closeFeerate });
      const s = applyShutdown(v, r, ctx);
      if (r.next?.phase === 'shutdown' && v.phase !== 'shutdown') s.effects.unshift(log('info', 'peer asked to close the channel'));
      return s;
    }
    case 'closing_signed':
      return shutdownBy(v, { kind: 'closing_signed', msg: m.msg }, ctx);
    default:
      return onUpdate(v, m, ctx);
  }
}

/**
 * A channel that failed or is closing on chain signs and retransmits
 * nothing. BOLT 2 channel_reestablish: a channel in an error state SHOULD
 * retransmit the error and ignore any other packets for that channel: once
 * per connection, so a peer flooding it gets no more than that.
 */
function failedChannelMessage(v: InPhase<'closing' | 'closed'>, name: string): ChannelStep {
  if (name === 'channel_reestablish' && !v.errorResent) {
    // A mutual close is not an error state. BOLT 2: shutdown is sent again after a reconnection, and closing_signed
    // (which nothing acknowledges) too: a peer that never got our last one completes on the same transaction.
    const agreed = v.rec.close?.kind === 'mutual' ? v.rec.shutdown : undefined;
    if (agreed?.agreed) return { ...nothing({ ...v, errorResent: true }), send: mutualCloseAgain(v, agreed.localScript, agreed.agreed) };
    if (v.rec.close?.kind !== 'mutual') return { ...nothing({ ...v, errorResent: true }), send: [error(v, v.rec.closeReason)] };
  }
  return { ...nothing(v), effects: [log('debug', 'ignored a message for a closed channel', { message: name })] };
}

/** Our shutdown and our closing_signed for the agreed close, offering only its fee. */
function mutualCloseAgain(v: ChannelView, localScript: Uint8Array, agreed: { fee: Sat; signature: Uint8Array }): PeerSend[] {
  const channelId = v.rec.commitments.channelId;
  return [
    { name: 'shutdown', msg: { channelId, scriptpubkey: localScript } },
    { name: 'closing_signed', msg: { channelId, feeSatoshis: agreed.fee, signature: agreed.signature, feeRange: { minFeeSatoshis: agreed.fee, maxFeeSatoshis: agreed.fee } } },
  ];
}

/**
 * A channel restored from backup answers the peer's channel_reestablish
 * (sent after ours, as BOLT 2 asks) with an error requesting the close,
 * once per connection: a peer whose state is still at the start (no
 * payment ever) sees nothing wrong in our numbers. Everything else is
 * ignored: we have no state to sign or check anything against.
 */
function recoveringMessage(v: ChannelView, name: string): ChannelStep {
  if (name === 'channel_reestablish' && !v.errorResent) {
    return { ...nothing({ ...v, errorResent: true }), send: [error(v, 'we lost our channel state (restored from a static channel backup): please force close')] };
  }
  return { ...nothing(v), effects: [log('debug', 'ignored a message for a channel restored from backup', { message: name })] };
}

function onReestablish(v: ChannelView, m: ReestablishFields, ctx: StepContext): ChannelStep {
  const r = reestablishStep(reconnectView(v, ctx), m);
  if (r.kind === 'fail') return fail(v, r.reason, ctx);
  if (r.kind === 'data_loss') {
    // The peer proved we lost state: never broadcast our (possibly revoked) commitment; ask it to close and wait for its commitment.
    const s = changed(stored(v, 'closing', { ...v.rec, closeReason: `data loss: ${r.reason}`, dataLoss: true }));
    return withError(v, s, r.reason, log('error', 'channel state is behind the peer: waiting for the peer to close', { reason: r.reason }));
  }
  const resumed: ChannelStep = { ...nothing({ ...v, reestablished: true }), send: r.send };
  const s = then(resumed, (w) => sign(w, ctx));
  // Incoming HTLCs a crash left unresolved are resolved before the close negotiation starts over.
  s.effects.push({ kind: 'resolve_incoming' }, { kind: 'then', input: { kind: 'resumed' } });
  return s;
}

function onUpdate(v: ChannelView, u: UpdateMessage, ctx: StepContext): ChannelStep {
  const name = u.name;
  const sd = v.rec.shutdown;
  if (name === 'update_add_htlc' && sd) {
    // BOLT 2 shutdown receiver: an add after the peer's shutdown breaks "MUST NOT send an update_add_htlc after a shutdown";
    // one that crossed ours is accepted here and failed back once committed (unresolvedIncoming).
    const verdict = addDuringShutdown({ weSentShutdown: sd.failAddsFrom !== undefined, theySentShutdown: sd.remoteScript !== undefined });
    if (verdict === 'violation') return fail(v, 'update_add_htlc after the peer sent shutdown', ctx);
  }
  if (v.phase !== 'normal' && v.phase !== 'shutdown') return fail(v, `${name} in phase ${v.phase}`, ctx);
  if (!v.reestablished) return fail(v, `${name} before channel_reestablish`, ctx);
  let step;
  try {
    step = receive(v.rec.commitments, ctx.secrets, u, ctx.safety);
  } catch (e) {
    if (e instanceof ChannelProtocolError || e instanceof ChannelRefusal) return fail(v, e.message, ctx);
    throw e;
  }
  const s = updated(v, { commitments: step.state });
  s.revoked = step.events.find((e): e is Extract<ChannelEvent, { kind: 'revoked' }> => e.kind === 'revoked')?.commit;
  s.send = step.send;
  // The outcomes of our HTLCs this settles are stored with the state, so no crash leaves the channel past an HTLC its payment still waits for.
  for (const e of step.events) {
    const channelId = v.rec.commitments.channelId;
    if (e.kind === 'fulfilled') s.effects.push({ kind: 'htlc_outcome', outcome: { kind: 'fulfilled', channelId, htlc: e.htlc, preimage: e.preimage } });
    else if (e.kind === 'failed') {
      const f = e.update;
      const outcome: HtlcOutcome = f.kind === 'fail' ? { kind: 'failed', channelId, htlc: e.htlc, reason: f.reason } : { kind: 'failed', channelId, htlc: e.htlc, failureCode: f.failureCode };
      s.effects.push({ kind: 'htlc_outcome', outcome });
    }
  }
  if (step.events.some((e) => e.kind === 'incoming')) s.effects.push({ kind: 'resolve_incoming' });
  if (name === 'commitment_signed' || name === 'revoke_and_ack') s.effects.push({ kind: 'changed' });
  s.effects.push({ kind: 'then', input: { kind: 'progress' } });
  return s;
}

// ------------------------------------------------------------- connection

function onConnected(v: ChannelView, ctx: StepContext): ChannelStep {
  const w = { ...v, errorResent: false };
  if (v.phase === 'recovering') {
    // We hold no state: tell the peer we are at the start, so that it (further along) force closes.
    const msg = { channelId: v.rec.commitments.channelId, ...lostStateReestablish(ctx.secrets) };
    return { ...nothing(w), send: [{ name: 'channel_reestablish', msg }], effects: [log('info', 'asking the peer to close a channel restored from backup')] };
  }
  const ours = ourChannelReestablish(reconnectView(v, ctx));
  if (!ours) return nothing(w);
  return { ...nothing({ ...w, reestablished: false }), send: [ours] };
}

/**
 * BOLT 2: updates no commitment_signed covered are forgotten by both sides
 * when the connection ends; our forgotten HTLCs fail back to the payments layer.
 */
function onDisconnected(v: ChannelView): ChannelStep {
  const w: ChannelView = { ...v, reestablished: false };
  const s: ChannelStep = { ...nothing(w), effects: [{ kind: 'timer', action: 'clear' }] };
  if (v.phase !== 'normal' && v.phase !== 'awaiting_lock_in' && v.phase !== 'shutdown') return s;
  const c = v.rec.commitments;
  if (!c.localChanges.proposed.length && !c.remoteChanges.proposed.length) return s;
  const after = forgetUnsigned(c);
  const sd = v.rec.shutdown;
  // Adds forgotten here reuse their ids after the reconnection; sent again, they still come after our shutdown.
  const failAddsFrom = sd?.failAddsFrom !== undefined && sd.failAddsFrom > after.remoteNextHtlcId ? after.remoteNextHtlcId : sd?.failAddsFrom;
  const r = stored(w, v.phase, { ...v.rec, commitments: after, ...(sd ? { shutdown: { ...sd, failAddsFrom } } : {}) });
  // One commit: a crash between forgetting the HTLC and failing its payment would leave that payment in flight for good.
  for (const u of c.localChanges.proposed) {
    if (u.kind === 'add') r.effects.push({ kind: 'htlc_outcome', outcome: { kind: 'failed', channelId: c.channelId, htlc: u.htlc } });
  }
  r.effects.push(...s.effects);
  return r;
}

// --------------------------------------------------------------- commands

function addHtlc(v: ChannelView, a: Extract<ChannelInput, { kind: 'add_htlc' }>, ctx: StepContext): ChannelStep {
  if (!channelActive(v, ctx.connected)) return refused(v, 'channel is not active');
  let r;
  try {
    r = sendAdd(v.rec.commitments, { amountMsat: a.amountMsat, paymentHash: a.paymentHash, cltvExpiry: a.cltvExpiry, onion: a.onion }, ctx.safety);
  } catch (e) {
    if (e instanceof ChannelRefusal) return refused(v, e.message);
    throw e;
  }
  const s = then({ ...updated(v, { commitments: r.state }), send: r.send }, (w) => sign(w, ctx));
  return { ...s, htlcId: r.htlc.id };
}

/** As opener, update_fee when the estimate moved far enough from the commitment's rate (fee-update.ts), then sign. */
function followFee(v: ChannelView, ctx: StepContext): ChannelStep {
  if (ctx.commitFeerate === undefined || !channelActive(v, ctx.connected)) return nothing(v);
  const feerate = feeUpdateFor(v.rec.commitments, ctx.commitFeerate);
  if (feerate === undefined) return nothing(v);
  let r;
  try {
    r = sendFee(v.rec.commitments, feerate, ctx.safety);
  } catch (e) {
    if (!(e instanceof ChannelRefusal)) throw e;
    // Our balance cannot pay the new fee: the commitment keeps its rate; a later estimate may fit.
    return { ...nothing(v), effects: [log('warn', 'fee update not sent', { feerate, error: e.message })] };
  }
  const s = then({ ...updated(v, { commitments: r.state }), send: r.send }, (w) => sign(w, ctx));
  s.effects.push(log('info', 'commitment feerate updated', { feerate }));
  return s;
}

function sign(v: ChannelView, ctx: StepContext): ChannelStep {
  const step = signPending(v.rec.commitments, ctx.secrets);
  if (!step.send.length) return nothing(v);
  return { ...updated(v, { commitments: step.state }), send: step.send };
}

function forceCloseAsked(v: ChannelView, reason: string, ctx: StepContext): ChannelStep {
  if (v.phase === 'awaiting_funding_signed') return refused(v, 'the channel is not funded yet');
  // Our commitment may be revoked: broadcasting it would hand the peer everything.
  if (v.rec.dataLoss) return refused(v, 'this node lost channel state: it must not broadcast its commitment; waiting for the peer to close');
  if (v.phase === 'recovering') return refused(v, 'a channel restored from backup has no commitment of ours to broadcast; waiting for the peer to close');
  if (v.phase === 'closing' || v.phase === 'closed') return refused(v, 'the channel is already closed');
  return forceClose(v, reason, ctx);
}

// ------------------------------------------------------------------ chain

function onTip(v: ChannelView, height: number, ctx: StepContext): ChannelStep {
  if (v.phase === 'awaiting_lock_in' || v.phase === 'normal' || v.phase === 'shutdown') {
    // Connected or not: an HTLC past its deadline goes on chain (htlc-deadlines.ts).
    const breach = htlcDeadlineBreach(v.rec.commitments, height, (h) => ctx.preimageOf(h) !== undefined);
    if (breach) return fail(v, breach.reason, ctx);
  }
  if (unfundedInbound(v)) {
    // Channels stored before this height was kept count from the first tip after a restart.
    if (v.rec.storedAtHeight === undefined) return updated(v, { storedAtHeight: height });
    // BOLT 2 channel_ready fundee: SHOULD forget the channel if it does not see the funding transaction after 2016 blocks.
    if (unfundedExpired(v.rec.storedAtHeight, height, ctx.unfundedForgetBlocks)) {
      const s = changed(stored(v, 'closed', { ...v.rec, closeReason: `funding not confirmed within ${ctx.unfundedForgetBlocks} blocks` }));
      return withLog(s, 'warn', 'forgetting an inbound channel whose funding never confirmed', { storedAtHeight: v.rec.storedAtHeight, height });
    }
  }
  return followFee(v, ctx);
}

function closeSeen(v: ChannelView, close: CloseRecord): ChannelStep {
  const s = changed(stored(v, 'closing', { ...v.rec, close, closeReason: v.rec.closeReason ?? `funding spent (${close.kind})` }));
  s.effects.push(log('warn', 'funding output spent', { kind: close.kind, txid: close.txid }));
  // After a data loss (or a restore from backup) the peer's commitment is one we cannot place: expected, not alarming.
  if (close.kind === 'unknown' && v.rec.dataLoss) s.effects.push(log('info', 'the peer closed a channel we hold no state for; taking our to_remote output', { txid: close.txid }));
  else if (close.kind === 'unknown') s.effects.push(log('error', 'the funding output was spent by a transaction we do not recognise; taking what pays to our key', { txid: close.txid }));
  return s;
}

function closeUpdate(v: ChannelView, close: CloseRecord): ChannelStep {
  // close_seen moved it to closing first.
  if (v.phase !== 'closing' && v.phase !== 'closed') return nothing(v);
  const rec = { ...v.rec, close };
  if (close.doneAt !== undefined && v.phase !== 'closed') return withLog(changed(stored(v, 'closed', rec)), 'info', 'channel closed and resolved on chain', { kind: close.kind });
  if (close.doneAt === undefined && v.phase === 'closed') return withLog(changed(stored(v, 'closing', rec)), 'warn', "a reorg undid part of a closed channel's close: resolving it again", { kind: close.kind });
  return close === v.rec.close ? nothing(v) : stored(v, v.phase, rec);
}

// ---------------------------------------------------------------- lock-in

function lockIn(v: ChannelView, r: LockInResult, ctx: StepContext): ChannelStep {
  if (r.kind === 'forget') {
    // A channel whose funding never existed as promised: tell the peer, and never use it (no funds of ours are in it).
    const s = changed(stored(v, 'closed', { ...v.rec, closeReason: r.reason }));
    return withError(v, s, r.reason, log('warn', 'forgetting a channel whose funding output is not what was promised', { reason: r.reason }));
  }
  if (Object.keys(r.changes).length === 0) return nothing(v);
  const s = updated(v, { ...r.changes });
  if (r.kind !== 'ready') return s;
  if (ctx.connected) s.send.push(channelReady({ commitments: v.rec.commitments, secrets: ctx.secrets, localAlias: v.rec.localAlias }));
  s.effects.push(log('info', 'funding confirmed, channel_ready sent', { shortChannelId: s.next.rec.shortChannelId }));
  return then(s, (w) => maybeNormal(w, ctx));
}

// ---------------------------------------------------------------- closing

function shutdownBy(v: ChannelView, input: ShutdownInput, ctx: StepContext): ChannelStep {
  return applyShutdown(v, shutdownStep(shutdownView(v, ctx), input), ctx);
}

/** What a shutdown step decided, as one step: store, send, the timer, then the outcome. */
function applyShutdown(v: ChannelView, r: ShutdownStepResult, ctx: StepContext): ChannelStep {
  const o = r.outcome;
  if (o?.kind === 'agreed') {
    const send: PeerSend[] = [...r.send, ...(o.send ? [{ name: 'closing_signed' as const, msg: o.send }] : [])];
    return mutualClose(v, o.done, o.shutdown, 'mutual close agreed', o.closeReason, send, ctx);
  }
  const s = r.next ? changed(stored(v, r.next.phase, { ...v.rec, shutdown: r.next.shutdown, closeReason: r.next.closeReason })) : nothing(v);
  s.send.push(...r.send);
  if (r.timer) s.effects.push({ kind: 'timer', action: r.timer });
  if (o?.kind === 'warn') s.send.push(warning(v, o.text));
  if (o?.kind !== 'fail') return s;
  const failed = then(s, (w) => fail(w, o.reason, ctx));
  if (o.closeConnection) failed.effects.push({ kind: 'close_connection', reason: o.closeConnection });
  return failed;
}

/** Stores the mutual close (both signatures), then sends what is left to send (our last closing_signed) and broadcasts it. */
function mutualClose(v: ChannelView, done: SignedClose, shutdown: ShutdownState, what: string, closeReason: string | undefined, send: PeerSend[], ctx: StepContext): ChannelStep {
  const raw = serializeTx(done.tx);
  const closingTxid = txid(done.tx);
  const close: CloseRecord = { kind: 'mutual', txid: closingTxid, raw, spends: {}, settled: [] };
  const agreed = { fee: done.fee, signature: closingSignature(v.rec.commitments, ctx.secrets, done) };
  const s = changed(stored(v, 'closing', { ...v.rec, shutdown: { ...shutdown, agreed }, close, closeReason: closeReason ?? 'mutual close' }));
  s.send = send;
  s.effects.unshift({ kind: 'timer', action: 'clear' });
  s.effects.push(log('info', what, { txid: closingTxid, feeSat: done.fee }), { kind: 'broadcast', what: 'mutual', txid: closingTxid, raw });
  return s;
}

/**
 * Fails the channel (BOLT 2 "Failing a Channel"): tells the peer why and
 * publishes our latest commitment, or, in a closing negotiation where the
 * peer's last closing_signed is good enough, closes with that instead.
 */
function fail(v: ChannelView, reason: string, ctx: StepContext): ChannelStep {
  // BOLT 2 Failing a Channel: with a valid closing_signed of the peer at a sufficient fee, SHOULD use it for a mutual close.
  const sd = v.phase === 'shutdown' ? v.rec.shutdown : undefined;
  const mutual = sd?.negotiation && closeWithReceived(v.rec.commitments, ctx.secrets, sd.negotiation);
  const s =
    sd && mutual
      ? mutualClose(v, mutual, sd, 'channel failed during the closing negotiation: closing with the peer’s own closing_signed', reason, [], ctx)
      : forceClose(v, reason, ctx);
  return withError(v, s, reason, log('warn', 'failing channel', { reason }));
}

/** Stores our latest commitment as the close (so it is broadcast again after a crash), then broadcasts it. */
function forceClose(v: ChannelView, reason: string, ctx: StepContext): ChannelStep {
  // A restored channel has no commitment of ours to broadcast: it waits for the peer's. One closing already has its close.
  if (v.phase === 'closing' || v.phase === 'closed' || v.phase === 'recovering') return nothing(v);
  const oc = ourCommitment(v.rec.commitments, ctx.secrets, ctx.preimageOf);
  const raw = serializeTx(oc.tx);
  const close: CloseRecord = { kind: 'local', txid: oc.txid, raw, spends: {}, settled: [] };
  // The failure is why it closes now, even if a mutual close had begun.
  const s = changed(stored(v, 'closing', { ...v.rec, close, closeReason: reason }));
  s.effects.push(
    log('warn', 'force closing: broadcasting our commitment', { txid: oc.txid, reason }),
    { kind: 'close_failed', reason: `channel failed during the mutual close: ${reason}` },
    { kind: 'broadcast', what: 'commitment', txid: oc.txid, raw },
    { kind: 'watch_close' },
  );
  return s;
}

// ---------------------------------------------------------------- helpers

function maybeNormal(v: ChannelView, ctx: StepContext): ChannelStep {
  if (v.phase !== 'awaiting_lock_in' || !lockedIn(reconnectView(v, ctx))) return nothing(v);
  const s = changed(stored(v, 'normal', v.rec));
  s.effects.push(log('info', 'channel ready', { shortChannelId: v.rec.shortChannelId }));
  return s;
}

function reconnectView(v: ChannelView, ctx: StepContext): ReconnectView {
  const { commitments, readySent, theirReady, localAlias, remoteAlias } = v.rec;
  return { phase: v.phase, commitments, secrets: ctx.secrets, readySent: !!readySent, theirReady: !!theirReady, localAlias, remoteAlias };
}

function shutdownView(v: ChannelView, ctx: StepContext) {
  const { commitments, shutdown, remoteUpfrontScript, closeReason } = v.rec;
  return { phase: v.phase, channelId: commitments.channelId, commitments, secrets: ctx.secrets, shutdown, remoteUpfrontScript, closeReason, online: v.reestablished && ctx.connected };
}

/** Ready on our side and not closing: its funding is watched for reorgs (funding-depth.ts). */
export const channelInUse = (v: Pick<ChannelView, 'phase' | 'rec'>): boolean =>
  (v.phase === 'normal' || v.phase === 'shutdown' || (v.phase === 'awaiting_lock_in' && !!v.rec.readySent)) && v.rec.close === undefined;

/** A channel the peer opened to us whose funding we have not seen confirm: it holds nothing of ours yet. */
export const unfundedInbound = (v: Pick<ChannelView, 'phase' | 'rec'>): boolean =>
  v.phase === 'awaiting_lock_in' && !v.rec.commitments.weAreOpener && v.rec.fundingConfirmedAt === undefined;

/** `s` with the peer told `text` in an error before anything else it sends, and `why` logged first. */
function withError(v: ChannelView, s: ChannelStep, text: string, why: ChannelEffect): ChannelStep {
  return { ...s, send: [error(v, text), ...s.send], effects: [why, ...s.effects] };
}

function withLog(s: ChannelStep, level: 'debug' | 'info' | 'warn' | 'error', text: string, fields?: Record<string, unknown>): ChannelStep {
  s.effects.push(log(level, text, fields));
  return s;
}

const nothing = (v: ChannelView): ChannelStep => ({ next: v, persist: false, send: [], effects: [] });

const refused = (v: ChannelView, reason: string): ChannelStep => ({ ...nothing(v), refused: reason });

/** The channel moved to `phase` with `rec`, to be stored: the record must hold what that phase promises (state.ts). */
function stored<P extends ChannelPhase>(v: ChannelView, phase: P, rec: RecordByPhase[P]): ChannelStep {
  // One member of the union per phase; for a generic P TypeScript cannot see that this pair is one of them.
  return { next: { ...v, phase, rec } as ChannelView, persist: true, send: [], effects: [] };
}

/** The channel in the same phase with some of its record changed, to be stored. */
function updated(v: ChannelView, changes: Partial<ChannelRecord>): ChannelStep {
  return { next: { ...v, rec: { ...v.rec, ...changes } } as ChannelView, persist: true, send: [], effects: [] };
}

function changed(s: ChannelStep): ChannelStep {
  s.effects.push({ kind: 'changed' });
  return s;
}

/** `s`, then `f` on the channel `s` left: one write of the last state, the sends and effects of both in order. */
function then(s: ChannelStep, f: (v: ChannelView) => ChannelStep): ChannelStep {
  const t = f(s.next);
  return {
    next: t.next,
    persist: s.persist || t.persist,
    revoked: s.revoked ?? t.revoked,
    send: [...s.send, ...t.send],
    effects: [...s.effects, ...t.effects],
    ...(s.htlcId !== undefined ? { htlcId: s.htlcId } : {}),
  };
}

const log = (level: 'debug' | 'info' | 'warn' | 'error', text: string, fields?: Record<string, unknown>): ChannelEffect => ({ kind: 'log', level, text, fields });

const textOf = (text: string): Uint8Array => new TextEncoder().encode(text);

const error = (v: ChannelView, text: string): PeerSend => ({ name: 'error', msg: { channelId: v.rec.commitments.channelId, data: textOf(text) } });

const warning = (v: ChannelView, text: string): PeerSend => ({ name: 'warning', msg: { channelId: v.rec.commitments.channelId, data: textOf(text) } });
