/**
 * The operator's events (`GET /api/v1/admin/events`): a simulated host made unreachable and then answering again
 * writes real host.unreachable and host.recovered events, read here with the admin key; the filters, the `after`
 * cursor, the answers without the key. Workspace callers are refused the operator's event types (a webhook's
 * `events`, the `event_type` of `GET /apps/{app_id}/events`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { insertEvent } from './store/webhooks.ts';

interface Event {
  id: string;
  type: string;
  data: Record<string, unknown>;
  created_at: string;
}
interface Events {
  events: Event[];
  total: number;
}

const adminKey = `admin_${randomBytes(24).toString('base64url')}`;
let env: TestEnv;
let down: Event;
let up: Event;
/** an event of the test's workspace, never an operator event */
let workspaceEventId: string;

const request = async (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const { key = adminKey, ...rest } = init;
  const res = await fetch(`${env.apiUrl}${path}`, {
    ...rest,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-admin-key': key }), ...(rest.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as any };
};
const events = async (query = '') => {
  const r = await request(`/admin/events${query ? `?${query}` : ''}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Events;
};
const refused = async (query: string, status = 422) => {
  const r = await request(`/admin/events?${query}`);
  assert.equal(r.status, status, `${query}: ${JSON.stringify(r.body)}`);
  return r.body.detail as { error_code: string; message: string };
};
const ids = (e: Events) => e.events.map((x) => x.id);
const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

before(async () => {
  env = await startTestEnv({ config: { adminKey, reconcileMs: 100, unreachableAfter: 2 } });
  const [ws] = await env.server.services.db.query<{ id: number }>('SELECT id FROM workspaces ORDER BY id LIMIT 1');
  workspaceEventId = (await insertEvent(env.server.services.db, { workspace_id: ws.id, type: 'cvm.status_changed', data: { node_id: 1, node_name: 'sim-test' } })).id;
  const fault = env.sim.addFault({ kind: 'error', method: 'Status', error: 'the host is down' });
  await waitFor(async () => ((await events('event_type=host.unreachable')).total ? true : null), 20_000);
  env.sim.clearFaults(fault);
  await waitFor(async () => ((await events('event_type=host.recovered')).total ? true : null), 20_000);
  [up, down] = (await events()).events;
});
after(async () => {
  await env?.close();
});

test('the admin key is needed: missing or wrong 401 ERR-06-104; a workspace API key is not one', async () => {
  for (const key of [null, 'not-the-admin-key-0000', env.apiKey]) {
    const r = await request('/admin/events', { key });
    assert.equal(r.status, 401);
    assert.equal(r.body.detail.error_code, 'ERR-06-104');
    assert.match(r.body.detail.message, /X-Admin-Key/);
  }
  const r = await request('/admin/events', { key: null, headers: { 'x-api-key': env.apiKey } });
  assert.equal(r.status, 401);
  assert.equal(r.body.detail.error_code, 'ERR-06-104');
});

test('the operator events, newest first, in the CvmEvent shape; no workspace event among them', async () => {
  const all = await events();
  assert.equal(all.total, 2);
  assert.deepEqual(all.events.map((e) => e.type), ['host.recovered', 'host.unreachable']);
  assert.ok(!ids(all).includes(workspaceEventId));
  assert.match(down.id, /^evt_[0-9a-f]{32}$/);
  assert.deepEqual(Object.keys(down).sort(), ['created_at', 'data', 'id', 'type']);
  assert.equal(down.data.node_name, 'sim-test');
  assert.equal(typeof down.data.node_id, 'number');
  assert.match(String(down.data.reason), /did not answer 2 reads in a row: .*the host is down/);
  assert.equal(up.data.was, 'unreachable');
  assert.ok(Date.parse(up.created_at) >= Date.parse(down.created_at));
  // limit: the newest; total still counts every one selected
  const one = await events('limit=1');
  assert.deepEqual(ids(one), [up.id]);
  assert.equal(one.total, 2);
  for (const bad of ['limit=0', 'limit=501', 'limit=x']) assert.equal((await refused(bad)).error_code, 'ERR-02-008');
});

test('event_type: one, a comma list or repeated; a workspace type or an unknown one is refused', async () => {
  assert.deepEqual(ids(await events('event_type=host.unreachable')), [down.id]);
  assert.deepEqual(ids(await events('event_type=host.recovered')), [up.id]);
  assert.deepEqual(ids(await events('event_type=host.recovered,host.unreachable')), [up.id, down.id]);
  assert.deepEqual(ids(await events('event_type=host.unreachable&event_type=host.recovered')), [up.id, down.id]);
  const workspaceType = await refused('event_type=cvm.status_changed');
  assert.equal(workspaceType.error_code, 'ERR-02-008');
  assert.match(workspaceType.message, /cvm\.status_changed is a workspace event: read it with GET \/api\/v1\/apps\/\{app_id\}\/events/);
  assert.match((await refused('event_type=host.unreachable,host.exploded')).message, /event_type must be one of host\.unreachable, host\.recovered/);
});

test('host: by id or by name; another host selects nothing', async () => {
  assert.deepEqual(ids(await events('host=sim-test')), [up.id, down.id]);
  assert.deepEqual(ids(await events(`host=${down.data.node_id}`)), [up.id, down.id]);
  assert.deepEqual(await events('host=sim-other'), { events: [], total: 0 });
  assert.deepEqual(await events(`host=${Number(down.data.node_id) + 1000}`), { events: [], total: 0 });
});

test('start_date/end_date: both included, a date alone as an end is that whole day (UTC)', async () => {
  const today = day(0);
  // an event written at 00:00:00.000 UTC of today would be the only doubt: the events here were written just now
  assert.equal((await events(`end_date=${today}`)).total, 2);
  assert.equal((await events(`start_date=${today}&end_date=${today}`)).total, 2);
  assert.equal((await events(`end_date=${day(-1)}`)).total, 0);
  assert.equal((await events(`start_date=${day(1)}`)).total, 0);
  // to the millisecond, both ends
  assert.deepEqual(ids(await events(`start_date=${up.created_at}`)).includes(up.id), true);
  assert.deepEqual(ids(await events(`end_date=${down.created_at}`)).includes(down.id), true);
  assert.deepEqual(ids(await events(`end_date=${new Date(Date.parse(down.created_at) - 1).toISOString()}`)), []);
  assert.match((await refused(`start_date=${day(1)}&end_date=${today}`)).message, /start_date must not be after end_date/);
  assert.match((await refused('end_date=2026-02-30')).message, /end_date must be an ISO 8601 date/);
});

test('after=<event id>: the events written after it, oldest first; an unknown id 404 ERR-15-001', async () => {
  const since = await events(`after=${down.id}`);
  assert.deepEqual(ids(since), [up.id]);
  assert.equal(since.total, 1);
  assert.deepEqual(await events(`after=${up.id}`), { events: [], total: 0 });
  // a new operator event is there at the next poll, oldest first after the ones already seen
  const fault = env.sim.addFault({ kind: 'error', method: 'Status', error: 'down again' });
  const again = await waitFor(async () => ((await events(`after=${up.id}`)).total ? await events(`after=${up.id}`) : null), 20_000);
  env.sim.clearFaults(fault);
  assert.equal(again.events[0].type, 'host.unreachable');
  assert.match(String(again.events[0].data.reason), /down again/);
  const recovered = await waitFor(async () => ((await events(`after=${up.id}`)).total >= 2 ? await events(`after=${up.id}`) : null), 20_000);
  assert.deepEqual(recovered.events.map((e) => e.type), ['host.unreachable', 'host.recovered']);
  assert.deepEqual(ids(await events(`after=${down.id}&limit=2`)), [up.id, recovered.events[0].id]);
  assert.deepEqual(ids(await events(`after=${down.id}&event_type=host.recovered`)), [up.id, recovered.events[1].id]);
  // an id of no event, an event of a workspace: 404; not an event id: 422
  for (const id of [`evt_${'0'.repeat(32)}`, workspaceEventId]) {
    const e = await refused(`after=${id}`, 404);
    assert.equal(e.error_code, 'ERR-15-001');
    assert.match(e.message, new RegExp(`No operator event has the id ${id}`));
  }
  assert.match((await refused('after=42')).message, /after must be the id of an event/);
});

test('a workspace caller naming an operator event type is refused with 422, pointing to GET /api/v1/admin/events', async () => {
  const asWorkspace = (method: string, path: string, body?: unknown) =>
    request(path, { method, key: null, headers: { 'x-api-key': env.apiKey }, body: body === undefined ? undefined : JSON.stringify(body) });
  const operatorEvent = /host\.(unreachable|recovered) is an operator event .*GET \/api\/v1\/admin\/events/;
  for (const type of ['host.unreachable', 'host.recovered']) {
    const created = await asWorkspace('POST', '/workspace/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['cvm.created', type] });
    assert.equal(created.status, 422, JSON.stringify(created.body));
    assert.equal(created.body.detail.error_code, 'ERR-02-008');
    assert.match(created.body.detail.message, operatorEvent);
    const read = await asWorkspace('GET', `/apps/${'a'.repeat(40)}/events?event_type=${type}`);
    assert.equal(read.status, 422, JSON.stringify(read.body));
    assert.equal(read.body.error_code, 'ERR-02-008');
    assert.match(read.body.detail.message, operatorEvent);
  }
  const w = await asWorkspace('POST', '/workspace/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['cvm.created'] });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  const updated = await asWorkspace('PUT', `/workspace/webhooks/${w.body.id}`, { events: ['host.recovered'] });
  assert.equal(updated.status, 422);
  assert.match(updated.body.detail.message, operatorEvent);
  assert.deepEqual((await asWorkspace('GET', `/workspace/webhooks/${w.body.id}`)).body.events, ['cvm.created']);
  // the workspace types still pass
  assert.equal((await asWorkspace('GET', `/apps/${'a'.repeat(40)}/events?event_type=cvm.created`)).status, 404);
});
