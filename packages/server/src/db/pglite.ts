import { mkdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable } from './index.ts';

/**
 * Postgres settings on top of PGlite's own (`PGlite.defaultStartParams`). PGlite runs Postgres in a wasm
 * heap that never shrinks, so what Postgres allocates at start, and the most any request ever touches,
 * stays in the process's RSS for good:
 * - shared_buffers: 128MB by default, all of it touched at start. 8MB holds the pages a list read needs
 *   (the workspace index, the page's rows); the table files stay in the OS page cache, outside the process.
 * - max_connections: PGlite has one session; the default 100 sizes per-connection shared state for 100.
 * - default_statistics_target: 10 instead of 100, so ANALYZE (db maintenance below) samples and keeps less;
 *   the planner needs no more for these indexed lookups.
 */
const SETTINGS: Record<string, string> = {
  shared_buffers: '8MB',
  max_connections: '4',
  default_statistics_target: '10',
};

/**
 * V8 compiles wasm lazily with its baseline compiler (Liftoff), then recompiles the functions that run hot
 * with its optimising one (TurboFan). For PGlite's 9 MB module that tier-up costs 60-90 MB of RSS that is
 * never given back, for SQL that runs some 25 % faster. Baseline only (Liftoff still falls back to TurboFan
 * for a function it cannot compile). The flags apply to wasm compiled after this, in this process; PGlite
 * compiles its module when an instance starts.
 */
const WASM_FLAGS = '--no-wasm-tier-up --no-wasm-dynamic-tiering';

/** how often the tables are checked for the vacuum and analyze autovacuum would run (PGlite has none) */
const MAINTENANCE_MS = 60_000;

/**
 * The tables to vacuum and analyze now, by autovacuum's default thresholds (dead rows > 50 + 20 %, rows
 * inserted since the last vacuum > 1000 + 20 %, rows changed since the last analyze > 50 + 10 %), and,
 * since the counters do not survive every restart, any table of at least 1 MB that grew by more than 20 %
 * since it was last vacuumed or analyzed (`relpages` is what that recorded; 0 if never).
 */
const DUE = `
SELECT c.oid::regclass::text AS name,
       (s.n_dead_tup > 50 + 0.2 * t.n OR s.n_ins_since_vacuum > 1000 + 0.2 * t.n OR grown) AS vacuum,
       (s.n_mod_since_analyze > 50 + 0.1 * t.n OR grown) AS analyze
  FROM pg_class c
  JOIN pg_stat_user_tables s ON s.relid = c.oid
  CROSS JOIN LATERAL (SELECT greatest(c.reltuples, 0) AS n, pg_relation_size(c.oid) / 8192 AS pages) t
  CROSS JOIN LATERAL (SELECT t.pages >= 128 AND t.pages > 1.2 * c.relpages AS grown) g
 WHERE c.relkind = 'r'`;

/**
 * PGlite has no autovacuum: without it the visibility map is never set, so an index-only scan (a list
 * page's ids) reads every row it skips from the heap, trigger-kept counters pile up dead versions, and the
 * planner has no statistics. This does what autovacuum would: at start (before the server answers) and
 * every minute, VACUUM (ANALYZE) the tables that are due. VACUUM skips the pages the visibility map marks
 * all-visible, so a run after a few changes is short; it takes PGlite's one connection while it runs.
 */
function maintenance(pg: PGlite) {
  let running: Promise<void> = Promise.resolve();
  const run = async () => {
    const due = (await pg.query<{ name: string; vacuum: boolean; analyze: boolean }>(DUE)).rows;
    const vacuum = due.filter((t) => t.vacuum).map((t) => t.name);
    const analyze = due.filter((t) => t.analyze && !t.vacuum).map((t) => t.name);
    // one statement each (VACUUM cannot run in the implicit transaction of a multi-statement exec)
    if (vacuum.length) await pg.exec(`VACUUM (ANALYZE) ${vacuum.join(', ')}`);
    if (analyze.length) await pg.exec(`ANALYZE ${analyze.join(', ')}`);
  };
  const tick = () => {
    // a failed run is retried at the next tick
    running = running.then(run).catch(() => {});
    return running;
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    start: async () => {
      await run();
      timer = setInterval(tick, MAINTENANCE_MS);
      timer.unref();
    },
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** Embedded PostgreSQL (PGlite): one connection, so transactions are serialised by PGlite itself. */
export async function openPglite(dataDir?: string, loadDataDir?: Blob): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  setFlagsFromString(WASM_FLAGS);
  const pg = new PGlite({
    dataDir,
    loadDataDir,
    parsers: { [types.INT8]: (v: string) => Number(v) },
    startParams: [...PGlite.defaultStartParams, ...Object.entries(SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
  });
  await pg.waitReady;
  // PGlite plans every statement afresh: keep the planner to the join order the SQL is written in (the CVM
  // read starts from the indexed CVM row), which costs far less to plan than searching all orders of an
  // 8-table join
  await pg.exec('SET join_collapse_limit = 1; SET from_collapse_limit = 1');
  const upkeep = maintenance(pg);
  await upkeep.start();
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
    // one process, one connection: the session is that connection, and it breaks only with the process
    session: async () => ({ ...wrap(pg), onLost: () => {}, close: async () => {} }),
    dumpDataDir: async () => (await pg.dumpDataDir('gzip')) as Blob,
    close: async () => {
      await upkeep.stop();
      await pg.close();
    },
  };
}
