/**
 * The parts of a node an RPC needs, or FailedPrecondition when the node runs
 * without them (no chain source: no wallet, no channels).
 */
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
