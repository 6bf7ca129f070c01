/**
 * The normal-operation message handler of a channel: one peer message in,
 * the new commitments, the messages to send and what happened to HTLCs out.
 *
 * Signing policy: we answer a commitment_signed with revoke_and_ack at once
 * and, if that left changes only the peer's commitment lacks, follow with our
 * own commitment_signed; after a revoke_and_ack we sign whatever is pending.
 * Our own updates are signed by the caller (`signPending`) when it has
 * batched what it wants to send.
 */
import { type Bolt2Message } from '../index.ts';
import {
  ChannelProtocolError,
  type Commitments,
  hasChangesToSign,
  type Outgoing,
  receiveAdd,
  receiveCommit,
  receiveFee,
  receiveRevocation,
  receiveSettle,
  type RemoteCommit,
  sendCommit,
} from './commitments.ts';
import { type ChannelSecrets } from './keys.ts';
import { DEFAULT_SAFETY_POLICY, type SafetyPolicy } from './safety-policy.ts';
import { type HtlcEntry, type Update } from './spec.ts';

export type ChannelEvent =
  /** An incoming HTLC is irrevocably committed: settle or fail it now. */
  | { kind: 'incoming'; htlc: HtlcEntry }
  /** The peer revealed the preimage of one of our HTLCs: the payment succeeded. */
  | { kind: 'fulfilled'; htlc: HtlcEntry; preimage: Uint8Array }
  /** The peer's failure of one of our HTLCs is irrevocably committed: the attempt failed. */
  | { kind: 'failed'; htlc: HtlcEntry; update: Extract<Update, { kind: 'fail' | 'fail_malformed' }> }
  /** A commitment of the peer's was revoked: keep what a justice transaction needs. */
  | { kind: 'revoked'; commit: RemoteCommit };

export interface Step {
  state: Commitments;
  send: Outgoing[];
  events: ChannelEvent[];
}

/** The normal-operation messages a channel receives, as their codecs decode them. */
export type UpdateMessage = Extract<
  Bolt2Message,
  { name: 'update_add_htlc' | 'update_fulfill_htlc' | 'update_fail_htlc' | 'update_fail_malformed_htlc' | 'update_fee' | 'commitment_signed' | 'revoke_and_ack' }
>;

export function signPending(c: Commitments, s: ChannelSecrets): Step {
  if (!hasChangesToSign(c) || !c.remoteNextPoint) return { state: c, send: [], events: [] };
  const r = sendCommit(c, s);
  return { state: r.state, send: r.send, events: [] };
}

/**
 * Updates from the peer we hold without having signed them: each costs
 * memory and a larger state on every write, so past the policy's cap the
 * channel fails (issue 13 "update_fee spam").
 */
export const unsignedPeerUpdates = (c: Commitments): number => c.remoteChanges.proposed.length + c.remoteChanges.acked.length;

function capped(step: Step, policy: SafetyPolicy): Step {
  const n = unsignedPeerUpdates(step.state);
  if (n > policy.maxUnsignedPeerUpdates) {
    throw new ChannelProtocolError(`${n} updates from the peer wait for our signature, more than the limit of ${policy.maxUnsignedPeerUpdates}`);
  }
  return step;
}

/** Handles one normal-operation message from the peer. Throws ChannelProtocolError when the channel must fail. */
export function receive(c: Commitments, s: ChannelSecrets, u: UpdateMessage, policy: SafetyPolicy = DEFAULT_SAFETY_POLICY): Step {
  const step = receiveStep(c, s, u, policy);
  return u.name.startsWith('update_') ? capped(step, policy) : step;
}

function receiveStep(c: Commitments, s: ChannelSecrets, u: UpdateMessage, policy: SafetyPolicy): Step {
  // Kept as a string for the default case: a caller that bypassed the codecs may hand any name.
  const name: string = u.name;
  switch (u.name) {
    case 'update_add_htlc': {
      const m = u.msg;
      const add = { id: m.id, amountMsat: m.amountMsat, paymentHash: m.paymentHash, cltvExpiry: m.cltvExpiry, onionRoutingPacket: m.onionRoutingPacket };
      return { state: receiveAdd(c, add, policy), send: [], events: [] };
    }
    case 'update_fulfill_htlc': {
      const preimage = u.msg.paymentPreimage;
      const r = receiveSettle(c, { kind: 'fulfill', id: u.msg.id, preimage });
      return { state: r.state, send: [], events: [{ kind: 'fulfilled', htlc: r.htlc, preimage }] };
    }
    case 'update_fail_htlc':
      return { state: receiveSettle(c, { kind: 'fail', id: u.msg.id, reason: u.msg.reason }).state, send: [], events: [] };
    case 'update_fail_malformed_htlc': {
      const m = u.msg;
      return { state: receiveSettle(c, { kind: 'fail_malformed', id: m.id, sha256OfOnion: m.sha256OfOnion, failureCode: m.failureCode }).state, send: [], events: [] };
    }
    case 'update_fee':
      return { state: receiveFee(c, u.msg.feeratePerKw, policy), send: [], events: [] };
    case 'commitment_signed': {
      const r = receiveCommit(c, s, { signature: u.msg.signature, htlcSignatures: u.msg.htlcSignatures });
      const follow = signPending(r.state, s);
      return { state: follow.state, send: [...r.send, ...follow.send], events: [] };
    }
    case 'revoke_and_ack': {
      const r = receiveRevocation(c, { perCommitmentSecret: u.msg.perCommitmentSecret, nextPerCommitmentPoint: u.msg.nextPerCommitmentPoint });
      const events: ChannelEvent[] = [{ kind: 'revoked', commit: r.revoked }];
      for (const x of r.lockedIn) {
        if (x.kind === 'add') events.push({ kind: 'incoming', htlc: x.htlc });
        else if (x.kind === 'fail' || x.kind === 'fail_malformed') {
          const htlc = r.revoked.spec.htlcs.find((h) => h.direction === 'out' && h.id === x.id);
          if (htlc) events.push({ kind: 'failed', htlc, update: x });
        }
      }
      const follow = signPending(r.state, s);
      return { state: follow.state, send: follow.send, events };
    }
    default:
      throw new ChannelProtocolError(`unexpected ${name} in normal operation`);
  }
}
