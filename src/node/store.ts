/**
 * The node's SQLite database (bun:sqlite): WAL with synchronous=FULL, so a
 * committed write survives power loss (NORMAL may lose the last commit, which
 * for channel state would break DESIGN.md rule 1), and numbered migrations
 * applied in order at open, each in its own transaction.
 */
import { type Database } from 'bun:sqlite';
import { CountingDatabase } from './counting-db.ts';
import { commitFaultHook } from './fault-injection.ts';
import { MIGRATIONS } from './migrations.ts';

export class Store {
  readonly db: Database;

  private constructor(
    db: Database,
    private readonly counting: CountingDatabase,
  ) {
    this.db = db;
  }

  /** Durable commits (one WAL fsync each) since the store was opened: counting-db.ts. */
  get commits(): number {
    return this.counting.commits;
  }

  /** Called right after each durable commit instead of the environment's fault hook (in-process crash tests). */
  set onCommit(f: (() => void) | undefined) {
    this.counting.onCommit = f;
  }

  static open(path: string): Store {
    const db = new CountingDatabase(path, { create: true, strict: true });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('PRAGMA busy_timeout = 5000');
    const store = new Store(db, db);
    store.migrate();
    // Armed only by the crash tests' environment variables; after the migrations, which every start repeats.
    db.onCommit = commitFaultHook();
    return store;
  }

  get schemaVersion(): number {
    const row = this.db.query<{ v: number | null }, []>('SELECT max(version) AS v FROM schema_migrations').get();
    return row?.v ?? 0;
  }

  private migrate(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const current = this.schemaVersion;
    const latest = MIGRATIONS.length;
    if (current > latest) {
      throw new Error(`database schema version ${current} is newer than this lnnode understands (${latest}); refusing to open`);
    }
    for (const m of MIGRATIONS.slice(current)) {
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db
          .query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, Math.floor(Date.now() / 1000));
      })();
    }
  }

  close(): void {
    this.db.close();
  }
}
