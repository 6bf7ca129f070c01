/**
 * The mutual close as one pure step (BOLT 2 "Channel Close"): what our wish
 * to close, the peer's shutdown and closing_signed, and a channel that just
 * became quiet or reconnected do to a channel in phase normal or shutdown.
 * The result says what to store, what to send after that, whether the
 * negotiation timer runs, and how the step ended (a warning, a failed
 * channel, an agreed closing transaction). The driver (ChannelManager)
 * stores, then sends, then acts on the outcome; the rules and the fee
 * maths live here and in closing.ts.
 */
import { equalBytes } from '../../bytes.ts';
import { closingFee } from '../../bolt3/closing.ts';
import { FEERATE_FLOOR, type FeeratePerKw, msatToSatFloor, sat, type Sat } from '../../units.ts';
import {
  canSendShutdown,
  checkAgainstUpfront,
  checkShutdownScript,
  type ClosingNegotiation,
  type ClosingSignedMessage,
  firstClosingSigned,
  readyToNegotiate,
  receiveClosingSigned,
  type SignedClose,
} from './closing.ts';
import { ChannelProtocolError, type Commitments } from './commitments.ts';
import { type ChannelSecrets } from './keys.ts';

export interface ShutdownState {
  localScript: Uint8Array;
  remoteScript?: Uint8Array;
  sent: boolean;
  /** The peer's next HTLC id when our shutdown was first sent: its adds from there on crossed our shutdown and are failed back. */
  failAddsFrom?: bigint;
  /** Fee rate the closing fee is computed from. */
  feerate: FeeratePerKw;
  negotiation?: ClosingNegotiation;
  /** The closing transaction both signed: its fee and our signature, for the closing_signed sent again when the peer reconnects. */
  agreed?: { fee: Sat; signature: Uint8Array };
}

/** What the step reads of a channel. */
export interface ShutdownView {
  phase: string;
  channelId: Uint8Array;
  commitments: Commitments;
  secrets: ChannelSecrets;
  shutdown?: ShutdownState;
  /** The peer's non-empty upfront_shutdown_script: its shutdown must name it. */
  remoteUpfrontScript?: Uint8Array;
  closeReason?: string;
  /** channel_reestablish exchanged on a live connection: messages may go out now. */
  online: boolean;
}

export type ShutdownInput =
  /** We want to close: our script and the feerate the fee starts from. */
  | { kind: 'close'; localScript: Uint8Array; feerate: FeeratePerKw }
  | { kind: 'shutdown'; scriptpubkey: Uint8Array; newScript: () => Uint8Array; feerate: FeeratePerKw }
  | { kind: 'closing_signed'; msg: ClosingSignedMessage }
  /** The channel may have moved on (an update settled): send our shutdown or open the negotiation if due. */
  | { kind: 'progress' }
  /** channel_reestablish done: our shutdown goes out again (or for the first time, if a close waited) and the fee negotiation starts over. */
  | { kind: 'reconnected' };

export type ShutdownSend =
  | { name: 'shutdown'; msg: { channelId: Uint8Array; scriptpubkey: Uint8Array } }
  | { name: 'closing_signed'; msg: ClosingSignedMessage };

export type ShutdownOutcome =
  | { kind: 'warn'; text: string }
  | { kind: 'fail'; reason: string; closeConnection?: string }
  /** Both signatures on one closing transaction; `send` is our last closing_signed, to go out once it is stored with the negotiation's end. */
  | { kind: 'agreed'; done: SignedClose; send?: ClosingSignedMessage; shutdown: ShutdownState; closeReason?: string };

export interface ShutdownStepResult {
  /** The state to store before anything in `send` goes out; undefined when nothing changed. */
  next?: { phase: 'normal' | 'shutdown'; shutdown: ShutdownState; closeReason?: string };
  send: ShutdownSend[];
  /** Our closing_signed awaits an answer (arm), or the negotiation is over or waits on the peer (clear). */
  timer?: 'arm' | 'clear';
  outcome?: ShutdownOutcome;
}

const NOTHING: ShutdownStepResult = { send: [] };

/** The phases a mutual close runs in: before our shutdown went out, and after. */
const closable = (phase: string): phase is 'normal' | 'shutdown' => phase === 'normal' || phase === 'shutdown';

export function shutdownStep(v: ShutdownView, input: ShutdownInput): ShutdownStepResult {
  switch (input.kind) {
    case 'close':
      return progress(v, { phase: closable(v.phase) ? v.phase : 'normal', shutdown: { localScript: input.localScript, sent: false, feerate: input.feerate }, closeReason: 'mutual close requested by us' });
    case 'shutdown':
      return onShutdown(v, input);
    case 'closing_signed':
      return onClosingSigned(v, input.msg);
    case 'progress':
      return progress(v, undefined);
    case 'reconnected':
      // BOLT 2 shutdown: after reconnecting, shutdown is sent again, and closing_signed negotiation restarts.
      if (!closable(v.phase) || !v.shutdown) return NOTHING;
      return progress(v, { phase: v.phase, shutdown: { ...v.shutdown, sent: false, negotiation: undefined }, closeReason: v.closeReason });
  }
}

function onShutdown(v: ShutdownView, m: Extract<ShutdownInput, { kind: 'shutdown' }>): ShutdownStepResult {
  if (!closable(v.phase)) return { send: [], outcome: { kind: 'warn', text: `shutdown in phase ${v.phase}` } };
  try {
    checkShutdownScript(m.scriptpubkey);
  } catch (e) {
    // BOLT 2 shutdown receiver: a scriptpubkey not in one of the allowed forms SHOULD get a warning.
    return { send: [], outcome: { kind: 'warn', text: (e as Error).message } };
  }
  try {
    // BOLT 2 shutdown receiver: a scriptpubkey other than the non-empty upfront_shutdown_script MUST fail the connection.
    checkAgainstUpfront(v.remoteUpfrontScript, m.scriptpubkey);
  } catch (e) {
    return { send: [], outcome: { kind: 'fail', reason: (e as Error).message, closeConnection: 'shutdown scriptpubkey broke the upfront_shutdown_script' } };
  }
  const shutdown: ShutdownState = v.shutdown ?? { localScript: m.newScript(), sent: false, feerate: m.feerate };
  if (shutdown.remoteScript && !equalBytes(shutdown.remoteScript, m.scriptpubkey) && shutdown.negotiation) {
    return { send: [], outcome: { kind: 'fail', reason: 'a second shutdown with another script' } };
  }
  return progress(v, { phase: 'shutdown', shutdown: { ...shutdown, remoteScript: m.scriptpubkey }, closeReason: v.closeReason ?? 'mutual close requested by the peer' });
}

/**
 * Sends our shutdown when allowed (no update of ours waiting to be signed),
 * then opens the fee negotiation once the channel is empty; the funder
 * speaks first. `changed` is the state an earlier part of the step left.
 */
function progress(v: ShutdownView, changed: ShutdownStepResult['next']): ShutdownStepResult {
  const phase = changed?.phase ?? v.phase;
  let sd = changed?.shutdown ?? v.shutdown;
  const closeReason = changed?.closeReason ?? v.closeReason;
  const unchanged: ShutdownStepResult = changed ? { next: changed, send: [] } : NOTHING;
  if (!closable(phase) || !sd || !v.online) return unchanged;
  const c = v.commitments;
  const send: ShutdownSend[] = [];
  let next = changed;
  if (!sd.sent && canSendShutdown(c)) {
    // From here the peer's new adds are refused (failAddsFrom): the shutdown phase begins with the message, not before.
    sd = { ...sd, sent: true, failAddsFrom: sd.failAddsFrom ?? c.remoteNextHtlcId };
    next = { phase: 'shutdown', shutdown: sd, closeReason };
    send.push({ name: 'shutdown', msg: { channelId: v.channelId, scriptpubkey: sd.localScript } });
  }
  if (!sd.sent || !sd.remoteScript || sd.negotiation || !readyToNegotiate(c)) return { ...(next ? { next } : {}), send };
  const fee = closingFee(sd.feerate, sd.localScript, sd.remoteScript);
  const floor = closingFee(FEERATE_FLOOR, sd.localScript, sd.remoteScript);
  const funderSat = msatToSatFloor(c.weAreOpener ? c.localCommit.spec.toLocalMsat : c.localCommit.spec.toRemoteMsat);
  // As funder we pay: up to three times our estimate (lnd's default). As fundee the fee is not ours: anything the funder can pay.
  const cap = c.weAreOpener ? (fee * 3n < funderSat ? fee * 3n : funderSat) : funderSat;
  const negotiation: ClosingNegotiation = {
    localScript: sd.localScript,
    remoteScript: sd.remoteScript,
    proposedFee: sat(fee < cap ? fee : cap),
    range: { minFeeSatoshis: sat(floor < cap ? floor : cap), maxFeeSatoshis: sat(cap) },
  };
  const phaseNow = next?.phase ?? phase;
  if (!c.weAreOpener) return { next: { phase: phaseNow, shutdown: { ...sd, negotiation }, closeReason }, send, timer: 'arm' };
  const first = firstClosingSigned(c, v.secrets, negotiation);
  if (first.send) send.push({ name: 'closing_signed', msg: first.send });
  return { next: { phase: phaseNow, shutdown: { ...sd, negotiation: first.negotiation }, closeReason }, send, timer: 'arm' };
}

function onClosingSigned(v: ShutdownView, m: ClosingSignedMessage): ShutdownStepResult {
  if (v.phase !== 'shutdown') return { send: [], outcome: { kind: 'warn', text: `closing_signed in phase ${v.phase}` } };
  const before = progress(v, undefined);
  const sd = before.next?.shutdown ?? v.shutdown;
  const with_ = (r: Omit<ShutdownStepResult, 'send'> & { send?: ShutdownSend[] }): ShutdownStepResult => ({
    ...before,
    ...r,
    next: r.next ?? before.next,
    send: [...before.send, ...(r.send ?? [])],
  });
  if (!sd?.negotiation) return with_({ outcome: { kind: 'fail', reason: 'closing_signed before shutdown completed' } });
  let step;
  try {
    step = receiveClosingSigned(v.commitments, v.secrets, sd.negotiation, m);
  } catch (e) {
    if (e instanceof ChannelProtocolError) return with_({ outcome: { kind: 'fail', reason: e.message } });
    throw e;
  }
  // Ranges that do not overlap: warn and keep waiting; the negotiation timer, still running, fails the channel if nothing better comes.
  if (step.warning) return with_({ outcome: { kind: 'warn', text: step.warning } });
  const next = { phase: before.next?.phase ?? ('shutdown' as const), shutdown: { ...sd, negotiation: step.negotiation }, closeReason: before.next?.closeReason ?? v.closeReason };
  if (step.done) return with_({ next, timer: 'clear', outcome: { kind: 'agreed', done: step.done, ...(step.send ? { send: step.send } : {}), shutdown: next.shutdown, closeReason: next.closeReason } });
  return with_({ next, send: step.send ? [{ name: 'closing_signed', msg: step.send }] : [], timer: 'arm' });
}
