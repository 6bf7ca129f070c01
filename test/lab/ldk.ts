/**
 * An LDK peer for the lab: the ldk-peer program (test/lab/ldk-peer/, on the
 * ldk-node crate) on the lab's Esplora API, driven through its HTTP control
 * API. P2P and control listen on 127.0.0.1 with ports picked at run time;
 * stopped by PID; restart() keeps the data dir and so the node id.
 */
import { join } from 'node:path';
import { labBinary } from './binaries.ts';
import { freePort, labTempDir, startProcess, waitFor, type LabProcess } from './processes.ts';

/** A payment as the ldk-peer control API lists it (GET /payments). */
export interface LdkPayment {
  payment_hash?: string;
  preimage?: string;
  /** "Pending" | "Succeeded" | "Failed"; an unpaid invoice of LDK's is an inbound "Pending" one. */
  status: string;
  amount_msat?: number;
  /** "Inbound" | "Outbound" */
  direction: string;
}

export interface Ldk {
  readonly proc: LabProcess;
  dir: string;
  p2pPort: number;
  controlPort: number;
  nodeId: string;
  /** Milliseconds from spawn until the control API answered. */
  readonly startMs: number;
  api<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  /** Syncs LDK's wallet until it counts at least `sat` spendable (LDK also refuses anchor channels without an on-chain reserve). */
  funded(sat: number, timeoutMs?: number): Promise<void>;
  restart(opts?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startLdk(esploraUrl: string, opts: { dir?: string } = {}): Promise<Ldk> {
  const bin = labBinary('ldk-peer');
  const dir = opts.dir ?? labTempDir('lab-ldk-');
  const [p2pPort, controlPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${controlPort}`;
  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`ldk-peer ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };
  let generation = 0;
  const launch = async (): Promise<{ proc: LabProcess; startMs: number; nodeId: string }> => {
    const t0 = performance.now();
    const proc = startProcess({
      name: 'ldk-peer',
      cmd: bin,
      args: ['--data-dir', dir, '--network', 'regtest', '--listen', `127.0.0.1:${p2pPort}`, '--control', `127.0.0.1:${controlPort}`, '--esplora', esploraUrl],
      logFile: join(dir, `ldk-peer-${generation++}.log`),
    });
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const nodeId = await waitFor(
      'ldk-peer control API',
      async () => {
        if (exited) throw new Error(`ldk-peer exited early; see ${proc.logFile}`);
        return (await api<{ node_id: string }>('GET', '/node_id')).node_id;
      },
      60_000,
    );
    return { proc, startMs: performance.now() - t0, nodeId };
  };
  let cur = await launch();
  const stop = async (): Promise<void> => {
    // Ask politely (ldk-node persists on stop), then make sure by PID.
    await api('POST', '/stop').catch(() => {});
    const timer = setTimeout(() => cur.proc.kill('SIGKILL'), 10_000);
    await cur.proc.exited;
    clearTimeout(timer);
  };
  return {
    get proc() {
      return cur.proc;
    },
    dir,
    p2pPort,
    controlPort,
    nodeId: cur.nodeId,
    get startMs() {
      return cur.startMs;
    },
    api,
    async funded(sat, timeoutMs = 90_000) {
      await waitFor('LDK wallet funded', async () => {
        await api('POST', '/sync');
        return (await api<{ spendable_onchain_sat: number }>('GET', '/balances')).spendable_onchain_sat >= sat;
      }, timeoutMs);
    },
    async restart(r = {}) {
      if (r.kill) {
        cur.proc.kill('SIGKILL');
        await cur.proc.exited;
      } else await stop();
      cur = await launch();
    },
    stop,
  };
}
