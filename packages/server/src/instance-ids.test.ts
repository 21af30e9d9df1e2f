/**
 * Instance ids against a real server and simulated host, in both forms:
 * - as Phala's SDK documentation describes them (`POST /cvms/{id}/refresh-instance-id`,
 *   `POST /cvms/refresh-instance-ids`): a NEW id (the VM is removed and created again; the old id stops naming
 *   the CVM), queued as one operation per CVM;
 * - SDK 0.2.9 `refreshCvmInstanceId(s)` (`PATCH /cvms/{id}/instance-id`, `PATCH /cvms/instance-ids`): the id
 *   the host reports is recorded (unchanged / updated / skipped / conflict / error, dry_run writes nothing).
 * The runtime reconciler would copy host instance ids onto idle CVMs by itself, so it is kept from ticking
 * here (reconcileMs of an hour): the records these tests edit stay as edited until a request changes them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createClient,
  InstanceIdRefreshResultSchema,
  RefreshCvmInstanceIdsResponseSchema,
  refreshCvmInstanceId,
  refreshCvmInstanceIds,
  safeRefreshCvmInstanceId,
} from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning as deployRunningIn, sdkClient, settle } from './testing/deploy.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const compose = 'services:\n  web:\n    image: nginx\n';

let env: TestEnv;
let other: { workspaceId: number; apiKey: string };
before(async () => {
  delete process.env.PHALA_CLOUD_API_KEY;
  env = await startTestEnv({
    config: { reconcileMs: 3_600_000 },
    sim: { resources: { maxCvms: 100, maxVcpu: 200, maxMemoryMb: 1_000_000 } },
  });
  other = await env.server.services.auth.createWorkspace('iid-outsider');
});
after(async () => {
  await env?.close();
});

const deploy = (name: string) => deployRunningIn(env, name, compose);
const hostVms = (name: string) => env.sim.listVms().filter((v) => cvmNameOf(v.name) === name);
const c = () => sdkClient(env);

async function record(vmUuid: string) {
  const [row] = await env.server.db.query<{ id: number; instance_id: string | null; host_vm_id: string | null; status: string }>(
    'SELECT id, instance_id, host_vm_id, status FROM cvms WHERE vm_uuid = $1',
    [vmUuid],
  );
  return row;
}
const setRecordedId = (vmUuid: string, id: string | null) =>
  env.server.db.query('UPDATE cvms SET instance_id = $2 WHERE vm_uuid = $1', [vmUuid, id]);

/** An operation the worker will not take up for an hour: the CVM is busy, deterministically. */
async function holdBusy(vmUuid: string): Promise<() => Promise<void>> {
  const { id: cvmId } = await record(vmUuid);
  const [ws] = await env.server.db.query<{ workspace_id: number }>('SELECT workspace_id FROM cvms WHERE id = $1', [cvmId]);
  const [op] = await env.server.db.query<{ id: number }>(
    `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state, run_after)
     VALUES (gen_random_uuid(), $1, $2, 'stop', 'stopped', 'pending', now() + interval '1 hour') RETURNING id`,
    [ws.workspace_id, cvmId],
  );
  return async () => {
    await env.server.db.query(`UPDATE operations SET state = 'failed', error = 'test hold released', finished_at = now() WHERE id = $1`, [op.id]);
  };
}

test(`POST refresh-instance-id recreates the VM with a new instance id; the old one no longer finds the CVM`, async () => {
  const vm = await deploy('iid-renew');
  const [before] = hostVms('iid-renew');
  const old = before.instanceId!;
  assert.match(old, /^[0-9a-f]{40}$/);
  assert.equal((await record(vm.vm_uuid!)).instance_id, old);
  assert.equal((await c().get<any>(`/cvms/instance_${old}`)).name, 'iid-renew', 'the old id names the CVM before the refresh');

  const r = await c().post<any>(`/cvms/${vm.vm_uuid}/refresh-instance-id`);
  InstanceIdRefreshResultSchema.parse(r);
  assert.equal(r.status, 'updated');
  assert.equal(r.identifier, vm.vm_uuid);
  assert.equal(r.cvm_id, (await record(vm.vm_uuid!)).id);
  assert.equal(r.old_instance_id, old);
  assert.equal(r.new_instance_id, null);
  assert.equal(r.source, 'none');
  assert.equal(r.verified_with_gateway, false);
  assert.match(r.reason, /generates the new instance id at that first boot/);
  assert.match(r.reason, /correlation_id/);
  const [op] = await env.server.db.query<{ kind: string }>('SELECT kind FROM operations WHERE correlation_id = $1', [r.correlation_id]);
  assert.equal(op.kind, 'refresh_instance_id');

  const info = await settle(env, vm.vm_uuid!, 'running');
  assert.equal(info.status, 'running');
  const after = hostVms('iid-renew');
  assert.equal(after.length, 1, 'exactly one VM on the host for the CVM');
  assert.equal(after[0].status, 'running');
  assert.notEqual(after[0].id, before.id, 'a new VM on the host');
  assert.match(after[0].instanceId!, /^[0-9a-f]{40}$/);
  assert.notEqual(after[0].instanceId, old, 'a new instance id');
  const rec = await record(vm.vm_uuid!);
  assert.equal(rec.instance_id, after[0].instanceId);
  assert.equal(rec.host_vm_id, after[0].id);
  const [done] = await env.server.db.query<{ state: string }>('SELECT state FROM operations WHERE correlation_id = $1', [r.correlation_id]);
  assert.equal(done.state, 'succeeded');

  const gone = await c().safeGet(`/cvms/instance_${old}`);
  assert.equal(gone.success, false);
  assert.equal((gone as any).error.status, 404, 'the old instance id no longer finds the CVM');
  assert.equal((await c().get<any>(`/cvms/instance_${after[0].instanceId}`)).name, 'iid-renew');

  // the SDK form agrees with the record now
  const synced = await refreshCvmInstanceId(c(), { id: vm.vm_uuid! });
  assert.equal(synced.status, 'unchanged');
  assert.equal(synced.new_instance_id, after[0].instanceId);
});

test('refresh-instance-id: one operation per CVM (409 ERR-03-009), and a CVM that never had a host VM is 400 ERR-03-008', async () => {
  const vm = await deploy('iid-busy');
  // concurrent: exactly one refresh (or stop) proceeds
  const calls = await Promise.all([
    c().safePost(`/cvms/${vm.vm_uuid}/refresh-instance-id`),
    c().safePost(`/cvms/iid-busy/refresh-instance-id`),
    c().safeStopCvm({ id: vm.vm_uuid! }),
  ]);
  const ok = calls.filter((x) => x.success);
  assert.equal(ok.length, 1, JSON.stringify(calls.map((x) => (x.success ? 'ok' : (x as any).error.errorCode))));
  for (const x of calls.filter((y) => !y.success) as any[]) {
    assert.equal(x.error.status, 409);
    assert.equal(x.error.errorCode, 'ERR-03-009');
  }
  await env.server.worker.idle();
  assert.equal(hostVms('iid-busy').length, 1);

  // busy, deterministically: an operation held pending
  const release = await holdBusy(vm.vm_uuid!);
  const raw = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/refresh-instance-id`, { method: 'POST', headers: { 'x-api-key': env.apiKey } });
  assert.equal(raw.status, 409);
  assert.equal(raw.headers.get('retry-after'), '3');
  assert.equal(((await raw.json()) as any).detail.error_code, 'ERR-03-009');
  // the PATCH form leaves a busy CVM to the worker
  const patched = await refreshCvmInstanceId(c(), { id: vm.vm_uuid!, overwrite: true });
  assert.equal(patched.status, 'skipped');
  assert.match(patched.reason!, /busy with a stop operation/);
  await release();

  // a CVM whose first boot failed before the host created its VM
  env.sim.injectFault({ method: 'CreateVm', error: 'no room for this VM' });
  const p = await c().provisionCvm({ name: 'iid-novm', compose_file: { docker_compose_file: compose } });
  const failed = await c().commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await settle(env, failed.vm_uuid!, 'error');
  assert.equal((await record(failed.vm_uuid!)).host_vm_id, null);
  const bad = await c().safePost(`/cvms/${failed.vm_uuid}/refresh-instance-id`);
  assert.equal(bad.success, false);
  assert.equal((bad as any).error.status, 400);
  assert.equal((bad as any).error.errorCode, 'ERR-03-008');
  assert.match((bad as any).error.message, /has no VM on its host \(it never had one/);
  const none = await refreshCvmInstanceId(c(), { id: failed.vm_uuid! });
  assert.equal(none.status, 'skipped');
  assert.equal(none.source, 'none');
  assert.match(none.reason!, /no VM on a host/);
});

test('batch: POST /cvms/refresh-instance-ids queues each CVM; refused ones are items, not a failed batch', async () => {
  const a = await deploy('iid-batch-a');
  const b = await deploy('iid-batch-b');
  const oldA = hostVms('iid-batch-a')[0].instanceId!;
  const oldB = hostVms('iid-batch-b')[0].instanceId!;
  const release = await holdBusy(b.vm_uuid!);

  const r = await c().post<any>('/cvms/refresh-instance-ids', { ids: [a.vm_uuid, 'iid-batch-a', b.vm_uuid, 'no-such-cvm'] });
  RefreshCvmInstanceIdsResponseSchema.parse(r);
  assert.equal(r.total, 4);
  assert.equal(r.scanned, 4);
  assert.deepEqual([r.updated, r.unchanged, r.skipped, r.conflicts, r.errors], [1, 0, 1, 0, 2]);
  const [ia, dup, ib, missing] = r.items;
  assert.equal(ia.status, 'updated');
  assert.equal(ia.old_instance_id, oldA);
  assert.equal(ia.new_instance_id, null);
  assert.match(ia.correlation_id, /^[0-9a-f-]{36}$/);
  assert.equal(dup.status, 'skipped');
  assert.equal(dup.identifier, 'iid-batch-a');
  assert.match(dup.reason, /queued once/);
  assert.equal(ib.status, 'error');
  assert.equal(ib.error_code, 'ERR-03-009');
  assert.equal(missing.status, 'error');
  assert.equal(missing.cvm_id, 0);
  assert.equal(missing.error_code, 'ERR-03-001');

  await settle(env, a.vm_uuid!, 'running');
  await release();
  assert.equal(hostVms('iid-batch-a').length, 1);
  assert.notEqual(hostVms('iid-batch-a')[0].instanceId, oldA);
  assert.equal(hostVms('iid-batch-b')[0].instanceId, oldB, 'the busy CVM was not touched');
  assert.equal((await record(b.vm_uuid!)).instance_id, oldB);

  const empty = await c().safePost('/cvms/refresh-instance-ids', { ids: [] });
  assert.equal((empty as any).error.status, 422);
});

test('SDK refreshCvmInstanceId: unchanged, dry run, updated, skipped without overwrite, overwrite, conflict, host error', async () => {
  const a = await deploy('iid-sync-a');
  const b = await deploy('iid-sync-b');
  const hostA = hostVms('iid-sync-a')[0].instanceId!;
  const hostB = hostVms('iid-sync-b')[0].instanceId!;

  const same = await refreshCvmInstanceId(c(), { id: a.vm_uuid! });
  assert.deepEqual(
    { status: same.status, old: same.old_instance_id, new: same.new_instance_id, source: same.source, gw: same.verified_with_gateway },
    { status: 'unchanged', old: hostA, new: hostA, source: 'teepod_state', gw: false },
  );

  await setRecordedId(a.vm_uuid!, null);
  const dry = await refreshCvmInstanceId(c(), { id: a.vm_uuid!, dry_run: true });
  assert.equal(dry.status, 'updated');
  assert.equal(dry.old_instance_id, null);
  assert.equal(dry.new_instance_id, hostA);
  assert.match(dry.reason!, /Dry run/);
  assert.equal((await record(a.vm_uuid!)).instance_id, null, 'dry_run wrote nothing');

  const upd = await refreshCvmInstanceId(c(), { id: 'iid-sync-a' });
  assert.equal(upd.status, 'updated');
  assert.equal(upd.identifier, 'iid-sync-a');
  assert.equal(upd.new_instance_id, hostA);
  assert.equal((await record(a.vm_uuid!)).instance_id, hostA);
  assert.equal((await refreshCvmInstanceId(c(), { id: a.vm_uuid! })).status, 'unchanged');

  const stale = 'f'.repeat(40);
  await setRecordedId(a.vm_uuid!, stale);
  const kept = await refreshCvmInstanceId(c(), { id: a.vm_uuid! });
  assert.equal(kept.status, 'skipped');
  assert.equal(kept.old_instance_id, stale);
  assert.equal(kept.new_instance_id, hostA);
  assert.match(kept.reason!, /overwrite: true/);
  assert.equal((await record(a.vm_uuid!)).instance_id, stale);
  const over = await refreshCvmInstanceId(c(), { id: a.vm_uuid!, overwrite: true });
  assert.equal(over.status, 'updated');
  assert.equal(over.old_instance_id, stale);
  assert.equal((await record(a.vm_uuid!)).instance_id, hostA);
  assert.equal(hostVms('iid-sync-a').length, 1, 'overwrite never recreates the VM');
  assert.equal(hostVms('iid-sync-a')[0].instanceId, hostA, 'overwrite syncs from the host; it makes no new id');

  // conflict: B's record claims A's id
  await setRecordedId(a.vm_uuid!, null);
  await setRecordedId(b.vm_uuid!, hostA);
  for (const flags of [{}, { overwrite: true }, { dry_run: true }]) {
    const clash = await refreshCvmInstanceId(c(), { id: a.vm_uuid!, ...flags });
    assert.equal(clash.status, 'conflict', JSON.stringify(flags));
    assert.match(clash.reason!, /already recorded for CVM iid-sync-b/);
  }
  assert.equal((await record(a.vm_uuid!)).instance_id, null);
  // B is put right from its host, after which A's id is free
  assert.equal((await refreshCvmInstanceId(c(), { id: b.vm_uuid!, overwrite: true })).status, 'updated');
  assert.equal((await record(b.vm_uuid!)).instance_id, hostB);
  assert.equal((await refreshCvmInstanceId(c(), { id: a.vm_uuid! })).status, 'updated');

  // a host that fails the read
  env.sim.injectFault({ method: 'GetInfo', error: 'host is having a bad day' });
  const err = await refreshCvmInstanceId(c(), { id: a.vm_uuid! });
  assert.equal(err.status, 'error');
  assert.match(err.reason!, /bad day/);

  // bad flags are a 422, an unknown id a 404
  const wrong = await c().safePatch(`/cvms/${a.vm_uuid}/instance-id`, { overwrite: 'yes' });
  assert.equal((wrong as any).error.status, 422);
  const missing = await safeRefreshCvmInstanceId(c(), { id: 'no-such-cvm' });
  assert.equal(missing.success, false);
  assert.equal((missing as any).error.status, 404);
});

test('SDK refreshCvmInstanceIds: named ids, filters, limit, dry run, strict body; PATCH /cvms/instance-ids is not a /cvms/:id route', async () => {
  const a = await deploy('iid-many-a');
  const b = await deploy('iid-many-b');
  const hostA = hostVms('iid-many-a')[0].instanceId!;
  const hostB = hostVms('iid-many-b')[0].instanceId!;
  await setRecordedId(a.vm_uuid!, null);
  await setRecordedId(b.vm_uuid!, null);

  const dry = await refreshCvmInstanceIds(c(), { cvm_ids: [a.vm_uuid!, 'iid-many-b', 'no-such-cvm'], dry_run: true });
  assert.deepEqual([dry.total, dry.scanned, dry.updated, dry.errors], [3, 3, 2, 1]);
  assert.deepEqual(dry.items.map((i) => [i.identifier, i.status, i.new_instance_id ?? null]), [
    [a.vm_uuid, 'updated', hostA],
    ['iid-many-b', 'updated', hostB],
    ['no-such-cvm', 'error', null],
  ]);
  assert.equal((await record(a.vm_uuid!)).instance_id, null, 'dry run wrote nothing');

  // the workspace's CVMs without an id: exactly these two
  const filled = await refreshCvmInstanceIds(c(), { missing_only: true, running_only: true });
  assert.equal(filled.total, 2);
  assert.deepEqual(filled.items.map((i) => [i.identifier, i.status]).sort(), [[a.vm_uuid, 'updated'], [b.vm_uuid, 'updated']].sort());
  assert.equal((await record(a.vm_uuid!)).instance_id, hostA);
  assert.equal((await record(b.vm_uuid!)).instance_id, hostB);

  // every CVM of the workspace, at most `limit` examined
  const page = await refreshCvmInstanceIds(c(), { limit: 1 });
  assert.ok(page.total >= 2);
  assert.equal(page.scanned, 1);
  assert.equal(page.items.length, 1);

  // named CVMs that fail a filter are reported, not silently dropped
  const named = await refreshCvmInstanceIds(c(), { cvm_ids: [a.vm_uuid!], missing_only: true });
  assert.equal(named.items[0].status, 'skipped');
  assert.match(named.items[0].reason!, /missing_only/);

  // one Status per node: a failing host makes its CVMs errors, the call still answers
  env.sim.injectFault({ method: 'Status', error: 'status unavailable' });
  const down = await refreshCvmInstanceIds(c(), { cvm_ids: [a.vm_uuid!, b.vm_uuid!] });
  assert.equal(down.errors, 2);
  assert.match(down.items[0].reason!, /status unavailable/);

  // strict body (the SDK's schema is strict too, so send it raw)
  const extra = await c().safePatch('/cvms/instance-ids', { cvm_ids: [a.vm_uuid], bogus: true });
  assert.equal((extra as any).error.status, 422);
  const zero = await c().safePatch('/cvms/instance-ids', { limit: 0 });
  assert.equal((zero as any).error.status, 422);

  // route ordering: the static paths answer, not /cvms/:id (which would look for a CVM named "instance-ids")
  const plain = await c().patch<any>('/cvms/instance-ids', {});
  assert.equal(typeof plain.total, 'number');
  assert.ok(Array.isArray(plain.items));
  const seedBatch = await c().post<any>('/cvms/refresh-instance-ids', { ids: ['no-such-cvm'] });
  assert.equal(seedBatch.total, 1);
});

test("another workspace's CVM is a 404 in every form, and absent from its batches", async () => {
  const vm = await deploy('iid-mine');
  const outsider = createClient({ apiKey: other.apiKey, baseURL: env.apiUrl });
  for (const id of [vm.vm_uuid!, 'iid-mine', `instance_${hostVms('iid-mine')[0].instanceId}`]) {
    const post = await outsider.safePost(`/cvms/${id}/refresh-instance-id`);
    assert.equal((post as any).error.status, 404, id);
    assert.equal((post as any).error.errorCode, 'ERR-03-001', id);
    const patch = await safeRefreshCvmInstanceId(outsider, { id });
    assert.equal((patch as any).error.status, 404, id);
  }
  const batch = await outsider.post<any>('/cvms/refresh-instance-ids', { ids: [vm.vm_uuid] });
  assert.deepEqual([batch.errors, batch.items[0].cvm_id, batch.items[0].error_code], [1, 0, 'ERR-03-001']);
  const named = await refreshCvmInstanceIds(outsider, { cvm_ids: [vm.vm_uuid!] });
  assert.equal(named.errors, 1);
  const all = await refreshCvmInstanceIds(outsider, {});
  assert.deepEqual([all.total, all.scanned], [0, 0]);
  assert.equal(hostVms('iid-mine').length, 1);
  assert.equal((await record(vm.vm_uuid!)).status, 'running', 'nothing was queued for it');
});
