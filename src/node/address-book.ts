/**
 * Persistent peers: who to reconnect to after a disconnect or a restart.
 */
import { type Store } from './store.ts';

export interface PeerAddress {
  nodeId: Uint8Array;
  /** host:port */
  address: string;
  persistent: boolean;
  lastConnectedAt?: number;
}

interface Row {
  node_id: Uint8Array;
  address: string;
  persistent: number;
  last_connected_at: number | null;
}

export class AddressBook {
  constructor(private readonly store: Store) {}

  upsert(p: { nodeId: Uint8Array; address: string; persistent: boolean }): void {
    this.store.db
      .query(
        `INSERT INTO peers (node_id, address, persistent, added_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(node_id) DO UPDATE SET address = excluded.address, persistent = excluded.persistent`,
      )
      .run(p.nodeId, p.address, p.persistent ? 1 : 0, Math.floor(Date.now() / 1000));
  }

  markConnected(nodeId: Uint8Array, at: number): void {
    this.store.db.query('UPDATE peers SET last_connected_at = ? WHERE node_id = ?').run(at, nodeId);
  }

  remove(nodeId: Uint8Array): void {
    this.store.db.query('DELETE FROM peers WHERE node_id = ?').run(nodeId);
  }

  persistent(): PeerAddress[] {
    return this.store.db
      .query<Row, []>('SELECT node_id, address, persistent, last_connected_at FROM peers WHERE persistent = 1')
      .all()
      .map((r) => ({
        nodeId: new Uint8Array(r.node_id),
        address: r.address,
        persistent: r.persistent === 1,
        lastConnectedAt: r.last_connected_at ?? undefined,
      }));
  }
}
