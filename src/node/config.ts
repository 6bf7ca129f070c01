/**
 * Daemon configuration from the command line. Every option has one spelling
 * (`--name value` or `--name=value`); unknown options and bad values are
 * errors that name the option, so a typo never silently changes behaviour.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_FEERATE_SAT_VB, MAX_FEERATE_LIMIT_SAT_VB } from '../chain/feerate.ts';
import { insecureUrlProblem, isLoopbackHost } from '../chain/secure-url.ts';
import { DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT } from '../bolt/bolt2/channel/safety-policy.ts';
import { msat, sat } from '../bolt/units.ts';
import { type ChannelPolicy } from '../bolt/bolt2/channel/open.ts';
import { type ChannelLimits } from './channels/limits.ts';
import { type Limits } from './limits.ts';
import { ANCHOR_RESERVE_PER_CHANNEL_SAT } from './wallet/anchor-reserve.ts';
import { LOG_FORMATS, type Level, type LogFormat } from './log.ts';
import { type Network } from './identity.ts';
import { isNetwork, NETWORKS } from './networks.ts';

export type ChainConfig =
  | { kind: 'esplora'; url: string }
  | { kind: 'bitcoind-rpc'; url: string; user: string; password: string; caCertFile?: string }
  | { kind: 'none' };

export interface PeerTarget {
  nodeId: string;
  host: string;
  port: number;
}

export interface DaemonConfig {
  network: Network;
  dataDir: string;
  /** Where to accept peers; undefined disables listening. */
  p2pListen?: { host: string; port: number };
  chain: ChainConfig;
  /** Peers to keep connected to (added to the persistent address book). */
  connect: PeerTarget[];
  logLevel: Level;
  /** 'json' (one object a line, the default) or 'text' (readable lines for a person). */
  logFormat?: LogFormat;
  /** Where to serve the lnnode.v1 API; undefined disables it. */
  rpcListen?: { host: string; port: number };
  /** A certificate for the API instead of the self-signed one in the data dir. */
  rpcTls?: { certPath: string; keyPath: string };
  /** Where to serve the lnd-compatible API (TLS, admin.macaroon); undefined disables it. */
  lndRpcListen?: { host: string; port: number };
  /** Where to serve /metrics, /health and /ready (plain HTTP, no credential); undefined (the default) disables it. */
  metricsListen?: { host: string; port: number };
  /** How often the chain tip is polled (ms); 2,000 by default. Tests lower it. */
  tipPollMs?: number;
  /** Most blocks a payment we send may lock our HTLC for (the route's total CLTV); 2016 by default. */
  maxCltvExpiry?: number;
  /** The highest fee rate the node pays or accepts from the API (sat/vB); DEFAULT_MAX_FEERATE_SAT_VB by default. */
  maxFeerateSatPerVb?: number;
  /** Caps and timeouts of the channel layer (channels/limits.ts); the defaults unless a test lowers one. */
  channelLimits?: Partial<ChannelLimits>;
  /** --allow-unsafe-mainnet: run on mainnet although startup-errors.ts lists what is not yet safe there. */
  allowUnsafeMainnet?: boolean;
  /**
   * What we ask of channel peers (to_self_delay, minimum depth...): DEFAULT_POLICY unless a test
   * sets a field, e.g. a short to_self_delay where a test is not about the delay.
   */
  channelPolicy?: Partial<ChannelPolicy>;
  /** BOLT 1 keepalive: how often a peer is pinged and how long its pong may take (ms); 30 s each by default. Tests lower them. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Events a stream subscriber may fall behind before it is closed (subscription.ts); SUBSCRIBER_QUEUE_LIMIT by default. */
  subscriberQueueLimit?: number;
  /** Peer-layer limits (limits.ts) a test raises or lowers; the defaults otherwise. */
  peerLimits?: Partial<Limits>;
  /** --channel-backup: where the static channel backup is kept (default <data-dir>/channel.backup). */
  channelBackupPath?: string;
  /** --restore: the data dir is new and its seed comes from a mnemonic the operator gives (main.ts reads it). */
  restore?: { mnemonicFile?: string; channelBackupFile?: string };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The Esplora servers a node on a public network uses when given no chain
 * source, as ldk-node defaults to blockstream.info: third parties the
 * operator trusts to show the chain honestly (they also learn the node's
 * addresses). None for regtest, whose chain is always the operator's own.
 */
export const DEFAULT_ESPLORA_URLS: Readonly<Partial<Record<Network, string>>> = {
  mainnet: 'https://blockstream.info/api',
  testnet: 'https://blockstream.info/testnet/api',
  signet: 'https://mempool.space/signet/api',
};

export const USAGE = `usage: lnnode [options]
  --network <${NETWORKS.join('|')}>   chain to run on (default regtest)
  --data-dir <dir>                  seed, database, credentials (default ~/.lnnode/<network>)
  --p2p-listen <host:port>          accept peers here (default 127.0.0.1:9735; "off" to disable)
  --esplora-url <url>               chain data from an Esplora HTTP API ("off": none). Without it or
                                    --bitcoind-rpc-url, a public server, a third party you then trust
                                    for chain data (none on regtest):
${Object.entries(DEFAULT_ESPLORA_URLS).map(([n, u]) => `${' '.repeat(38)}${n.padEnd(8)} ${u}`).join('\n')}
  --bitcoind-rpc-url <url>          chain data from a bitcoind-compatible JSON-RPC server
                                    (either URL must be https unless its host is loopback)
  --bitcoind-rpc-user <user>
  --bitcoind-rpc-password <pass>
  --bitcoind-rpc-cafile <file>      CA certificate for an https RPC URL (btcd's rpc.cert)
  --connect <nodeid@host:port>      keep this peer connected (repeatable)
  --rpc-listen <host:port>          serve the lnnode.v1 API here (default 127.0.0.1:10019; "off" to disable);
                                    TLS is used on any non-loopback address
  --rpc-tls-cert <file>             API certificate and key (PEM) instead of <data-dir>/tls.cert, tls.key
  --rpc-tls-key <file>
  --lnd-rpc-listen <host:port>      also serve the lnd-compatible API here (lnd's port is 10009; default off);
                                    always TLS (tls.cert), authenticated by <data-dir>/data/chain/bitcoin/<network>/admin.macaroon
  --metrics-listen <host:port>      serve Prometheus /metrics, /health and /ready over plain HTTP here (default off);
                                    no credential, so loopback only unless --metrics-allow-remote
  --metrics-allow-remote            let --metrics-listen use a non-loopback address (anyone who reaches it reads the counts)
  --chain-poll-ms <ms>              how often to ask the chain source for a new tip (default 2000)
  --max-cltv-expiry <blocks>        most blocks a payment we send may lock its HTLC for (default 2016)
  --max-feerate <sat/vB>            the highest fee rate the node pays: chain estimates are clamped to it and
                                    API fee rates above it refused (default ${DEFAULT_MAX_FEERATE_SAT_VB}, at most ${MAX_FEERATE_LIMIT_SAT_VB})
  --max-dust-exposure <sat>         most sat of dust (trimmed) HTLCs a channel's commitments may carry at once;
                                    dust HTLCs past it are refused or failed back (default ${DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT / 1000n})
  --anchor-reserve <sat>            on-chain reserve kept per anchors channel (for at most 10) to fee-bump its
                                    commitment: sends and fundings below it are refused, and inbound anchors
                                    channels when the wallet cannot keep it (default ${ANCHOR_RESERVE_PER_CHANNEL_SAT}; 0 keeps none)
  --log-level <debug|info|warn|error>  (default info)
  --log-format <json|text>          json: one object a line (default); text: readable lines, the level in
                                    colour on a terminal
  --channel-backup <file>           where the encrypted static channel backup is kept, rewritten whenever a
                                    channel opens or closes (default <data-dir>/channel.backup); copy it off the machine
  --restore                         start a NEW data dir from your 24-word mnemonic (asked on the terminal, or
                                    read from stdin, --restore-mnemonic-file or LNNODE_MNEMONIC)
  --restore-mnemonic-file <file>    with --restore: the words from this file (keeps them off the command line)
  --restore-channel-backup <file>   with --restore: ask the peers of the channels in this backup to force close
                                    and sweep our side of each into the wallet
  --allow-unsafe-mainnet            run on mainnet although it is not yet safe for real funds (the node
                                    refuses mainnet without it and prints what is missing)
  --config <file>                   options from this file (default <data-dir>/lnnode.conf when it exists):
                                    one "name = value" a line, names as above without "--", # comments;
                                    an option given on the command line replaces the file's
  --version, --help

environment:
  LNNODE_BITCOIND_RPC_USER          --bitcoind-rpc-user when the option is not given (keeps it out of ps)
  LNNODE_BITCOIND_RPC_PASSWORD      --bitcoind-rpc-password when the option is not given
  LNNODE_SEED_PASSPHRASE            BIP39 passphrase of a new mnemonic, or of the one --restore reads
  LNNODE_MNEMONIC                   the words for --restore when no --restore-mnemonic-file is given
files in the data dir: rpc.token (the lnnode.v1 API's bearer token, created at first start), rpc.addr,
  tls.cert/tls.key, seed (from the mnemonic; mnemonic.txt once when stderr is no terminal), channel.backup, lnnode.sqlite; admin.macaroon under data/chain/bitcoin/<network>/`;

const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
/** 1 BTC: far above any default (lnd's is 500,000 sat). */
const MAX_DUST_EXPOSURE_SAT = 100_000_000;

/** Options that take a value (the config file uses the same names without the dashes). */
export const VALUE_OPTIONS: ReadonlySet<string> = new Set([
  '--network', '--data-dir', '--p2p-listen', '--esplora-url', '--bitcoind-rpc-url', '--bitcoind-rpc-user',
  '--bitcoind-rpc-password', '--bitcoind-rpc-cafile', '--connect', '--log-level', '--rpc-listen', '--rpc-tls-cert', '--rpc-tls-key',
  '--chain-poll-ms', '--lnd-rpc-listen', '--metrics-listen', '--max-cltv-expiry', '--max-feerate', '--log-format', '--max-dust-exposure',
  '--anchor-reserve',
  '--channel-backup', '--restore-mnemonic-file', '--restore-channel-backup',
]);
/** Options that take no value. */
export const SWITCH_OPTIONS: ReadonlySet<string> = new Set(['--allow-unsafe-mainnet', '--metrics-allow-remote', '--restore']);


export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${what}: expected host:port, got "${s}"`);
  return { host: (m[1] ?? m[2])!, port };
}

export function parsePeerTarget(s: string, what: string): PeerTarget {
  const at = s.indexOf('@');
  const nodeId = s.slice(0, at).toLowerCase();
  if (at < 0 || !/^0[23][0-9a-f]{64}$/.test(nodeId)) {
    throw new ConfigError(`${what}: expected <33-byte hex node id>@host:port, got "${s}"`);
  }
  return { nodeId, ...parseHostPort(s.slice(at + 1), what) };
}

/** Parses argv (without the runtime and script). Throws ConfigError. */
export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): DaemonConfig {
  const values = new Map<string, string[]>();
  const flags = new Set(['--help', '-h', '--version']);
  const switches = new Set<string>();
  const known = VALUE_OPTIONS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (flags.has(arg)) continue;
    if (SWITCH_OPTIONS.has(arg)) {
      switches.add(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) throw new ConfigError(`unknown option ${name} (lnnode --help lists the options)`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${name} needs a value`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string): string | undefined => {
    const v = values.get(name);
    if (v && v.length > 1) throw new ConfigError(`${name} given ${v.length} times`);
    return v?.[0];
  };

  const network = one('--network') ?? 'regtest';
  if (!isNetwork(network)) throw new ConfigError(`--network: expected one of ${NETWORKS.join(', ')}, got "${network}"`);
  const dataDir = one('--data-dir') ?? join(env.HOME ?? homedir(), '.lnnode', network);

  const listen = one('--p2p-listen') ?? '127.0.0.1:9735';
  const p2pListen = listen === 'off' ? undefined : parseHostPort(listen, '--p2p-listen');

  const givenEsplora = one('--esplora-url');
  const rpcUrl = one('--bitcoind-rpc-url');
  let chain: ChainConfig = { kind: 'none' };
  if (givenEsplora && givenEsplora !== 'off' && rpcUrl) throw new ConfigError('give either --esplora-url or --bitcoind-rpc-url, not both');
  const esplora = givenEsplora === 'off' ? undefined : (givenEsplora ?? (rpcUrl ? undefined : DEFAULT_ESPLORA_URLS[network]));
  if (esplora) {
    if (!/^https?:\/\//.test(esplora)) throw new ConfigError(`--esplora-url: expected an http(s) URL, got "${esplora}"`);
    const insecure = insecureUrlProblem(esplora);
    if (insecure) throw new ConfigError(`--esplora-url: ${insecure}`);
    chain = { kind: 'esplora', url: esplora };
  } else if (rpcUrl) {
    if (!/^https?:\/\//.test(rpcUrl)) throw new ConfigError(`--bitcoind-rpc-url: expected an http(s) URL, got "${rpcUrl}"`);
    const insecure = insecureUrlProblem(rpcUrl);
    if (insecure) throw new ConfigError(`--bitcoind-rpc-url: ${insecure}`);
    const user = one('--bitcoind-rpc-user') ?? env.LNNODE_BITCOIND_RPC_USER;
    const password = one('--bitcoind-rpc-password') ?? env.LNNODE_BITCOIND_RPC_PASSWORD;
    if (!user || !password) throw new ConfigError('--bitcoind-rpc-url needs --bitcoind-rpc-user and --bitcoind-rpc-password');
    chain = { kind: 'bitcoind-rpc', url: rpcUrl, user, password, caCertFile: one('--bitcoind-rpc-cafile') };
  }

  const rpc = one('--rpc-listen') ?? '127.0.0.1:10019';
  const rpcListen = rpc === 'off' ? undefined : parseHostPort(rpc, '--rpc-listen');
  const certPath = one('--rpc-tls-cert');
  const keyPath = one('--rpc-tls-key');
  if (!certPath !== !keyPath) throw new ConfigError('--rpc-tls-cert and --rpc-tls-key go together');
  const rpcTls = certPath && keyPath ? { certPath, keyPath } : undefined;
  const lndRpc = one('--lnd-rpc-listen') ?? 'off';
  const lndRpcListen = lndRpc === 'off' ? undefined : parseHostPort(lndRpc, '--lnd-rpc-listen');

  const metrics = one('--metrics-listen') ?? 'off';
  const metricsListen = metrics === 'off' ? undefined : parseHostPort(metrics, '--metrics-listen');
  if (metricsListen && !switches.has('--metrics-allow-remote') && !(metricsListen.host === '::1' || isLoopbackHost(metricsListen.host))) {
    throw new ConfigError(
      `--metrics-listen: ${metricsListen.host} is not a loopback address and /metrics has no credential; ` +
        'give 127.0.0.1:PORT (scrape through a tunnel or a proxy), or add --metrics-allow-remote to serve it there anyway',
    );
  }

  const poll = one('--chain-poll-ms');
  const tipPollMs = poll === undefined ? undefined : Number(poll);
  if (tipPollMs !== undefined && !(Number.isInteger(tipPollMs) && tipPollMs >= 50 && tipPollMs <= 600_000)) {
    throw new ConfigError(`--chain-poll-ms: expected milliseconds between 50 and 600000, got "${poll}"`);
  }

  const cltv = one('--max-cltv-expiry');
  const maxCltvExpiry = cltv === undefined ? undefined : Number(cltv);
  if (maxCltvExpiry !== undefined && !(Number.isInteger(maxCltvExpiry) && maxCltvExpiry >= 24 && maxCltvExpiry <= 20_160)) {
    throw new ConfigError(`--max-cltv-expiry: expected blocks between 24 and 20160, got "${cltv}"`);
  }

  const maxFee = one('--max-feerate');
  const maxFeerateSatPerVb = maxFee === undefined ? undefined : Number(maxFee);
  if (maxFeerateSatPerVb !== undefined && !(Number.isInteger(maxFeerateSatPerVb) && maxFeerateSatPerVb >= 1 && maxFeerateSatPerVb <= MAX_FEERATE_LIMIT_SAT_VB)) {
    throw new ConfigError(`--max-feerate: expected whole sat/vB between 1 and ${MAX_FEERATE_LIMIT_SAT_VB}, got "${maxFee}"`);
  }

  const logFormat = one('--log-format');
  if (logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(logFormat)) throw new ConfigError(`--log-format: expected one of ${LOG_FORMATS.join(', ')}, got "${logFormat}"`);
  const dust = one('--max-dust-exposure');
  const dustSat = dust === undefined ? undefined : Number(dust);
  if (dustSat !== undefined && !(Number.isSafeInteger(dustSat) && dustSat >= 0 && dustSat <= MAX_DUST_EXPOSURE_SAT)) {
    throw new ConfigError(`--max-dust-exposure: expected whole sat between 0 and ${MAX_DUST_EXPOSURE_SAT}, got "${dust}"`);
  }

  const reserve = one('--anchor-reserve');
  const reserveSat = reserve === undefined ? undefined : Number(reserve);
  if (reserveSat !== undefined && !(Number.isSafeInteger(reserveSat) && reserveSat >= 0 && reserveSat <= MAX_DUST_EXPOSURE_SAT)) {
    throw new ConfigError(`--anchor-reserve: expected whole sat between 0 and ${MAX_DUST_EXPOSURE_SAT}, got "${reserve}"`);
  }
  const channelLimits = {
    ...(dustSat === undefined ? {} : { maxDustHtlcExposureMsat: msat(BigInt(dustSat) * 1000n) }),
    ...(reserveSat === undefined ? {} : { anchorReservePerChannelSat: sat(reserveSat) }),
  };
  const restore = switches.has('--restore');
  const mnemonicFile = one('--restore-mnemonic-file');
  const restoreBackup = one('--restore-channel-backup');
  if (!restore && (mnemonicFile || restoreBackup)) throw new ConfigError(`${mnemonicFile ? '--restore-mnemonic-file' : '--restore-channel-backup'} goes with --restore (a new data dir restored from your mnemonic)`);
  if (restoreBackup && chain.kind === 'none') throw new ConfigError('--restore-channel-backup needs a chain source (--esplora-url or --bitcoind-rpc-url) to watch the channels and sweep them');
  const channelBackupPath = one('--channel-backup');

  const logLevel = one('--log-level') ?? 'info';
  if (!(LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level: expected one of ${LEVELS.join(', ')}`);

  return {
    network,
    dataDir,
    p2pListen,
    chain,
    connect: (values.get('--connect') ?? []).map((c) => parsePeerTarget(c, '--connect')),
    logLevel: logLevel as Level,
    rpcListen,
    rpcTls,
    lndRpcListen,
    ...(metricsListen ? { metricsListen } : {}),
    ...(tipPollMs === undefined ? {} : { tipPollMs }),
    ...(maxCltvExpiry === undefined ? {} : { maxCltvExpiry }),
    ...(maxFeerateSatPerVb === undefined ? {} : { maxFeerateSatPerVb }),
    ...(switches.has('--allow-unsafe-mainnet') ? { allowUnsafeMainnet: true } : {}),
    ...(logFormat ? { logFormat: logFormat as LogFormat } : {}),
    ...(Object.keys(channelLimits).length ? { channelLimits } : {}),
    ...(channelBackupPath ? { channelBackupPath } : {}),
    ...(restore ? { restore: { ...(mnemonicFile ? { mnemonicFile } : {}), ...(restoreBackup ? { channelBackupFile: restoreBackup } : {}) } } : {}),
  };
}
