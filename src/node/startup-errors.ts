/**
 * What the daemon says when it cannot or should not start: each message
 * names what was wrong and the option to change, so a person starting a
 * second node, or a node on mainnet, knows what to type next.
 */
import { type DaemonConfig } from './config.ts';

/** The explicit opt-in a mainnet node needs while the list below is not empty. */
export const MAINNET_OPT_IN = '--allow-unsafe-mainnet';

/**
 * What is not yet safe with real funds. The README's "Mainnet" section
 * lists the same items (a test keeps them equal); remove an item from both
 * when it is done.
 */
export const MAINNET_NOT_YET_SAFE: readonly string[] = [
  'Channel funds come back after a loss only through the peers: a restore from the mnemonic and channel.backup asks each peer to force close, so HTLCs pending at the loss are lost, and a peer that is gone keeps the funds locked.',
  'Defences against hostile peers are checked rule by rule (the BOLT 2/5 receiver-rule table) and against the attacks in Limits, not yet by real attackers.',
  'One chain source is trusted not to withhold: it could hide a revoked commitment until its delay passes (no second source, no watchtower).',
  'The code has had no outside security review.',
];

export function mainnetWarning(): string {
  return [
    'lnnode: WARNING: mainnet is not yet safe for real funds:',
    ...MAINNET_NOT_YET_SAFE.map((s) => `  - ${s}`),
  ].join('\n');
}

/** Why this configuration must not start at all (exit 2), or undefined. */
export function startupRefusal(config: DaemonConfig): string | undefined {
  if (config.network === 'mainnet' && !config.allowUnsafeMainnet) {
    return `${mainnetWarning()}\nlnnode: refusing to start on mainnet without ${MAINNET_OPT_IN} (use regtest, testnet or signet to try it)`;
  }
  if (!config.p2pListen && !config.rpcListen && !config.lndRpcListen && config.chain.kind === 'none') {
    return (
      'lnnode: nothing to run: with --p2p-listen off, --rpc-listen off and no chain source, no peer or client can reach the node ' +
      'and it follows no chain; give --rpc-listen HOST:PORT (to control it), --p2p-listen HOST:PORT (for peers) ' +
      'or --esplora-url URL / --bitcoind-rpc-url URL (for a wallet and channels)'
    );
  }
  return undefined;
}

/** Which listeners were starting: the P2P one, the APIs, or the metrics endpoint. */
type ListenPhase = 'p2p' | 'api' | 'metrics';

interface ListenError {
  code?: string;
  port?: number;
  address?: string;
}

/** Which option set the listener that failed: the one whose port (and host) the error names. */
function listenerOption(e: ListenError, config: DaemonConfig, phase: ListenPhase): { flag: string; where: string } | undefined {
  const candidates: [string, { host: string; port: number } | undefined][] =
    phase === 'p2p'
      ? [['--p2p-listen', config.p2pListen]]
      : phase === 'metrics'
        ? [['--metrics-listen', config.metricsListen]]
        : [['--rpc-listen', config.rpcListen], ['--lnd-rpc-listen', config.lndRpcListen]];
  const set = candidates.filter((c): c is [string, { host: string; port: number }] => c[1] !== undefined);
  const hit = set.find(([, l]) => l.port === e.port && (e.address === undefined || e.address === l.host)) ?? set.find(([, l]) => l.port === e.port) ?? set[0];
  if (!hit) return undefined;
  const [flag, l] = hit;
  return { flag, where: `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}` };
}

/**
 * A failed listen (the P2P port while the node starts, an API port after)
 * as a sentence naming the address and the option to change; undefined for
 * other errors.
 */
export function listenProblem(err: unknown, config: DaemonConfig, phase: ListenPhase): string | undefined {
  const e = (err ?? {}) as ListenError;
  if (!['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES'].includes(e.code ?? '')) return undefined;
  const o = listenerOption(e, config, phase);
  if (!o) return undefined;
  const what = o.flag === '--p2p-listen' ? 'peers' : o.flag === '--rpc-listen' ? 'the lnnode.v1 API' : o.flag === '--metrics-listen' ? 'metrics' : 'the lnd-compatible API';
  const off = o.flag === '--lnd-rpc-listen' || o.flag === '--metrics-listen' ? '' : ` (or ${o.flag} off)`;
  switch (e.code) {
    case 'EADDRINUSE':
      return `cannot listen for ${what} on ${o.where}: the port is in use (another lnnode, lnd or earlier run?); pick a free one with ${o.flag} HOST:PORT${off}`;
    case 'EADDRNOTAVAIL':
      return `cannot listen for ${what} on ${o.where}: that address is not on this machine; give one of its addresses with ${o.flag} HOST:PORT${off}`;
    default:
      return `cannot listen for ${what} on ${o.where}: not permitted (ports below 1024 need privileges); pick another with ${o.flag} HOST:PORT${off}`;
  }
}
