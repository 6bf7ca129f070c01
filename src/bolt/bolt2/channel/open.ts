/**
 * Single-funded channel establishment, v1 (BOLT #2 "Channel Establishment
 * v1"): our limits, checks of the peer's open_channel / accept_channel, and
 * the first commitments signed in funding_created / funding_signed.
 * Pure: the funding transaction and the keys come from the caller.
 */
import { hex } from '../../bytes.ts';
import { FeatureVector } from '../../bolt9/features.ts';
import { obscuringFactor } from '../../bolt3/commitment-number.ts';
import { type Basepoints } from '../../bolt3/keys.ts';
import { ANCHOR_OUTPUT_SAT, commitmentFee, type Variant } from '../../bolt3/fees.ts';
import { SecretStore } from '../../bolt3/shachain.ts';
import { FEERATE_FLOOR, type FeeratePerKw, type Msat, type Sat, msat, sat } from '../../units.ts';
import { channelIdFrom } from '../channel-id.ts';
import { acceptChannel, openChannel } from '../establish.ts';
import { type MessageOf } from '../index.ts';
import {
  buildLocal,
  buildRemote,
  ChannelProtocolError,
  ChannelRefusal,
  commitFeeMsat,
  type Commitments,
  type PartyConfig,
  signRemote,
  verifyLocal,
} from './commitments.ts';
import { checkUpfrontScript } from './closing.ts';
import { type ChannelSecrets, perCommitmentPoint } from './keys.ts';
import { type CommitSpec } from './spec.ts';

/** The channel types we open and accept (BOLT 2 channel_type): static_remotekey (bit 12)... */
export const STATIC_REMOTEKEY_TYPE = FeatureVector.of(12);
/** ...and anchors_zero_fee_htlc_tx (bits 12 and 22), which we propose when the peer offers option_anchors. */
export const ANCHORS_TYPE = FeatureVector.of(12, 22);

const SUPPORTED_TYPES = [STATIC_REMOTEKEY_TYPE, ANCHORS_TYPE];

/** The commitment format (BOLT 3 variant) of a channel type we support. */
export const variantOf = (channelType: FeatureVector): Variant => (channelType.equals(ANCHORS_TYPE) ? 'anchors' : 'static');

/**
 * What we accept from peers and announce ourselves. Defaults follow what
 * lnd and LDK use, so that either opens channels with us unchanged.
 */
export interface ChannelPolicy {
  minFundingSat: Sat;
  /** 2^24 - 1 without option_support_large_channel. */
  maxFundingSat: Sat;
  /** The most to_self_delay we let a peer impose on our funds. */
  maxToSelfDelay: number;
  /** What we impose on the peer. */
  toSelfDelay: number;
  dustLimitSat: Sat;
  htlcMinimumMsat: Msat;
  maxAcceptedHtlcs: number;
  /** Reserve we require of the peer, as a fraction of the funding (1%), at least the dust limit. */
  reservePermille: number;
  /** Most confirmations we wait for when the peer asks. */
  maxMinimumDepth: number;
  /** Confirmations we require of a funding transaction the peer funds. */
  minimumDepth: number;
  /** Fee rates outside [min, max] in open_channel are refused. */
  minFeeratePerKw: FeeratePerKw;
  maxFeeratePerKw: FeeratePerKw;
}

export const DEFAULT_POLICY: ChannelPolicy = {
  minFundingSat: sat(20_000),
  maxFundingSat: sat(16_777_215),
  maxToSelfDelay: 2016,
  toSelfDelay: 144,
  dustLimitSat: sat(546),
  htlcMinimumMsat: msat(1),
  maxAcceptedHtlcs: 483,
  reservePermille: 10,
  maxMinimumDepth: 144,
  minimumDepth: 3,
  minFeeratePerKw: FEERATE_FLOOR,
  maxFeeratePerKw: 100_000 as FeeratePerKw,
};

/** The limits we announce for a channel of `fundingSat`. */
export function ourConfig(policy: ChannelPolicy, fundingSat: Sat): PartyConfig {
  const reserve = (fundingSat * BigInt(policy.reservePermille)) / 1000n;
  return {
    dustLimitSat: policy.dustLimitSat,
    channelReserveSat: sat(reserve > policy.dustLimitSat ? reserve : policy.dustLimitSat),
    htlcMinimumMsat: policy.htlcMinimumMsat,
    maxHtlcValueInFlightMsat: msat(fundingSat * 1000n),
    maxAcceptedHtlcs: policy.maxAcceptedHtlcs,
    toSelfDelay: policy.toSelfDelay,
  };
}

/** The part of open_channel / accept_channel every side sends. */
export interface PeerOpenFields {
  dustLimitSatoshis: Sat;
  maxHtlcValueInFlightMsat: Msat;
  channelReserveSatoshis: Sat;
  htlcMinimumMsat: Msat;
  toSelfDelay: number;
  maxAcceptedHtlcs: number;
  fundingPubkey: Uint8Array;
  revocationBasepoint: Uint8Array;
  paymentBasepoint: Uint8Array;
  delayedPaymentBasepoint: Uint8Array;
  htlcBasepoint: Uint8Array;
  firstPerCommitmentPoint: Uint8Array;
  channelType?: FeatureVector;
}

export const configOf = (m: PeerOpenFields): PartyConfig => ({
  dustLimitSat: m.dustLimitSatoshis,
  channelReserveSat: m.channelReserveSatoshis,
  htlcMinimumMsat: m.htlcMinimumMsat,
  maxHtlcValueInFlightMsat: m.maxHtlcValueInFlightMsat,
  maxAcceptedHtlcs: m.maxAcceptedHtlcs,
  toSelfDelay: m.toSelfDelay,
});

export const basepointsOfMessage = (m: PeerOpenFields): Basepoints => ({
  funding: m.fundingPubkey,
  revocation: m.revocationBasepoint,
  payment: m.paymentBasepoint,
  delayedPayment: m.delayedPaymentBasepoint,
  htlc: m.htlcBasepoint,
});

/** Our side of the fields open_channel and accept_channel share: the inverse of configOf and basepointsOfMessage. */
function ourOpenFields(cfg: PartyConfig, basepoints: Basepoints, secrets: ChannelSecrets, channelType: FeatureVector) {
  return {
    dustLimitSatoshis: cfg.dustLimitSat,
    maxHtlcValueInFlightMsat: cfg.maxHtlcValueInFlightMsat,
    channelReserveSatoshis: cfg.channelReserveSat,
    htlcMinimumMsat: cfg.htlcMinimumMsat,
    toSelfDelay: cfg.toSelfDelay,
    maxAcceptedHtlcs: cfg.maxAcceptedHtlcs,
    fundingPubkey: basepoints.funding,
    revocationBasepoint: basepoints.revocation,
    paymentBasepoint: basepoints.payment,
    delayedPaymentBasepoint: basepoints.delayedPayment,
    htlcBasepoint: basepoints.htlc,
    firstPerCommitmentPoint: perCommitmentPoint(secrets, 0n),
    channelType,
    // We advertise option_upfront_shutdown_script, so BOLT 2 requires the field; empty opts out (the script is chosen at close).
    upfrontShutdownScript: new Uint8Array(0),
  };
}

/** Checks common to open_channel and accept_channel (BOLT 2 "the receiving node MUST fail the channel if"). */
function checkPeerLimits(policy: ChannelPolicy, m: PeerOpenFields, fundingSat: Sat, ours: PartyConfig, what: string): void {
  const refuse = (why: string): never => {
    throw new ChannelProtocolError(`${what}: ${why}`);
  };
  if (m.toSelfDelay > policy.maxToSelfDelay) refuse(`to_self_delay ${m.toSelfDelay} exceeds our maximum of ${policy.maxToSelfDelay}`);
  if (m.maxAcceptedHtlcs > 483) refuse(`max_accepted_htlcs ${m.maxAcceptedHtlcs} exceeds 483`);
  if (m.maxAcceptedHtlcs < 1) refuse('max_accepted_htlcs is zero');
  if (m.dustLimitSatoshis < 354n) refuse(`dust_limit_satoshis ${m.dustLimitSatoshis} is below 354`);
  // BOLT 2 open_channel receiver: dust_limit_satoshis greater than channel_reserve_satoshis MUST fail the channel (accept_channel: same as open_channel).
  if (m.dustLimitSatoshis > m.channelReserveSatoshis) refuse(`dust_limit_satoshis ${m.dustLimitSatoshis} is above its own channel_reserve_satoshis ${m.channelReserveSatoshis}`);
  if (m.dustLimitSatoshis > 20_000n) refuse(`dust_limit_satoshis ${m.dustLimitSatoshis} is unreasonably large`);
  if (m.channelReserveSatoshis > fundingSat / 5n) refuse(`channel_reserve_satoshis ${m.channelReserveSatoshis} is over 20% of the channel`);
  if (m.channelReserveSatoshis < ours.dustLimitSat) refuse(`channel_reserve_satoshis ${m.channelReserveSatoshis} is below our dust limit ${ours.dustLimitSat}`);
  if (ours.channelReserveSat < m.dustLimitSatoshis) refuse(`dust_limit_satoshis ${m.dustLimitSatoshis} is above the reserve we require`);
  if (m.htlcMinimumMsat > fundingSat * 1000n / 10n) refuse(`htlc_minimum_msat ${m.htlcMinimumMsat} is unreasonably large`);
  if (m.maxHtlcValueInFlightMsat < fundingSat * 1000n / 100n) refuse('max_htlc_value_in_flight_msat is under 1% of the channel');
  if (m.channelType && !SUPPORTED_TYPES.some((t) => t.equals(m.channelType!))) {
    refuse(`channel_type ${m.channelType.list().join(',')} is not supported (we speak static_remotekey and anchors_zero_fee_htlc_tx)`);
  }
}

export interface OpenRequest {
  temporaryChannelId: Uint8Array;
  chainHash: Uint8Array;
  fundingSat: Sat;
  pushMsat: Msat;
  feeratePerKw: FeeratePerKw;
  /** STATIC_REMOTEKEY_TYPE or ANCHORS_TYPE. */
  channelType: FeatureVector;
  secrets: ChannelSecrets;
  basepoints: Basepoints;
}

/** The open_channel we send as funder. */
export function openChannelMessage(policy: ChannelPolicy, r: OpenRequest): OpenChannelMessage {
  if (r.fundingSat < policy.minFundingSat || r.fundingSat > policy.maxFundingSat) {
    throw new ChannelRefusal(`funding must be between ${policy.minFundingSat} and ${policy.maxFundingSat} sat`);
  }
  if (r.pushMsat < 0n || r.pushMsat > r.fundingSat * 1000n) throw new ChannelRefusal('push amount exceeds the funding');
  return {
    chainHash: r.chainHash,
    temporaryChannelId: r.temporaryChannelId,
    fundingSatoshis: r.fundingSat,
    pushMsat: r.pushMsat,
    feeratePerKw: r.feeratePerKw,
    ...ourOpenFields(ourConfig(policy, r.fundingSat), r.basepoints, r.secrets, r.channelType),
    channelFlags: 0,
  };
}

/** An open_channel as decoded from a peer: its channel_type may be missing (checkOpenChannel refuses that). */
export type ReceivedOpen = MessageOf<typeof openChannel>;

/** An open_channel with its channel_type: the ones we send, and a peer's once checked (checkedOpen). */
export type OpenChannelMessage = ReceivedOpen & { channelType: FeatureVector };

/** The open with its channel_type known; throws ChannelProtocolError without one (we require option_channel_type). */
export function checkedOpen(m: ReceivedOpen): OpenChannelMessage {
  if (!m.channelType) throw new ChannelProtocolError('open_channel: channel_type is required (we speak static_remotekey and anchors_zero_fee_htlc_tx)');
  return { ...m, channelType: m.channelType };
}

/** Checks a peer's open_channel as fundee. Throws ChannelProtocolError with a reason fit for the peer. */
export function checkOpenChannel(policy: ChannelPolicy, m: ReceivedOpen, chainHash: Uint8Array): PartyConfig {
  if (hex(m.chainHash) !== hex(chainHash)) throw new ChannelProtocolError('open_channel: chain_hash is not our chain');
  if (m.fundingSatoshis < policy.minFundingSat) {
    throw new ChannelProtocolError(`open_channel: funding ${m.fundingSatoshis} sat is below our minimum of ${policy.minFundingSat} sat`);
  }
  if (m.fundingSatoshis > policy.maxFundingSat) {
    throw new ChannelProtocolError(`open_channel: funding ${m.fundingSatoshis} sat is above our maximum of ${policy.maxFundingSat} sat`);
  }
  if (m.pushMsat > m.fundingSatoshis * 1000n) throw new ChannelProtocolError('open_channel: push_msat exceeds the funding');
  if (m.feeratePerKw < policy.minFeeratePerKw || m.feeratePerKw > policy.maxFeeratePerKw) {
    throw new ChannelProtocolError(`open_channel: feerate_per_kw ${m.feeratePerKw} is outside [${policy.minFeeratePerKw}, ${policy.maxFeeratePerKw}]`);
  }
  const { channelType } = checkedOpen(m);
  const ours = ourConfig(policy, m.fundingSatoshis);
  checkPeerLimits(policy, m, m.fundingSatoshis, ours, 'open_channel');
  const variant = variantOf(channelType);
  const feeMsat = (commitmentFee(m.feeratePerKw, 0, variant) + (variant === 'anchors' ? 2n * ANCHOR_OUTPUT_SAT : 0n)) * 1000n;
  const funderMsat = m.fundingSatoshis * 1000n - m.pushMsat;
  // BOLT 2 open_channel receiver: the funder's amount for the initial commitment transaction not sufficient for full fee payment MUST fail the channel.
  if (funderMsat < feeMsat) {
    throw new ChannelProtocolError(`open_channel: the funder's ${funderMsat} msat cannot pay the first commitment's fee of ${feeMsat} msat`);
  }
  // BOLT 2 open_channel receiver: both to_local and to_remote of the initial commitment at or below channel_reserve_satoshis MUST fail the channel.
  const reserveMsat = m.channelReserveSatoshis * 1000n;
  if (funderMsat - feeMsat <= reserveMsat && m.pushMsat <= reserveMsat) {
    throw new ChannelProtocolError(`open_channel: both outputs of the first commitment are at or below channel_reserve_satoshis ${m.channelReserveSatoshis}`);
  }
  // BOLT 2 open_channel sender: upfront_shutdown_script is empty or a valid shutdown scriptpubkey; we hold the peer to it at shutdown.
  checkUpfrontScript(m.upfrontShutdownScript, 'open_channel');
  return ours;
}

export function acceptChannelMessage(policy: ChannelPolicy, open: OpenChannelMessage, secrets: ChannelSecrets, basepoints: Basepoints) {
  return {
    temporaryChannelId: open.temporaryChannelId,
    minimumDepth: policy.minimumDepth,
    ...ourOpenFields(ourConfig(policy, open.fundingSatoshis), basepoints, secrets, open.channelType),
  };
}

export type AcceptChannelMessage = MessageOf<typeof acceptChannel>;

/** Checks the peer's accept_channel as funder. */
export function checkAcceptChannel(policy: ChannelPolicy, open: OpenChannelMessage, m: AcceptChannelMessage): void {
  if (m.minimumDepth > policy.maxMinimumDepth) {
    throw new ChannelProtocolError(`accept_channel: minimum_depth ${m.minimumDepth} exceeds our maximum of ${policy.maxMinimumDepth}`);
  }
  if (!m.channelType || !m.channelType.equals(open.channelType)) {
    throw new ChannelProtocolError('accept_channel: channel_type must echo the one we proposed');
  }
  checkPeerLimits(policy, m, open.fundingSatoshis, ourConfig(policy, open.fundingSatoshis), 'accept_channel');
  checkUpfrontScript(m.upfrontShutdownScript, 'accept_channel');
}

export interface FundingOutpoint {
  /** Display hex (byte-reversed). */
  txid: string;
  vout: number;
}

/** The commitments both sides start from once the funding outpoint is known. */
export function initialCommitments(p: {
  weAreOpener: boolean;
  open: OpenChannelMessage;
  accept: AcceptChannelMessage;
  funding: FundingOutpoint;
  secrets: ChannelSecrets;
}): { state: Commitments; remoteFirstPoint: Uint8Array } {
  const { open, accept, weAreOpener } = p;
  const theirs: PeerOpenFields = weAreOpener ? accept : open;
  const ours: PeerOpenFields = weAreOpener ? open : accept;
  const localBasepoints = basepointsOfMessage(ours);
  const remoteBasepoints = basepointsOfMessage(theirs);
  const funderBalance = open.fundingSatoshis * 1000n - open.pushMsat;
  const spec: CommitSpec = {
    htlcs: [],
    toLocalMsat: msat(weAreOpener ? funderBalance : open.pushMsat),
    toRemoteMsat: msat(weAreOpener ? open.pushMsat : funderBalance),
    feeratePerKw: open.feeratePerKw,
  };
  const txidInternal = Uint8Array.from(Buffer.from(p.funding.txid, 'hex')).reverse();
  // The commitment number is obscured with the opener's basepoint first, whoever we are.
  const factor = obscuringFactor(open.paymentBasepoint, accept.paymentBasepoint);
  const state: Commitments = {
    channelId: channelIdFrom(txidInternal, p.funding.vout),
    fundingTxid: p.funding.txid,
    fundingVout: p.funding.vout,
    fundingSat: open.fundingSatoshis,
    weAreOpener,
    variant: variantOf(open.channelType),
    local: configOf(ours),
    remote: configOf(theirs),
    localBasepoints,
    remoteBasepoints,
    obscuringFactor: factor,
    localChanges: { proposed: [], signed: [], acked: [] },
    remoteChanges: { proposed: [], acked: [], signed: [] },
    localCommit: { index: 0n, spec, txid: '', remoteSig: new Uint8Array(64), htlcSigs: [] },
    remoteCommit: { index: 0n, spec, txid: '', point: theirs.firstPerCommitmentPoint },
    remoteSecrets: new SecretStore().serialize(),
    localNextHtlcId: 0n,
    remoteNextHtlcId: 0n,
  };
  // The opener must be able to pay the fee of the first commitment and keep its reserve.
  const openerBalance = weAreOpener ? spec.toLocalMsat : spec.toRemoteMsat;
  const fee = commitFeeMsat(state, 'local', spec);
  const openerReserve = (weAreOpener ? state.remote : state.local).channelReserveSat * 1000n;
  if (openerBalance < fee + (open.pushMsat > 0n ? openerReserve : 0n)) {
    const msg = `the opener cannot pay the first commitment fee (${fee} msat) from ${openerBalance} msat`;
    throw weAreOpener ? new ChannelRefusal(msg) : new ChannelProtocolError(`funding_created: ${msg}`);
  }
  return { state, remoteFirstPoint: theirs.firstPerCommitmentPoint };
}

/** Our signature on the peer's first commitment (funding_created as funder, funding_signed as fundee). */
export function signFirstRemote(c: Commitments, s: ChannelSecrets): { state: Commitments; signature: Uint8Array } {
  const built = buildRemote(c, c.remoteCommit.spec, 0n, c.remoteCommit.point);
  const { sig } = signRemote(c, s, built);
  return { state: { ...c, remoteCommit: { ...c.remoteCommit, txid: built.txid } }, signature: sig };
}

/** Verifies the peer's signature on our first commitment and records it. */
export function acceptFirstLocal(c: Commitments, s: ChannelSecrets, signature: Uint8Array): Commitments {
  const built = buildLocal(c, s, c.localCommit.spec, 0n);
  verifyLocal(c, built, signature, []);
  return { ...c, localCommit: { ...c.localCommit, txid: built.txid, remoteSig: signature } };
}

/** channel_ready carries the point for commitment 1: the peer's becomes remoteNextPoint. */
export function receiveChannelReady(c: Commitments, secondPerCommitmentPoint: Uint8Array): Commitments {
  if (c.remoteCommit.index !== 0n || c.nextRemoteCommit) return c; // a retransmission after the channel moved on
  return { ...c, remoteNextPoint: secondPerCommitmentPoint };
}

export const ourChannelReadyPoint = (s: ChannelSecrets): Uint8Array => perCommitmentPoint(s, 1n);
