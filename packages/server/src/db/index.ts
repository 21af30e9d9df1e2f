/**
 * The store's connection: a `pg` pool on PostgreSQL, either the server named by DATABASE_URL or the
 * embedded one (`embedded.ts`: PostgreSQL 18 in `<data dir>/pgdata`, started and stopped with the server).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface Queryable {
  query<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  /** Run `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Run `fn` on a connection of its own, outside the pool (a session-level lock held across `fn`, while
   * `fn` itself uses the pool). The connection is closed afterwards.
   */
  session<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Run a multi-statement script. */
  exec(sql: string): Promise<void>;
  /**
   * A connection of its own, outside the pool, for session state that lasts as long as the process runs:
   * the worker's advisory lock, the state hub's LISTEN (`name` is its `application_name`, what
   * `pg_stat_activity` shows). TCP keep-alive notices a dead peer; `onLost` fires once when it breaks.
   */
  connection(name: string): Promise<DbSession>;
  /** Close the pool (and stop the embedded PostgreSQL, if this opened it). */
  close(): Promise<void>;
}

/** One connection held apart from the pool. */
export interface DbSession extends Queryable {
  /** called once if the connection breaks (not when `close` ends it) */
  onLost(fn: (err?: unknown) => void): void;
  /** NOTIFY messages on the channels this connection LISTENs to */
  onNotification(fn: (channel: string, payload: string) => void): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres://… uses that server; anything else (or nothing) the embedded PostgreSQL in `dataDir`. */
  databaseUrl?: string;
  /** most connections the pool opens (default 10; `OPENCVM_DB_POOL`) */
  poolMax?: number;
  /** the server's data directory: the embedded cluster lives in `<dataDir>/pgdata` */
  dataDir?: string;
  /** the embedded cluster's port on 127.0.0.1 (`OPENCVM_DB_PORT`; 0 or absent: a free one at each start) */
  embeddedPort?: number;
}

/** Whether `url` names a PostgreSQL server (postgres:// or postgresql://). */
export const isPostgresUrl = (url: string | undefined): url is string => /^postgres(ql)?:\/\//.test(url ?? '');

/** Open the database and apply the migrations not yet applied (under the startup lock). */
export async function openDatabase(opts: OpenOptions): Promise<Db> {
  const { openPostgres } = await import('./postgres.ts');
  let db: Db;
  if (isPostgresUrl(opts.databaseUrl)) {
    db = await openPostgres(opts.databaseUrl, { max: opts.poolMax });
  } else {
    if (!opts.dataDir) throw new Error('openDatabase: a data directory (or a postgres:// DATABASE_URL) is needed');
    const { startEmbeddedPostgres } = await import('./embedded.ts');
    const cluster = await startEmbeddedPostgres({
      dir: join(opts.dataDir, 'pgdata'),
      passwordFile: join(opts.dataDir, 'pgdata.password'),
      logFile: join(opts.dataDir, 'postgres.log'),
      port: opts.embeddedPort,
    });
    try {
      db = await openPostgres(cluster.url, { max: opts.poolMax, onClose: () => cluster.stop() });
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }
  try {
    await withStartupLock(db, () => migrate(db));
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  return db;
}

/** the key of the startup lock (`pg_advisory_lock`): any fixed bigint no other lock of ours uses */
const STARTUP_LOCK = 0x6f70656e63766d; // "opencvm"

/**
 * Run `fn` holding the database-wide startup lock: a session-level advisory lock on a connection of its
 * own, held until `fn` settles. Servers starting together on one database take turns: migrations, the
 * bootstrap workspace and key, the KMS and host registrations each run in one server at a time, and the
 * next one sees what the previous wrote. Not re-entrant: `fn` must not call it again.
 */
export function withStartupLock<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  return db.session(async (q) => {
    await q.query('SELECT pg_advisory_lock($1)', [STARTUP_LOCK]);
    try {
      return await fn();
    } finally {
      await q.query('SELECT pg_advisory_unlock($1)', [STARTUP_LOCK]);
    }
  });
}

const MIGRATIONS_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'migrations');

/** The checked-in migrations, in order: `NNN_name.sql`. */
export function migrations(): { version: number; name: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, sql: readFileSync(join(MIGRATIONS_DIR, f), 'utf8') }));
}

/**
 * Apply every migration not yet recorded, each in its own transaction. Safe to run on every start; servers
 * starting together run it under `withStartupLock` (`openDatabase` does), so one applies and the others find
 * them recorded.
 */
export async function migrate(db: Db): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
  for (const m of migrations()) {
    if (done.has(m.version)) continue;
    await db.tx(async (q) => {
      for (const stmt of splitSql(m.sql)) await q.query(stmt);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    });
  }
}

/**
 * Split a migration into statements on `;`, except inside a `$$`-quoted body (a function definition).
 * Our migrations use no `--` or `;` inside quotes.
 */
function splitSql(sql: string): string[] {
  const text = sql
    .split('\n')
    .map((l) => l.replace(/--.*$/, ''))
    .join('\n');
  const statements: string[] = [];
  let current = '';
  text.split('$$').forEach((part, i) => {
    if (i % 2 === 1) {
      current += `$$${part}$$`;
      return;
    }
    const pieces = part.split(';');
    current += pieces[0];
    for (const piece of pieces.slice(1)) {
      statements.push(current);
      current = piece;
    }
  });
  statements.push(current);
  return statements.map((s) => s.trim()).filter(Boolean);
}
