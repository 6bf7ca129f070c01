/**
 * The hostile peer's side of a channel, kept with lnnode's own pure BOLT 2
 * code (src/bolt/bolt2/channel): as opener (open_channel, funding_created)
 * or as acceptor (accept_channel, funding_signed), then normal operation.
 * Because it holds a real channel state with its own keys it can make every
 * commitment_signed and revoke_and_ack correct, and a test deviates in the
 * one field it is about: each step builds the message, lets the test change
 * it, applies what it sent to its own state and sends it.
 *
 * `receive` applies what the node sent as an honest peer would (the pure
 * machine's `receive`) and `run` loops on it, answering, until a condition
 * on our state holds; the test decides what to do with HTLCs the node
 * offers (fulfil with the invoice preimage, fail, or hold them).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import {
  type Commitments,
  forgetUnsigned,
  type Outgoing,
  ourReestablish,
  type ReestablishFields,
  sendCommit,
  sendFail,
  sendFulfill,
} from '../../src/bolt/bolt2/channel/commitments.ts';
import { basepointsOf, type ChannelSecrets, perCommitmentPoint } from '../../src/bolt/bolt2/channel/keys.ts';
import { type ChannelEvent, receive as machineReceive, signPending, type UpdateMessage } from '../../src/bolt/bolt2/channel/machine.ts';
import {
  type AcceptChannelMessage,
  acceptChannelMessage,
  acceptFirstLocal,
  DEFAULT_POLICY,
  initialCommitments,
  type OpenChannelMessage,
  openChannelMessage,
  receiveChannelReady,
  signFirstRemote,
  STATIC_REMOTEKEY_TYPE,
} from '../../src/bolt/bolt2/channel/open.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { encodeInvoice } from '../../src/bolt/bolt11/invoice.ts';
import { encodeHopPayload } from '../../src/bolt/bolt4/payload.ts';
import { constructOnion } from '../../src/bolt/bolt4/sphinx.ts';
import { LNNODE_INVOICE_FEATURES, type FeatureVector } from '../../src/bolt/bolt9/features.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { p2wsh } from '../../src/bolt/bolt3/script.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, type Sat, msat } from '../../src/bolt/units.ts';
import { chainHash } from '../../src/node/networks.ts';
import { channelOf, type HostilePeer, type Received, textOf } from './hostile-peer.ts';

let tags = 0;

/** Fresh channel secrets for the hostile side. */
export function hostileSecrets(): ChannelSecrets {
  const tag = ++tags;
  const k = (i: number): Uint8Array => sha256(Uint8Array.of(0x68, tag, i, ...crypto.getRandomValues(new Uint8Array(16))));
  return { funding: k(1), revocation: k(2), payment: k(3), delayedPayment: k(4), htlc: k(5), shachainSeed: k(6) };
}

/** A compact signature with its s replaced by n - s: valid ECDSA, but not low-S (BOLT 2 LOW-S rule). */
export function highS(compact: Uint8Array): Uint8Array {
  const sig = secp256k1.Signature.fromBytes(compact, 'compact');
  const n = secp256k1.Point.CURVE().n;
  return new secp256k1.Signature(sig.r, n - sig.s).toBytes('compact');
}

/** The same signature with one bit flipped: no longer valid for anything. */
export function corrupt(sig: Uint8Array): Uint8Array {
  const out = sig.slice();
  out[out.length - 1]! ^= 0x01;
  return out;
}

/** A 33-byte string that is not a point on secp256k1 (x = 5 has no y). */
export const NOT_A_POINT = fromHex(`02${'00'.repeat(31)}05`);

/** The error or warning on `channelId` after `from`, when exactly one came: what a refusal must look like. */
export function refusalsAbout(peer: HostilePeer, channelId: Uint8Array | string, from: number): Received[] {
  return peer.about(channelId, from).filter((r) => r.name === 'error' || r.name === 'warning');
}

/** An open in progress, us the funder: open_channel sent, accept_channel received. */
export class OpeningAsFunder {
  constructor(
    readonly peer: HostilePeer,
    readonly secrets: ChannelSecrets,
    readonly open: OpenChannelMessage,
    readonly accept: AcceptChannelMessage,
  ) {}

  /** The funding output the funding transaction must pay (BOLT 3 P2WSH of both funding keys). */
  fundingOutputScript(): Uint8Array {
    return p2wsh(fundingScript(this.open.fundingPubkey, this.accept.fundingPubkey));
  }

  /** The funding_created we would send for `funding` (sent by `fundingCreated`). */
  fundingCreatedMessage(funding: { txid: string; vout: number }): { msg: Record<string, unknown>; state: Commitments } {
    const { state } = initialCommitments({ weAreOpener: true, open: this.open, accept: this.accept, funding, secrets: this.secrets });
    const signed = signFirstRemote(state, this.secrets);
    return {
      state: signed.state,
      msg: {
        temporaryChannelId: this.open.temporaryChannelId,
        fundingTxid: fromHex(funding.txid).reverse(),
        fundingOutputIndex: funding.vout,
        signature: signed.signature,
      },
    };
  }

  /**
   * Sends funding_created (changed by `tweak` if given) and waits for
   * funding_signed or an error; with funding_signed, the channel.
   */
  async fundingCreated(funding: { txid: string; vout: number }, tweak?: (m: Record<string, unknown>) => void): Promise<{ answer: Received; channel?: HostileChannel }> {
    const { msg, state } = this.fundingCreatedMessage(funding);
    tweak?.(msg);
    const from = this.peer.mark();
    this.peer.send('funding_created', msg);
    const ids = [hex(this.open.temporaryChannelId), hex(state.channelId)];
    const answer = await this.peer.next(
      'an answer to funding_created',
      (r) => (r.name === 'funding_signed' || r.name === 'error' || r.name === 'warning') && ids.includes(channelOf(r) ?? ''),
      from,
      () => this.peer.closedReason,
    );
    if (answer.name !== 'funding_signed') return { answer };
    const ready = acceptFirstLocal(state, this.secrets, answer.msg.signature as Uint8Array);
    return { answer, channel: new HostileChannel(this.peer, this.secrets, ready, this.open, this.accept, answer.seq + 1) };
  }
}

export interface OpenOptions {
  fundingSat: Sat;
  pushMsat?: Msat;
  feerate?: FeeratePerKw;
  channelType?: FeatureVector;
  upfrontShutdownScript?: Uint8Array;
  /** Changes the message before it is sent (the deviation under test). */
  tweak?: (m: OpenChannelMessage) => void;
}

/** The open_channel a hostile funder sends (honest unless tweaked). */
export function openMessage(secrets: ChannelSecrets, o: OpenOptions): OpenChannelMessage {
  const m = openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: crypto.getRandomValues(new Uint8Array(32)),
    chainHash: chainHash('regtest'),
    fundingSat: o.fundingSat,
    pushMsat: o.pushMsat ?? msat(0),
    feeratePerKw: o.feerate ?? (1000 as FeeratePerKw),
    channelType: o.channelType ?? STATIC_REMOTEKEY_TYPE,
    secrets,
    basepoints: basepointsOf(secrets),
  });
  if (o.upfrontShutdownScript) m.upfrontShutdownScript = o.upfrontShutdownScript as typeof m.upfrontShutdownScript;
  o.tweak?.(m);
  return m;
}

/** Sends open_channel and waits for accept_channel or the refusal: `opening` when accepted. */
export async function openChannel(peer: HostilePeer, o: OpenOptions): Promise<{ open: OpenChannelMessage; answer: Received; opening?: OpeningAsFunder }> {
  const secrets = hostileSecrets();
  const open = openMessage(secrets, o);
  const from = peer.mark();
  peer.send('open_channel', open as unknown as Record<string, unknown>);
  const answer = await peer.next(
    'an answer to open_channel',
    (r) => (r.name === 'accept_channel' || r.name === 'error' || r.name === 'warning') && channelOf(r) === hex(open.temporaryChannelId),
    from,
    () => peer.closedReason,
  );
  if (answer.name !== 'accept_channel') return { open, answer };
  return { open, answer, opening: new OpeningAsFunder(peer, secrets, open, answer.msg as unknown as AcceptChannelMessage) };
}

/** Us the acceptor: answers the node's open_channel (received as `open`) with accept_channel, changed by `tweak`. */
export function acceptChannel(peer: HostilePeer, open: OpenChannelMessage, tweak?: (m: AcceptChannelMessage) => void): { secrets: ChannelSecrets; accept: AcceptChannelMessage } {
  const secrets = hostileSecrets();
  const accept = acceptChannelMessage({ ...DEFAULT_POLICY, minimumDepth: 1 }, open, secrets, basepointsOf(secrets)) as AcceptChannelMessage;
  tweak?.(accept);
  peer.send('accept_channel', accept as unknown as Record<string, unknown>);
  return { secrets, accept };
}

/** Us the acceptor: given the node's funding_created, signs its first commitment in funding_signed (changed by `tweak`). */
export function fundingSigned(
  peer: HostilePeer,
  a: { secrets: ChannelSecrets; open: OpenChannelMessage; accept: AcceptChannelMessage; created: Received },
  tweak?: (m: Record<string, unknown>) => void,
): HostileChannel {
  const m = a.created.msg;
  const txid = hex((m.fundingTxid as Uint8Array).slice().reverse());
  const { state } = initialCommitments({ weAreOpener: false, open: a.open, accept: a.accept, funding: { txid, vout: m.fundingOutputIndex as number }, secrets: a.secrets });
  const verified = acceptFirstLocal(state, a.secrets, m.signature as Uint8Array);
  const signed = signFirstRemote(verified, a.secrets);
  const msg: Record<string, unknown> = { channelId: signed.state.channelId, signature: signed.signature };
  tweak?.(msg);
  const from = peer.mark();
  peer.send('funding_signed', msg);
  return new HostileChannel(peer, a.secrets, signed.state, a.open, a.accept, from);
}

export interface RunOptions {
  /** What to do with an HTLC the node offered once it is irrevocably committed; hold it by default. */
  onIncoming?: (h: HtlcEntry) => { fulfill: Uint8Array } | { fail: Uint8Array } | 'hold';
  /** Messages not to answer (the deviation: withhold a revoke_and_ack, a commitment_signed). */
  withhold?: (o: Outgoing) => boolean;
  /** Fail at once on an error or warning from the node (default), or return it. */
  allowRefusal?: boolean;
}

/** Our side of an open channel. */
export class HostileChannel {
  /** Everything the node sent on this channel that we have applied. */
  readonly applied: Received[] = [];
  /** Our state after each commitment we received and revoked, oldest first: what a breach broadcasts. */
  readonly revokedStates: Commitments[] = [];
  /** Messages we did not send because a test withheld them. */
  readonly withheld: Outgoing[] = [];
  theirReady = false;
  /** HTLCs the node offered that are committed on both sides. */
  readonly incoming: HtlcEntry[] = [];

  constructor(
    readonly peer: HostilePeer,
    readonly secrets: ChannelSecrets,
    public state: Commitments,
    readonly open: OpenChannelMessage,
    readonly accept: AcceptChannelMessage,
    /** Log position from which messages are this channel's to read. */
    public cursor: number,
  ) {}

  get channelId(): Uint8Array {
    return this.state.channelId;
  }

  get id(): string {
    return hex(this.state.channelId);
  }

  /** Sends channel_ready (the point for our commitment 1). */
  sendReady(): void {
    this.peer.send('channel_ready', { channelId: this.channelId, secondPerCommitmentPoint: perCommitmentPoint(this.secrets, 1n) });
  }

  /** Sends a message on this channel after `tweak` changed it (the deviation under test). */
  send(o: Outgoing | { name: string; msg: Record<string, unknown> }, tweak?: (m: Record<string, unknown>) => void): void {
    const msg = { ...(o.msg as Record<string, unknown>) };
    tweak?.(msg);
    this.peer.send(o.name, msg);
  }

  /** The next message about this channel the node sent after our cursor (waits for it); moves the cursor past it. */
  async nextMessage(what: string, pred: (r: Received) => boolean = () => true): Promise<Received> {
    const r = await this.peer.next(what, (x) => channelOf(x) === this.id && pred(x), this.cursor, () => this.peer.closedReason);
    this.cursor = r.seq + 1;
    return r;
  }

  /** Applies one message the node sent to our state as an honest peer; returns what an honest peer answers. */
  receive(r: Received): { send: Outgoing[]; events: ChannelEvent[] } {
    this.applied.push(r);
    if (r.name === 'channel_ready') {
      this.state = receiveChannelReady(this.state, r.msg.secondPerCommitmentPoint as Uint8Array);
      this.theirReady = true;
      return { send: [], events: [] };
    }
    if (r.name === 'error' || r.name === 'warning') throw new Error(`${this.peer.label}: the node sent ${r.name} "${textOf(r)}" on channel ${this.id.slice(0, 16)}`);
    if (r.name === 'channel_reestablish' || r.name === 'shutdown' || r.name === 'closing_signed') return { send: [], events: [] };
    const before = this.state;
    // What the node sent, decoded by the hostile peer's own reader: the names left here are the update messages.
    const step = machineReceive(this.state, this.secrets, { name: r.name, msg: r.msg } as unknown as UpdateMessage);
    if (r.name === 'commitment_signed') this.revokedStates.push(before);
    this.state = step.state;
    for (const e of step.events) if (e.kind === 'incoming') this.incoming.push(e.htlc);
    return { send: step.send, events: step.events };
  }

  /**
   * Answers the node as an honest peer until `until` holds on our state
   * (checked before each wait and after each message).
   */
  async run(what: string, until: (c: Commitments, ch: HostileChannel) => boolean, o: RunOptions = {}): Promise<void> {
    while (!until(this.state, this)) {
      const r = await this.nextMessage(what);
      if ((r.name === 'error' || r.name === 'warning') && o.allowRefusal) return;
      const step = this.receive(r);
      for (const out of step.send) this.sendOrWithhold(out, o);
      for (const e of step.events) {
        if (e.kind !== 'incoming') continue;
        const d = o.onIncoming?.(e.htlc) ?? 'hold';
        if (d === 'hold') continue;
        const s = 'fulfill' in d ? sendFulfill(this.state, e.htlc.id, d.fulfill) : sendFail(this.state, e.htlc.id, d.fail);
        this.state = s.state;
        for (const out of s.send) this.sendOrWithhold(out, o);
        this.signAndSend(o);
      }
    }
  }

  private sendOrWithhold(out: Outgoing, o: RunOptions): void {
    if (o.withhold?.(out)) this.withheld.push(out);
    else this.peer.send(out.name, out.msg as unknown as Record<string, unknown>);
  }

  /** Signs what we have pending, if we can (honest commitment_signed). */
  signAndSend(o: RunOptions = {}): void {
    const s = signPending(this.state, this.secrets);
    this.state = s.state;
    for (const out of s.send) this.sendOrWithhold(out, o);
  }

  /**
   * Offers an HTLC. Our own checks (reserve, limits, amounts) are skipped:
   * the add goes into our state as sent, so the commitment we sign next
   * holds it, whatever it breaks.
   */
  addHtlc(a: { amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array; id?: bigint }, tweak?: (m: Record<string, unknown>) => void): HtlcEntry {
    const htlc: HtlcEntry = { direction: 'out', id: a.id ?? this.state.localNextHtlcId, amountMsat: a.amountMsat, paymentHash: a.paymentHash, cltvExpiry: a.cltvExpiry, onion: a.onion };
    this.state = {
      ...this.state,
      localChanges: { ...this.state.localChanges, proposed: [...this.state.localChanges.proposed, { kind: 'add', htlc }] },
      localNextHtlcId: htlc.id + 1n,
    };
    const msg: Record<string, unknown> = {
      channelId: this.channelId,
      id: htlc.id,
      amountMsat: htlc.amountMsat,
      paymentHash: htlc.paymentHash,
      cltvExpiry: htlc.cltvExpiry,
      onionRoutingPacket: htlc.onion,
    };
    tweak?.(msg);
    this.peer.send('update_add_htlc', msg);
    return htlc;
  }

  /** Our commitment_signed for what is pending, changed by `tweak`; our state moves as if it were honest. */
  commit(tweak?: (m: Record<string, unknown>) => void): Record<string, unknown> {
    const r = sendCommit(this.state, this.secrets);
    this.state = r.state;
    const out = r.send[0]!;
    const msg = { ...(out.msg as unknown as Record<string, unknown>) };
    tweak?.(msg);
    this.peer.send('commitment_signed', msg);
    return msg;
  }

  /** Sends update_fee (unchecked) as part of our next commitment. */
  updateFee(feeratePerKw: FeeratePerKw): void {
    this.state = { ...this.state, localChanges: { ...this.state.localChanges, proposed: [...this.state.localChanges.proposed, { kind: 'fee', feeratePerKw }] } };
    this.peer.send('update_fee', { channelId: this.channelId, feeratePerKw });
  }

  /** What an honest peer sends in channel_reestablish now. */
  reestablishFields(): ReestablishFields {
    return ourReestablish(this.state, this.secrets);
  }

  /** Forgets our unsigned updates, as both sides do when a connection ends (BOLT 2). */
  forgetUnsigned(): void {
    this.state = forgetUnsigned(this.state);
  }

  /** A commitment of ours with both signatures (the current one, or a revoked earlier state): ready to broadcast. */
  commitmentTx(state: Commitments = this.state): { txid: string; raw: Uint8Array } {
    const oc = ourCommitment(state, this.secrets, () => undefined);
    return { txid: oc.txid, raw: serializeTx(oc.tx) };
  }

  /** Both commitments hold no HTLC and nothing is pending either way. */
  get quiet(): boolean {
    const c = this.state;
    const lc = c.localChanges;
    const rc = c.remoteChanges;
    return (
      !c.nextRemoteCommit &&
      c.localCommit.spec.htlcs.length === 0 &&
      c.remoteCommit.spec.htlcs.length === 0 &&
      lc.proposed.length + lc.signed.length + lc.acked.length + rc.proposed.length + rc.acked.length + rc.signed.length === 0
    );
  }
}

/** The payment onion for a one-hop payment to `payee` (BOLT 4 final-hop payload). */
export function paymentOnion(p: { payee: Uint8Array; amountMsat: Msat; cltvExpiry: CltvExpiry; paymentHash: Uint8Array; paymentSecret: Uint8Array }): Uint8Array {
  const payload = encodeHopPayload({
    amt_to_forward: p.amountMsat,
    outgoing_cltv_value: p.cltvExpiry,
    payment_data: { paymentSecret: p.paymentSecret, totalMsat: p.amountMsat },
  });
  return constructOnion({ sessionKey: crypto.getRandomValues(new Uint8Array(32)), hops: [{ pubkey: p.payee, payload }], associatedData: p.paymentHash }).packet;
}

/** An invoice the hostile peer issues (so the node pays it over our channel): its preimage stays with us. */
export function hostileInvoice(peer: HostilePeer, amountMsat: Msat, o: { minFinalCltv?: number } = {}): { bolt11: string; preimage: Uint8Array; paymentHash: Uint8Array } {
  const preimage = crypto.getRandomValues(new Uint8Array(32));
  const paymentHash = sha256(preimage);
  const bolt11 = encodeInvoice(
    {
      network: 'regtest',
      amountMsat,
      timestamp: Math.floor(Date.now() / 1000),
      paymentHash,
      paymentSecret: crypto.getRandomValues(new Uint8Array(32)),
      description: 'hostile',
      features: LNNODE_INVOICE_FEATURES,
      minFinalCltvExpiryDelta: o.minFinalCltv ?? 18,
    },
    peer.nodeSecret,
  );
  return { bolt11, preimage, paymentHash };
}
