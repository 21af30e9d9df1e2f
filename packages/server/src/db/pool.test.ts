/**
 * OPENCVM_DB_POOL reaches the PostgreSQL pool: `config.dbPool` → `startServer` → `openDatabase` → `pg.Pool`'s
 * `max`. Six queries at once on a server configured with a pool of 2 open 2 connections, not 6. Beside the
 * pool, the state hub keeps one connection of its own (LISTEN).
 * PostgreSQL only (`npm run test:pg`): PGlite has a single connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STATE_HUB_CONNECTION } from '../services/state-hub.ts';
import { startTestEnv, testDatabaseKind, type TestEnv } from '../testing/harness.ts';

const onPostgres = testDatabaseKind === 'postgres';
let env: TestEnv | undefined;

before(async () => {
  if (onPostgres) env = await startTestEnv({ config: { dbPool: 2 } });
});
after(async () => {
  await env?.close();
});

test('the server opens at most OPENCVM_DB_POOL connections to PostgreSQL', { skip: !onPostgres && 'PostgreSQL only' }, async () => {
  const db = env!.server.db;
  await Promise.all(Array.from({ length: 6 }, () => db.query('SELECT 1')));
  const [{ n, hub }] = await db.query<{ n: number; hub: number }>(
    `SELECT count(*) FILTER (WHERE application_name <> $1)::int AS n, count(*) FILTER (WHERE application_name = $1)::int AS hub
       FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`,
    [STATE_HUB_CONNECTION],
  );
  assert.ok(n >= 1 && n <= 2, `${n} pool connections with OPENCVM_DB_POOL=2`);
  assert.equal(hub, 1);
});
