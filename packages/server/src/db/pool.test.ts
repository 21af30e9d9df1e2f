/**
 * OPENCVM_DB_POOL reaches the PostgreSQL pool: `config.dbPool` → `startServer` → `openDatabase` → `pg.Pool`'s
 * `max`. Six queries at once on a server configured with a pool of 2 open 2 connections, not 6. The server
 * keeps three more outside the pool, named: the operation worker's lock, the webhook deliverer's lock and the
 * state hub's LISTEN.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';

let env: TestEnv;
/** the connections a server keeps outside its pool, by `application_name` */
const OUTSIDE = `'opencvm-worker', 'opencvm-webhooks', 'opencvm-state-hub'`;

before(async () => {
  env = await startTestEnv({ config: { dbPool: 2 } });
});
after(async () => {
  await env?.close();
});

test('the server opens at most OPENCVM_DB_POOL connections to PostgreSQL', async () => {
  const db = env.server.db;
  await Promise.all(Array.from({ length: 6 }, () => db.query('SELECT 1')));
  const [{ n }] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend'
        AND application_name NOT IN (${OUTSIDE})`,
  );
  const [{ named }] = await db.query<{ named: number }>(
    `SELECT count(*)::int AS named FROM pg_stat_activity
      WHERE datname = current_database() AND application_name IN (${OUTSIDE})`,
  );
  assert.equal(named, 3, 'the two owner locks and the LISTEN connection');
  assert.ok(n >= 1 && n <= 2, `${n} connections with OPENCVM_DB_POOL=2`);
});
