#!/usr/bin/env bun
/**
 * The lnnode daemon as src/main.ts runs it, plus channel limits from the
 * environment (LNNODE_TEST_CHANNEL_LIMITS, JSON of channels/limits.ts
 * fields), which the command line does not offer: how the receiver-rule
 * table gives a real daemon process a 3-second closing negotiation timeout
 * instead of 60 s, or forgets unfunded channels after 30 blocks instead of
 * 2016, so those rules are checked in seconds. Everything else is the
 * daemon's own code path (config parsing, node, APIs, signals).
 */
import { ConfigError, parseArgs } from '../../src/node/config.ts';
import { createLogger } from '../../src/node/log.ts';
import { LightningNode } from '../../src/node/node.ts';
import { startApis } from '../../src/rpc/api.ts';

let config;
try {
  config = parseArgs(process.argv.slice(2), process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`lnnode: ${e.message}`);
  process.exit(2);
}
const limits = process.env.LNNODE_TEST_CHANNEL_LIMITS;
if (limits) config = { ...config, channelLimits: { ...config.channelLimits, ...(JSON.parse(limits) as NonNullable<typeof config.channelLimits>) } };

process.umask(0o077);
const log = createLogger({ level: config.logLevel });
const node = LightningNode.start(config, log);
try {
  await startApis(node, config, log.child('rpc'));
} catch (e) {
  log.error('cannot start the API', { error: e as Error });
  node.stop();
  process.exit(1);
}
node.onFatal = (e) => {
  log.error('fatal, stopping', { error: e });
  node.stop();
  process.exit(1);
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    node.stop();
    process.exit(0);
  });
}
