/**
 * Servers started together on one empty database: the migrations, the bootstrap workspace and its key, and
 * the KMS registration run under the startup lock (`withStartupLock`), so every start succeeds, the schema
 * is applied once, and there is one bootstrap workspace with one generated key.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../app.ts';
import { loadConfig } from '../config.ts';
import { emptyTestDatabase } from '../testing/databases.ts';
import { migrations, openDatabase, withStartupLock } from './index.ts';

const SERVERS = 5;
const TRIALS = 4;

test(`${SERVERS} servers starting at once on an empty database, ${TRIALS} times: all start, one schema, one bootstrap workspace and key`, { timeout: 300_000 }, async () => {
  for (let trial = 0; trial < TRIALS; trial++) {
    const database = await emptyTestDatabase();
    const dirs = Array.from({ length: SERVERS }, () => mkdtempSync(join(tmpdir(), 'opencvm-lock-')));
    // servers of one database share the seal key of the KMS root keys (each would generate its own otherwise)
    const sealKey = randomBytes(32);
    const started = await Promise.allSettled(
      dirs.map((dataDir) =>
        startServer({
          config: { ...loadConfig({}), port: 0, dataDir, databaseUrl: database.url, simulatedHost: false, hosts: [], dbPool: 3, sealKey },
        }),
      ),
    );
    const servers = started.filter((s): s is PromiseFulfilledResult<RunningServer> => s.status === 'fulfilled').map((s) => s.value);
    try {
      const failed = started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
      assert.deepEqual(failed, [], `trial ${trial + 1}: servers that did not start`);
      const db = servers[0].db;
      const applied = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(applied.map((r) => r.version), migrations().map((m) => m.version), `trial ${trial + 1}: each migration recorded once`);
      const workspaces = await db.query<{ slug: string }>('SELECT slug FROM workspaces');
      assert.deepEqual(workspaces.map((w) => w.slug), ['default'], `trial ${trial + 1}: one bootstrap workspace`);
      const keys = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys');
      assert.equal(keys[0].n, 1, `trial ${trial + 1}: one bootstrap key`);
      assert.equal(servers.filter((s) => s.generatedApiKey).length, 1, `trial ${trial + 1}: one server generated (and would print) the key`);
      const kms = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM kms_instances');
      assert.equal(kms[0].n, 1, `trial ${trial + 1}: one built-in KMS row`);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await database.drop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }
});

test('withStartupLock: one holder at a time, across connections; released when the function throws', async () => {
  const database = await emptyTestDatabase();
  const a = await openDatabase({ databaseUrl: database.url });
  const b = await openDatabase({ databaseUrl: database.url });
  try {
    const events: string[] = [];
    let releaseA!: () => void;
    const aHolds = new Promise<void>((r) => (releaseA = r));
    let aEntered!: () => void;
    const entered = new Promise<void>((r) => (aEntered = r));
    const first = withStartupLock(a, async () => {
      events.push('a in');
      aEntered();
      await aHolds;
      events.push('a out');
    });
    await entered;
    const second = withStartupLock(b, async () => {
      events.push('b in');
    });
    // wait until b's connection is queued on the lock a holds: b has not run
    for (;;) {
      const [{ n }] = await a.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      if (n === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(events, ['a in']);
    releaseA();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['a in', 'a out', 'b in']);

    await assert.rejects(withStartupLock(a, async () => {
      throw new Error('boom');
    }), /boom/);
    // released: another connection takes it at once
    assert.equal(await withStartupLock(b, async () => 'taken'), 'taken');
  } finally {
    await a.close();
    await b.close();
    await database.drop();
  }
});
