/**
 * What the channel driver works with and what it asks of the payments
 * layer: the types a node passes to ChannelManager.
 */
import { type HDKey } from '@scure/bip32';
import { type IncomingOutcome, type IncomingRefusal } from '../../bolt/bolt2/channel/incoming.ts';
import { type ChannelPolicy } from '../../bolt/bolt2/channel/open.ts';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { type HtlcOutcome } from '../../bolt/bolt2/channel/state.ts';
import { type FeeratePerKw } from '../../bolt/units.ts';
import { type ChainSource } from '../../chain/types.ts';
import { type Clock } from '../clock.ts';
import { type Network } from '../identity.ts';
import { type Logger } from '../log.ts';
import { type PeerManager } from '../peer/manager.ts';
import { type Store } from '../store.ts';
import { type Wallet } from '../wallet/wallet.ts';
import { type ChannelLimits } from './limits.ts';

/** How the payments layer ends an incoming HTLC; `persist` writes its own record in the same commit as the channel. */
export type Resolution = IncomingOutcome & { persist?: () => void };

export interface ChannelHooks {
  /** Decide what to do with an incoming HTLC that is irrevocably committed. */
  resolveIncoming(channelId: Uint8Array, htlc: HtlcEntry): Resolution;
  /** One of our HTLCs ended. */
  outgoingResolved(o: HtlcOutcome): void;
  /**
   * How to fail an incoming HTLC the channel itself refuses, for its payer:
   * permanent_channel_failure for one added after our shutdown,
   * temporary_channel_failure for one past the dust exposure limit.
   */
  refuseIncoming(channelId: Uint8Array, htlc: HtlcEntry, failure: IncomingRefusal): Resolution;
  /** The preimage of an incoming payment we settled, to claim its HTLC on chain. */
  preimageOf(paymentHash: Uint8Array): Uint8Array | undefined;
}

export interface CloseOptions {
  /** Broadcast our commitment instead of negotiating with the peer. */
  force?: boolean;
  /** Fee rate for the mutual close; the chain's 6-block estimate otherwise. */
  feerate?: FeeratePerKw;
}


/** What the channel manager works with: storage, keys, the peer and chain layers, the wallet, and the payments layer's hooks. */
export interface ChannelDeps {
  db: Store;
  root: HDKey;
  network: Network;
  chainHash: Uint8Array;
  peers: PeerManager;
  wallet: Wallet;
  chain: ChainSource;
  hooks: ChannelHooks;
  log: Logger;
  policy?: ChannelPolicy;
  limits?: Partial<ChannelLimits>;
  /** The node's fee ceiling (--max-feerate): the top of the anchor CPFP ramp. */
  maxFeerate?: FeeratePerKw;
  /** Timers (open, close and negotiation timeouts); the system clock when not given. */
  clock?: Clock;
  /** Temporary channel ids and scid aliases. */
  random?: (n: number) => Uint8Array;
}
