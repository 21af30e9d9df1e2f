/**
 * The store's connection: PostgreSQL through `pg` when DATABASE_URL is a postgres:// URL, otherwise the
 * embedded PGlite (real Postgres compiled to wasm) persisted in a folder. Both run the same SQL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface Queryable {
  query<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Run `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Run a multi-statement script (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * PostgreSQL only: a connection of its own, outside the pool, for LISTEN (services/state-hub.ts). Its
   * `onEnd` fires once when the connection is lost or closed.
   */
  session?(name: string): Promise<Session>;
  /** PGlite only: the data dir as a gzipped tarball (test templates). */
  dumpDataDir?(): Promise<Blob>;
  close(): Promise<void>;
}

/** A dedicated connection: queries, the notifications it receives, its end. */
export interface Session extends Queryable {
  onNotification(fn: (channel: string, payload: string) => void): void;
  onEnd(fn: (err?: Error) => void): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres://… selects PostgreSQL; anything else (or nothing) selects PGlite. */
  databaseUrl?: string;
  /** PostgreSQL only: most connections the pool opens (default 10; `OPENCVM_DB_POOL`). */
  poolMax?: number;
  /** PGlite folder; omitted means in memory. */
  dataDir?: string;
  /** A PGlite data-dir dump to start from (tests use one to skip initdb). */
  loadDataDir?: Blob;
}

export async function openDatabase(opts: OpenOptions): Promise<Db> {
  const db = /^postgres(ql)?:\/\//.test(opts.databaseUrl ?? '')
    ? await (await import('./postgres.ts')).openPostgres(opts.databaseUrl!, { max: opts.poolMax })
    : await (await import('./pglite.ts')).openPglite(opts.dataDir, opts.loadDataDir);
  await migrate(db);
  return db;
}

const MIGRATIONS_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'migrations');

/** The checked-in migrations, in order: `NNN_name.sql`. */
export function migrations(): { version: number; name: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, sql: readFileSync(join(MIGRATIONS_DIR, f), 'utf8') }));
}

/** Apply every migration not yet recorded, each in its own transaction. Safe to run on every start. */
export async function migrate(db: Db): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
  for (const m of migrations()) {
    if (done.has(m.version)) continue;
    await db.tx(async (q) => {
      // lock so two servers starting together do not both apply the same migration
      await q.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      const again = await q.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (again.length) return;
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
