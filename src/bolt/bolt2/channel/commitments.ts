/**
 * The commitments of an open channel and how updates move through them
 * (BOLT #2 "Normal Operation" and "Message Retransmission"), as pure
 * transition functions: each takes the state and an event and returns the
 * new state plus the messages to send. Nothing is sent or stored here; the
 * node persists the new state before it sends what a transition returned.
 *
 * Updates are tracked the way both sides must agree on them:
 *   ours:   proposed (sent, unsigned) -> signed (in a commitment_signed we
 *           sent) -> acked (the peer revoked; waits for their next signature
 *           to reach our own commitment)
 *   theirs: proposed (received, unsigned) -> acked (we revoked after they
 *           signed it) -> signed (in a commitment_signed we sent; once the
 *           peer revokes, it is irrevocably committed on both sides)
 * Our commitment = localCommit.spec + ours.acked + theirs.proposed;
 * theirs = remoteCommit.spec + theirs.acked + ours.proposed.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../../bytes.ts';
import { type Basepoints, commitmentKeys, derivePrivkey, pointFromSecret } from '../../bolt3/keys.ts';
import { buildCommitment, type Commitment, type CommitmentParams, htlcTransactions } from '../../bolt3/commitment.ts';
import { ANCHOR_OUTPUT_SAT, commitmentFee, htlcSuccessFee, htlcTimeoutFee, type Variant } from '../../bolt3/fees.ts';
import { SecretStore } from '../../bolt3/shachain.ts';
import { signInput, verifyInput } from '../../bolt3/sign.ts';
import { SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_SINGLE, txid } from '../../bolt3/tx.ts';
import { type CltvExpiry, FEERATE_FLOOR, type FeeratePerKw, type Msat, type Sat, msatToSatFloor } from '../../units.ts';
import { type ChannelSecrets, perCommitmentPoint, perCommitmentSecret, shachainIndex } from './keys.ts';
import { addDustProblem, DEFAULT_SAFETY_POLICY, feeDustProblem, latestFeeOnly, type SafetyPolicy, updateFeeBoundsProblem, withoutFee } from './safety-policy.ts';
import { type CommitSpec, findHtlc, type HtlcEntry, reduce, type Update } from './spec.ts';

/** What one side announced in open_channel / accept_channel. */
export interface PartyConfig {
  /** Applies to this side's own commitment. */
  dustLimitSat: Sat;
  /** The following four limit what the OTHER side may do. */
  channelReserveSat: Sat;
  htlcMinimumMsat: Msat;
  maxHtlcValueInFlightMsat: Msat;
  maxAcceptedHtlcs: number;
  /** Delay this side imposes on the other side's to_local. */
  toSelfDelay: number;
}

export interface LocalCommit {
  index: bigint;
  spec: CommitSpec;
  txid: string;
  /** The peer's signatures, so we can broadcast it. */
  remoteSig: Uint8Array;
  htlcSigs: Uint8Array[];
}

export interface RemoteCommit {
  index: bigint;
  spec: CommitSpec;
  txid: string;
  /** Their per-commitment point for this commitment. */
  point: Uint8Array;
}

/** A commitment_signed we sent and the peer has not revoked for yet; kept for retransmission. */
export interface PendingRemoteCommit extends RemoteCommit {
  sig: Uint8Array;
  htlcSigs: Uint8Array[];
}

export interface Commitments {
  channelId: Uint8Array;
  fundingTxid: string;
  fundingVout: number;
  fundingSat: Sat;
  weAreOpener: boolean;
  variant: Variant;
  local: PartyConfig;
  remote: PartyConfig;
  localBasepoints: Basepoints;
  remoteBasepoints: Basepoints;
  obscuringFactor: bigint;
  localChanges: { proposed: Update[]; signed: Update[]; acked: Update[] };
  remoteChanges: { proposed: Update[]; acked: Update[]; signed: Update[] };
  localCommit: LocalCommit;
  remoteCommit: RemoteCommit;
  /** Set while we wait for the peer's revoke_and_ack. */
  nextRemoteCommit?: PendingRemoteCommit;
  /** Their point for remoteCommit.index + 1, when not waiting. */
  remoteNextPoint?: Uint8Array;
  /** SecretStore.serialize() of the secrets they revealed. */
  remoteSecrets: Uint8Array;
  localNextHtlcId: bigint;
  remoteNextHtlcId: bigint;
  /** Which of commitment_signed / revoke_and_ack we sent last: their order on retransmission. */
  lastSent?: 'commit' | 'revoke';
}

/** A wire message as the node will encode it: codec name and fields. */
export type Outgoing =
  | { name: 'update_add_htlc'; msg: { channelId: Uint8Array; id: bigint; amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onionRoutingPacket: Uint8Array } }
  | { name: 'update_fulfill_htlc'; msg: { channelId: Uint8Array; id: bigint; paymentPreimage: Uint8Array } }
  | { name: 'update_fail_htlc'; msg: { channelId: Uint8Array; id: bigint; reason: Uint8Array } }
  | { name: 'update_fail_malformed_htlc'; msg: { channelId: Uint8Array; id: bigint; sha256OfOnion: Uint8Array; failureCode: number } }
  | { name: 'update_fee'; msg: { channelId: Uint8Array; feeratePerKw: FeeratePerKw } }
  | { name: 'commitment_signed'; msg: { channelId: Uint8Array; signature: Uint8Array; htlcSignatures: Uint8Array[] } }
  | { name: 'revoke_and_ack'; msg: { channelId: Uint8Array; perCommitmentSecret: Uint8Array; nextPerCommitmentPoint: Uint8Array } };

/**
 * The peer broke a rule of BOLT #2: the channel must be failed (error sent,
 * latest commitment broadcast). `message` is safe to send to the peer.
 */
export class ChannelProtocolError extends Error {
  override readonly name: string = 'ChannelProtocolError';
}

/**
 * The peer's channel_reestablish proves it holds a newer state than ours: we
 * lost data. Our commitment may be revoked, so it must never be broadcast;
 * we wait for the peer to close and take to_remote from its commitment.
 */
export class DataLossError extends ChannelProtocolError {
  override readonly name = 'DataLossError';
}

/** We were asked to do something the channel cannot do now; nothing changed. */
export class ChannelRefusal extends Error {
  override readonly name = 'ChannelRefusal';
}

const htlcSighash = (v: Variant): number => (v === 'anchors' ? SIGHASH_SINGLE | SIGHASH_ANYONECANPAY : SIGHASH_ALL);

// ---------------------------------------------------------------- commitments

/** The parameters of our commitment (owner = us) or theirs (owner = them) for a spec in our point of view. */
export function commitmentParams(c: Commitments, owner: 'local' | 'remote', spec: CommitSpec, index: bigint, point: Uint8Array): CommitmentParams {
  const local = owner === 'local';
  const htlcs = spec.htlcs.map((h) => ({
    direction: (h.direction === 'out') === local ? ('offered' as const) : ('received' as const),
    amountMsat: h.amountMsat,
    paymentHash: h.paymentHash,
    cltvExpiry: h.cltvExpiry,
  }));
  return {
    fundingTxid: c.fundingTxid,
    fundingVout: c.fundingVout,
    fundingSatoshis: c.fundingSat,
    localFundingPubkey: local ? c.localBasepoints.funding : c.remoteBasepoints.funding,
    remoteFundingPubkey: local ? c.remoteBasepoints.funding : c.localBasepoints.funding,
    keys: local ? commitmentKeys(c.localBasepoints, c.remoteBasepoints, point) : commitmentKeys(c.remoteBasepoints, c.localBasepoints, point),
    toSelfDelay: local ? c.remote.toSelfDelay : c.local.toSelfDelay,
    dustLimit: local ? c.local.dustLimitSat : c.remote.dustLimitSat,
    feeratePerKw: spec.feeratePerKw,
    ownerIsOpener: local ? c.weAreOpener : !c.weAreOpener,
    toLocalMsat: local ? spec.toLocalMsat : spec.toRemoteMsat,
    toRemoteMsat: local ? spec.toRemoteMsat : spec.toLocalMsat,
    htlcs,
    commitmentNumber: index,
    obscuringFactor: c.obscuringFactor,
    variant: c.variant,
  };
}

export interface BuiltCommitment {
  params: CommitmentParams;
  /** The owner's per-commitment point the keys were derived from. */
  point: Uint8Array;
  commitment: Commitment;
  txid: string;
}

export function buildLocal(c: Commitments, s: ChannelSecrets, spec: CommitSpec, index: bigint): BuiltCommitment {
  const point = perCommitmentPoint(s, index);
  const params = commitmentParams(c, 'local', spec, index, point);
  const commitment = buildCommitment(params);
  return { params, point, commitment, txid: txid(commitment.tx) };
}

export function buildRemote(c: Commitments, spec: CommitSpec, index: bigint, point: Uint8Array): BuiltCommitment {
  const params = commitmentParams(c, 'remote', spec, index, point);
  const commitment = buildCommitment(params);
  return { params, point, commitment, txid: txid(commitment.tx) };
}

/** Our signatures for the peer's commitment: the funding input and each HTLC transaction, in output order. */
export function signRemote(c: Commitments, s: ChannelSecrets, b: BuiltCommitment): { sig: Uint8Array; htlcSigs: Uint8Array[] } {
  const sig = signInput(b.commitment.tx, 0, b.commitment.fundingScript, c.fundingSat, s.funding, SIGHASH_ALL).compact;
  const htlcKey = derivePrivkey(s.htlc, b.point);
  const htlcSigs = htlcTransactions(b.commitment, b.params, b.txid).map(
    (h) => signInput(h.tx, 0, h.witnessScript, h.amount, htlcKey, htlcSighash(c.variant)).compact,
  );
  return { sig, htlcSigs };
}

/** Checks the peer's signatures on our commitment; throws ChannelProtocolError naming what is wrong. */
export function verifyLocal(c: Commitments, b: BuiltCommitment, sig: Uint8Array, htlcSigs: readonly Uint8Array[]): void {
  if (!verifyInput(b.commitment.tx, 0, b.commitment.fundingScript, c.fundingSat, sig, c.remoteBasepoints.funding, SIGHASH_ALL)) {
    throw new ChannelProtocolError(`invalid commitment signature for commitment ${b.params.commitmentNumber}`);
  }
  const htlcTxs = htlcTransactions(b.commitment, b.params, b.txid);
  if (htlcTxs.length !== htlcSigs.length) {
    throw new ChannelProtocolError(`expected ${htlcTxs.length} HTLC signatures, got ${htlcSigs.length}`);
  }
  htlcTxs.forEach((h, i) => {
    if (!verifyInput(h.tx, 0, h.witnessScript, h.amount, htlcSigs[i]!, b.params.keys.remoteHtlc, htlcSighash(c.variant))) {
      throw new ChannelProtocolError(`invalid HTLC signature ${i} for commitment ${b.params.commitmentNumber}`);
    }
  });
}

// ------------------------------------------------------------- balances, limits

/** The commitment fee the opener pays for `spec` on `owner`'s commitment, in msat (anchors included). */
export function commitFeeMsat(c: Commitments, owner: 'local' | 'remote', spec: CommitSpec, feerate = spec.feeratePerKw): Msat {
  const dust = owner === 'local' ? c.local.dustLimitSat : c.remote.dustLimitSat;
  let untrimmed = 0;
  for (const h of spec.htlcs) {
    const offeredByOwner = (h.direction === 'out') === (owner === 'local');
    const fee = offeredByOwner ? htlcTimeoutFee(feerate, c.variant) : htlcSuccessFee(feerate, c.variant);
    if (msatToSatFloor(h.amountMsat) >= dust + fee) untrimmed++;
  }
  const anchors = c.variant === 'anchors' ? 2n * ANCHOR_OUTPUT_SAT : 0n;
  return ((commitmentFee(feerate, untrimmed, c.variant) + anchors) * 1000n) as Msat;
}

/** The peer's view of their next commitment: the pending one if we wait for a revocation. */
const latestRemote = (c: Commitments): RemoteCommit => c.nextRemoteCommit ?? c.remoteCommit;

/** How much we can send in one new HTLC right now (reserve, fees with the BOLT 2 fee spike buffer, limits). */
export function availableToSend(c: Commitments): Msat {
  const spec = reduce(latestRemote(c).spec, c.localChanges.proposed, c.remoteChanges.acked);
  let avail = spec.toLocalMsat - c.remote.channelReserveSat * 1000n;
  if (c.weAreOpener) {
    // BOLT 2 fee spike buffer: after adding this HTLC, still pay the fee at twice the feerate with a future
    // additional non-dust HTLC (so two more than now, as LDK and lnd keep: lnd's CalcFeeBuffer on the weight with the new one).
    const big = { ...dummyHtlc, amountMsat: (1n << 60n) as Msat };
    const withTwoMore = { ...spec, htlcs: [...spec.htlcs, big, big] };
    avail -= commitFeeMsat(c, 'remote', withTwoMore, (spec.feeratePerKw * 2) as FeeratePerKw);
  }
  const outgoing = spec.htlcs.filter((h) => h.direction === 'out');
  // No slot for one more HTLC: nothing can be sent whatever the balance.
  if (outgoing.length >= c.remote.maxAcceptedHtlcs) return 0n as Msat;
  const inFlight = outgoing.reduce((a, h) => a + h.amountMsat, 0n);
  const inFlightRoom = c.remote.maxHtlcValueInFlightMsat - inFlight;
  const out = avail < inFlightRoom ? avail : inFlightRoom;
  return (out > 0n ? out : 0n) as Msat;
}

/**
 * How much the peer can send us in one new HTLC right now, as it would
 * compute it: its balance on our next commitment less the reserve we ask of
 * it, less (when it is the opener) the commitment fee with the same spike
 * buffer, within our in-flight limit. An estimate of what we can receive:
 * the peer may keep a larger buffer.
 */
export function availableToReceive(c: Commitments): Msat {
  const spec = reduce(c.localCommit.spec, c.localChanges.acked, c.remoteChanges.proposed);
  let avail = spec.toRemoteMsat - c.local.channelReserveSat * 1000n;
  if (!c.weAreOpener) {
    const big = { ...dummyHtlc, direction: 'in' as const, amountMsat: (1n << 60n) as Msat };
    const withTwoMore = { ...spec, htlcs: [...spec.htlcs, big, big] };
    avail -= commitFeeMsat(c, 'local', withTwoMore, (spec.feeratePerKw * 2) as FeeratePerKw);
  }
  const incoming = spec.htlcs.filter((h) => h.direction === 'in');
  if (incoming.length >= c.local.maxAcceptedHtlcs) return 0n as Msat;
  const inFlight = incoming.reduce((a, h) => a + h.amountMsat, 0n);
  const inFlightRoom = c.local.maxHtlcValueInFlightMsat - inFlight;
  const out = avail < inFlightRoom ? avail : inFlightRoom;
  return (out > 0n ? out : 0n) as Msat;
}

const dummyHtlc: HtlcEntry = {
  direction: 'out',
  id: -1n,
  amountMsat: 0n as Msat,
  paymentHash: new Uint8Array(32),
  cltvExpiry: 0 as CltvExpiry,
  onion: new Uint8Array(0),
};

// ---------------------------------------------------------------------- adds

export interface AddRequest {
  amountMsat: Msat;
  paymentHash: Uint8Array;
  cltvExpiry: CltvExpiry;
  onion: Uint8Array;
}

export function sendAdd(c: Commitments, a: AddRequest, policy: SafetyPolicy = DEFAULT_SAFETY_POLICY): { state: Commitments; htlc: HtlcEntry; send: Outgoing[] } {
  if (a.amountMsat <= 0n) throw new ChannelRefusal('HTLC amount must be positive');
  if (a.amountMsat < c.remote.htlcMinimumMsat) {
    throw new ChannelRefusal(`HTLC of ${a.amountMsat} msat is below the peer's minimum of ${c.remote.htlcMinimumMsat} msat`);
  }
  if (a.cltvExpiry >= 500_000_000) throw new ChannelRefusal('cltv_expiry must be a block height');
  const htlc: HtlcEntry = { direction: 'out', id: c.localNextHtlcId, ...a };
  const proposed = [...c.localChanges.proposed, { kind: 'add' as const, htlc }];
  let spec: CommitSpec;
  try {
    spec = reduce(latestRemote(c).spec, proposed, c.remoteChanges.acked);
  } catch {
    throw new ChannelRefusal(`cannot send ${a.amountMsat} msat: more than our balance`);
  }
  const outgoing = spec.htlcs.filter((h) => h.direction === 'out');
  if (outgoing.length > c.remote.maxAcceptedHtlcs) throw new ChannelRefusal(`the peer accepts at most ${c.remote.maxAcceptedHtlcs} HTLCs`);
  const inFlight = outgoing.reduce((s, h) => s + h.amountMsat, 0n);
  if (inFlight > c.remote.maxHtlcValueInFlightMsat) {
    throw new ChannelRefusal(`${inFlight} msat in flight would exceed the peer's limit of ${c.remote.maxHtlcValueInFlightMsat} msat`);
  }
  const available = availableToSend(c);
  if (a.amountMsat > available) throw new ChannelRefusal(`can send at most ${available} msat now, asked ${a.amountMsat} msat`);
  if (!c.weAreOpener) {
    // The peer pays the fee: it must still afford it above its reserve once our HTLC is in.
    const theirs = spec.toRemoteMsat - commitFeeMsat(c, 'remote', spec);
    if (theirs < c.local.channelReserveSat * 1000n) throw new ChannelRefusal('the peer could not pay the commitment fee with this HTLC added');
  }
  // BOLT 2 max_dust_htlc_exposure_msat, offering: a dust HTLC past the exposure limit of either commitment SHOULD NOT be sent.
  const dust = addDustProblem(c, htlc, policy.maxDustHtlcExposureMsat);
  if (dust) throw new ChannelRefusal(dust);
  return {
    state: { ...c, localChanges: { ...c.localChanges, proposed }, localNextHtlcId: c.localNextHtlcId + 1n },
    htlc,
    send: [
      {
        name: 'update_add_htlc',
        msg: { channelId: c.channelId, id: htlc.id, amountMsat: a.amountMsat, paymentHash: a.paymentHash, cltvExpiry: a.cltvExpiry, onionRoutingPacket: a.onion },
      },
    ],
  };
}

export function receiveAdd(
  c: Commitments,
  m: { id: bigint; amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onionRoutingPacket: Uint8Array },
  policy: SafetyPolicy = DEFAULT_SAFETY_POLICY,
): Commitments {
  if (m.id !== c.remoteNextHtlcId) throw new ChannelProtocolError(`update_add_htlc id ${m.id}, expected ${c.remoteNextHtlcId}`);
  if (m.amountMsat <= 0n) throw new ChannelProtocolError('update_add_htlc amount is zero');
  if (m.amountMsat < c.local.htlcMinimumMsat) {
    throw new ChannelProtocolError(`HTLC of ${m.amountMsat} msat is below our minimum of ${c.local.htlcMinimumMsat} msat`);
  }
  if (m.cltvExpiry >= 500_000_000) throw new ChannelProtocolError('cltv_expiry is not a block height');
  let htlc: HtlcEntry = { direction: 'in', id: m.id, amountMsat: m.amountMsat, paymentHash: m.paymentHash, cltvExpiry: m.cltvExpiry, onion: m.onionRoutingPacket };
  // BOLT 2 max_dust_htlc_exposure_msat, receiving: a dust HTLC past the exposure limit SHOULD be failed once committed, its preimage never revealed.
  if (addDustProblem(c, htlc, policy.maxDustHtlcExposureMsat)) htlc = { ...htlc, failBack: 'dust_exposure' };
  const proposed = [...c.remoteChanges.proposed, { kind: 'add' as const, htlc }];
  let spec: CommitSpec;
  try {
    spec = reduce(c.localCommit.spec, c.localChanges.acked, proposed);
  } catch {
    throw new ChannelProtocolError('update_add_htlc: the peer cannot afford this HTLC');
  }
  const incoming = spec.htlcs.filter((h) => h.direction === 'in');
  if (incoming.length > c.local.maxAcceptedHtlcs) throw new ChannelProtocolError(`more than our limit of ${c.local.maxAcceptedHtlcs} HTLCs`);
  const inFlight = incoming.reduce((s, h) => s + h.amountMsat, 0n);
  if (inFlight > c.local.maxHtlcValueInFlightMsat) {
    throw new ChannelProtocolError(`${inFlight} msat in flight exceeds our limit of ${c.local.maxHtlcValueInFlightMsat} msat`);
  }
  const fee = c.weAreOpener ? 0n : commitFeeMsat(c, 'local', spec);
  if (spec.toRemoteMsat - fee < c.local.channelReserveSat * 1000n) {
    throw new ChannelProtocolError('update_add_htlc would take the peer below its channel reserve');
  }
  return { ...c, remoteChanges: { ...c.remoteChanges, proposed }, remoteNextHtlcId: c.remoteNextHtlcId + 1n };
}

// --------------------------------------------------------------- settlements

const settles = (u: Update): u is Extract<Update, { id: bigint }> => u.kind === 'fulfill' || u.kind === 'fail' || u.kind === 'fail_malformed';

/** An HTLC present in both commitments and not already being settled. */
function crossSigned(c: Commitments, direction: 'in' | 'out', id: bigint): HtlcEntry | undefined {
  const h = findHtlc(c.localCommit.spec, direction, id);
  if (!h || !findHtlc(c.remoteCommit.spec, direction, id)) return undefined;
  const settlers = direction === 'in' ? c.localChanges : c.remoteChanges;
  const pending = [...settlers.proposed, ...settlers.signed, ...settlers.acked];
  return pending.some((u) => settles(u) && u.id === id) ? undefined : h;
}

export function sendFulfill(c: Commitments, id: bigint, preimage: Uint8Array): { state: Commitments; send: Outgoing[] } {
  const h = crossSigned(c, 'in', id);
  if (!h) throw new ChannelRefusal(`no incoming HTLC ${id} that can be fulfilled`);
  if (!equalBytes(sha256(preimage), h.paymentHash)) throw new ChannelRefusal(`the preimage does not match HTLC ${id}`);
  return {
    state: { ...c, localChanges: { ...c.localChanges, proposed: [...c.localChanges.proposed, { kind: 'fulfill', id, preimage }] } },
    send: [{ name: 'update_fulfill_htlc', msg: { channelId: c.channelId, id, paymentPreimage: preimage } }],
  };
}

export function sendFail(c: Commitments, id: bigint, reason: Uint8Array): { state: Commitments; send: Outgoing[] } {
  if (!crossSigned(c, 'in', id)) throw new ChannelRefusal(`no incoming HTLC ${id} that can be failed`);
  return {
    state: { ...c, localChanges: { ...c.localChanges, proposed: [...c.localChanges.proposed, { kind: 'fail', id, reason }] } },
    send: [{ name: 'update_fail_htlc', msg: { channelId: c.channelId, id, reason } }],
  };
}

export function sendFailMalformed(c: Commitments, id: bigint, sha256OfOnion: Uint8Array, failureCode: number): { state: Commitments; send: Outgoing[] } {
  if (!crossSigned(c, 'in', id)) throw new ChannelRefusal(`no incoming HTLC ${id} that can be failed`);
  if (!(failureCode & 0x8000)) throw new ChannelRefusal('update_fail_malformed_htlc needs a BADONION failure code');
  const u: Update = { kind: 'fail_malformed', id, sha256OfOnion, failureCode };
  return {
    state: { ...c, localChanges: { ...c.localChanges, proposed: [...c.localChanges.proposed, u] } },
    send: [{ name: 'update_fail_malformed_htlc', msg: { channelId: c.channelId, id, sha256OfOnion, failureCode } }],
  };
}

/** The peer settles one of our HTLCs. Returns the HTLC so a fulfill's preimage reaches the payer at once. */
export function receiveSettle(c: Commitments, u: Extract<Update, { id: bigint }>): { state: Commitments; htlc: HtlcEntry } {
  const h = crossSigned(c, 'out', u.id);
  if (!h) throw new ChannelProtocolError(`${u.kind} for unknown or unsettleable HTLC ${u.id}`);
  if (u.kind === 'fulfill' && !equalBytes(sha256(u.preimage), h.paymentHash)) {
    throw new ChannelProtocolError(`update_fulfill_htlc ${u.id}: the preimage does not match the payment hash`);
  }
  if (u.kind === 'fail_malformed' && !(u.failureCode & 0x8000)) {
    throw new ChannelProtocolError('update_fail_malformed_htlc without the BADONION bit');
  }
  return { state: { ...c, remoteChanges: { ...c.remoteChanges, proposed: [...c.remoteChanges.proposed, u] } }, htlc: h };
}

// ----------------------------------------------------------------------- fee

export function sendFee(c: Commitments, feeratePerKw: FeeratePerKw, policy: SafetyPolicy = DEFAULT_SAFETY_POLICY): { state: Commitments; send: Outgoing[] } {
  if (!c.weAreOpener) throw new ChannelRefusal('only the channel opener sends update_fee');
  if (feeratePerKw < FEERATE_FLOOR) throw new ChannelRefusal(`fee rate below ${FEERATE_FLOOR} sat/kw (1 sat/vB)`);
  // BOLT 2 update_fee sender: a rise that takes either commitment's dust exposure past the limit MAY NOT be sent.
  const dust = feeDustProblem(c, feeratePerKw, policy.maxDustHtlcExposureMsat);
  if (dust) throw new ChannelRefusal(dust);
  // An update_fee replaces the one before it: only the latest is kept.
  const proposed = [...withoutFee(c.localChanges.proposed), { kind: 'fee' as const, feeratePerKw }];
  const spec = reduce(latestRemote(c).spec, proposed, c.remoteChanges.acked);
  if (spec.toLocalMsat - commitFeeMsat(c, 'remote', spec) < c.remote.channelReserveSat * 1000n) {
    throw new ChannelRefusal(`cannot afford the commitment fee at ${feeratePerKw} sat/kw`);
  }
  return {
    state: { ...c, localChanges: { ...c.localChanges, proposed } },
    send: [{ name: 'update_fee', msg: { channelId: c.channelId, feeratePerKw } }],
  };
}

export function receiveFee(c: Commitments, feeratePerKw: FeeratePerKw, policy: SafetyPolicy = DEFAULT_SAFETY_POLICY): Commitments {
  // BOLT 2 update_fee receiver: a sender not responsible for the fee MUST get an error and the channel failed.
  if (c.weAreOpener) throw new ChannelProtocolError('update_fee from the side that did not open the channel');
  if (feeratePerKw < FEERATE_FLOOR) throw new ChannelProtocolError(`update_fee of ${feeratePerKw} sat/kw is below the minimum relay fee`);
  // BOLT 2 update_fee receiver: too low for timely processing, or unreasonably large: error and fail the channel.
  const bounds = updateFeeBoundsProblem(c.variant, feeratePerKw, policy.estimates);
  if (bounds) throw new ChannelProtocolError(bounds);
  // BOLT 2 update_fee receiver (non-anchors): a rise that takes a commitment's dust exposure past our limit MAY fail the channel.
  const dust = feeDustProblem(c, feeratePerKw, policy.maxDustHtlcExposureMsat);
  if (dust) throw new ChannelProtocolError(dust);
  // BOLT 2: an update_fee is never closed but simply replaced; one unsigned update_fee stands for all before it.
  const proposed = [...withoutFee(c.remoteChanges.proposed), { kind: 'fee' as const, feeratePerKw }];
  const spec = reduce(c.localCommit.spec, c.localChanges.acked, proposed);
  const left = spec.toRemoteMsat - commitFeeMsat(c, 'local', spec);
  if (left < 0n) throw new ChannelProtocolError(`the peer cannot afford its own update_fee of ${feeratePerKw} sat/kw`);
  // BOLT 2 update_fee receiver: "cannot afford" keeps the channel reserve we require of the funder (as LDK and lnd count it,
  // and as our own sendFee does). Only for a rise: a funder that fees left under its reserve may still lower them.
  if (feeratePerKw > c.localCommit.spec.feeratePerKw && left < c.local.channelReserveSat * 1000n) {
    throw new ChannelProtocolError(`the peer cannot afford its own update_fee of ${feeratePerKw} sat/kw above its channel reserve of ${c.local.channelReserveSat} sat`);
  }
  return { ...c, remoteChanges: { ...c.remoteChanges, proposed } };
}

// --------------------------------------------------------- commit / revoke

export const hasChangesToSign = (c: Commitments): boolean => c.localChanges.proposed.length > 0 || c.remoteChanges.acked.length > 0;

export function sendCommit(c: Commitments, s: ChannelSecrets): { state: Commitments; send: Outgoing[] } {
  if (!c.remoteNextPoint) throw new ChannelRefusal('waiting for the peer to revoke its previous commitment');
  if (!hasChangesToSign(c)) throw new ChannelRefusal('nothing to sign');
  const spec = reduce(c.remoteCommit.spec, c.localChanges.proposed, c.remoteChanges.acked);
  const index = c.remoteCommit.index + 1n;
  const built = buildRemote(c, spec, index, c.remoteNextPoint);
  const { sig, htlcSigs } = signRemote(c, s, built);
  return {
    state: {
      ...c,
      nextRemoteCommit: { index, spec, txid: built.txid, point: c.remoteNextPoint, sig, htlcSigs },
      remoteNextPoint: undefined,
      localChanges: { ...c.localChanges, proposed: [], signed: c.localChanges.proposed },
      remoteChanges: { ...c.remoteChanges, acked: [], signed: c.remoteChanges.acked },
      lastSent: 'commit',
    },
    send: [{ name: 'commitment_signed', msg: { channelId: c.channelId, signature: sig, htlcSignatures: htlcSigs } }],
  };
}

export function revocationFor(c: Commitments, s: ChannelSecrets, revokedIndex: bigint): Outgoing {
  return {
    name: 'revoke_and_ack',
    msg: { channelId: c.channelId, perCommitmentSecret: perCommitmentSecret(s, revokedIndex), nextPerCommitmentPoint: perCommitmentPoint(s, revokedIndex + 2n) },
  };
}

export function receiveCommit(c: Commitments, s: ChannelSecrets, m: { signature: Uint8Array; htlcSignatures: Uint8Array[] }): { state: Commitments; send: Outgoing[] } {
  let spec: CommitSpec;
  try {
    spec = reduce(c.localCommit.spec, c.localChanges.acked, c.remoteChanges.proposed);
  } catch (e) {
    throw new ChannelProtocolError(`commitment_signed over invalid updates: ${(e as Error).message}`);
  }
  const index = c.localCommit.index + 1n;
  const built = buildLocal(c, s, spec, index);
  verifyLocal(c, built, m.signature, m.htlcSignatures);
  return {
    state: {
      ...c,
      localCommit: { index, spec, txid: built.txid, remoteSig: m.signature, htlcSigs: m.htlcSignatures },
      localChanges: { ...c.localChanges, acked: [] },
      // Only the latest update_fee matters: a peer signing a fee rise per round while withholding revocations keeps one, not all.
      remoteChanges: { ...c.remoteChanges, proposed: [], acked: latestFeeOnly([...c.remoteChanges.acked, ...c.remoteChanges.proposed]) },
      lastSent: 'revoke',
    },
    send: [revocationFor(c, s, c.localCommit.index)],
  };
}

export interface Revoked {
  state: Commitments;
  /** The peer's commitment that is now revoked: what a justice transaction needs besides the secret. */
  revoked: RemoteCommit;
  /** Peer updates now irrevocably committed on both sides: incoming HTLCs to act on, our HTLCs they failed. */
  lockedIn: Update[];
}

export function receiveRevocation(c: Commitments, m: { perCommitmentSecret: Uint8Array; nextPerCommitmentPoint: Uint8Array }): Revoked {
  const next = c.nextRemoteCommit;
  if (!next) throw new ChannelProtocolError('unexpected revoke_and_ack: no commitment awaiting revocation');
  let point: Uint8Array;
  try {
    point = pointFromSecret(m.perCommitmentSecret);
  } catch {
    throw new ChannelProtocolError('revoke_and_ack: per_commitment_secret is not a valid secret');
  }
  if (!equalBytes(point, c.remoteCommit.point)) {
    throw new ChannelProtocolError(`revoke_and_ack: per_commitment_secret does not match commitment ${c.remoteCommit.index}`);
  }
  const store = SecretStore.deserialize(c.remoteSecrets);
  try {
    store.insert(m.perCommitmentSecret, shachainIndex(c.remoteCommit.index));
  } catch {
    throw new ChannelProtocolError('revoke_and_ack: per_commitment_secret does not derive the earlier ones (shachain)');
  }
  const { sig: _sig, htlcSigs: _htlcSigs, ...committed } = next;
  return {
    state: {
      ...c,
      remoteCommit: committed,
      nextRemoteCommit: undefined,
      remoteNextPoint: m.nextPerCommitmentPoint,
      remoteSecrets: store.serialize(),
      localChanges: { ...c.localChanges, signed: [], acked: [...c.localChanges.acked, ...c.localChanges.signed] },
      remoteChanges: { ...c.remoteChanges, signed: [] },
    },
    revoked: c.remoteCommit,
    lockedIn: c.remoteChanges.signed,
  };
}

// ------------------------------------------------------------ reconnection

/** BOLT 2: on disconnection, updates not yet covered by a commitment_signed are forgotten by both sides. */
export function forgetUnsigned(c: Commitments): Commitments {
  const ourAdds = c.localChanges.proposed.filter((u) => u.kind === 'add').length;
  const theirAdds = c.remoteChanges.proposed.filter((u) => u.kind === 'add').length;
  return {
    ...c,
    localChanges: { ...c.localChanges, proposed: [] },
    remoteChanges: { ...c.remoteChanges, proposed: [] },
    localNextHtlcId: c.localNextHtlcId - BigInt(ourAdds),
    remoteNextHtlcId: c.remoteNextHtlcId - BigInt(theirAdds),
  };
}

export interface ReestablishFields {
  nextCommitmentNumber: bigint;
  nextRevocationNumber: bigint;
  yourLastPerCommitmentSecret: Uint8Array;
  myCurrentPerCommitmentPoint: Uint8Array;
}

export function ourReestablish(c: Commitments, s: ChannelSecrets): ReestablishFields {
  const store = SecretStore.deserialize(c.remoteSecrets);
  const last = c.remoteCommit.index > 0n ? store.derive(shachainIndex(c.remoteCommit.index - 1n)) : undefined;
  return {
    nextCommitmentNumber: c.localCommit.index + 1n,
    nextRevocationNumber: c.remoteCommit.index,
    yourLastPerCommitmentSecret: last ?? new Uint8Array(32),
    myCurrentPerCommitmentPoint: perCommitmentPoint(s, c.localCommit.index),
  };
}

/**
 * The channel_reestablish of a node that lost the channel's state (restored
 * from a static channel backup): next_commitment_number 0, which no live
 * channel sends (BOLT 2: a receiver of 0 MUST immediately fail the channel
 * and broadcast its latest commitment; lnd's restored channels send the
 * same), next_revocation_number 0 and an all-zero last secret. The peer
 * broadcasts its commitment, on which our to_remote output needs no state
 * to sweep. It proves nothing, so an honest peer never concludes it lost
 * data itself.
 */
export function lostStateReestablish(s: ChannelSecrets): ReestablishFields {
  return { nextCommitmentNumber: 0n, nextRevocationNumber: 0n, yourLastPerCommitmentSecret: new Uint8Array(32), myCurrentPerCommitmentPoint: perCommitmentPoint(s, 0n) };
}

function updateMessage(c: Commitments, u: Update): Outgoing {
  const channelId = c.channelId;
  switch (u.kind) {
    case 'add':
      return {
        name: 'update_add_htlc',
        msg: { channelId, id: u.htlc.id, amountMsat: u.htlc.amountMsat, paymentHash: u.htlc.paymentHash, cltvExpiry: u.htlc.cltvExpiry, onionRoutingPacket: u.htlc.onion },
      };
    case 'fulfill':
      return { name: 'update_fulfill_htlc', msg: { channelId, id: u.id, paymentPreimage: u.preimage } };
    case 'fail':
      return { name: 'update_fail_htlc', msg: { channelId, id: u.id, reason: u.reason } };
    case 'fail_malformed':
      return { name: 'update_fail_malformed_htlc', msg: { channelId, id: u.id, sha256OfOnion: u.sha256OfOnion, failureCode: u.failureCode } };
    case 'fee':
      return { name: 'update_fee', msg: { channelId, feeratePerKw: u.feeratePerKw } };
  }
}

/** Commitment numbers are 48 bits (BOLT 3); a claim past that is a lie we need not derive a secret for. */
const MAX_COMMITMENT_NUMBER = (1n << 48n) - 1n;

/**
 * Answers the peer's channel_reestablish: what must be sent again, in the
 * order it was first sent. Throws ChannelProtocolError when the peer's
 * numbers cannot be reconciled (fail the channel: our latest commitment is
 * not revoked, so broadcasting it is safe), and DataLossError only when the
 * peer proves we lost state: it holds the secret revoking our latest
 * commitment, so that commitment must never be broadcast.
 */
export function retransmissions(c: Commitments, s: ChannelSecrets, theirs: ReestablishFields): Outgoing[] {
  // BOLT 2 channel_reestablish: if next_commitment_number is zero, MUST immediately fail the channel and broadcast its latest commitment.
  if (theirs.nextCommitmentNumber === 0n) throw new ChannelProtocolError('channel_reestablish: next_commitment_number 0: the peer lost its channel state and asks us to close');
  const out: Outgoing[] = [];
  // Their view of our revocations.
  let revoke: Outgoing | undefined;
  const next = theirs.nextRevocationNumber;
  if (next > c.localCommit.index) {
    // BOLT 2 channel_reestablish receiver: next_revocation_number ahead AND your_last_per_commitment_secret correct for it minus 1: MUST NOT broadcast.
    // Any of our secrets can be derived, so the claim is checked, not believed.
    if (next <= MAX_COMMITMENT_NUMBER + 1n && equalBytes(perCommitmentSecret(s, next - 1n), theirs.yourLastPerCommitmentSecret)) {
      throw new DataLossError(`channel_reestablish: next_revocation_number ${next} but our commitment is ${c.localCommit.index}, and the peer holds our secret for ${next - 1n}: we lost data`);
    }
    // BOLT 2 channel_reestablish receiver: otherwise, a your_last_per_commitment_secret that does not match SHOULD fail the channel.
    throw new ChannelProtocolError(`channel_reestablish: next_revocation_number ${next} is ahead of our commitment ${c.localCommit.index} without the secret that would prove it`);
  }
  if (next === c.localCommit.index - 1n && c.localCommit.index > 0n) {
    revoke = revocationFor(c, s, c.localCommit.index - 1n);
  } else if (next !== c.localCommit.index) {
    // BOLT 2 channel_reestablish receiver: next_revocation_number not the last revoke_and_ack we sent (or the one after) SHOULD fail the channel.
    throw new ChannelProtocolError(`channel_reestablish: next_revocation_number ${next} but our commitment is ${c.localCommit.index}`);
  }
  if (next > 0n) {
    const expected = perCommitmentSecret(s, next - 1n);
    // BOLT 2 channel_reestablish receiver: your_last_per_commitment_secret not matching the expected value SHOULD fail the channel.
    if (!equalBytes(expected, theirs.yourLastPerCommitmentSecret)) {
      throw new ChannelProtocolError('channel_reestablish: your_last_per_commitment_secret is not the last secret we sent');
    }
  }
  // Their view of our commitment_signed.
  let commit: Outgoing[] = [];
  const pending = c.nextRemoteCommit;
  if (pending && theirs.nextCommitmentNumber === pending.index) {
    commit = [...c.localChanges.signed.map((u) => updateMessage(c, u)), { name: 'commitment_signed', msg: { channelId: c.channelId, signature: pending.sig, htlcSignatures: pending.htlcSigs } }];
  } else {
    const expected = (pending?.index ?? c.remoteCommit.index) + 1n;
    // BOLT 2 channel_reestablish receiver: next_commitment_number not the next commitment_signed we would send SHOULD fail the channel.
    // Ahead of it is not proof of data loss (nothing in the message backs it, and our latest commitment is not revoked): fail and broadcast.
    if (theirs.nextCommitmentNumber !== expected) {
      const ahead = theirs.nextCommitmentNumber > expected ? `, ahead of the ${expected - 1n} we signed` : '';
      throw new ChannelProtocolError(`channel_reestablish: next_commitment_number ${theirs.nextCommitmentNumber}, expected ${expected}${ahead}`);
    }
  }
  if (revoke && commit.length && c.lastSent === 'commit') out.push(revoke, ...commit);
  else {
    out.push(...commit);
    if (revoke) out.push(revoke);
  }
  return out;
}
