#!/usr/bin/env bun
/**
 * The lnnode daemon: parses the command line, starts the node, logs one JSON
 * line per event on stderr, and stops cleanly on SIGINT/SIGTERM.
 */
import pkg from '../package.json' with { type: 'json' };
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, parseArgs, USAGE } from './node/config.ts';
import { configFileLocation, networkMismatch, parseConfigFile, withConfigFile } from './node/config-file.ts';
import { createLogger } from './node/log.ts';
import { LightningNode, type StartOptions } from './node/node.ts';
import { MnemonicError } from './node/mnemonic.ts';
import { BackupError } from './node/backup/format.ts';
import { restoreOptions, showNewMnemonic } from './node/seed-input.ts';
import { listenProblem, mainnetWarning, startupRefusal } from './node/startup-errors.ts';
import { type Apis, startApis } from './rpc/api.ts';
import { endStreams } from './rpc/feed.ts';
import { type MetricsServer, startMetricsServer } from './rpc/metrics-server.ts';

/** How long calls in flight (a Stop call's own answer among them) may take to finish when the daemon stops. */
const STOP_GRACE_MS = 2_000;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(`lnnode ${pkg.version}\n${USAGE}`);
  process.exit(0);
}
if (argv.includes('--version')) {
  console.log(`lnnode ${pkg.version} (bun ${Bun.version})`);
  process.exit(0);
}

let config;
try {
  // Options from lnnode.conf come first, so the command line overrides them.
  const where = configFileLocation(argv, process.env);
  let entries: ReturnType<typeof parseConfigFile> = [];
  if (existsSync(where.path)) entries = parseConfigFile(readFileSync(where.path, 'utf8'), where.path);
  else if (where.explicit) throw new ConfigError(`--config: cannot read ${where.path}`);
  const mismatch = networkMismatch(entries, where, argv);
  if (mismatch) throw new ConfigError(mismatch);
  config = parseArgs(withConfigFile(argv, entries), process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`lnnode: ${e.message}`);
  process.exit(2);
}
const refusal = startupRefusal(config);
if (refusal) {
  console.error(refusal);
  process.exit(2);
}
if (config.network === 'mainnet') console.error(mainnetWarning());

// The data directory holds the seed and channel secrets: nothing we create there is for other users.
process.umask(0o077);
const log = createLogger({ level: config.logLevel, format: config.logFormat, color: config.logFormat === 'text' && process.stderr.isTTY });
let startOptions: StartOptions;
try {
  // A new mnemonic goes to the terminal only (stderr), never to the JSON log.
  startOptions = await restoreOptions(config, process.env, (words) =>
    showNewMnemonic(words, config.dataDir, { tty: !!process.stderr.isTTY, withPassphrase: !!process.env.LNNODE_SEED_PASSPHRASE, write: (t) => console.error(t) }),
  );
} catch (e) {
  if (!(e instanceof MnemonicError) && !(e instanceof BackupError)) throw e;
  console.error(`lnnode: --restore: ${e.message}`);
  process.exit(2);
}
let node: LightningNode;
try {
  node = LightningNode.start(config, log, startOptions);
} catch (e) {
  if (e instanceof BackupError || (e as Error).name === 'IdentityError') console.error(`lnnode: ${(e as Error).message}`);
  const why = listenProblem(e, config, 'p2p');
  if (why) console.error(`lnnode: ${why}`);
  log.error('cannot start', { error: e as Error });
  process.exit(1);
}
let apis: Apis | undefined;
let metrics: MetricsServer | undefined;
let stopping = false;
/**
 * The clean stop, for a signal or a Stop call: stop accepting (metrics, then
 * the APIs close their listeners), let calls in flight finish, then the node
 * disconnects its peers, closes the database (every write is synchronous, so
 * none is left half done) and releases the data-dir lock; exit 0. A second
 * signal while that runs stops at once.
 */
async function shutdown(reason: string): Promise<void> {
  if (stopping) {
    node.stop();
    process.exit(0);
  }
  stopping = true;
  log.info('stopping', { reason });
  metrics?.stop();
  const apisStopped = apis?.stop(STOP_GRACE_MS).catch((e: Error) => log.warn('API stop failed', { error: e }));
  // Subscription streams would hold their connections for the whole grace: they end now, with a status.
  endStreams(node, 'the node is stopping');
  await apisStopped;
  node.stop();
  process.exit(0);
}
// From here on a signal stops the node cleanly, also while the APIs start.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log.info('signal received, stopping', { signal: sig });
    void shutdown(`signal ${sig}`);
  });
}
node.requestStop = (reason) => void shutdown(reason);
if (config.metricsListen) {
  try {
    metrics = startMetricsServer({
      node,
      config,
      ...config.metricsListen,
      log: log.child('metrics'),
      listeners: () => apis && { rpc: !!apis.lnnode, lndRpc: !!apis.lnd },
    });
  } catch (e) {
    const why = listenProblem(e, config, 'metrics');
    if (why) console.error(`lnnode: ${why}`);
    log.error('cannot start the metrics endpoint', { error: e as Error });
    node.stop();
    process.exit(1);
  }
}
try {
  apis = await startApis(node, config, log.child('rpc'));
} catch (e) {
  // A node nobody can control is of no use, and a port clash is a setup error to fix.
  const why = listenProblem(e, config, 'api');
  if (why) console.error(`lnnode: ${why}`);
  log.error('cannot start the API', { error: e as Error });
  metrics?.stop();
  node.stop();
  process.exit(1);
}
node.onFatal = (e) => {
  log.error('fatal, stopping', { error: e });
  node.stop();
  process.exit(1);
};
// Started: listeners bound, signals handled.
log.info('ready', { p2pPort: node.p2pPort ?? 'off', rpcPort: apis.lnnode?.port ?? 'off', lndRpcPort: apis.lnd?.port ?? 'off', metricsPort: metrics?.port ?? 'off' });
