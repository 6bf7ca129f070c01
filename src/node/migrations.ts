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
];
