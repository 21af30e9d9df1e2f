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
