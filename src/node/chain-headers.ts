/**
 * The verified header chain's storage (src/chain/header-chain.ts) in the
 * node's SQLite database, so a restart continues from headers already
 * checked instead of trusting the chain source's tip again.
 */
import { type HeaderStore, type StoredHeader } from '../chain/header-chain.ts';
import { type Store } from './store.ts';

interface Row {
  height: number;
  hash: string;
  header: Uint8Array;
}

const toStored = (r: Row | null): StoredHeader | undefined => (r ? { height: r.height, hash: r.hash, raw: new Uint8Array(r.header) } : undefined);

export class SqliteHeaderStore implements HeaderStore {
  constructor(private readonly store: Store) {}

  top(): StoredHeader | undefined {
    return toStored(this.store.db.query<Row, []>('SELECT height, hash, header FROM chain_headers ORDER BY height DESC LIMIT 1').get());
  }

  bottom(): StoredHeader | undefined {
    return toStored(this.store.db.query<Row, []>('SELECT height, hash, header FROM chain_headers ORDER BY height LIMIT 1').get());
  }

  at(height: number): StoredHeader | undefined {
    return toStored(this.store.db.query<Row, [number]>('SELECT height, hash, header FROM chain_headers WHERE height = ?').get(height));
  }

  heightOf(hash: string): number | undefined {
    return this.store.db.query<{ height: number }, [string]>('SELECT height FROM chain_headers WHERE hash = ?').get(hash)?.height;
  }

  put(headers: readonly StoredHeader[], above?: number): void {
    const db = this.store.db;
    db.transaction(() => {
      if (above !== undefined) db.query('DELETE FROM chain_headers WHERE height > ?').run(above);
      const ins = db.query('INSERT OR REPLACE INTO chain_headers (height, hash, header) VALUES (?, ?, ?)');
      for (const h of headers) ins.run(h.height, h.hash, h.raw);
    })();
  }
}
