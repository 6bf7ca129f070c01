/**
 * An lnnode on a ChannelLab with daemon options set for a test (channel
 * limits lowered): the lab's own node (its tip polling, its to_self_delay)
 * with `extra` on top; the lab stops it with the rest.
 */
import { type DaemonConfig } from '../../../src/node/config.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type ChannelLab } from '../../lab/channel-lab.ts';

export function startNodeWith(lab: ChannelLab, name: string, extra: Partial<DaemonConfig>): LightningNode {
  return lab.startNode(name, extra);
}
