/**
 * The smaller CVM operations at Phala Cloud's paths, on a real server and simulated host, through the official
 * SDK's client (0.2.9 has no function of its own for any of them, so its `patch`/`post`): a new name
 * (`PATCH /cvms/{id}/name`, every id form), `listed`, a scheduled delete that happens, a batch stop mixing the
 * caller's, another workspace's, unknown and stopped CVMs, and the redeploy of a revision at both of Phala's
 * paths (and the older `…/rollback`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, getAppRevisions, replicateCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import { hostVm, operationsOf, recordOf, refused, updatedHostVm } from './testing/updates.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const COMPOSE_B = 'services:\n  web:\n    image: nginx:1.27\n';

let env: TestEnv;
before(async () => {
  // a short reconcile tick: a scheduled delete is queued by it
  env = await startTestEnv({ config: { reconcileMs: 200 }, sim: { resources: { maxCvms: 40, maxVcpu: 64, maxMemoryMb: 200_000 } } });
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);
const info = (id: string) => c().getCvmInfo({ id });
const idForms = (vm: { id: number; vm_uuid: string; app_id: string; instance_id: string; name: string }) => [
  ['name', vm.name],
  ['numeric id', String(vm.id)],
  ['vm_uuid', vm.vm_uuid],
  ['vm_uuid without dashes', vm.vm_uuid.replace(/-/g, '')],
  ['app_<app_id>', `app_${vm.app_id}`],
  ['instance_<instance_id>', `instance_${vm.instance_id}`],
] as const;

async function deploy(name: string) {
  const vm = await deployRunning(env, name, COMPOSE);
  const i = await waitFor(async () => {
    const x = await info(vm.vm_uuid!);
    return x.instance_id ? x : null;
  });
  return { id: Number(vm.id), vm_uuid: vm.vm_uuid!, app_id: vm.app_id!.replace(/^app_/, ''), instance_id: i.instance_id!, name };
}

test('PATCH /cvms/{id}/name: by every id form; the record changes, the host VM keeps its name; bad and taken names refused', async () => {
  const vm = await deploy('ops-name');
  const other = await deploy('ops-name-taken');
  const hostBefore = hostVm(env, 'ops-name');
  let current = vm.name;
  let n = 0;
  for (const [form, value] of idForms({ ...vm, name: current })) {
    const next = `ops-renamed-${++n}`;
    const id = form === 'name' ? current : value;
    const answer = await c().patch(`/cvms/${id}/name`, { name: next });
    assert.ok(answer === undefined || answer === null || answer === '', `204, no body (by ${form}): ${JSON.stringify(answer)}`);
    assert.equal((await info(vm.vm_uuid)).name, next, `renamed by ${form}`);
    current = next;
  }
  // the old name no longer names it; the new one does
  await refused(info('ops-name'), 404, 'ERR-03-001');
  assert.equal((await info(current)).vm_uuid, vm.vm_uuid);
  // the host VM is the same, with the name it was created with (dstack sets it at CreateVm)
  const vms = env.sim.listVms().filter((v) => v.id === hostBefore.id);
  assert.equal(vms.length, 1);
  assert.equal(cvmNameOf(vms[0].name), 'ops-name');

  const invalid = await refused(c().patch(`/cvms/${vm.vm_uuid}/name`, { name: 'bad_name!' }), 422, 'ERR-02-008');
  assert.match(invalid.message, /not a valid CVM name/);
  await refused(c().patch(`/cvms/${vm.vm_uuid}/name`, { name: 'ab' }), 422, 'ERR-02-008');
  const taken = await refused(c().patch(`/cvms/${vm.vm_uuid}/name`, { name: other.name }), 409, 'ERR-01-004');
  assert.match(taken.message, /already exists/);
  assert.equal((await info(vm.vm_uuid)).name, current, 'a refused name changes nothing');
  // its own name again is no change
  await c().patch(`/cvms/${vm.vm_uuid}/name`, { name: current });
  assert.equal((await info(vm.vm_uuid)).name, current);
});

test('PATCH /cvms/{id}/listed: recorded and shown in the detail; the answer is the VM', async () => {
  const vm = await deploy('ops-listed');
  assert.equal((await recordOf(env, vm.vm_uuid)).listed, false);
  const hostBefore = hostVm(env, 'ops-listed');
  const answer = await c().patch<{ vm_uuid: string; name: string; status: string }>(`/cvms/app_${vm.app_id}/listed`, { listed: true });
  assert.equal(answer.vm_uuid, vm.vm_uuid);
  assert.equal(answer.status, 'running');
  assert.equal((await info(vm.vm_uuid)).listed, true);
  assert.equal((await recordOf(env, vm.vm_uuid)).listed, true);
  await c().patch(`/cvms/${vm.vm_uuid}/listed`, { listed: false });
  assert.equal((await info(vm.vm_uuid)).listed, false);
  assert.deepEqual(hostVm(env, 'ops-listed').configuration, hostBefore.configuration, 'nothing on the host changes');
  await refused(c().patch(`/cvms/${vm.vm_uuid}/listed`, { listed: 'yes' }), 422, 'ERR-02-008');
});

test('PATCH /cvms/{id}/scheduled-delete: shown, cleared, refused in the past; a due one is deleted by the server', async () => {
  const vm = await deploy('ops-sched');
  const v2025 = () => c().get<{ scheduled_delete_at: string | null }>(`/cvms/${vm.vm_uuid}`, { headers: { 'X-Phala-Version': '2025-10-28' } });
  const later = new Date(Date.now() + 3600_000).toISOString();
  const answer = await c().patch<{ vm_uuid: string }>(`/cvms/${vm.name}/scheduled-delete`, { scheduled_delete_at: later });
  assert.equal(answer.vm_uuid, vm.vm_uuid);
  assert.equal(new Date((await v2025()).scheduled_delete_at!).getTime(), new Date(later).getTime());
  const detail = await c().get<{ scheduled_delete_at: string | null }>(`/cvms/${vm.vm_uuid}`);
  assert.equal(new Date(detail.scheduled_delete_at!).getTime(), new Date(later).getTime(), 'the 2026-01-21 detail shows it too');
  // null clears it, and so does no body
  await c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: null });
  assert.equal((await v2025()).scheduled_delete_at, null);
  await c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: later });
  await c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, {});
  assert.equal((await v2025()).scheduled_delete_at, null);

  const past = await refused(c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: '2020-01-01T00:00:00Z' }), 422, 'ERR-02-008');
  assert.match(past.message, /not in the future/);
  await refused(c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: 'tomorrow' }), 422, 'ERR-02-008');
  assert.equal((await v2025()).scheduled_delete_at, null, 'a refused time sets nothing');

  // a second ahead: the reconciler queues its delete once, and the CVM is deleted
  await c().patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: new Date(Date.now() + 1000).toISOString() });
  await waitFor(async () => ((await recordOf(env, vm.vm_uuid)).status === 'deleted' ? true : null), 30_000);
  await refused(info(vm.vm_uuid), 404, 'ERR-03-001');
  assert.equal(env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'ops-sched').length, 0, 'its VM is gone from the host');
  const ops = await env.server.db.query<{ kind: string; state: string; params: { operation_type?: string; reason?: string } }>(
    'SELECT o.kind, o.state, o.params FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 AND o.kind = $2', [vm.vm_uuid, 'delete']);
  assert.equal(ops.length, 1, 'one delete queued');
  assert.equal(ops[0].state, 'succeeded');
  assert.equal(ops[0].params.operation_type, 'scheduled_delete');
  assert.match(ops[0].params.reason ?? '', /scheduled delete at/);
});

test('POST /cvms/batch-stop: own CVMs stopped, stopped and repeated ones skipped, another workspace\'s and unknown ids errors', async () => {
  const a = await deploy('ops-batch-a');
  const b = await deploy('ops-batch-b');
  await c().stopCvm({ id: b.vm_uuid });
  await settle(env, b.vm_uuid, 'stopped');
  const ws = await env.server.services.auth.createWorkspace('ops-other');
  const theirs = createClient({ apiKey: ws.apiKey, baseURL: env.apiUrl });
  const tp = await theirs.provisionCvm({ name: 'ops-batch-theirs', compose_file: { docker_compose_file: COMPOSE } });
  const tvm = await theirs.commitCvmProvision({ app_id: tp.app_id!, compose_hash: tp.compose_hash });
  await waitFor(async () => {
    const i = await theirs.getCvmInfo({ id: tvm.vm_uuid! });
    return i.status === 'running' && !i.progress ? i : null;
  });

  const ids = [`app_${a.app_id}`, a.vm_uuid.replace(/-/g, ''), b.name, tvm.vm_uuid!, 'ops-batch-theirs', 'no-such-cvm', String(a.id)];
  const r = await c().post<{ total: number; stopped: number; skipped: number; errors: { cvm_id: string; error: string }[]; skipped_cvms: { cvm_id: string; reason: string }[] }>(
    '/cvms/batch-stop', { cvm_ids: ids });
  assert.equal(r.total, 7);
  assert.equal(r.stopped, 1);
  assert.equal(r.skipped, 3);
  assert.deepEqual(r.skipped_cvms.map((s) => s.cvm_id).sort(), [a.vm_uuid.replace(/-/g, ''), b.name, String(a.id)].sort());
  assert.match(r.skipped_cvms.find((s) => s.cvm_id === b.name)!.reason, /already stopped/);
  assert.deepEqual(r.errors.map((e) => e.cvm_id).sort(), [tvm.vm_uuid!, 'ops-batch-theirs', 'no-such-cvm'].sort());
  for (const e of r.errors) assert.match(e.error, /not found/);
  assert.ok(!JSON.stringify(r).includes(tvm.app_id!.replace(/^app_/, '')), "nothing of the other workspace's CVM in the answer");

  await settle(env, a.vm_uuid, 'stopped');
  assert.equal(hostVm(env, 'ops-batch-a').status, 'stopped');
  // the other workspace's CVM was never touched
  const t = await theirs.getCvmInfo({ id: tvm.vm_uuid! });
  assert.equal(t.status, 'running');
  assert.equal((await operationsOf(env, tvm.vm_uuid!)).length, 1, 'only its create');

  const tooMany = await refused(c().post('/cvms/batch-stop', { cvm_ids: Array.from({ length: 51 }, (_, i) => `cvm-${i}`) }), 400, 'ERR-02-008');
  assert.match(tooMany.message, /at most 50/);
  await refused(c().post('/cvms/batch-stop', { cvm_ids: [] }), 422, 'ERR-02-008');
  await refused(c().post('/cvms/batch-stop', {}), 422, 'ERR-02-008');
});

test('redeploy a revision at both Phala paths: the compose hash goes back; one of several CVMs needs vm_uuids; rollback still works', async () => {
  const vm = await deploy('ops-redeploy');
  const first = hostVm(env, 'ops-redeploy');
  const h0 = first.composeHash;
  await c().updateDockerCompose({ id: vm.vm_uuid, docker_compose_file: COMPOSE_B });
  await settle(env, vm.vm_uuid, 'running');
  const h1 = hostVm(env, 'ops-redeploy').composeHash;
  assert.notEqual(h0, h1);
  const revs = await getAppRevisions(c(), { appId: vm.app_id });
  const [rev1, rev0] = revs.revisions;
  assert.deepEqual([rev0.compose_hash, rev1.compose_hash], [h0, h1]);

  // the CVM path, by the CVM's name
  const r = await c().post<{ status: string; correlation_id: string; compose_hash: string }>(`/cvms/${vm.name}/revisions/${rev0.revision_id}/redeploy`);
  assert.equal(r.status, 'in_progress');
  assert.equal(r.compose_hash, h0);
  await settle(env, vm.vm_uuid, 'running');
  assert.equal(updatedHostVm(env, 'ops-redeploy', first).composeHash, h0);
  assert.equal((await recordOf(env, vm.vm_uuid)).compose_hash, h0);

  // the app path, the app's one CVM by default
  const a = await c().post<{ revision_id: string; app_id: string; cvms: { vm_uuid: string; status: string; correlation_id: string; compose_hash: string }[] }>(
    `/apps/${vm.app_id}/revisions/${rev1.revision_id}/redeploy`);
  assert.equal(a.revision_id, rev1.revision_id);
  assert.deepEqual(a.cvms.map((x) => [x.vm_uuid, x.status, x.compose_hash]), [[vm.vm_uuid, 'in_progress', h1]]);
  await settle(env, vm.vm_uuid, 'running');
  assert.equal(updatedHostVm(env, 'ops-redeploy', first).composeHash, h1);

  // the older path is an alias
  await c().post(`/apps/${vm.app_id}/revisions/${rev0.revision_id}/rollback`, {});
  await settle(env, vm.vm_uuid, 'running');
  assert.equal(updatedHostVm(env, 'ops-redeploy', first).composeHash, h0);
  const history = await getAppRevisions(c(), { appId: vm.app_id });
  assert.deepEqual(history.revisions.slice(0, 3).map((x) => [x.operation_type, x.compose_hash]), [['rollback', h0], ['redeploy', h1], ['redeploy', h0]]);

  // unknown revision; another app's revision on this CVM
  await refused(c().post(`/cvms/${vm.vm_uuid}/revisions/rev_0000000000000000/redeploy`), 404, 'ERR-03-001');
  await refused(c().post(`/apps/${vm.app_id}/revisions/rev_0000000000000000/redeploy`), 404, 'ERR-03-001');
  // a PHALA KMS app needs no transaction
  await refused(c().post(`/cvms/${vm.vm_uuid}/revisions/${rev1.revision_id}/redeploy?transaction_hash=0x${'1'.repeat(64)}`), 400, 'ERR-02-008');

  // two CVMs of the app: vm_uuids is required, then names which
  const replica = await replicateCvm(c(), { id: vm.vm_uuid });
  await settle(env, replica.vm_uuid!, 'running');
  const many = await refused(c().post(`/apps/${vm.app_id}/revisions/${rev1.revision_id}/redeploy`), 422, 'ERR-02-008');
  assert.match(many.message, /vm_uuids/);
  const both = await c().post<{ cvms: { vm_uuid: string; compose_hash: string }[] }>(
    `/apps/${vm.app_id}/revisions/${rev1.revision_id}/redeploy`, { vm_uuids: [replica.vm_uuid!] });
  assert.deepEqual(both.cvms.map((x) => x.vm_uuid), [replica.vm_uuid]);
  await settle(env, replica.vm_uuid!, 'running');
  assert.equal((await recordOf(env, replica.vm_uuid!)).compose_hash, h1);
  assert.equal((await recordOf(env, vm.vm_uuid)).compose_hash, h0, 'the CVM not named is left as it was');
});

test('roles: a MEMBER renames, sets listed and batch-stops; scheduling a delete needs ADMIN (403), as DELETE does', async () => {
  const vm = await deploy('ops-roles');
  const [w] = await env.server.db.query<{ slug: string }>('SELECT w.slug FROM workspaces w JOIN cvms c ON c.workspace_id = w.id WHERE c.vm_uuid = $1', [vm.vm_uuid]);
  const inv = await c().post<{ token: string }>(`/workspaces/${w.slug}/invitations`, { email: 'member@ops.test', role: 'MEMBER' });
  const res = await fetch(`${env.apiUrl}/invitations/${inv.token}/accept`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'ops-member' }) });
  assert.equal(res.status, 200);
  const member = createClient({ apiKey: ((await res.json()) as { api_token: { token: string } }).api_token.token, baseURL: env.apiUrl });

  await member.patch(`/cvms/${vm.vm_uuid}/name`, { name: 'ops-roles-2' });
  await member.patch(`/cvms/${vm.vm_uuid}/listed`, { listed: true });
  const denied = await refused(member.patch(`/cvms/${vm.vm_uuid}/scheduled-delete`, { scheduled_delete_at: new Date(Date.now() + 3600_000).toISOString() }), 403, 'ERR-06-401');
  assert.match(denied.message, /ADMIN/);
  const v2025 = await c().get<{ name: string; listed: boolean; scheduled_delete_at: string | null }>(`/cvms/${vm.vm_uuid}`, { headers: { 'X-Phala-Version': '2025-10-28' } });
  assert.deepEqual([v2025.name, v2025.listed, v2025.scheduled_delete_at], ['ops-roles-2', true, null]);
  const r = await member.post<{ stopped: number }>('/cvms/batch-stop', { cvm_ids: [vm.vm_uuid] });
  assert.equal(r.stopped, 1);
  await settle(env, vm.vm_uuid, 'stopped');
});
