/**
 * Channels in SQLite. Every write is one transaction, and callers write
 * before they send the messages a transition produced (DESIGN.md rule 1):
 * after a crash, what the peer may have seen is never ahead of what we read
 * back here.
 */
import { type Commitments, type RemoteCommit } from '../../bolt/bolt2/channel/commitments.ts';
import { type Store } from '../store.ts';
import { decodeRecord, encodeRecord } from './record.ts';

import { type ChannelPhase } from '../../bolt/bolt2/channel/state.ts';
export type { ChannelPhase } from '../../bolt/bolt2/channel/state.ts';

export interface StoredChannel<S = unknown> {
  channelId: Uint8Array;
  peer: Uint8Array;
  keyIndex: number;
  phase: ChannelPhase;
  state: S;
}

interface Row {
  channel_id: Uint8Array;
  peer: Uint8Array;
  key_index: number;
  phase: string;
  state: string;
}

export class ChannelStore {
  constructor(private readonly store: Store) {}

  /** The next unused channel key index (keys are derived per index from the node seed). */
  nextKeyIndex(): number {
    const row = this.store.db.query<{ m: number | null }, []>('SELECT max(key_index) AS m FROM channels').get();
    return (row?.m ?? -1) + 1;
  }

  /**
   * Stores a new channel. Never an upsert: a channel_id already present (any
   * peer, any phase, closed ones too) throws ChannelExistsError and nothing
   * is written, so no open can overwrite the commitments and revocation
   * secrets of another channel.
   */
  insert<S>(c: StoredChannel<S>): void {
    const now = Math.floor(Date.now() / 1000);
    const r = this.store.db
      .query('INSERT INTO channels (channel_id, peer, key_index, phase, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel_id) DO NOTHING')
      .run(c.channelId, c.peer, c.keyIndex, c.phase, encodeRecord(c.state), now, now);
    if (r.changes !== 1) throw new ChannelExistsError(c.channelId);
  }

  /** Writes the new phase and state of a stored channel of the same peer; throws if there is none. */
  update<S>(c: StoredChannel<S>): void {
    const r = this.store.db
      .query('UPDATE channels SET phase = ?, state = ?, updated_at = ? WHERE channel_id = ? AND peer = ? AND key_index = ?')
      .run(c.phase, encodeRecord(c.state), Math.floor(Date.now() / 1000), c.channelId, c.peer, c.keyIndex);
    if (r.changes !== 1) throw new Error(`no stored channel ${Buffer.from(c.channelId).toString('hex')} of this peer and key index to update`);
  }

  /** Whether a channel with this id was ever stored (in any phase). */
  has(channelId: Uint8Array): boolean {
    return this.store.db.query<{ one: number }, [Uint8Array]>('SELECT 1 AS one FROM channels WHERE channel_id = ?').get(channelId) !== null;
  }

  /** Saves the new state and the commitment it revoked, atomically. */
  saveWithRevoked<S>(c: StoredChannel<S>, revoked: RemoteCommit): void {
    this.store.db.transaction(() => {
      this.update(c);
      this.store.db
        .query('INSERT OR IGNORE INTO revoked_commitments (channel_id, commitment_number, txid, spec) VALUES (?, ?, ?, ?)')
        .run(c.channelId, Number(revoked.index), revoked.txid, encodeRecord(revoked.spec));
    })();
  }

  load<S = Commitments>(channelId: Uint8Array): StoredChannel<S> | undefined {
    const r = this.store.db
      .query<Row, [Uint8Array]>('SELECT channel_id, peer, key_index, phase, state FROM channels WHERE channel_id = ?')
      .get(channelId);
    return r ? fromRow<S>(r) : undefined;
  }

  all<S = Commitments>(): StoredChannel<S>[] {
    return this.store.db
      .query<Row, []>("SELECT channel_id, peer, key_index, phase, state FROM channels WHERE phase != 'closed' ORDER BY created_at")
      .all()
      .map((r) => fromRow<S>(r));
  }

  /** Channels closed and resolved, oldest first: what the node lists as closed (they are not loaded to run). */
  closed<S = Commitments>(): StoredChannel<S>[] {
    return this.store.db
      .query<Row, []>("SELECT channel_id, peer, key_index, phase, state FROM channels WHERE phase = 'closed' ORDER BY created_at")
      .all()
      .map((r) => fromRow<S>(r));
  }

  /** A revoked commitment of the peer by txid, if one is seen on chain. */
  revokedByTxid(txid: string): { channelId: Uint8Array; commitmentNumber: bigint; spec: unknown } | undefined {
    const r = this.store.db
      .query<{ channel_id: Uint8Array; commitment_number: number; spec: string }, [string]>(
        'SELECT channel_id, commitment_number, spec FROM revoked_commitments WHERE txid = ?',
      )
      .get(txid);
    return r ? { channelId: new Uint8Array(r.channel_id), commitmentNumber: BigInt(r.commitment_number), spec: decodeRecord(r.spec) } : undefined;
  }
}

/** A channel with this id is already stored. */
export class ChannelExistsError extends Error {
  override readonly name = 'ChannelExistsError';
  constructor(readonly channelId: Uint8Array) {
    super(`channel ${Buffer.from(channelId).toString('hex')} already exists`);
  }
}

function fromRow<S>(r: Row): StoredChannel<S> {
  return {
    channelId: new Uint8Array(r.channel_id),
    peer: new Uint8Array(r.peer),
    keyIndex: r.key_index,
    phase: r.phase as ChannelPhase,
    state: decodeRecord<S>(r.state),
  };
}
