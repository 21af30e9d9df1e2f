/**
 * Event retention (`OPENCVM_EVENT_RETENTION_DAYS`, `services/event-retention.ts`): events older than the retention
 * are deleted in batches with their webhook deliveries and attempts; one whose delivery is still pending stays;
 * recent ones stay; 0 keeps everything; a server's reconciler prunes on its first pass.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { startReceiver, type Receiver } from './testing/webhook-receiver.ts';
import { waitFor } from './testing/wait.ts';
import { insertEvent } from './store/webhooks.ts';
import { startServer } from './app.ts';
import { EventRetention } from './services/event-retention.ts';
import { apiCall } from './testing/api.ts';

let env: TestEnv;
let workspaceId: number;
let r: Receiver;
let down: Receiver;

before(async () => {
  env = await startTestEnv();
  workspaceId = (await env.server.services.auth.authenticate(env.apiKey)).workspaceId;
  r = await startReceiver();
  down = await startReceiver(() => ({ status: 500, body: 'down' }));
});
after(async () => {
  await r?.close();
  await down?.close();
  await env?.close();
});

const api = <T = any>(method: string, path: string, body?: unknown) => apiCall<T>(env, method, path, body);

const event = (type: string, cvmId: number) => insertEvent(env.server.db, { workspace_id: workspaceId, cvm_id: cvmId, type, data: {} });
const age = (ids: string[], days: number) =>
  env.server.db.query(`UPDATE events SET created_at = now() - $2 * interval '1 day' WHERE id = ANY($1::text[])`, [ids, days]);
const exists = async (ids: string[]) =>
  (await env.server.db.query<{ id: string }>('SELECT id FROM events WHERE id = ANY($1::text[]) ORDER BY seq', [ids])).map((x) => x.id);
const deliveriesOf = async (ids: string[]) =>
  (await env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries WHERE event_id = ANY($1::text[])', [ids]))[0].n;
const attemptsOf = async (ids: string[]) =>
  (await env.server.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1::text[])', [ids]))[0].n;

test('events past the retention go with their deliveries and attempts, in batches; a pending delivery keeps its event; recent ones stay', async () => {
  // a delivered webhook (cvm.stopped) and one whose receiver answers 500, so its deliveries stay pending (cvm.deleted)
  const sent = await api('POST', '/workspace/webhooks', { url: `${r.url}/retention`, events: ['cvm.stopped'] });
  const held = await api('POST', '/workspace/webhooks', { url: `${down.url}/held`, events: ['cvm.deleted'] });

  const old = [await event('cvm.status_changed', 1), await event('cvm.status_changed', 1), await event('cvm.status_changed', 2), await event('cvm.stopped', 1)];
  const pending = await event('cvm.deleted', 1);
  const recent = [await event('cvm.status_changed', 1), await event('cvm.stopped', 2)];
  await waitFor(() => (r.received.filter((x) => x.path === '/retention').length === 2 && down.received.length > 0 ? true : null), 15_000);
  const oldIds = old.map((e) => e.id);
  await age([...oldIds, pending.id], 31);
  assert.equal(await deliveriesOf(oldIds), 1);
  assert.equal(await attemptsOf(oldIds), 1);

  // days 0: nothing goes
  assert.equal(await new EventRetention(env.server.db, { days: 0, log: () => {} }).prune(), 0);
  assert.deepEqual(await exists(oldIds), oldIds);

  // 30 days, batches of 2: the four old events (two full batches and an empty one), not the pending one or the recent ones
  const deleted = await new EventRetention(env.server.db, { days: 30, batch: 2, log: () => {} }).prune();
  assert.equal(deleted, 4);
  assert.deepEqual(await exists(oldIds), []);
  assert.equal(await deliveriesOf(oldIds), 0);
  assert.equal(await attemptsOf(oldIds), 0);
  assert.deepEqual(await exists([pending.id]), [pending.id]);
  assert.deepEqual(await exists(recent.map((e) => e.id)), recent.map((e) => e.id));
  assert.equal(await deliveriesOf([pending.id]), 1);

  // once the pending delivery ends (its webhook deleted, here), the event goes at the next prune
  assert.equal((await api('DELETE', `/workspace/webhooks/${held.body.id}`)).status, 204);
  assert.equal(await new EventRetention(env.server.db, { days: 30, log: () => {} }).prune(), 1);
  assert.deepEqual(await exists([pending.id]), []);
  await api('DELETE', `/workspace/webhooks/${sent.body.id}`);
});

test("a server prunes on its reconciler's first pass (OPENCVM_EVENT_RETENTION_DAYS)", async () => {
  const e = await event('cvm.status_changed', 3);
  await age([e.id], 8);
  // a second server on the database keeps a week of events
  const b = await startServer({ config: { ...env.config, port: 0, eventRetentionDays: 7 } });
  try {
    await waitFor(async () => ((await exists([e.id])).length === 0 ? true : null), 15_000);
  } finally {
    await b.close();
  }
});
