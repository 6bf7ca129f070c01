/**
 * A channel brought back from a static channel backup, as the channel
 * manager stores it (phase `recovering`). The backup holds no commitment
 * state, so the Commitments here are a placeholder that names the funding
 * output, the channel type and our keys, and nothing else: no commitment
 * txid (so no spend of the funding output is ever taken for one of ours),
 * zero balances, no HTLCs. What reads them is the on-chain resolver: the
 * peer's commitment shows up as a close it cannot place ("unknown"), and
 * our to_remote output on it depends only on our payment basepoint and the
 * channel type (static_remotekey / anchors), so it is swept from the seed.
 * Our own commitment, if the lost node had broadcast one, is recognised by
 * the commitment number it carries and its to_local swept after the delay.
 * The manager never signs or sends a commitment for such a channel.
 */
import { equalBytes, fromHex, hex } from '../../bolt/bytes.ts';
import { type Commitments, type PartyConfig } from '../../bolt/bolt2/channel/commitments.ts';
import { basepointsOf, type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type Basepoints } from '../../bolt/bolt3/keys.ts';
import { obscuringFactor } from '../../bolt/bolt3/commitment-number.ts';
import { SecretStore } from '../../bolt/bolt3/shachain.ts';
import { FEERATE_FLOOR, type Msat, type Sat } from '../../bolt/units.ts';
import { type ChannelRecord } from '../channels/manager.ts';
import { BackupError, type BackupChannel } from './format.ts';

/** Why the channel is in `recovering`, as the API shows it. */
export const RECOVERING_REASON = 'restored from a static channel backup: waiting for the peer to force close';

const NO_LIMITS = (toSelfDelay: number): PartyConfig => ({
  dustLimitSat: 0n as Sat,
  channelReserveSat: 0n as Sat,
  htlcMinimumMsat: 0n as Msat,
  maxHtlcValueInFlightMsat: 0n as Msat,
  maxAcceptedHtlcs: 0,
  toSelfDelay,
});

/** The backup entry of a stored channel (live or itself recovering). */
export function backupEntryOf(keyIndex: number, peer: Uint8Array, c: Commitments, addresses: string[]): BackupChannel {
  const rb = c.remoteBasepoints;
  return {
    channelId: hex(c.channelId),
    peer: hex(peer),
    addresses,
    fundingTxid: c.fundingTxid,
    fundingVout: c.fundingVout,
    fundingSat: c.fundingSat,
    channelType: c.variant === 'anchors' ? 'anchors' : 'static_remotekey',
    weAreOpener: c.weAreOpener,
    keyIndex,
    paymentBasepoint: hex(c.localBasepoints.payment),
    remoteBasepoints: { funding: hex(rb.funding), revocation: hex(rb.revocation), payment: hex(rb.payment), delayedPayment: hex(rb.delayedPayment), htlc: hex(rb.htlc) },
    remoteToSelfDelay: c.remote.toSelfDelay,
  };
}

/**
 * The stored record of a recovering channel. Throws BackupError when our
 * keys re-derived at the entry's index are not the ones the backup names:
 * the node runs on another seed than the one that made the channel.
 */
export function recoveringRecord(e: BackupChannel, secrets: ChannelSecrets): ChannelRecord {
  const local = basepointsOf(secrets);
  if (!equalBytes(local.payment, fromHex(e.paymentBasepoint))) {
    throw new BackupError(`channel ${e.channelId}: our key at index ${e.keyIndex} is not the one the backup names; this node's seed is not the one that made the channel`);
  }
  const remote: Basepoints = {
    funding: fromHex(e.remoteBasepoints.funding),
    revocation: fromHex(e.remoteBasepoints.revocation),
    payment: fromHex(e.remoteBasepoints.payment),
    delayedPayment: fromHex(e.remoteBasepoints.delayedPayment),
    htlc: fromHex(e.remoteBasepoints.htlc),
  };
  const spec = { htlcs: [], toLocalMsat: 0n as Msat, toRemoteMsat: 0n as Msat, feeratePerKw: FEERATE_FLOOR };
  const commitments: Commitments = {
    channelId: fromHex(e.channelId),
    fundingTxid: e.fundingTxid,
    fundingVout: e.fundingVout,
    fundingSat: e.fundingSat as Sat,
    weAreOpener: e.weAreOpener,
    variant: e.channelType === 'anchors' ? 'anchors' : 'static',
    local: NO_LIMITS(0),
    remote: NO_LIMITS(e.remoteToSelfDelay),
    localBasepoints: local,
    remoteBasepoints: remote,
    // From both payment basepoints (BOLT 3), so that our own commitment, if the lost node broadcast one, is recognised by its number.
    obscuringFactor: e.weAreOpener ? obscuringFactor(local.payment, remote.payment) : obscuringFactor(remote.payment, local.payment),
    localChanges: { proposed: [], signed: [], acked: [] },
    remoteChanges: { proposed: [], acked: [], signed: [] },
    // No txid: nothing on chain is ever taken for a commitment of ours or a known one of theirs.
    localCommit: { index: 0n, spec, txid: '', remoteSig: new Uint8Array(0), htlcSigs: [] },
    remoteCommit: { index: 0n, spec, txid: '', point: local.payment },
    remoteSecrets: new SecretStore().serialize(),
    localNextHtlcId: 0n,
    remoteNextHtlcId: 0n,
  };
  return {
    commitments,
    minimumDepth: 0,
    readySent: true,
    theirReady: true,
    localAlias: 0n,
    dataLoss: true,
    closeReason: RECOVERING_REASON,
  };
}
