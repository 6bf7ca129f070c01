/**
 * An lnd for the lab, on the lab's btcd, driven through its REST API (the
 * same RPCs as gRPC, JSON over HTTPS with the admin macaroon). All listeners
 * on 127.0.0.1 with ports picked at run time; stopped by PID.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labBinary } from './binaries.ts';
import { type Btcd } from './btcd.ts';
import { freePort, labTempDir, startProcess, waitFor, type LabProcess } from './processes.ts';

export interface LndInfo {
  identity_pubkey: string;
  synced_to_chain: boolean;
  block_height: number;
  num_peers: number;
}

export interface CustomMessage {
  peer: Uint8Array;
  type: number;
  data: Uint8Array;
}

export interface Lnd {
  proc: LabProcess;
  dir: string;
  p2pPort: number;
  rpcPort: number;
  restPort: number;
  nodeId: string;
  tlsCertPath: string;
  macaroonPath: string;
  rest<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
  restAll<T = unknown>(path: string, body: unknown): Promise<T[]>;
  /** Opens a REST stream; each JSON line's `result` is passed to `onItem`. */
  stream<T>(path: string, onItem: (item: T) => void): { close(): void; ready: Promise<void> };
  info(): Promise<LndInfo>;
  /** Waits until lnd counts at least `sat` confirmed in its wallet. */
  funded(sat: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

export async function startLnd(btcd: Btcd, opts: { dir?: string; alias?: string } = {}): Promise<Lnd> {
  const dir = opts.dir ?? labTempDir('lab-lnd-');
  const [p2pPort, rpcPort, restPort] = [await freePort(), await freePort(), await freePort()];
  const proc = startProcess({
    name: 'lnd',
    cmd: labBinary('lnd'),
    args: [
      `--lnddir=${dir}`,
      '--noseedbackup',
      '--nobootstrap',
      `--alias=${opts.alias ?? 'lab-lnd'}`,
      `--listen=127.0.0.1:${p2pPort}`,
      `--rpclisten=127.0.0.1:${rpcPort}`,
      `--restlisten=127.0.0.1:${restPort}`,
      '--bitcoin.regtest',
      '--bitcoin.node=btcd',
      `--btcd.rpchost=${btcd.rpcHost}`,
      `--btcd.rpcuser=${btcd.rpcUser}`,
      `--btcd.rpcpass=${btcd.rpcPass}`,
      `--btcd.rpccert=${btcd.rpcCertPath}`,
      '--bitcoin.defaultchanconfs=1',
      '--trickledelay=50',
      '--debuglevel=info',
    ],
    logFile: join(dir, 'lnd.out.log'),
  });
  const tlsCertPath = join(dir, 'tls.cert');
  const macaroonPath = join(dir, 'data', 'chain', 'bitcoin', 'regtest', 'admin.macaroon');
  const base = `https://127.0.0.1:${restPort}`;
  let ca = '';
  let macaroon = '';
  const headers = (): Record<string, string> => ({ 'Grpc-Metadata-macaroon': macaroon });
  const tls = (): { tls: { ca: string } } => ({ tls: { ca } });

  const rest = async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: headers(),
      body: body === undefined ? undefined : JSON.stringify(body),
      ...tls(),
    } as RequestInit);
    const text = await res.text();
    if (!res.ok) throw new Error(`lnd ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };

  /** A server-streaming call that ends by itself (e.g. SendPaymentV2): every item, in order. */
  const restAll = async <T>(path: string, body: unknown): Promise<T[]> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: headers(), body: JSON.stringify(body), ...tls() } as RequestInit);
    const text = await res.text();
    if (!res.ok) throw new Error(`lnd POST ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const o = JSON.parse(l) as { result?: T; error?: { message: string } };
        if (o.error) throw new Error(`lnd POST ${path}: ${o.error.message}`);
        return o.result as T;
      });
  };

  await waitFor(
    'lnd REST with admin macaroon',
    async () => {
      ca = readFileSync(tlsCertPath, 'utf8');
      macaroon = readFileSync(macaroonPath).toString('hex');
      return (await rest<LndInfo>('GET', '/v1/getinfo')).identity_pubkey ? true : undefined;
    },
    90_000,
  );
  const nodeId = (await rest<LndInfo>('GET', '/v1/getinfo')).identity_pubkey;

  return {
    proc,
    dir,
    p2pPort,
    rpcPort,
    restPort,
    nodeId,
    tlsCertPath,
    macaroonPath,
    rest,
    restAll,
    stream<T>(path: string, onItem: (item: T) => void) {
      const abort = new AbortController();
      let resolveReady: () => void = () => {};
      const ready = new Promise<void>((r) => (resolveReady = r));
      // lnd's REST gateway sends no headers until the first item, so "ready" also
      // fires after a grace period in which lnd has registered the subscription.
      setTimeout(() => resolveReady(), 1000);
      (async () => {
        const res = await fetch(`${base}${path}`, { headers: headers(), signal: abort.signal, ...tls() } as RequestInit);
        resolveReady();
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onItem((JSON.parse(line) as { result: T }).result);
          }
        }
      })().catch(() => {});
      return { close: () => abort.abort(), ready };
    },
    info: () => rest<LndInfo>('GET', '/v1/getinfo'),
    async funded(sat, timeoutMs = 60_000) {
      await waitFor('lnd wallet funded', async () => Number((await rest<{ confirmed_balance: string }>('GET', '/v1/balance/blockchain')).confirmed_balance) >= sat, timeoutMs);
    },
    stop: () => proc.stop(15_000),
  };
}

/** lnd's custom message RPCs (SendCustomMessage / SubscribeCustomMessages) over REST. */
export const lndCustom = {
  send: (lnd: Lnd, peer: Uint8Array, type: number, data: Uint8Array): Promise<unknown> =>
    lnd.rest('POST', '/v1/custommessage', { peer: b64(peer), type, data: b64(data) }),
  subscribe(lnd: Lnd, onMessage: (m: CustomMessage) => void): { close(): void; ready: Promise<void> } {
    return lnd.stream<{ peer: string; type: number; data: string }>('/v1/custommessage/subscribe', (r) =>
      onMessage({ peer: unb64(r.peer), type: r.type, data: unb64(r.data ?? '') }),
    );
  },
};

/**
 * What an lnd channel's opener loses from its balance to the commitment when no HTLC is
 * pending (msat): BOLT 3's fee for weight 724, or 1124 plus the two 330-sat anchors.
 * lnd's own commit_fee is the transaction's, the outputs' sub-satoshi remainders included.
 */
export function lndOpenerCommitCostMsat(c: { commitment_type: string; fee_per_kw: string }): bigint {
  const anchors = c.commitment_type === 'ANCHORS';
  return (((anchors ? 1124n : 724n) * BigInt(c.fee_per_kw)) / 1000n + (anchors ? 660n : 0n)) * 1000n;
}
