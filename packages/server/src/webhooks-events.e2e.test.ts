/**
 * Webhooks end to end: a real server and simulated host, CVMs deployed, updated, stopped, started and deleted
 * through the official SDK (`@phala/cloud`), and a real receiver on 127.0.0.1. The receiver gets, for each CVM,
 * exactly the events `GET /apps/{app_id}/events` shows (same ids, types and data), in the order they were
 * recorded, each signed so that both the `standardwebhooks` package and the official client's `parseWebhookEvent`
 * (`@phala/cloud/webhook`) verify it, Phala's envelope naming the event, its time and the workspace; a receiver that answers 500 for a
 * while still ends with every event of each CVM, in order, none twice by `webhook-id`; a webhook's event filter
 * delivers only the types it names: one made with the filter of Phala Cloud's webhooks documentation
 * (`["cvm.created", "cvm.stopped"]`) gets those two, with the data keys Phala Cloud documents (`cvm_id` the CVM's
 * vm_uuid, `cvm_name`, `app_id`, `status`; `error` for `cvm.create_failed`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { parseWebhookEvent } from '@phala/cloud/webhook';
import { webhookEventBodySchema } from '@opencvm/contract';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { sdkClient, settle } from './testing/deploy.ts';
import { startReceiver, type Receiver, type Received } from './testing/webhook-receiver.ts';
import { waitFor } from './testing/wait.ts';
import { apiCall } from './testing/api.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const COMPOSE_2 = 'services:\n  web:\n    image: nginx:1.27\n';

interface InstanceEvent {
  message_id: string;
  event_type: string;
  operation_payload: string | null;
  instance_id: string;
  timestamp: string;
  team_id: number | null;
}
interface Delivered {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, any>;
  /** Phala's envelope, as `parseWebhookEvent` answered it */
  created_at: string;
}

let env: TestEnv;
const receivers: Receiver[] = [];
/** the caller's workspace as Phala's webhook envelope names it (its slug as the id, as Phala Cloud's webhooks documentation shows), and its id */
let workspace: { id: string; name: string; slug: string };
let workspaceId: string;

before(async () => {
  env = await startTestEnv({ config: { webhookTimeoutMs: 2000 }, webhooks: { pollMs: 100, backoffBaseMs: 50, backoffCapMs: 200 } });
  const w = (await api<{ data: { id: string; name: string; slug: string; is_default: boolean }[] }>('GET', '/workspaces')).body.data.find((x) => x.is_default)!;
  workspace = { id: w.slug, name: w.name, slug: w.slug };
  workspaceId = w.id;
});
after(async () => {
  for (const r of receivers) await r.close();
  await env?.close();
});

const api = <T = any>(method: string, path: string, body?: unknown) => apiCall<T>(env, method, path, body);

async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

async function createWebhook(url: string, events: string[]) {
  const res = await api('POST', '/workspace/webhooks', { url, events });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; secret: string };
}

/** The app's events, oldest first (the API answers newest first, by the order they were recorded). */
async function appEvents(appId: string): Promise<InstanceEvent[]> {
  const r = await api<{ events: InstanceEvent[]; total: number }>('GET', `/apps/${appId}/events?limit=1000`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.total, r.body.events.length);
  return [...r.body.events].reverse();
}

/**
 * Verify a request's signatures with `standardwebhooks` and with the official client's `parseWebhookEvent`, check
 * that Phala's envelope names the same event, time and the caller's workspace, and answer its payload.
 */
function verified(secret: string, x: Received): Delivered {
  const payload = new StandardWebhook(secret).verify(x.body, {
    'webhook-id': x.id,
    'webhook-timestamp': x.timestamp,
    'webhook-signature': x.signature,
  }) as Omit<Delivered, 'id' | 'created_at'>;
  const phala = parseWebhookEvent<Record<string, unknown>>({ headers: x.headers, body: x.body, secret });
  webhookEventBodySchema.parse(phala);
  assert.equal(x.headers['x-webhook-timestamp'], x.timestamp);
  assert.deepEqual([phala.id, phala.event, phala.version, phala.created_at], [x.id, payload.type, '1', payload.timestamp]);
  assert.deepEqual(phala.workspace, workspace);
  assert.deepEqual(phala.data, payload.data);
  return { id: x.id, ...payload, created_at: phala.created_at };
}

/** What the receiver accepted (a 2xx) for the CVM of vm_uuid `cvmId`, in arrival order, verified, first of each `webhook-id`. */
function acceptedFor(r: Receiver, secret: string, cvmId: string): { all: Delivered[]; unique: Delivered[] } {
  const all = r.received.filter((x) => x.answered !== null && x.answered < 300).map((x) => verified(secret, x)).filter((d) => d.data.cvm_id === cvmId);
  const unique = [...new Map(all.map((d) => [d.id, d])).values()];
  return { all, unique };
}

/** Wait until the app's events include its CVM's deletion and the receiver accepted every one of them. */
async function allDelivered(r: Receiver, secret: string, appId: string, cvmId: string): Promise<InstanceEvent[]> {
  return waitFor(async () => {
    const events = await appEvents(appId);
    if (!events.some((e) => e.event_type === 'cvm.deleted')) return null;
    // the delete operation's end comes after the deletion
    if (events.at(-1)!.event_type !== 'cvm.operation_succeeded') return null;
    const got = new Set(acceptedFor(r, secret, cvmId).unique.map((d) => d.id));
    return events.every((e) => got.has(e.message_id)) ? events : null;
  }, 60_000, 100);
}

/**
 * The receiver's deliveries of the CVM are exactly the recorded events: ids, types, data, order, each accepted
 * once; the data names the CVM as Phala Cloud's webhooks do (`cvm_id` its vm_uuid, `cvm_name` its name).
 */
function assertSameAsRecorded(r: Receiver, secret: string, cvmId: string, events: InstanceEvent[]) {
  const { all, unique } = acceptedFor(r, secret, cvmId);
  assert.deepEqual(unique.map((d) => d.id), events.map((e) => e.message_id), 'the accepted deliveries are the recorded events, in the order they were recorded');
  assert.deepEqual(unique.map((d) => d.type), events.map((e) => e.event_type));
  // Phala's envelope: the event's time, and the workspace the events belong to
  assert.deepEqual(unique.map((d) => d.created_at), events.map((e) => e.timestamp));
  for (const e of events) assert.equal(String(e.team_id), workspaceId);
  assert.equal(all.length, unique.length, 'no event was accepted twice');
  for (const [i, d] of unique.entries()) {
    const { event_id, cvm_id, cvm_name, ...data } = d.data;
    const { cvm_id: internalId, ...recorded } = JSON.parse(events[i].operation_payload!);
    assert.equal(event_id, d.id);
    assert.equal(typeof internalId, 'number');
    assert.deepEqual([cvm_id, cvm_name], [cvmId, recorded.name], `${d.type}: the CVM by its vm_uuid and name`);
    assert.deepEqual(data, recorded, `the data of ${d.type} ${d.id}`);
  }
}

test('a deploy, a compose update, a stop, a start, a restart and a delete through the official SDK: every event delivered, signed, in order; a filter delivers only its types', async () => {
  const everything = await receiver();
  const deletions = await receiver();
  const phalaHook = await receiver();
  const all = await createWebhook(`${everything.url}/all`, ['*']);
  const onlyDeleted = await createWebhook(`${deletions.url}/deleted`, ['cvm.deleted']);
  // the example of Phala Cloud's webhooks documentation, as it is written there
  const asPhala = await api('POST', '/workspace/webhooks', { url: `${phalaHook.url}/webhook`, events: ['cvm.created', 'cvm.stopped'], name: 'My Hook' });
  assert.equal(asPhala.status, 201, JSON.stringify(asPhala.body));
  const phalaWebhook = asPhala.body as { id: string; secret: string; events: string[]; name: string };
  assert.deepEqual([phalaWebhook.events, phalaWebhook.name], [['cvm.created', 'cvm.stopped'], 'My Hook']);

  const c = sdkClient(env);
  const p = await c.provisionCvm({ name: 'wh-e2e', compose_file: { docker_compose_file: COMPOSE } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const uuid = vm.vm_uuid!;
  const cvmId = uuid;
  const appId = p.app_id!.replace(/^app_/, '');
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  await settle(env, uuid, 'running');
  const updated = await c.updateDockerCompose({ id: uuid, docker_compose_file: COMPOSE_2 });
  assert.equal(updated.status, 'in_progress');
  await settle(env, uuid, 'running');
  await c.stopCvm({ id: uuid });
  await settle(env, uuid, 'stopped');
  await c.startCvm({ id: uuid });
  await settle(env, uuid, 'running');
  await c.restartCvm({ id: uuid });
  await settle(env, uuid, 'running');
  await c.deleteCvm({ id: uuid });

  const events = await allDelivered(everything, all.secret, appId, cvmId);
  assertSameAsRecorded(everything, all.secret, cvmId, events);

  const { unique } = acceptedFor(everything, all.secret, cvmId);
  const types = new Set(unique.map((d) => d.type));
  for (const t of ['cvm.created', 'cvm.operation_started', 'cvm.operation_succeeded', 'cvm.status_changed', 'cvm.configuration_updated', 'cvm.deleted']) {
    assert.ok(types.has(t), `${t} delivered (got ${[...types].join(', ')})`);
  }
  // the commit queues the create; cvm.created is Phala Cloud's: once the first deployment completed
  assert.equal(unique[0].type, 'cvm.operation_started');
  assert.equal(unique[0].data.kind, 'create');
  // Phala Cloud's types, each once per completed operation, with the keys its documentation gives
  const phala = unique.filter((d) => ['cvm.created', 'cvm.updated', 'cvm.stopped', 'cvm.started', 'cvm.restarted', 'cvm.deleted'].includes(d.type));
  assert.deepEqual(phala.map((d) => [d.type, d.data.status]), [
    ['cvm.created', 'running'], ['cvm.updated', 'running'], ['cvm.stopped', 'stopped'], ['cvm.started', 'running'], ['cvm.restarted', 'running'], ['cvm.deleted', 'deleted'],
  ]);
  for (const d of phala) assert.deepEqual([d.data.cvm_id, d.data.cvm_name, d.data.app_id], [uuid, 'wh-e2e', appId], d.type);
  assert.equal(phala[0].data.compose_hash, p.compose_hash);
  assert.equal(phala[1].data.correlation_id, updated.correlation_id, "cvm.updated: the compose update's");
  // the status changes chain from the status the CVM was created with to `deleted`
  let was = 'starting';
  const path: string[] = [];
  for (const s of unique.filter((d) => d.type === 'cvm.status_changed')) {
    assert.equal(s.data.from, was);
    was = s.data.to;
    path.push(was);
  }
  assert.deepEqual(path, ['running', 'updating', 'running', 'stopping', 'stopped', 'starting', 'running', 'restarting', 'running', 'deleting', 'deleted']);
  // the update's event names the new compose hash and its revision
  const revisions = await c.get<{ revisions: { revision_id: string; compose_hash: string }[] }>(`/apps/${appId}/revisions`);
  const newRevision = revisions.revisions.find((r) => r.compose_hash !== p.compose_hash);
  assert.ok(newRevision, JSON.stringify(revisions));
  const configs = unique.filter((d) => d.type === 'cvm.configuration_updated');
  assert.equal(configs.length, 1);
  assert.equal(configs[0].data.compose_hash, newRevision.compose_hash);
  assert.equal(configs[0].data.revision_id, newRevision.revision_id);
  assert.equal(configs[0].data.correlation_id, updated.correlation_id);
  assert.deepEqual(unique.filter((d) => d.type === 'cvm.operation_started').map((d) => d.data.kind), ['create', 'update', 'stop', 'start', 'restart', 'delete']);
  assert.equal(unique.filter((d) => d.type === 'cvm.deleted').length, 1);

  // the filtered webhook: only the deletion, signed with its own secret
  const deletedEvent = events.find((e) => e.event_type === 'cvm.deleted')!;
  const onlyDeletions = await waitFor(() => {
    const got = acceptedFor(deletions, onlyDeleted.secret, cvmId).unique;
    return got.length ? got : null;
  }, 30_000);
  assert.deepEqual(onlyDeletions.map((d) => [d.id, d.type]), [[deletedEvent.message_id, 'cvm.deleted']]);
  await waitFor(async () => ((await api<{ pending_count: number }>('GET', `/workspace/webhooks/${onlyDeleted.id}/stats`)).body.pending_count === 0 ? true : null));
  assert.deepEqual(new Set(deletions.received.map((x) => verified(onlyDeleted.secret, x).type)), new Set(['cvm.deleted']));
  assert.throws(() => verified(all.secret, deletions.received[0]), "one webhook's secret does not verify another's deliveries");
  const [d0] = deletions.received;
  assert.throws(() => parseWebhookEvent({ headers: d0.headers, body: d0.body, secret: all.secret }), /Invalid webhook signature/);
  assert.equal(parseWebhookEvent({ headers: d0.headers, body: d0.body, secret: onlyDeleted.secret }).id, deletedEvent.message_id);

  // Phala Cloud's example filter: exactly cvm.created and cvm.stopped, verified as Phala Cloud's SDK verifies them
  const phalaEvents = events.filter((e) => e.event_type === 'cvm.created' || e.event_type === 'cvm.stopped');
  assert.equal(phalaEvents.length, 2);
  const asPhalaGot = await waitFor(() => {
    const got = acceptedFor(phalaHook, phalaWebhook.secret, uuid).unique;
    return got.length >= 2 ? got : null;
  }, 30_000);
  await waitFor(async () => ((await api<{ pending_count: number }>('GET', `/workspace/webhooks/${phalaWebhook.id}/stats`)).body.pending_count === 0 ? true : null));
  assert.deepEqual(phalaHook.received.map((x) => verified(phalaWebhook.secret, x).type), ['cvm.created', 'cvm.stopped']);
  assert.deepEqual(asPhalaGot.map((d) => d.id), phalaEvents.map((e) => e.message_id));
  for (const [d, status] of [[asPhalaGot[0], 'running'], [asPhalaGot[1], 'stopped']] as const) {
    const x = phalaHook.received.find((y) => y.id === d.id)!;
    const parsed = parseWebhookEvent<Record<string, unknown>>({ headers: x.headers, body: x.body, secret: phalaWebhook.secret });
    assert.equal(x.headers['x-webhook-event'], d.type);
    assert.deepEqual(
      { cvm_id: parsed.data.cvm_id, cvm_name: parsed.data.cvm_name, app_id: parsed.data.app_id, status: parsed.data.status },
      { cvm_id: uuid, cvm_name: 'wh-e2e', app_id: appId, status },
    );
  }

  for (const w of [all, onlyDeleted, phalaWebhook]) assert.equal((await api('DELETE', `/workspace/webhooks/${w.id}`)).status, 204);
});

test('a receiver answering 500 for its first requests during a deploy of two CVMs still gets every event of each, in order, none twice', async () => {
  let failures = 10;
  const flaky = await receiver(() => (failures-- > 0 ? { status: 500, body: 'not yet' } : { status: 200, body: 'ok' }));
  const w = await createWebhook(`${flaky.url}/flaky`, ['*']);

  const c = sdkClient(env);
  const deployed = await Promise.all(
    ['wh-flaky-a', 'wh-flaky-b'].map(async (name) => {
      const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: COMPOSE } });
      const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
      return { uuid: vm.vm_uuid!, cvmId: vm.vm_uuid!, appId: p.app_id!.replace(/^app_/, '') };
    }),
  );
  for (const d of deployed) await settle(env, d.uuid, 'running');
  for (const d of deployed) await c.deleteCvm({ id: d.uuid });

  for (const d of deployed) {
    const events = await allDelivered(flaky, w.secret, d.appId, d.cvmId);
    assertSameAsRecorded(flaky, w.secret, d.cvmId, events);
    // every request the receiver saw of this CVM, refused or not, came after the earlier events were accepted
    const order = events.map((e) => e.message_id);
    const seen = flaky.received.filter((x) => JSON.parse(x.body).data.cvm_id === d.cvmId).map((x) => order.indexOf(x.id));
    assert.ok(seen.every((i) => i >= 0));
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'an event was sent before an earlier one of its CVM was delivered');
  }
  // the 500s happened, and each refused event came again with the same webhook-id and was then accepted
  const refused = flaky.received.filter((x) => x.answered === 500);
  assert.equal(refused.length, 10);
  for (const x of refused) {
    assert.ok(flaky.received.some((y) => y.id === x.id && y.answered === 200), `${x.id} was sent again and accepted`);
    verified(w.secret, x);
  }
  assert.equal((await api('DELETE', `/workspace/webhooks/${w.id}`)).status, 204);
});

test("a first deployment that fails: cvm.create_failed delivered with the operation's error and the CVM's vm_uuid", async () => {
  const r = await receiver();
  const w = await createWebhook(`${r.url}/failed`, ['cvm.create_failed', 'cvm.created']);
  const c = sdkClient(env);
  env.sim.injectFault({ method: 'CreateVm', error: 'no room for this VM' });
  const p = await c.provisionCvm({ name: 'wh-create-fail', compose_file: { docker_compose_file: COMPOSE } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await settle(env, vm.vm_uuid!, 'error');
  const [d] = await waitFor(() => {
    const got = acceptedFor(r, w.secret, vm.vm_uuid!).unique;
    return got.length ? got : null;
  }, 30_000);
  assert.equal(d.type, 'cvm.create_failed');
  assert.deepEqual([d.data.cvm_id, d.data.cvm_name, d.data.app_id, d.data.status], [vm.vm_uuid, 'wh-create-fail', p.app_id!.replace(/^app_/, ''), 'error']);
  assert.match(String(d.data.error), /no room for this VM/);
  await waitFor(async () => ((await api<{ pending_count: number }>('GET', `/workspace/webhooks/${w.id}/stats`)).body.pending_count === 0 ? true : null));
  assert.equal(r.received.length, 1, 'no cvm.created: it never ran');
  assert.equal((await api('DELETE', `/workspace/webhooks/${w.id}`)).status, 204);
});
