/**
 * The operator's HTTP endpoint (off by default, --metrics-listen): GET
 * /metrics in the Prometheus text format (src/node/metrics), GET /health
 * (200 while the node runs, 503 once it stops) and GET /ready (200 when the
 * chain source's tip is known and the source answered lately, and every
 * configured listener is up, else 503 naming what is not), both JSON. It
 * has no credential, so it shows only counts and sums, never an id, key or
 * payload, and serves loopback unless the operator allows otherwise
 * (config.ts). Requests are answered from
 * memory and one GROUP BY per table; bodies are never read.
 */
import { type DaemonConfig } from '../node/config.ts';
import { type Logger } from '../node/log.ts';
import { collectMetrics } from '../node/metrics/collect.ts';
import { CONTENT_TYPE, renderExposition } from '../node/metrics/exposition.ts';
import { type LightningNode } from '../node/node.ts';

/** How long the chain source may stay silent (at least; five polls when they are slower) before /ready says so. */
export const CHAIN_SILENCE_MIN_MS = 30_000;

export interface MetricsServer {
  port: number;
  stop(): void;
}

/** The APIs main.ts started, for /ready. */
export interface ListenersUp {
  rpc: boolean;
  lndRpc: boolean;
}

interface Check {
  ok: boolean;
  detail: string;
}

export function readiness(node: LightningNode, config: DaemonConfig, up: ListenersUp | undefined): { ready: boolean; checks: Record<string, Check> } {
  const checks: Record<string, Check> = {};
  if (config.chain.kind === 'none') checks.chain = { ok: true, detail: 'no chain source configured' };
  else if (!node.tip) checks.chain = { ok: false, detail: `waiting for the ${config.chain.kind} chain source` };
  else {
    // A source that stopped answering leaves the tip where it was: past a few polls, the node is not following the chain.
    const silent = node.chainSilentMs ?? 0;
    const limit = Math.max(CHAIN_SILENCE_MIN_MS, 5 * (config.tipPollMs ?? 2_000));
    checks.chain =
      silent > limit
        ? { ok: false, detail: `the ${config.chain.kind} chain source has not answered for ${Math.round(silent / 1000)} s (tip height ${node.tip.height})` }
        : { ok: true, detail: `synced to height ${node.tip.height}` };
  }
  if (config.p2pListen) checks.p2p = node.p2pPort !== undefined && !node.isStopped ? { ok: true, detail: `listening on port ${node.p2pPort}` } : { ok: false, detail: 'not listening' };
  if (config.rpcListen) checks.rpc = up?.rpc ? { ok: true, detail: 'listening' } : { ok: false, detail: 'not listening yet' };
  if (config.lndRpcListen) checks.lndRpc = up?.lndRpc ? { ok: true, detail: 'listening' } : { ok: false, detail: 'not listening yet' };
  if (node.isStopped) checks.node = { ok: false, detail: 'stopping' };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

export function startMetricsServer(o: {
  node: LightningNode;
  config: DaemonConfig;
  host: string;
  port: number;
  log: Logger;
  /** Which APIs are up; undefined while main.ts is still starting them. */
  listeners: () => ListenersUp | undefined;
}): MetricsServer {
  const { node, config } = o;
  const server = Bun.serve({
    hostname: o.host,
    port: o.port,
    // A scrape is answered at once; a client holding a connection open gets nothing more.
    idleTimeout: 10,
    maxRequestBodySize: 1024,
    fetch(req) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return new Response('only GET\n', { status: 405, headers: { allow: 'GET, HEAD' } });
      const path = new URL(req.url).pathname;
      switch (path) {
        case '/metrics':
          try {
            return new Response(renderExposition(collectMetrics(node)), { headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' } });
          } catch (e) {
            // The store is closed once the node stops: the scrape fails, the process does not.
            return new Response(`cannot collect metrics: ${(e as Error).message}\n`, { status: 503 });
          }
        case '/health':
          return node.isStopped ? json(503, { status: 'stopping' }) : json(200, { status: 'ok', uptimeSeconds: Math.floor(performance.now() / 1000) });
        case '/ready': {
          const r = readiness(node, config, o.listeners());
          return json(r.ready ? 200 : 503, r);
        }
        default:
          return new Response('not found: /metrics, /health and /ready are served\n', { status: 404 });
      }
    },
  });
  o.log.info('metrics listening', { host: o.host, port: server.port });
  return { port: server.port!, stop: () => void server.stop(true) };
}
