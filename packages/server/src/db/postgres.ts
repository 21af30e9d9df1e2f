import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, Queryable, Session } from './index.ts';

// bigint columns (ids, counters) stay well below 2^53: read them as numbers
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** PostgreSQL through a `pg` pool of at most `max` connections (10 unless given). */
export async function openPostgres(url: string, opts: { max?: number } = {}): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
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
  return {
    kind: 'postgres',
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
    exec: async (sql) => {
      await pool.query(sql);
    },
    session: (name) => openSession(url, name),
    close: () => pool.end(),
  };
}

/** One connection outside the pool (`application_name` = `name`), with TCP keep-alive so a dead peer is noticed. */
async function openSession(url: string, name: string): Promise<Session> {
  const client = new pg.Client({ connectionString: url, application_name: name, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  const ended: ((err?: Error) => void)[] = [];
  let done = false;
  const end = (err?: Error) => {
    if (done) return;
    done = true;
    for (const fn of ended) fn(err);
  };
  client.on('error', (err) => end(err));
  client.on('end', () => end());
  await client.connect();
  return {
    async query(sql, params) {
      return (await client.query(sql, params as any[])).rows;
    },
    onNotification: (fn) => client.on('notification', (m) => fn(m.channel, m.payload ?? '')),
    onEnd: (fn) => void ended.push(fn),
    async close() {
      await client.end().catch(() => {});
      end();
    },
  };
}
