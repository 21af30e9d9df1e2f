import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable } from './index.ts';

/** Embedded PostgreSQL (PGlite): one connection, so transactions are serialised by PGlite itself. */
export async function openPglite(dataDir?: string, loadDataDir?: Blob): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pg = new PGlite({
    dataDir,
    loadDataDir,
    parsers: { [types.INT8]: (v: string) => Number(v) },
  });
  await pg.waitReady;
  // PGlite plans every statement afresh and has no statistics (no autovacuum): keep the planner to
  // the join order the SQL is written in (the CVM read starts from the indexed CVM row), which costs
  // far less to plan than searching all orders of an 8-table join
  await pg.exec('SET join_collapse_limit = 1; SET from_collapse_limit = 1');
  const wrap = (q: { query: PGlite['query'] }): Queryable => ({
    async query(sql, params) {
      return (await q.query(sql, params as any[])).rows as any[];
    },
  });
  return {
    kind: 'pglite',
    ...wrap(pg),
    tx: (fn) => pg.transaction((t) => fn(wrap(t))),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    dumpDataDir: async () => (await pg.dumpDataDir('gzip')) as Blob,
    close: () => pg.close(),
  };
}
