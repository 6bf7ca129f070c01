/**
 * Two channel state machines wired back to back, in memory: what the node's
 * channel driver does over a socket, without one. Messages queue per
 * direction so tests can deliver, drop or reorder them.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../../src/bolt/bytes.ts';
import { type Commitments, type Outgoing } from '../../src/bolt/bolt2/channel/commitments.ts';
import { basepointsOf, type ChannelSecrets } from '../../src/bolt/bolt2/channel/keys.ts';
import { type ChannelEvent, receive, signPending, type UpdateMessage } from '../../src/bolt/bolt2/channel/machine.ts';
import {
  acceptChannelMessage,
  acceptFirstLocal,
  checkAcceptChannel,
  checkOpenChannel,
  DEFAULT_POLICY,
  initialCommitments,
  openChannelMessage,
  ourChannelReadyPoint,
  receiveChannelReady,
  signFirstRemote,
  STATIC_REMOTEKEY_TYPE,
} from '../../src/bolt/bolt2/channel/open.ts';
import { type SafetyPolicy } from '../../src/bolt/bolt2/channel/safety-policy.ts';
import { type FeeratePerKw, type Msat, type Sat } from '../../src/bolt/units.ts';
import { type FeatureVector } from '../../src/bolt/bolt9/features.ts';

export const REGTEST = fromHex('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f');

export function secrets(tag: number): ChannelSecrets {
  const k = (i: number): Uint8Array => sha256(Uint8Array.of(tag, i));
  return { funding: k(1), revocation: k(2), payment: k(3), delayedPayment: k(4), htlc: k(5), shachainSeed: k(6) };
}

/**
 * The first commitments of both sides of a channel `a` opens to `b`, as the
 * open steps build them: checked open and accept, funding_created and
 * funding_signed exchanged, both channel_ready received.
 */
export function openedCommitments(
  sa: ChannelSecrets,
  sb: ChannelSecrets,
  o: { fundingSat: Sat; pushMsat: Msat; feerate: FeeratePerKw; channelType: FeatureVector; funding: { txid: string; vout: number } },
): { a: Commitments; b: Commitments } {
  const open = openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(7),
    chainHash: REGTEST,
    fundingSat: o.fundingSat,
    pushMsat: o.pushMsat,
    feeratePerKw: o.feerate,
    channelType: o.channelType,
    secrets: sa,
    basepoints: basepointsOf(sa),
  });
  checkOpenChannel(DEFAULT_POLICY, open, REGTEST);
  const accept = acceptChannelMessage(DEFAULT_POLICY, open, sb, basepointsOf(sb));
  checkAcceptChannel(DEFAULT_POLICY, open, accept);
  let ca = initialCommitments({ weAreOpener: true, open, accept, funding: o.funding, secrets: sa }).state;
  let cb = initialCommitments({ weAreOpener: false, open, accept, funding: o.funding, secrets: sb }).state;
  const fc = signFirstRemote(ca, sa);
  ca = fc.state;
  cb = acceptFirstLocal(cb, sb, fc.signature);
  const fs = signFirstRemote(cb, sb);
  cb = fs.state;
  ca = acceptFirstLocal(ca, sa, fs.signature);
  return { a: receiveChannelReady(ca, ourChannelReadyPoint(sb)), b: receiveChannelReady(cb, ourChannelReadyPoint(sa)) };
}

export interface Side {
  name: 'A' | 'B';
  state: Commitments;
  secrets: ChannelSecrets;
  inbox: Outgoing[];
  events: ChannelEvent[];
  /** What this side enforces on what it receives (the default policy when unset). */
  policy?: SafetyPolicy;
}

export class Pair {
  constructor(
    readonly a: Side,
    readonly b: Side,
  ) {}

  static open(fundingSat: Sat, pushMsat: Msat = 0n as Msat, feerate = 2500 as FeeratePerKw, channelType = STATIC_REMOTEKEY_TYPE): Pair {
    const sa = secrets(1);
    const sb = secrets(2);
    const { a, b } = openedCommitments(sa, sb, { fundingSat, pushMsat, feerate, channelType, funding: { txid: 'ab'.repeat(32), vout: 1 } });
    return new Pair({ name: 'A', state: a, secrets: sa, inbox: [], events: [] }, { name: 'B', state: b, secrets: sb, inbox: [], events: [] });
  }

  other(s: Side): Side {
    return s === this.a ? this.b : this.a;
  }

  /** Queues what `from` sends. */
  send(from: Side, msgs: Outgoing[]): void {
    this.other(from).inbox.push(...msgs);
  }

  sign(from: Side): void {
    const r = signPending(from.state, from.secrets);
    from.state = r.state;
    this.send(from, r.send);
  }

  /** Delivers the next queued message to `to`. */
  deliverOne(to: Side): Outgoing {
    const m = to.inbox.shift();
    if (!m) throw new Error(`nothing queued for ${to.name}`);
    const r = receive(to.state, to.secrets, m, to.policy);
    to.state = r.state;
    to.events.push(...r.events);
    this.send(to, r.send);
    return m;
  }

  /** Delivers a hand-made message to `to`, as if the peer sent it. */
  deliverOneRaw(to: Side, name: string, msg: Record<string, unknown>): void {
    // Hand-made: whatever fields the test wrote, under the name it chose (the codec never saw them).
    const r = receive(to.state, to.secrets, { name, msg } as unknown as UpdateMessage, to.policy);
    to.state = r.state;
    to.events.push(...r.events);
    this.send(to, r.send);
  }

  /** Delivers everything both ways until both inboxes are empty. */
  settle(limit = 1000): void {
    for (let i = 0; i < limit; i++) {
      if (this.a.inbox.length) this.deliverOne(this.a);
      else if (this.b.inbox.length) this.deliverOne(this.b);
      else return;
    }
    throw new Error('messages kept flowing');
  }
}
