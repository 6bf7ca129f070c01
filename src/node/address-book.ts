/**
 * Where peers can be dialled: persistent ones (reconnected to after a
 * disconnect or a restart), and every peer we dialled ourselves, so a peer
 * we later have a channel with can be redialled after a restart.
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

  /** Stores where a peer we dialled listens, leaving whether it is persistent as it was (new rows are not). */
  remember(nodeId: Uint8Array, address: string): void {
    this.store.db
      .query(
        `INSERT INTO peers (node_id, address, persistent, added_at) VALUES (?, ?, 0, ?)
         ON CONFLICT(node_id) DO UPDATE SET address = excluded.address`,
      )
      .run(nodeId, address, Math.floor(Date.now() / 1000));
  }

  /** host:port of a peer, if we know where it listens. */
  addressOf(nodeId: Uint8Array): string | undefined {
    return this.store.db.query<{ address: string }, [Uint8Array]>('SELECT address FROM peers WHERE node_id = ?').get(nodeId)?.address;
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
