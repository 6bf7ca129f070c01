/**
 * The lnnode under attack: a real daemon process (`bun src/main.ts`, see
 * lnnode.ts) on the lab's Esplora, driven through its lnnode.v1 API as an
 * operator would, and inspected through its SQLite file opened read-only
 * from the test process (WAL: a reader sees each committed transaction), so
 * a test can say what the node stored, in which phase, with which balances.
 */
import { Database } from 'bun:sqlite';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { type Commitments } from '../../src/bolt/bolt2/channel/commitments.ts';
import { decodeRecord } from '../../src/node/channels/record.ts';
import { type ChannelLimits } from '../../src/node/channels/limits.ts';
import { type ChannelPhase } from '../../src/node/channels/store.ts';
import { type LnnodeClient } from '../../src/rpc/client.ts';
import { type ChannelLab } from './channel-lab.ts';
import { type Target } from './hostile-peer.ts';
import { startLnnode, type LnnodeProcess } from './lnnode.ts';
import { waitFor } from './processes.ts';

/** What the node stores per channel, as far as the tests read it. */
export interface StoredRecord {
  commitments: Commitments;
  closeReason?: string;
  dataLoss?: boolean;
  shutdown?: { sent: boolean; remoteScript?: Uint8Array };
  close?: { kind: string; txid: string; spends: Record<string, { txid: string }> };
  readySent: boolean;
  theirReady: boolean;
}

export interface StoredChannelView {
  channelId: string;
  peer: string;
  phase: ChannelPhase;
  rec: StoredRecord;
}

/** Balances of one channel as the node's own latest commitment has them. */
export interface ChannelBalances {
  localMsat: bigint;
  remoteMsat: bigint;
  htlcs: number;
  index: bigint;
}

export class Victim {
  private db: Database | undefined;

  private constructor(
    readonly proc: LnnodeProcess,
    readonly api: LnnodeClient,
  ) {}

  /** `limits`: channel limits (channels/limits.ts) lowered for the test, through test/lab/victim-main.ts. */
  static async start(lab: ChannelLab, o: { args?: string[]; limits?: Partial<ChannelLimits> } = {}): Promise<Victim> {
    const proc = await startLnnode({
      args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200', '--log-level', 'info', ...(o.args ?? [])],
      ...(o.limits ? { main: resolve(import.meta.dir, 'victim-main.ts'), env: { LNNODE_TEST_CHANNEL_LIMITS: JSON.stringify(o.limits) } } : {}),
    });
    const v = new Victim(proc, proc.client());
    await waitFor('the node synced to the chain', async () => (await v.api.getNodeInfo({})).syncedToChain);
    return v;
  }

  get nodeId(): Uint8Array {
    return fromHex(this.proc.nodeId);
  }

  target(): Target {
    return { nodeId: this.nodeId, host: '127.0.0.1', port: this.proc.p2pPort };
  }

  private sql(): Database {
    this.db ??= new Database(join(this.proc.dataDir, 'lnnode.sqlite'), { readonly: true });
    return this.db;
  }

  /** Every channel row, in any phase. */
  channels(): StoredChannelView[] {
    return this.sql()
      .query<{ channel_id: Uint8Array; peer: Uint8Array; phase: string; state: string }, []>('SELECT channel_id, peer, phase, state FROM channels ORDER BY created_at')
      .all()
      .map((r) => ({ channelId: hex(new Uint8Array(r.channel_id)), peer: hex(new Uint8Array(r.peer)), phase: r.phase as ChannelPhase, rec: decodeRecord<StoredRecord>(r.state) }));
  }

  channel(id: string): StoredChannelView | undefined {
    return this.channels().find((c) => c.channelId === id);
  }

  /** How many channel rows exist (any phase): a refused open must not add one. */
  channelCount(): number {
    return this.sql().query<{ n: number }, []>('SELECT count(*) AS n FROM channels').get()!.n;
  }

  /** Rows of revoked commitments kept for a channel (what a justice transaction needs). */
  revokedCount(id: string): number {
    return this.sql().query<{ n: number }, [Uint8Array]>('SELECT count(*) AS n FROM revoked_commitments WHERE channel_id = ?').get(fromHex(id))!.n;
  }

  balances(id: string): ChannelBalances {
    const c = this.channel(id);
    if (!c) throw new Error(`the node has no channel ${id}`);
    const lc = c.rec.commitments.localCommit;
    return { localMsat: lc.spec.toLocalMsat, remoteMsat: lc.spec.toRemoteMsat, htlcs: lc.spec.htlcs.length, index: lc.index };
  }

  phase(id: string): ChannelPhase | undefined {
    return this.channel(id)?.phase;
  }

  async wallet(): Promise<{ confirmed: bigint; unconfirmed: bigint; reserved: bigint }> {
    const b = await this.api.walletBalance({});
    return { confirmed: b.confirmedSat, unconfirmed: b.unconfirmedSat, reserved: b.reservedSat };
  }

  async height(): Promise<number> {
    return (await this.api.getNodeInfo({})).blockHeight;
  }

  /** Waits until the node has processed the chain up to `height`. */
  async synced(height: number): Promise<void> {
    await waitFor(`the node at height ${height}`, async () => (await this.height()) >= height);
  }

  /** The daemon's log lines (JSON records) that match `pred`. */
  logs(pred: (r: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    return this.proc.logs().filter(pred);
  }

  /**
   * Stops and starts the daemon on the same data dir; `whileDown` runs in
   * between (e.g. to put back an older copy of it). Returns once the node
   * has synced and its wallet reads what it read before the stop (the
   * wallet reads 0 until its first sync): nothing of the wallet may move on
   * chain meanwhile.
   */
  async restart(whileDown?: () => void | Promise<void>): Promise<void> {
    const wallet = (await this.wallet()).confirmed;
    this.db?.close();
    this.db = undefined;
    await this.proc.restart({ whileDown });
    await waitFor('the node synced to the chain', async () => (await this.api.getNodeInfo({})).syncedToChain);
    await waitFor('the wallet synced again', async () => (await this.wallet()).confirmed === wallet);
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
    await this.proc.stop();
    rmSync(this.proc.dataDir, { recursive: true, force: true });
  }
}
