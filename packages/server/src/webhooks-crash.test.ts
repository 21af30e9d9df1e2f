/**
 * A server (`main.ts`, its own process) killed with SIGKILL while a webhook attempt is under way loses no
 * delivery: after a restart on the same database the event is sent again with the same `webhook-id`, and the
 * events queued behind it (the same CVM) follow in order. The attempt's time limit is a minute, so its lease
 * (twice that plus 5 s) outlasts the test: the restarted server takes the delivery over because the killed
 * one's owner lock is gone, not because the lease lapsed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshTestDatabase } from './testing/databases.ts';
import { startReceiver, type Receiver } from './testing/webhook-receiver.ts';
import { waitFor } from './testing/wait.ts';
import { killHard, startServerProcess } from './testing/process.ts';
import { freePort } from './db/embedded.ts';
import { openPostgres } from './db/postgres.ts';
import type { Db } from './db/index.ts';
import { AuthService } from './services/auth.ts';
import { insertEvent } from './store/webhooks.ts';

const apiKey = `phak_whcrash_${randomBytes(18).toString('base64url')}`;
let databaseUrl: string;
let dropDatabase: () => Promise<void>;
let dataDir: string;
let port: number;
let server: ChildProcess | undefined;
let log: string[] = [];
let db: Db;
let r: Receiver;

async function start(): Promise<void> {
  log = [];
  server = await startServerProcess({
    PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, OPENCVM_DATA_DIR: dataDir, OPENCVM_API_KEY: apiKey,
    OPENCVM_SIMULATED_HOST: '1', OPENCVM_WEBHOOK_ALLOW_PRIVATE: '1', OPENCVM_WEBHOOK_TIMEOUT_MS: '60000', LOG_LEVEL: 'warn',
  }, { readyUrl: `http://127.0.0.1:${port}/api/v1/workspace/webhooks`, apiKey, log });
}

const kill = () => killHard(server!);

before(async () => {
  const fresh = await freshTestDatabase();
  databaseUrl = fresh.url;
  dropDatabase = fresh.drop;
  dataDir = mkdtempSync(join(tmpdir(), 'opencvm-whcrash-'));
  port = await freePort();
  db = await openPostgres(databaseUrl, { max: 2 });
});

after(async () => {
  if (server) await kill();
  await r?.close();
  await db?.close();
  await dropDatabase?.();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('SIGKILL mid-delivery: the delivery is sent again with the same webhook-id, and none is lost', async () => {
  let hold = true;
  r = await startReceiver(() => (hold ? 'hold' : { status: 200, body: 'ok' }));
  await start();
  const created = await fetch(`http://127.0.0.1:${port}/api/v1/workspace/webhooks`, {
    method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${r.url}/crash`, events: ['*'] }),
  });
  assert.equal(created.status, 201);
  const { workspaceId } = await new AuthService(db).authenticate(apiKey);
  const events: { id: string }[] = [];
  for (let i = 0; i < 3; i++) events.push(await insertEvent(db, { workspace_id: workspaceId, cvm_id: 7, type: 'cvm.status_changed', data: { n: i } }));

  // the first attempt is under way (the receiver holds it): kill the server
  await waitFor(() => (r.received.length >= 1 ? true : null), 30_000);
  assert.deepEqual(r.received.map((x) => x.id), [events[0].id]);
  await kill();
  hold = false;
  await start();

  await waitFor(() => (events.every((e) => r.received.some((x) => x.id === e.id && x.answered === 200)) ? true : null), 60_000, 100);
  const ids = r.received.map((x) => x.id);
  // the same event again (same webhook-id), then the two behind it, in order
  assert.deepEqual(ids, [events[0].id, events[0].id, events[1].id, events[2].id]);
  assert.equal(r.received[0].body, r.received[1].body);
  await kill();
});
