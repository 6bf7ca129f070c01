/**
 * An lnnode daemon process for the lab: `bun src/main.ts` with a data dir and
 * P2P and API ports picked at run time, its JSON log read back to learn the node id
 * and when it listens. Stopped by PID; restart() keeps the data dir.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lnnodeClient, type LnnodeClient } from '../../src/rpc/client.ts';
import { tokenPath } from '../../src/rpc/credentials.ts';
import { freePort, GiveUp, labTempDir, startProcess, waitFor, type LabProcess } from './processes.ts';

const MAIN = resolve(import.meta.dir, '../../src/main.ts');

export interface LnnodeProcess {
  proc: LabProcess;
  dataDir: string;
  p2pPort: number;
  rpcPort: number;
  nodeId: string;
  /** An lnnode.v1 client with the daemon's token (the same across restarts). */
  client(): LnnodeClient;
  /** Milliseconds from spawn to the "p2p listening" log line, as seen by the parent. */
  startMs: number;
  /** Log records (parsed JSON lines) so far. */
  logs(): Record<string, unknown>[];
  /** `kill`: SIGKILL instead of a graceful stop; `whileDown` runs between the exit and the new start. */
  restart(opts?: { kill?: boolean; whileDown?: () => Promise<void> | void }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Lab daemons keep no anchors reserve unless a test asks (`--anchor-reserve`
 * in `args`): most lab fundees have empty wallets and would refuse every
 * anchors channel (wallet/anchor-reserve.ts has its own tests).
 */
const NO_RESERVE = (args: readonly string[] | undefined): string[] => (args?.includes('--anchor-reserve') ? [] : ['--anchor-reserve', '0']);

/** `main`: another entry point than src/main.ts (a test daemon, e.g. victim-main.ts); `env`: extra environment. */
export async function startLnnode(opts: { args?: string[]; dataDir?: string; p2pPort?: number; rpcPort?: number; main?: string; env?: Record<string, string>; bunFlags?: string[] } = {}): Promise<LnnodeProcess> {
  const dataDir = opts.dataDir ?? labTempDir('lab-lnnode-');
  const p2pPort = opts.p2pPort ?? (await freePort());
  const rpcPort = opts.rpcPort ?? (await freePort());
  let generation = 0;
  const launch = async (): Promise<{ proc: LabProcess; startMs: number; nodeId: string }> => {
    const logFile = join(dataDir, `daemon-${Date.now()}-${generation++}.log`);
    const t0 = performance.now();
    const proc = startProcess({
      name: 'lnnode',
      cmd: process.execPath,
      args: [...(opts.bunFlags ?? []), opts.main ?? MAIN, '--network', 'regtest', '--data-dir', dataDir, '--p2p-listen', `127.0.0.1:${p2pPort}`, '--rpc-listen', `127.0.0.1:${rpcPort}`, ...NO_RESERVE(opts.args), ...(opts.args ?? [])],
      logFile,
      env: opts.env,
    });
    const read = (): Record<string, unknown>[] =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const nodeId = await waitFor(
      'lnnode to listen',
      async () => {
        if (exited) {
          // The log goes with the temp dir when the test ends: its last lines say why (a port taken, a lock held).
          const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-6).join('\n');
          throw new GiveUp(`lnnode exited early; its log ${logFile} ended with:\n${tail}`);
        }
        const recs = read();
        if (!recs.some((r) => r.msg === 'p2p listening') || !recs.some((r) => r.msg === 'rpc listening')) return undefined;
        return recs.find((r) => r.msg === 'starting')?.nodeId as string;
      },
      15_000,
    );
    return { proc, startMs: performance.now() - t0, nodeId };
  };
  let cur = await launch();
  const self: LnnodeProcess = {
    get proc() {
      return cur.proc;
    },
    dataDir,
    p2pPort,
    rpcPort,
    client: () => lnnodeClient({ host: '127.0.0.1', port: rpcPort, token: readFileSync(tokenPath(dataDir), 'utf8').trim() }),
    get nodeId() {
      return cur.nodeId;
    },
    get startMs() {
      return cur.startMs;
    },
    logs() {
      return readFileSync(cur.proc.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async restart(r = {}) {
      if (r.kill) {
        cur.proc.kill('SIGKILL');
        await cur.proc.exited;
      } else await cur.proc.stop();
      await r.whileDown?.();
      cur = await launch();
    },
    stop: () => cur.proc.stop(),
  };
  return self;
}
