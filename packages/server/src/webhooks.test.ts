/**
 * Workspace webhooks against a real server and a real receiver on 127.0.0.1: the 11 operations and their
 * shapes, signatures verified by the `standardwebhooks` package and by the official client's `parseWebhookEvent`
 * (`@phala/cloud/webhook`, Phala's envelope checked against the event and the workspace), retries until a failing receiver recovers
 * (every event, in order per CVM, none twice after deduplication by `webhook-id`), redirects not followed,
 * slow and huge answers cut, secret rotation (both secrets sign Standard Webhooks' header, the new one Phala's), test and resend, stats, another
 * workspace's webhook; a delivery queued on another server of the database sent at once (NOTIFY, not the poll).
 * Events are recorded with the store's `insertEvent` (the fan-out trigger queues the deliveries in the event's
 * transaction, as for the events a CVM change records).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { parseWebhookEvent } from '@phala/cloud/webhook';
import { webhookEventBodySchema, webhookTestDataSchema } from '@opencvm/contract';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { startReceiver, type Receiver, type Received } from './testing/webhook-receiver.ts';
import { waitFor } from './testing/wait.ts';
import { insertEvent, listenForDeliveries, WEBHOOK_DELIVERY_CHANNEL } from './store/webhooks.ts';
import { seal } from './services/seal.ts';
import { secretPurpose } from './worker/webhooks.ts';
import { startServer, type RunningServer, type StartOptions } from './app.ts';
import type { Config } from './config.ts';
import { apiCall } from './testing/api.ts';

let env: TestEnv;
let workspaceId: number;
const receivers: Receiver[] = [];

const api = <T = any>(method: string, path: string, body?: unknown, key?: string) => apiCall<T>(env, method, path, body, key);

async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

async function createWebhook(url: string, extra: Record<string, unknown> = {}) {
  const res = await api('POST', '/workspace/webhooks', { url, events: ['*'], ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; secret: string; url: string; events: string[] };
}

/** The vm_uuid and name these tests give CVM `cvmId` (what every CVM event's data records, as the triggers do). */
const uuidOf = (cvmId: number) => `00000000-0000-4000-8000-${String(cvmId).padStart(12, '0')}`;
const nameOf = (cvmId: number) => `cvm-${cvmId}`;

const event = (type: string, cvmId: number | null, data: Record<string, unknown> = {}) =>
  insertEvent(env.server.db, {
    workspace_id: workspaceId, cvm_id: cvmId, app_id: cvmId === null ? null : 'ab'.repeat(20), type,
    data: cvmId === null ? data : { vm_uuid: uuidOf(cvmId), name: nameOf(cvmId), ...data },
  });

/** The caller's workspace as Phala's webhook envelope names it: its slug (`GET /workspaces`) as the id, as Phala Cloud's webhooks documentation shows. */
async function shownWorkspace() {
  const w = (await api<{ data: { id: string; name: string; slug: string; is_default: boolean }[] }>('GET', '/workspaces')).body.data.find((x) => x.is_default)!;
  return { id: w.slug, name: w.name, slug: w.slug };
}

/**
 * Verify a delivery with the official client's `parseWebhookEvent` (`X-Webhook-Timestamp`, `X-Webhook-Signature`)
 * and check its envelope against the event: its id (the `webhook-id`), type, time and the caller's workspace.
 */
async function phalaVerified(got: Received, secret: string, e: { id: string; type: string; created_at: Date }) {
  const parsed = parseWebhookEvent<Record<string, unknown>>({ headers: got.headers, body: got.body, secret });
  webhookEventBodySchema.parse(parsed);
  assert.equal(got.headers['x-webhook-timestamp'], got.timestamp);
  assert.match(String(got.headers['x-webhook-signature']), /^sha256=[0-9a-f]{64}$/);
  assert.deepEqual([parsed.id, parsed.event, parsed.version, parsed.created_at], [e.id, e.type, '1', e.created_at.toISOString()]);
  assert.deepEqual([got.headers['x-webhook-id'], got.headers['x-webhook-event']], [e.id, e.type]);
  assert.deepEqual(parsed.workspace, await shownWorkspace());
  return parsed;
}

const deliveries = async (id: string) => (await api<any[]>('GET', `/workspace/webhooks/${id}/deliveries?limit=500`)).body;

before(async () => {
  env = await startTestEnv({ config: { webhookTimeoutMs: 800, webhookSecretGraceMs: 3_600_000 } });
  workspaceId = (await env.server.services.auth.authenticate(env.apiKey)).workspaceId;
});

after(async () => {
  for (const r of receivers) await r.close();
  await env?.close();
});

test('create, list, get, update, delete: Phala shapes, the secret only at creation', async () => {
  const r = await receiver();
  const created = await api('POST', '/workspace/webhooks', { url: `${r.url}/hook`, events: ['cvm.created', 'cvm.deleted'], name: 'ops' });
  assert.equal(created.status, 201);
  assert.match(created.body.id, /^wh_[0-9a-f]{24}$/);
  assert.match(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(created.body.events, ['cvm.created', 'cvm.deleted']);
  assert.equal(created.body.enabled, true);
  const id = created.body.id;

  const list = await api<any[]>('GET', '/workspace/webhooks');
  assert.equal(list.status, 200);
  const mine = list.body.find((w) => w.id === id);
  assert.equal(mine.secret, null);
  assert.equal((await api('GET', `/workspace/webhooks/${id}`)).body.secret, null);

  const updated = await api('PUT', `/workspace/webhooks/${id}`, { events: ['*'], enabled: false, name: 'ops-2' });
  assert.equal(updated.status, 200);
  assert.deepEqual([updated.body.events, updated.body.enabled, updated.body.name, updated.body.url], [['*'], false, 'ops-2', `${r.url}/hook`]);
  assert.equal(updated.body.secret, null);

  // a given secret is kept, a malformed one refused
  const given = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const withSecret = await api('POST', '/workspace/webhooks', { url: r.url, events: ['*'], secret: given });
  assert.equal(withSecret.body.secret, given);
  assert.equal((await api('POST', `/workspace/webhooks/${withSecret.body.id}/reveal-secret`)).body.secret, given);
  const bad = await api('POST', '/workspace/webhooks', { url: r.url, events: ['*'], secret: 'hunter2' });
  assert.equal(bad.status, 422);
  assert.match(JSON.stringify(bad.body), /whsec_/);
  assert.equal((await api('POST', '/workspace/webhooks', { url: r.url, events: ['cvm.exploded'] })).status, 422);
  assert.equal((await api('POST', '/workspace/webhooks', { url: r.url, events: [] })).status, 422);
  const ftp = await api('POST', '/workspace/webhooks', { url: 'ftp://example.com/x', events: ['*'] });
  assert.equal(ftp.status, 400);
  assert.equal(ftp.body.detail.error_code, 'ERR-14-002');

  // disabled: a test event would only wait, so it is refused
  const refusedTest = await api('POST', `/workspace/webhooks/${id}/test`);
  assert.equal(refusedTest.status, 409);
  assert.equal(refusedTest.body.detail.error_code, 'ERR-14-004');
  assert.match(refusedTest.body.detail.message, /is disabled.*"enabled": true/);

  // a secret sealed under another seal key (the operator changed it): reveal says to rotate, delivery signs with none
  await env.server.db.query(`UPDATE webhooks SET secret_sealed = $2 WHERE id = $1`, [withSecret.body.id, seal(Buffer.from(given), Buffer.alloc(32, 9), secretPurpose(withSecret.body.id))]);
  const unreadable = await api('POST', `/workspace/webhooks/${withSecret.body.id}/reveal-secret`);
  assert.equal(unreadable.status, 409);
  assert.equal(unreadable.body.detail.error_code, 'ERR-14-005');
  assert.match(unreadable.body.detail.message, /rotate-secret/);
  const rotated = await api('POST', `/workspace/webhooks/${withSecret.body.id}/rotate-secret`);
  assert.equal(rotated.status, 200);
  assert.equal((await api('POST', `/workspace/webhooks/${withSecret.body.id}/reveal-secret`)).body.secret, rotated.body.secret);

  assert.equal((await api('DELETE', `/workspace/webhooks/${id}`)).status, 204);
  assert.equal((await api('GET', `/workspace/webhooks/${id}`)).status, 404);
  assert.equal((await api('DELETE', `/workspace/webhooks/${id}`)).body.detail.error_code, 'ERR-14-001');
  await api('DELETE', `/workspace/webhooks/${withSecret.body.id}`);
});

test('a delivery is signed as Standard Webhooks says; the filter picks the events', async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/signed`, { events: ['cvm.status_changed'] });
  await event('cvm.created', 41);
  const e = await event('cvm.status_changed', 41, { from: 'starting', to: 'running' });
  const got = await waitFor(() => r.received.find((x) => x.id === e.id) ?? null, 15_000);
  const payload = new StandardWebhook(w.secret).verify(got.body, { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature }) as any;
  assert.equal(payload.type, 'cvm.status_changed');
  assert.equal(payload.timestamp, e.created_at.toISOString());
  // Phala Cloud's keys: the CVM by its vm_uuid (cvm_id) and name (cvm_name)
  assert.deepEqual(payload.data, {
    vm_uuid: uuidOf(41), name: nameOf(41), from: 'starting', to: 'running', event_id: e.id, app_id: 'ab'.repeat(20), cvm_id: uuidOf(41), cvm_name: nameOf(41),
  });
  assert.equal(got.headers['content-type'], 'application/json');
  // the official client verifies the same delivery: the same event in Phala's envelope
  const phala = await phalaVerified(got, w.secret, e);
  assert.deepEqual(phala.data, payload.data);
  // a wrong secret does not verify
  const wrong = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
  assert.throws(() => new StandardWebhook(wrong).verify(got.body, { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature }));
  assert.throws(() => parseWebhookEvent({ headers: got.headers, body: got.body, secret: wrong }), /Invalid webhook signature/);
  // nor a body changed after signing
  assert.throws(() => parseWebhookEvent({ headers: got.headers, body: got.body.replace('running', 'stopped'), secret: w.secret }), /Invalid webhook signature/);
  // cvm.created is not in its filter: never sent
  await waitFor(async () => (await deliveries(w.id)).every((d) => d.status === 'succeeded') || null);
  assert.deepEqual(r.received.map((x) => JSON.parse(x.body).type), ['cvm.status_changed']);
  const [d] = await deliveries(w.id);
  assert.deepEqual([d.event_id, d.status, d.attempts, d.response_status, d.error_message, d.request_url], [e.id, 'succeeded', 1, 200, '', `${r.url}/signed`]);
  assert.equal(d.attempt_history.length, 1);
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});

test('a receiver that fails and recovers gets every event, in order per CVM, none twice after deduplication', async () => {
  let failures = 14;
  const r = await receiver(() => (failures-- > 0 ? { status: 500, body: 'down' } : { status: 204 }));
  const w = await createWebhook(`${r.url}/flaky`);
  const sent: { id: string; cvm: number }[] = [];
  for (let i = 0; i < 12; i++) {
    const cvm = 100 + (i % 3);
    sent.push({ id: (await event('cvm.status_changed', cvm, { n: i })).id, cvm });
  }
  await waitFor(async () => ((await deliveries(w.id)).every((d) => d.status === 'succeeded') ? true : null), 60_000, 200);
  const ok = r.received.filter((x) => x.answered === 204);
  const unique = [...new Map(ok.map((x) => [x.id, x])).values()];
  assert.deepEqual(new Set(unique.map((x) => x.id)), new Set(sent.map((s) => s.id)));
  assert.equal(unique.length, sent.length);
  for (const cvm of [100, 101, 102]) {
    const expected = sent.filter((s) => s.cvm === cvm).map((s) => s.id);
    // the order the receiver accepted them in, and every request it saw of that CVM, follow the events' order
    assert.deepEqual(ok.filter((x) => JSON.parse(x.body).data.cvm_id === uuidOf(cvm)).map((x) => x.id), expected);
    const seen = r.received.filter((x) => JSON.parse(x.body).data.cvm_id === uuidOf(cvm)).map((x) => expected.indexOf(x.id));
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `CVM ${cvm}: an event was sent before an earlier one was delivered`);
  }
  const ds = await deliveries(w.id);
  assert.ok(ds.some((d) => d.attempts > 1 && d.attempt_history.some((a: any) => a.response_status === 500 && a.response_excerpt === 'down')));
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});

/**
 * Run `fn` with this server's deliverer stopped and a second server (same database, its worker stopped) whose
 * deliverer is the only one sending.
 */
async function withOnlyServerB(opts: { config?: Partial<Config>; webhooks: StartOptions['webhooks'] }, fn: (b: RunningServer) => Promise<void>) {
  await env.server.deliverer.stop();
  const b = await startServer({ webhooks: opts.webhooks, config: { ...env.config, ...opts.config, port: 0 } });
  try {
    await b.worker.stop();
    await fn(b);
  } finally {
    await b.close();
    await env.server.deliverer.start();
  }
}

test('a delivery queued elsewhere on the database is sent at once: its NOTIFY wakes the deliverer, not the poll', async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/notified`);
  // server B looks for due deliveries every 10 minutes only, so anything it sends within seconds it was woken for
  await withOnlyServerB({ webhooks: { pollMs: 600_000, backoffBaseMs: 100, backoffCapMs: 400 } }, async () => {
    for (const n of [1, 2]) {
      // recorded through the test's own connection: no server queued it, so none wakes but by the notification
      const e = await event('cvm.created', 60 + n);
      await waitFor(() => r.received.find((x) => x.id === e.id) ?? null, 10_000);
    }
  });
  assert.equal(r.received.length, 2);
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});

test('only a transaction that queued deliveries notifies the deliverers', async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/only-deleted`, { events: ['cvm.deleted'] });
  const session = await env.server.db.connection('test-webhook-listen');
  const heard: string[] = [];
  session.onNotification((channel, payload) => {
    if (channel === WEBHOOK_DELIVERY_CHANNEL) heard.push(payload || 'queued');
  });
  try {
    await listenForDeliveries(session);
    // an event no webhook takes, then a marker: notifications come in commit order, so the marker comes first
    // unless the event notified
    await event('cvm.created', 80);
    await env.server.db.query(`SELECT pg_notify($1, 'marker')`, [WEBHOOK_DELIVERY_CHANNEL]);
    await event('cvm.deleted', 80);
    await waitFor(() => (heard.length >= 2 ? true : null), 10_000);
    assert.deepEqual(heard, ['marker', 'queued']);
  } finally {
    await session.close();
    await api('DELETE', `/workspace/webhooks/${w.id}`);
  }
});

test('the retry window counts from when a delivery was queued: one held behind a failing one of its CVM gets no window of its own', async () => {
  let firstFails = true;
  const r = await receiver((x) => (JSON.parse(x.body).type === 'cvm.created' && !firstFails ? { status: 200, body: 'ok' } : { status: 500, body: 'down' }));
  const w = await createWebhook(`${r.url}/window`);
  const first = await event('cvm.created', 70);
  const second = await event('cvm.status_changed', 70, { from: 'starting', to: 'running' });
  // the second waited behind the first for longer than the retry window (24 h): queued 25 h ago
  await env.server.db.query(`UPDATE webhook_deliveries SET created_at = now() - interval '25 hours' WHERE event_id = $1`, [second.id]);
  await waitFor(() => (r.received.filter((x) => x.id === first.id).length >= 2 ? true : null), 15_000);
  firstFails = false;
  const ds = await waitFor(async () => {
    const all = await deliveries(w.id);
    return all.length === 2 && all.every((d) => d.status !== 'pending') ? all : null;
  }, 15_000);
  const byEvent = new Map(ds.map((d) => [d.event_id, d]));
  assert.equal(byEvent.get(first.id).status, 'succeeded');
  // its first attempt failed, and the window was over: given up at once, not retried for another day
  const late = byEvent.get(second.id);
  assert.deepEqual([late.status, late.attempts], ['failed', 1]);
  assert.match(late.error_message, /^HTTP 500 \(gave up after 1 attempts: no 2xx within 86400 s of being queued\)$/);
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});

test('redirects are not followed; slow and huge answers are cut', async () => {
  const target = await receiver();
  const r = await receiver((x) =>
    x.path === '/redirect' ? { status: 302, headers: { location: `${target.url}/elsewhere` } }
      : x.path === '/huge' ? { status: 200, body: Buffer.alloc(1024 * 1024, 'a') }
        : 'hold');
  const redirect = await createWebhook(`${r.url}/redirect`);
  const huge = await createWebhook(`${r.url}/huge`);
  const slow = await createWebhook(`${r.url}/slow`);
  await event('cvm.deleted', 200);
  const attempted = (id: string, n: number) => waitFor(async () => {
    const [d] = await deliveries(id);
    return d && d.attempt_history.length >= n ? d : null;
  }, 20_000);
  const rd = await attempted(redirect.id, 2);
  assert.equal(rd.status, 'pending');
  assert.equal(rd.attempt_history[0].response_status, 302);
  assert.match(rd.attempt_history[0].error_message, /redirect \(HTTP 302\), which is not followed/);
  assert.equal(target.received.length, 0);

  const hd = await attempted(huge.id, 1);
  assert.equal(hd.status, 'succeeded');
  assert.equal(hd.response_excerpt.length, 1024);
  assert.match(hd.error_message, /larger than 65536 bytes: cut/);

  const sd = await attempted(slow.id, 1);
  assert.equal(sd.attempt_history[0].response_status, 0);
  assert.match(sd.attempt_history[0].error_message, /no answer within 800 ms/);
  for (const w of [redirect, huge, slow]) await api('DELETE', `/workspace/webhooks/${w.id}`);
});

test('rotation: during the grace period both secrets sign; reveal answers the new one', async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/rotate`);
  const rotated = await api('POST', `/workspace/webhooks/${w.id}/rotate-secret`);
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.body.secret, w.secret);
  assert.ok(Date.parse(rotated.body.previous_secret_expires_at) > Date.now());
  const revealed = await api('POST', `/workspace/webhooks/${w.id}/reveal-secret`);
  assert.equal(revealed.body.secret, rotated.body.secret);
  const e = await event('cvm.operation_failed', 300, { error: 'boom' });
  const got = await waitFor(() => r.received.find((x) => x.id === e.id) ?? null, 15_000);
  assert.equal(got.signature.split(' ').length, 2);
  const headers = { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature };
  for (const secret of [w.secret, rotated.body.secret]) assert.equal((new StandardWebhook(secret).verify(got.body, headers) as any).data.error, 'boom');
  // Phala's header carries one signature: the new secret's
  assert.equal((await phalaVerified(got, rotated.body.secret, e)).data.error, 'boom');
  assert.throws(() => parseWebhookEvent({ headers: got.headers, body: got.body, secret: w.secret }), /Invalid webhook signature/);
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});

test('test sends a webhook.test event to that webhook only; resend sends the same event again with the same webhook-id; stats', async () => {
  const r = await receiver();
  const other = await receiver();
  const w = await createWebhook(`${r.url}/t`, { events: ['cvm.created'] });
  const o = await createWebhook(`${other.url}/o`);
  const t = await api('POST', `/workspace/webhooks/${w.id}/test`);
  assert.equal(t.status, 200);
  assert.equal(t.body.event_type, 'webhook.test');
  const got = await waitFor(() => r.received.find((x) => x.id === t.body.event_id) ?? null, 15_000);
  assert.equal(JSON.parse(got.body).type, 'webhook.test');
  const testEvent = await phalaVerified(got, w.secret, { id: t.body.event_id, type: 'webhook.test', created_at: new Date(JSON.parse(got.body).timestamp) });
  const { event_id, app_id, cvm_id, cvm_name, ...testData } = testEvent.data;
  assert.deepEqual([event_id, app_id, cvm_id, cvm_name], [t.body.event_id, null, null, null]);
  assert.equal(webhookTestDataSchema.parse(testData).webhook_id, w.id);
  assert.equal((new StandardWebhook(w.secret).verify(got.body, { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature }) as any).data.webhook_id, w.id);
  const e = await event('cvm.created', 400);
  await waitFor(() => r.received.find((x) => x.id === e.id) ?? null, 15_000);
  const resent = await api('POST', `/workspace/webhooks/${w.id}/deliveries/${e.id}/resend`);
  assert.equal(resent.status, 200);
  assert.equal(resent.body.event_id, e.id);
  await waitFor(() => (r.received.filter((x) => x.id === e.id).length === 2 ? true : null), 15_000);
  const [first, second] = r.received.filter((x) => x.id === e.id);
  assert.equal(first.body, second.body);
  const ds = await deliveries(w.id);
  assert.equal(ds.find((d) => d.snowflake_id === resent.body.snowflake_id).original_event_id, e.id);
  assert.equal((await api('POST', `/workspace/webhooks/${w.id}/deliveries/evt_${'0'.repeat(32)}/resend`)).body.detail.error_code, 'ERR-14-003');
  // the other webhook (all events) got the CVM event but neither the test nor the resend
  await waitFor(() => other.received.find((x) => x.id === e.id) ?? null, 15_000);
  assert.ok(!other.received.some((x) => x.id === t.body.event_id));

  await waitFor(async () => ((await deliveries(w.id)).every((d) => d.status === 'succeeded') ? true : null), 15_000);
  const stats = await api('GET', `/workspace/webhooks/${w.id}/stats`);
  assert.equal(stats.status, 200);
  assert.deepEqual([stats.body.total, stats.body.success_count, stats.body.failed_count, stats.body.success_rate, stats.body.pending_count], [3, 3, 0, 1, 0]);
  assert.ok(stats.body.max_duration_ms >= stats.body.avg_duration_ms);
  assert.ok(stats.body.last_delivery_at);
  // disabled: a resend of a delivered event would only wait, so it is refused, and nothing is queued
  assert.equal((await api('PUT', `/workspace/webhooks/${w.id}`, { enabled: false })).status, 200);
  const refusedResend = await api('POST', `/workspace/webhooks/${w.id}/deliveries/${e.id}/resend`);
  assert.deepEqual([refusedResend.status, refusedResend.body.detail.error_code], [409, 'ERR-14-004']);
  assert.equal((await deliveries(w.id)).length, 3);
  for (const x of [w, o]) await api('DELETE', `/workspace/webhooks/${x.id}`);
});

test("another workspace's webhook is a 404 to every operation; a viewer cannot create one", async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/mine`);
  const e = await event('cvm.created', 500);
  await waitFor(() => r.received.find((x) => x.id === e.id) ?? null, 15_000);
  const other = await env.server.services.auth.createWorkspace('webhooks-other');
  for (const [method, path] of [
    ['GET', ''], ['PUT', ''], ['DELETE', ''], ['POST', '/reveal-secret'], ['POST', '/rotate-secret'], ['POST', '/test'],
    ['GET', '/deliveries'], ['POST', `/deliveries/${e.id}/resend`], ['GET', '/stats'],
  ] as const) {
    const res = await api(method, `/workspace/webhooks/${w.id}${path}`, method === 'PUT' ? { enabled: false } : undefined, other.apiKey);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.body.detail.error_code, 'ERR-14-001');
  }
  assert.deepEqual((await api('GET', '/workspace/webhooks', undefined, other.apiKey)).body, []);
  assert.equal((await api('GET', `/workspace/webhooks/${w.id}`)).body.enabled, true);
  await api('DELETE', `/workspace/webhooks/${w.id}`);
});
