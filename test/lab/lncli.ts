/**
 * lncli (built by test/lab/build/lnd.sh at the pinned lnd version) pointed at
 * an lnnode's lnd-compatible API with lnd's own flags: --lnddir finds
 * tls.cert and data/chain/bitcoin/regtest/admin.macaroon in the data dir.
 */
import { join } from 'node:path';
import { labBinary } from './binaries.ts';
import { startProcess, type LabProcess } from './processes.ts';

export interface LncliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Lncli {
  readonly path = labBinary('lnd', 'lncli');

  constructor(
    readonly port: number,
    readonly lnddir: string,
    private readonly extra: string[] = [],
  ) {}

  private args(cmd: string[]): string[] {
    return ['--rpcserver', `127.0.0.1:${this.port}`, '--lnddir', this.lnddir, '--network', 'regtest', ...this.extra, ...cmd];
  }

  /** Runs one command to its end (at most `timeoutMs`). */
  async run(cmd: string[], timeoutMs = 60_000): Promise<LncliResult> {
    const p = Bun.spawn([this.path, ...this.args(cmd)], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** Runs a command that must succeed and print JSON; returns it parsed. */
  async json<T = Record<string, unknown>>(cmd: string[], timeoutMs?: number): Promise<T> {
    const r = await this.run(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`lncli ${cmd.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`lncli ${cmd.join(' ')} printed no JSON: ${r.stdout}`);
    }
  }

  /** A long-running command (a subscription); its output goes to a file in `dir`. */
  spawn(cmd: string[], dir: string): LabProcess {
    return startProcess({ name: `lncli ${cmd[0]}`, cmd: this.path, args: this.args(cmd), logFile: join(dir, `lncli-${cmd[0]}-${Date.now()}.log`) });
  }
}
