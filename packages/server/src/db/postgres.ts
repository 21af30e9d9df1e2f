import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, Queryable } from './index.ts';

// bigint columns (ids, counters) stay well below 2^53: read them as numbers
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * PostgreSQL through a `pg` pool of at most `max` connections (10 unless given); `onClose` runs after the
 * pool is closed (the embedded cluster stops there).
 */
export async function openPostgres(url: string, opts: { max?: number; onClose?: () => Promise<void> } = {}): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // an idle connection the server ends (a restart of PostgreSQL) is dropped from the pool, not fatal
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  // every statement is a named prepared statement: after a few runs PostgreSQL reuses its plan,
  // which matters for the CVM read (an 8-table join that costs more to plan than to run)
  const names = new Map<string, string>();
  const nameOf = (sql: string) => {
    let name = names.get(sql);
    if (!name) {
      name = 'q' + createHash('sha1').update(sql).digest('hex').slice(0, 20);
      names.set(sql, name);
    }
    return name;
  };
  const wrap = (c: { query: pg.Pool['query'] }): Queryable => ({
    async query(sql, params) {
      return (await c.query({ name: nameOf(sql), text: sql, values: params as any[] })).rows;
    },
  });
  let closing: Promise<void> | undefined;
  return {
    ...wrap(pool),
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    async session(fn) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      try {
        return await fn(wrap(client));
      } finally {
        await client.end().catch(() => {});
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    async connection(name) {
      const client = new pg.Client({ connectionString: url, application_name: name, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
      const lost: ((err?: unknown) => void)[] = [];
      let ended = false;
      const fire = (err?: unknown) => {
        if (ended) return;
        ended = true;
        for (const fn of lost) fn(err);
      };
      client.on('error', (err) => fire(err));
      client.on('end', () => fire());
      await client.connect();
      return {
        ...wrap(client),
        onLost: (fn) => void lost.push(fn),
        onNotification: (fn) => void client.on('notification', (m) => fn(m.channel, m.payload ?? '')),
        async close() {
          ended = true;
          await client.end().catch(() => {});
        },
      };
    },
    close: () =>
      (closing ??= (async () => {
        try {
          await pool.end();
        } finally {
          await opts.onClose?.();
        }
      })()),
  };
}

/** PostgreSQL error codes that mean the server cannot be used now: a connection exception (class 08), a shutdown, too many connections. */
const UNAVAILABLE_CODES = /^(08...|57P0[123]|53300)$/;
/** Node's socket errors when the server is down or the network is cut. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);
/** What `pg` and its pool throw when the connection is gone or cannot be had. */
const UNAVAILABLE_MESSAGES = /Connection terminated|Cannot use a pool after calling end|timeout exceeded when trying to connect|Client has encountered a connection error/;

/** Whether `e` says the database cannot be reached (as opposed to a statement it refused): a 503, not a bug. */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.test(code) || SOCKET_CODES.has(code))) return true;
  return UNAVAILABLE_MESSAGES.test(e.message);
}
