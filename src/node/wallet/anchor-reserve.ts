/**
 * The on-chain reserve for anchors channels, pure. An anchors commitment
 * pays only the feerate agreed when it was signed; when it must confirm, the
 * wallet pays the rest through a CPFP child (channels/anchor-bump.ts) and the
 * fees of the zero-fee HTLC transactions. A wallet emptied by sends or
 * funding could not, and the HTLCs would be lost to timeouts. So, as lnd
 * does, 10,000 sat per open anchors channel stays in the wallet, at most
 * 100,000 sat (10 channels; lnd's anchorChanReservedValue and
 * maxAnchorChanReservedValue): sends and fundings that would leave less are
 * refused, and so is an inbound anchors open_channel when the wallet could
 * not keep the reserve with one channel more (LDK refuses such opens too).
 */
import { type Sat, sat } from '../../bolt/units.ts';
import { WalletError } from './errors.ts';

export const ANCHOR_RESERVE_PER_CHANNEL_SAT = sat(10_000);
/** Channels past this many add nothing more to the reserve. */
export const ANCHOR_RESERVE_MAX_CHANNELS = 10;
export const MAX_ANCHOR_RESERVE_SAT = sat(ANCHOR_RESERVE_PER_CHANNEL_SAT * BigInt(ANCHOR_RESERVE_MAX_CHANNELS));

/** The reserve for `channels` anchors channels (`perChannel` each, for at most ANCHOR_RESERVE_MAX_CHANNELS). */
export function anchorReserve(channels: number, perChannel: Sat = ANCHOR_RESERVE_PER_CHANNEL_SAT): Sat {
  return sat(perChannel * BigInt(Math.min(ANCHOR_RESERVE_MAX_CHANNELS, Math.max(0, channels))));
}

/** A send or funding refused because it would leave less than the anchors reserve. */
export class AnchorReserveError extends WalletError {
  override readonly name = 'AnchorReserveError';
  constructor(
    readonly reserveSat: bigint,
    readonly leftSat: bigint,
    what: string,
  ) {
    super(
      `${what} would leave ${leftSat < 0n ? 0n : leftSat} sat in the wallet, below the on-chain reserve of ${reserveSat} sat kept for fee bumping ` +
        `anchors channels (--anchor-reserve sat per channel, for at most ${ANCHOR_RESERVE_MAX_CHANNELS} channels); send less, or add funds`,
    );
  }
}

/** Why an inbound anchors open is refused: the wallet cannot keep the reserve with one channel more. */
export function inboundReserveRefusal(walletSat: bigint, anchorChannels: number, perChannel: Sat = ANCHOR_RESERVE_PER_CHANNEL_SAT): string | undefined {
  const reserve = anchorReserve(anchorChannels + 1, perChannel);
  if (walletSat >= reserve) return undefined;
  return `open_channel: anchors channels need an on-chain reserve of ${reserve} sat for fee bumping and this node's wallet has ${walletSat} sat`;
}
