/**
 * Events: every change a CVM goes through is recorded in the transaction of the change (`016_events.sql`), and
 * read through `GET /apps/{app_id}/events` (Phala's `InstanceEvent` form) and `GET /cvms/{id}/operation-status`.
 * A real server and simulated host; changes made through the official SDK's client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';
import { listWorkspaceEventsAfter } from './store/events.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const COMPOSE_2 = 'services:\n  web:\n    image: nginx:1.27\n';

interface InstanceEvent {
  message_id: string;
  correlation_id: string | null;
  event_type: string;
  operation_type: string | null;
  target_state: string | null;
  operation_payload: string | null;
  triggered_by: number | null;
  instance_id: string;
  timestamp: string;
  priority: number | null;
  instance_name: string | null;
  state: string | null;
  instance_type: string | null;
  project_id: string | null;
  team_id: number | null;
  user_id: number | null;
}
interface AppEvents {
  events: InstanceEvent[];
  total: number;
}
interface Operation {
  correlation_id: string;
  kind: string;
  state: string;
  step: string | null;
  error: string | null;
}
interface OperationStatus {
  cvm_id: number;
  name: string;
  vm_uuid: string;
  cvm_status: string;
  status: 'idle' | 'in_progress';
  operation: Operation | null;
  last_operation: Operation | null;
  recent_events: { id: string; type: string; data: Record<string, unknown>; created_at: string }[];
}

let env: TestEnv;
before(async () => {
  env = await startTestEnv({});
});
after(async () => {
  await env?.close();
});

const get = async (path: string, key = env.apiKey) => {
  const res = await fetch(`${env.apiUrl}${path}`, { headers: { 'x-api-key': key } });
  return { status: res.status, body: (await res.json()) as any };
};
const appEvents = async (appId: string, query = 'limit=1000') => {
  const r = await get(`/apps/${appId}/events?${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as AppEvents;
};
/** oldest first */
const chronological = (a: AppEvents) => [...a.events].reverse();
const payload = (e: InstanceEvent) => JSON.parse(e.operation_payload!) as Record<string, any>;

test('a deploy, a compose update, a resize, a stop, a start, a restart and a delete: their events in order, with their data', async () => {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name: 'ev-life', compose_file: { docker_compose_file: COMPOSE } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const uuid = vm.vm_uuid!;
  const appId = p.app_id!.replace(/^app_/, '');
  await settle(env, uuid, 'running');

  const compose = await c.patch<{ correlation_id: string; compose_hash: string }>(`/cvms/${uuid}`, { docker_compose_file: COMPOSE_2 });
  await settle(env, uuid, 'running');
  const resize = await c.patch<{ correlation_id: string }>(`/cvms/${uuid}`, { vcpu: 2 });
  await settle(env, uuid, 'running');
  await c.post(`/cvms/${uuid}/stop`, {});
  await settle(env, uuid, 'stopped');
  await c.post(`/cvms/${uuid}/start`, {});
  await settle(env, uuid, 'running');
  await c.post(`/cvms/${uuid}/restart`, {});
  await settle(env, uuid, 'running');
  await c.delete(`/cvms/${uuid}`);
  const all = await waitFor(async () => {
    const a = await appEvents(appId);
    return a.events.some((e) => e.event_type === 'cvm.deleted') ? a : null;
  }, 20_000);

  const events = chronological(all);
  assert.equal(all.total, events.length);
  assert.equal(new Set(events.map((e) => e.message_id)).size, events.length, 'every event has its own id');
  for (const e of events) {
    assert.match(e.message_id, /^evt_[0-9a-f]{32}$/);
    assert.equal(e.instance_id, uuid);
    assert.equal(e.instance_name, 'ev-life');
    assert.equal(payload(e).app_id, appId);
    assert.equal(payload(e).cvm_id, Number(vm.id));
  }
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].timestamp <= events[i].timestamp, 'oldest first, times in order');

  // the CVM's first event is its create operation, queued by the commit; cvm.created (Phala Cloud's meaning) once it runs
  assert.equal(events[0].event_type, 'cvm.operation_started');
  assert.equal(payload(events[0]).kind, 'create');
  assert.equal(events[0].state, 'starting');
  const createdAll = events.filter((e) => e.event_type === 'cvm.created');
  assert.equal(createdAll.length, 1, 'created once, though the CVM started again later');
  const created = createdAll[0];
  assert.equal(created.state, 'running');
  assert.equal(created.correlation_id, events[0].correlation_id, "the create operation's");
  assert.equal(payload(created).compose_hash, p.compose_hash);
  assert.equal(typeof payload(created).node_id, 'number');
  assert.equal(typeof created.triggered_by, 'number');
  const deleted = events.filter((e) => e.event_type === 'cvm.deleted');
  assert.equal(deleted.length, 1);
  assert.equal(payload(deleted[0]).from, 'deleting');
  assert.equal(deleted[0].state, 'deleted');
  assert.equal(events.at(-1)!.event_type, 'cvm.operation_succeeded', "the delete operation's end is the last event");

  // status changes chain: each from is the previous to, starting from the status the CVM was created with
  const statuses = events.filter((e) => e.event_type === 'cvm.status_changed').map(payload);
  let was = 'starting';
  for (const s of statuses) {
    assert.equal(s.from, was, `status changes chain: ${JSON.stringify(statuses.map((x) => [x.from, x.to]))}`);
    assert.notEqual(s.to, s.from);
    assert.equal(s.status, s.to);
    was = s.to;
  }
  assert.equal(was, 'deleted');
  // the path it took: booted, updated (twice), stopped, started, restarted, deleted
  assert.deepEqual(
    statuses.map((s) => s.to),
    ['running', 'updating', 'running', 'updating', 'running', 'stopping', 'stopped', 'starting', 'running', 'restarting', 'running', 'deleting', 'deleted'],
  );

  // every operation started, then succeeded, in the order they were asked for
  const started = events.filter((e) => e.event_type === 'cvm.operation_started');
  assert.deepEqual(started.map((e) => payload(e).kind), ['create', 'update', 'update', 'stop', 'start', 'restart', 'delete']);
  for (const s of started) {
    const ended = events.filter((e) => e.correlation_id === s.correlation_id && e.event_type !== 'cvm.operation_started' && e.event_type.startsWith('cvm.operation_'));
    assert.deepEqual(ended.map((e) => e.event_type), ['cvm.operation_succeeded'], `operation ${payload(s).kind}`);
    assert.ok(events.indexOf(ended[0]) > events.indexOf(s));
    assert.equal(s.target_state, payload(s).target_status);
  }
  assert.equal(started[1].correlation_id, compose.correlation_id);
  assert.equal(started[2].correlation_id, resize.correlation_id);

  // Phala Cloud's types: one per operation that completed, with its correlation id and the status after it
  const phala = events.filter((e) => ['cvm.created', 'cvm.updated', 'cvm.stopped', 'cvm.started', 'cvm.restarted', 'cvm.deleted'].includes(e.event_type));
  assert.deepEqual(phala.map((e) => [e.event_type, e.state]), [
    ['cvm.created', 'running'], ['cvm.updated', 'running'], ['cvm.updated', 'running'], ['cvm.stopped', 'stopped'],
    ['cvm.started', 'running'], ['cvm.restarted', 'running'], ['cvm.deleted', 'deleted'],
  ]);
  assert.deepEqual(phala.slice(0, 6).map((e) => e.correlation_id), started.slice(0, 6).map((e) => e.correlation_id));
  assert.deepEqual(phala.slice(1, 3).map((e) => payload(e).operation_type), ['update', 'update']);

  // configuration: the new compose hash with its revision, then the resize (no new compose hash: the field names)
  const revisions = await c.get<{ revisions: { revision_id: string; compose_hash: string }[] }>(`/apps/${appId}/revisions`);
  const configs = events.filter((e) => e.event_type === 'cvm.configuration_updated').map(payload);
  assert.equal(configs.length, 2);
  assert.equal(configs[0].compose_hash, compose.compose_hash);
  assert.equal(configs[0].revision_id, revisions.revisions.find((r) => r.compose_hash === compose.compose_hash)!.revision_id);
  assert.equal(configs[0].correlation_id, compose.correlation_id);
  assert.deepEqual(configs[1].changed, ['vcpu']);
  assert.equal(configs[1].compose_hash, compose.compose_hash);

  // the full order, one transaction's events together
  assert.deepEqual(events.map((e) => `${e.event_type}${e.event_type === 'cvm.status_changed' ? `:${payload(e).to}` : ''}`), [
    'cvm.operation_started',
    'cvm.operation_succeeded', 'cvm.created', 'cvm.status_changed:running',
    'cvm.operation_started', 'cvm.status_changed:updating',
    'cvm.configuration_updated',
    'cvm.operation_succeeded', 'cvm.updated', 'cvm.status_changed:running',
    'cvm.operation_started', 'cvm.status_changed:updating',
    'cvm.configuration_updated',
    'cvm.operation_succeeded', 'cvm.updated', 'cvm.status_changed:running',
    'cvm.operation_started', 'cvm.status_changed:stopping',
    'cvm.status_changed:stopped', 'cvm.operation_succeeded', 'cvm.stopped',
    'cvm.operation_started', 'cvm.status_changed:starting',
    'cvm.operation_succeeded', 'cvm.started', 'cvm.status_changed:running',
    'cvm.operation_started', 'cvm.status_changed:restarting',
    'cvm.operation_succeeded', 'cvm.restarted', 'cvm.status_changed:running',
    'cvm.operation_started', 'cvm.status_changed:deleting',
    'cvm.status_changed:deleted', 'cvm.deleted', 'cvm.operation_succeeded',
  ]);
});

test('GET /apps/{app_id}/events: filters, limit, newest first, bad queries refused', async () => {
  const c = sdkClient(env);
  const vm = await deployRunning(env, 'ev-filter', COMPOSE);
  const appId = vm.app_id!.replace(/^app_/, '');
  await c.post(`/cvms/${vm.vm_uuid}/stop`, {});
  await settle(env, vm.vm_uuid!, 'stopped');

  const all = await appEvents(appId);
  for (let i = 1; i < all.events.length; i++) assert.ok(all.events[i - 1].timestamp >= all.events[i].timestamp, 'newest first');
  assert.equal(all.events[0].event_type, 'cvm.stopped');

  const two = await appEvents(appId, 'limit=2');
  assert.deepEqual(two.events.map((e) => e.message_id), all.events.slice(0, 2).map((e) => e.message_id));
  assert.equal(two.total, all.total);

  const statuses = await appEvents(appId, 'event_type=cvm.status_changed');
  assert.ok(statuses.events.length > 0);
  assert.ok(statuses.events.every((e) => e.event_type === 'cvm.status_changed'));
  assert.equal(statuses.total, all.events.filter((e) => e.event_type === 'cvm.status_changed').length);
  assert.deepEqual(statuses.events.map((e) => e.target_state), ['stopped', 'stopping', 'running']);

  const stops = await appEvents(appId, 'operation_type=stop');
  assert.deepEqual(stops.events.map((e) => e.event_type), ['cvm.stopped', 'cvm.operation_succeeded', 'cvm.operation_started']);

  const byInstance = await appEvents(appId, `instance_id=${vm.vm_uuid!.replaceAll('-', '')}`);
  assert.equal(byInstance.total, all.total);
  assert.equal((await appEvents(appId, 'instance_id=00000000-0000-4000-8000-000000000000')).total, 0);
  assert.equal((await appEvents(appId, 'instance_id=not-a-uuid')).total, 0);

  const first = all.events.at(-1)!.timestamp;
  const last = all.events[0].timestamp;
  assert.equal((await appEvents(appId, `start_date=${encodeURIComponent(first)}&end_date=${encodeURIComponent(last)}`)).total, all.total);
  assert.equal((await appEvents(appId, `start_date=${encodeURIComponent(new Date(Date.parse(last) + 1).toISOString())}`)).total, 0);
  assert.equal((await appEvents(appId, `end_date=${encodeURIComponent(new Date(Date.parse(first) - 1).toISOString())}`)).total, 0);

  // a date alone as end_date is that whole day (UTC), as start_date its start
  const day = (t: string, days = 0) => new Date(Date.parse(t) + days * 86_400_000).toISOString().slice(0, 10);
  assert.equal((await appEvents(appId, `end_date=${day(last)}`)).total, all.total);
  assert.equal((await appEvents(appId, `start_date=${day(first)}&end_date=${day(last)}`)).total, all.total);
  assert.equal((await appEvents(appId, `end_date=${day(first, -1)}`)).total, 0);
  assert.equal((await appEvents(appId, `start_date=${day(last, 1)}`)).total, 0);
  // a time without an offset is UTC, whatever the server's zone (here 14 hours ahead of UTC)
  const zone = process.env.TZ;
  process.env.TZ = 'Pacific/Kiritimati';
  try {
    assert.equal(new Date(2026, 0, 1).getTimezoneOffset(), -14 * 60, 'the process runs in the zone set');
    const noOffset = (t: string) => encodeURIComponent(t.replace(/Z$/, ''));
    assert.equal((await appEvents(appId, `end_date=${noOffset(last)}`)).total, all.total);
    assert.equal((await appEvents(appId, `start_date=${noOffset(last)}`)).total, all.events.filter((e) => e.timestamp === last).length);
    assert.equal((await appEvents(appId, `end_date=${noOffset(new Date(Date.parse(first) - 1).toISOString())}`)).total, 0);
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  }

  for (const [query, field] of [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['event_type=cvm.exploded', 'event_type'],
    ['start_date=yesterday', 'start_date'],
    [`start_date=2026-02-01&end_date=2026-01-01`, 'end_date'],
    ['end_date=2026-02-30', 'end_date'],
    ['event_type=host.unreachable', 'host.unreachable is an operator event .*GET /api/v1/admin/events'],
  ]) {
    const r = await get(`/apps/${appId}/events?${query}`);
    assert.equal(r.status, 422, query);
    assert.equal(r.body.detail.error_code, 'ERR-02-008');
    assert.match(r.body.detail.message, new RegExp(field), query);
  }
});

test('an operation the host refuses: cvm.operation_failed with the error; the operation status says so', async () => {
  const c = sdkClient(env);
  const vm = await deployRunning(env, 'ev-fail', COMPOSE);
  env.sim.injectFault({ method: 'UpdateVm', error: 'disk pool exhausted', times: 1 });
  const r = await c.patch<{ correlation_id: string }>(`/cvms/${vm.vm_uuid}`, { vcpu: 2 });
  await settle(env, vm.vm_uuid!, 'running');

  const appId = vm.app_id!.replace(/^app_/, '');
  const failed = (await appEvents(appId, 'event_type=cvm.operation_failed')).events;
  assert.equal(failed.length, 1);
  assert.equal(failed[0].correlation_id, r.correlation_id);
  assert.match(String(payload(failed[0]).error), /refused the update: .*disk pool exhausted/);
  assert.equal(payload(failed[0]).kind, 'update');
  // nothing changed: no configuration event
  assert.equal((await appEvents(appId, 'event_type=cvm.configuration_updated')).total, 0);

  const s = (await get(`/cvms/${vm.vm_uuid}/operation-status`)).body as OperationStatus;
  assert.equal(s.status, 'idle');
  assert.equal(s.operation, null);
  assert.equal(s.last_operation!.correlation_id, r.correlation_id);
  assert.equal(s.last_operation!.state, 'failed');
  assert.match(String(s.last_operation!.error), /disk pool exhausted/);
  assert.ok(s.recent_events.some((e) => e.type === 'cvm.operation_failed' && e.data.correlation_id === r.correlation_id));
});

test('a first deployment that fails: cvm.create_failed with the error, no cvm.created; started later, cvm.created then', async () => {
  const c = sdkClient(env);
  env.sim.injectFault({ method: 'CreateVm', error: 'no room for this VM' });
  const p = await c.provisionCvm({ name: 'ev-create-fail', compose_file: { docker_compose_file: COMPOSE } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await settle(env, vm.vm_uuid!, 'error');
  const appId = p.app_id!.replace(/^app_/, '');

  const failed = (await appEvents(appId, 'event_type=cvm.create_failed')).events;
  assert.equal(failed.length, 1);
  assert.equal(failed[0].state, 'error');
  assert.match(String(payload(failed[0]).error), /no room for this VM/);
  const opFailed = (await appEvents(appId, 'event_type=cvm.operation_failed')).events;
  assert.equal(failed[0].correlation_id, opFailed[0].correlation_id, "the create operation's failure");
  assert.equal(payload(failed[0]).error, payload(opFailed[0]).error);
  assert.equal((await appEvents(appId, 'event_type=cvm.created')).total, 0, 'it never ran');

  // started (a create, as it has no VM): its first deployment completes now
  await c.post(`/cvms/${vm.vm_uuid}/start`, {});
  await settle(env, vm.vm_uuid!, 'running');
  const created = (await appEvents(appId, 'event_type=cvm.created')).events;
  assert.equal(created.length, 1);
  assert.equal(created[0].state, 'running');
  assert.equal((await appEvents(appId, 'event_type=cvm.started')).total, 0);
  assert.equal((await appEvents(appId, 'event_type=cvm.create_failed')).total, 1);
});

test('GET /cvms/{id}/operation-status: in_progress while an operation runs, idle after; every id form', async () => {
  const c = sdkClient(env);
  const vm = await deployRunning(env, 'ev-status', COMPOSE);
  const info = await c.getCvmInfo({ id: vm.vm_uuid! });
  const appId = vm.app_id!.replace(/^app_/, '');

  const hang = env.sim.addFault({ kind: 'hang', method: 'boot' });
  const restart = await c.post<{ status: string }>(`/cvms/${vm.vm_uuid}/restart`, {});
  assert.ok(restart);
  const busy = await waitFor(async () => {
    const s = (await get(`/cvms/${vm.vm_uuid}/operation-status`)).body as OperationStatus;
    return s.operation?.step === 'booting' ? s : null;
  }, 15_000);
  assert.equal(busy.status, 'in_progress');
  assert.equal(busy.operation!.kind, 'restart');
  assert.equal(busy.operation!.state, 'running');
  assert.equal(busy.last_operation!.kind, 'create');
  assert.equal(busy.recent_events[0].type, 'cvm.status_changed', 'newest first');
  assert.equal(busy.recent_events.find((e) => e.type === 'cvm.operation_started')!.data.correlation_id, busy.operation!.correlation_id);

  env.sim.clearFaults(hang);
  await settle(env, vm.vm_uuid!, 'running');
  const forms = [vm.name!, vm.vm_uuid!, vm.vm_uuid!.replaceAll('-', ''), `app_${appId}`, String(vm.id), info.instance_id!];
  for (const id of forms) {
    const r = await get(`/cvms/${encodeURIComponent(id)}/operation-status`);
    assert.equal(r.status, 200, id);
    const s = r.body as OperationStatus;
    assert.equal(s.cvm_id, Number(vm.id), id);
    assert.equal(s.status, 'idle');
    assert.equal(s.cvm_status, 'running');
    assert.equal(s.operation, null);
    assert.equal(s.last_operation!.correlation_id, busy.operation!.correlation_id);
    assert.equal(s.last_operation!.state, 'succeeded');
    assert.ok(s.recent_events.length <= 10);
  }
});

test("another workspace's app and CVM: 404, and its events are not listed", async () => {
  const vm = await deployRunning(env, 'ev-private', COMPOSE);
  const appId = vm.app_id!.replace(/^app_/, '');
  const other = await env.server.services.auth.createWorkspace('ev-other');
  for (const path of [`/apps/${appId}/events`, `/cvms/${vm.vm_uuid}/operation-status`, `/cvms/ev-private/operation-status`]) {
    const r = await get(path, other.apiKey);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.detail.error_code, 'ERR-03-001');
  }
  // the other workspace's own app of the same name has only its own events
  const mine = await deployRunning({ ...env, apiKey: other.apiKey }, 'ev-private', COMPOSE);
  const theirs = await get(`/apps/${mine.app_id!.replace(/^app_/, '')}/events`, other.apiKey);
  assert.equal(theirs.status, 200);
  assert.ok((theirs.body as AppEvents).events.every((e) => e.instance_id === mine.vm_uuid && e.team_id !== null));
  assert.ok((theirs.body as AppEvents).events.every((e) => e.instance_id !== vm.vm_uuid));
});

test('a change that rolls back leaves no event', async () => {
  const vm = await deployRunning(env, 'ev-rollback', COMPOSE);
  const db = env.server.services.db;
  const count = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE cvm_id = $1', [Number(vm.id)]))[0].n;
  const before = await count();
  // a status change, seen inside its transaction, gone with it
  await assert.rejects(
    db.tx(async (q) => {
      await q.query(`UPDATE cvms SET status = 'error' WHERE id = $1`, [Number(vm.id)]);
      const [inside] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE cvm_id = $1', [Number(vm.id)]);
      assert.equal(inside.n, before + 1);
      throw new Error('abort');
    }),
    /abort/,
  );
  assert.equal(await count(), before);

  // a lifecycle request refused (busy): nothing recorded
  const hang = env.sim.addFault({ kind: 'hang', method: 'boot' });
  await sdkClient(env).post(`/cvms/${vm.vm_uuid}/restart`, {});
  const during = await count();
  const refused = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/stop`, { method: 'POST', headers: { 'x-api-key': env.apiKey } });
  assert.equal(refused.status, 409);
  assert.equal(await count(), during);
  env.sim.clearFaults(hang);
  await settle(env, vm.vm_uuid!, 'running');
});

test('a commit refused after its rows were written (the host is full) leaves no event', async () => {
  const full = await startTestEnv({ sim: { resources: { maxCvms: 1 } } });
  try {
    const c = sdkClient(full);
    // both placed while the host is empty; the second commit finds it full once its rows are written, and rolls back
    const a = await c.provisionCvm({ name: 'ev-full-a', compose_file: { docker_compose_file: COMPOSE } });
    const b = await c.provisionCvm({ name: 'ev-full-b', compose_file: { docker_compose_file: `${COMPOSE}    restart: always\n` } });
    await c.commitCvmProvision({ app_id: a.app_id!, compose_hash: a.compose_hash });
    const res = await fetch(`${full.apiUrl}/cvms`, {
      method: 'POST',
      headers: { 'x-api-key': full.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ app_id: b.app_id, compose_hash: b.compose_hash }),
    });
    assert.ok(res.status >= 400 && res.status < 500, `the second commit is refused: ${res.status} ${await res.text()}`);
    const rows = await full.server.services.db.query<{ type: string; name: string }>(`SELECT type, data->>'name' AS name FROM events ORDER BY seq`);
    assert.deepEqual([...new Set(rows.map((r) => r.name))], ['ev-full-a'], 'only the committed CVM has events');
    assert.equal(rows[0].type, 'cvm.operation_started', "the commit's event: its create operation queued");
  } finally {
    await full.close();
  }
});

test('a host that stops answering and answers again: host.unreachable and host.recovered, operator events (no workspace)', async () => {
  const ops = await startTestEnv({ config: { reconcileMs: 100, unreachableAfter: 2 } });
  try {
    const db = ops.server.services.db;
    const fault = ops.sim.addFault({ kind: 'error', method: 'Status', error: 'the host is down' });
    const down = await waitFor(async () => (await listWorkspaceEventsAfter(db, null, '0', 10)).find((e) => e.type === 'host.unreachable') ?? null, 20_000);
    assert.equal(down.workspace_id, null);
    assert.equal(down.cvm_id, null);
    assert.equal(down.data.node_name, 'sim-test');
    assert.match(String(down.data.reason), /did not answer 2 reads in a row: .*the host is down/);
    ops.sim.clearFaults(fault);
    const up = await waitFor(async () => (await listWorkspaceEventsAfter(db, null, down.seq, 10)).find((e) => e.type === 'host.recovered') ?? null, 20_000);
    assert.equal(up.data.was, 'unreachable');
    assert.ok(BigInt(up.seq) > BigInt(down.seq));
    // no workspace sees them
    const [ws] = await db.query<{ id: number }>('SELECT id FROM workspaces ORDER BY id LIMIT 1');
    assert.equal((await listWorkspaceEventsAfter(db, ws.id, '0', 100)).filter((e) => e.type.startsWith('host.')).length, 0);
  } finally {
    await ops.close();
  }
});
