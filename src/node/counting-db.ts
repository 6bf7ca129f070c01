/**
 * A bun:sqlite Database that counts its durable commits: each write
 * statement run outside a transaction (SQLite commits it on its own) and
 * each outermost transaction() that returns. With WAL and synchronous=FULL
 * every such commit is one fsync of the WAL, so the count is what an
 * operator watches to see how hard the node leans on its disk (/metrics).
 * Reads and nested transactions (savepoints) do not count.
 */
import { Database, type SQLQueryBindings, type Statement } from 'bun:sqlite';

type Params<P> = P extends any[] ? P : [P];

/** A statement that changes the database (anything but a read or a pragma). */
const WRITE = /^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|WITH\b[\s\S]*\b(INSERT|UPDATE|DELETE))/i;
const COUNTED = Symbol('counted');

export class CountingDatabase extends Database {
  /** Durable commits since the database was opened. */
  commits = 0;
  /** Called right after each durable commit (fault-injection.ts, in tests). */
  onCommit: (() => void) | undefined;

  private committed(): void {
    this.commits++;
    this.onCommit?.();
  }

  override query<R, P extends SQLQueryBindings | SQLQueryBindings[]>(sql: string): Statement<R, Params<P>> {
    return this.counted(super.query<R, P>(sql), sql);
  }

  override prepare<R, P extends SQLQueryBindings | SQLQueryBindings[]>(sql: string, params?: P): Statement<R, Params<P>> {
    return this.counted(super.prepare<R, P>(sql, params), sql);
  }

  override run(sql: string, ...rest: unknown[]): ReturnType<Database['run']> {
    const outside = !this.inTransaction;
    const r = (super.run as (s: string, ...a: unknown[]) => ReturnType<Database['run']>)(sql, ...rest);
    if (outside && WRITE.test(sql)) this.committed();
    return r;
  }

  override exec(sql: string, ...rest: unknown[]): ReturnType<Database['exec']> {
    return this.run(sql, ...rest);
  }

  override transaction(fn: (...args: any[]) => any): any {
    const inner = super.transaction(fn);
    const db = this;
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const outermost = !db.inTransaction;
      const r = inner.apply(this, args);
      if (outermost) db.committed();
      return r;
    };
    return Object.assign(wrapped, { deferred: inner.deferred, immediate: inner.immediate, exclusive: inner.exclusive });
  }

  /** Wraps the statement's executing methods once (query() hands out cached statements). */
  private counted<S extends Statement<any, any>>(stmt: S, sql: string): S {
    const s = stmt as S & { [COUNTED]?: true };
    if (s[COUNTED] || !WRITE.test(sql)) return stmt;
    s[COUNTED] = true;
    for (const m of ['run', 'all', 'get', 'values'] as const) {
      const orig = (s[m] as (...a: unknown[]) => unknown).bind(s);
      (s as unknown as Record<string, unknown>)[m] = (...args: unknown[]): unknown => {
        const outside = !this.inTransaction;
        const r = orig(...args);
        if (outside) this.committed();
        return r;
      };
    }
    return stmt;
  }
}
