/**
 * An lnnode on a ChannelLab with daemon options the lab's own startNode does
 * not set (channel limits lowered for a test); the lab stops it with the rest.
 */
import { join } from 'node:path';
import { type DaemonConfig } from '../../../src/node/config.ts';
import { createLogger } from '../../../src/node/log.ts';
import { LightningNode } from '../../../src/node/node.ts';
import { type ChannelLab } from '../../lab/channel-lab.ts';

const quiet = createLogger({ level: process.env.LNNODE_TEST_LOG ? 'debug' : 'error' });

export function startNodeWith(lab: ChannelLab, name: string, extra: Partial<DaemonConfig>): LightningNode {
  const n = LightningNode.start(
    {
      network: 'regtest',
      dataDir: join(lab.root, name),
      p2pListen: { host: '127.0.0.1', port: 0 },
      chain: { kind: 'esplora', url: lab.esplora.url },
      connect: [],
      logLevel: 'error',
      tipPollMs: 200,
      ...extra,
    },
    quiet.child(name),
  );
  lab.nodes.push(n);
  return n;
}
