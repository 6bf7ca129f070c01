/**
 * The parts of a node an RPC needs, or FailedPrecondition when the node runs
 * without them (no chain source: no wallet, no channels).
 */
import { DEFAULT_MAX_FEERATE_SAT_VB } from '../chain/feerate.ts';
import { type ChannelManager } from '../node/channels/manager.ts';
import { type LightningNode } from '../node/node.ts';
import { type Wallet } from '../node/wallet/wallet.ts';
import { failedPrecondition } from './errors.ts';

export function walletOf(node: LightningNode): Wallet {
  if (!node.wallet) throw failedPrecondition('no chain source configured: the node runs without a wallet');
  return node.wallet;
}

export function channelsOf(node: LightningNode): ChannelManager {
  if (!node.channels) throw failedPrecondition('no chain source configured: the node runs without channels');
  return node.channels;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The highest fee rate (sat/vB) the node pays or takes from an API call (--max-feerate). */
export const maxFeerateSatPerVb = (node: LightningNode): number => node.config.maxFeerateSatPerVb ?? DEFAULT_MAX_FEERATE_SAT_VB;

/** The answer to Stop (lnnode.v1) and StopDaemon (lnd): the daemon stops once the answer is out. */
export function requestStop(node: LightningNode, via: string): string {
  if (!node.requestStop) throw failedPrecondition('this node is not run by the lnnode daemon: nothing to stop');
  const stop = node.requestStop;
  // After this call's answer is written: the shutdown closes the connection it goes out on.
  setImmediate(() => stop(`${via} call`));
  return 'shutdown initiated, check logs for progress';
}

/**
 * How long a balance, send or open call waits for the wallet to take in the blocks it has been given
 * (Wallet.caughtUp): right after a start or a block, coins it has not read yet would show as none.
 */
export const WALLET_CATCH_UP_MS = 3_000;
