/**
 * Schema migrations, applied in order. Never edit a released migration:
 * add a new one. Rows that hold encoded records carry a format version.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'peers',
    sql: `
      CREATE TABLE peers (
        node_id BLOB PRIMARY KEY CHECK (length(node_id) = 33),
        address TEXT NOT NULL,
        persistent INTEGER NOT NULL DEFAULT 1,
        added_at INTEGER NOT NULL,
        last_connected_at INTEGER
      );
      CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'channels',
    sql: `
      CREATE TABLE channels (
        channel_id BLOB PRIMARY KEY CHECK (length(channel_id) = 32),
        peer BLOB NOT NULL CHECK (length(peer) = 33),
        key_index INTEGER NOT NULL UNIQUE,
        phase TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX channels_peer ON channels (peer);
      -- What a justice transaction needs besides the shachain secret: one row per revoked commitment of the peer.
      CREATE TABLE revoked_commitments (
        channel_id BLOB NOT NULL REFERENCES channels (channel_id),
        commitment_number INTEGER NOT NULL,
        txid TEXT NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (channel_id, commitment_number)
      );
      CREATE INDEX revoked_commitments_txid ON revoked_commitments (txid);
    `,
  },
];
