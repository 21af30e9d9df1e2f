/**
 * CVM lifecycle with the official SDK: start, stop, shutdown, restart (graceful and force),
 * delete, replicate — each checked against what the simulated host then holds — and one operation per
 * CVM at a time under concurrent calls.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, replicateCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { deployRunning as deployRunningIn, settle as settleIn } from './testing/deploy.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const compose = 'services:\n  web:\n    image: nginx\n';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 200, maxVcpu: 400, maxMemoryMb: 1_000_000 } } });
});
after(async () => {
  await env?.close();
});

const client = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

const deployRunning = (name: string) => deployRunningIn(env, name, compose);
const settle = (id: string, status: string) => settleIn(env, id, status);

const hostVm = (name: string) => env.sim.listVms().filter((v) => cvmNameOf(v.name) === name);

test(`stop, start, shutdown, restart: the host follows`, async () => {
  const c = client();
  const vm = await deployRunning('life-app');
  const firstInstance = hostVm('life-app')[0].instanceId;

  const stopped = await c.stopCvm({ id: vm.vm_uuid! });
  assert.equal(stopped.status, 'stopping');
  await settle(vm.vm_uuid!, 'stopped');
  assert.equal(hostVm('life-app')[0].status, 'stopped');

  const started = await c.startCvm({ id: 'life-app' });
  assert.equal(started.status, 'starting');
  await settle(vm.vm_uuid!, 'running');
  const [again] = hostVm('life-app');
  assert.equal(again.status, 'running');
  assert.equal(again.bootProgress, 'done');
  assert.equal(again.instanceId, firstInstance, 'same VM, same instance id: start did not create a new VM');

  await c.shutdownCvm({ id: vm.vm_uuid! });
  await settle(vm.vm_uuid!, 'stopped');
  assert.equal(hostVm('life-app')[0].status, 'stopped');
  await c.startCvm({ id: vm.vm_uuid! });
  await settle(vm.vm_uuid!, 'running');

  // graceful restart passes through the guest's shutdown; force skips it
  const r1 = await c.restartCvm({ id: vm.vm_uuid! });
  assert.equal(r1.status, 'restarting');
  await settle(vm.vm_uuid!, 'running');
  const r2 = await c.restartCvm({ id: vm.vm_uuid!, force: true });
  assert.equal(r2.status, 'restarting');
  await settle(vm.vm_uuid!, 'running');
  assert.equal(hostVm('life-app').length, 1, 'exactly one VM on the host after all of it');
  assert.equal(hostVm('life-app')[0].status, 'running');

  const kinds = await env.server.db.query<{ kind: string; state: string }>(
    `SELECT o.kind, o.state FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 ORDER BY o.id`,
    [vm.vm_uuid],
  );
  assert.deepEqual(kinds.map((k) => `${k.kind}:${k.state}`), [
    'create:succeeded', 'stop:succeeded', 'start:succeeded', 'shutdown:succeeded', 'start:succeeded', 'restart:succeeded', 'restart:succeeded',
  ]);
});

test('actions that make no sense in the current state say so', async () => {
  const c = client();
  const vm = await deployRunning('state-app');
  const r = await c.safeStartCvm({ id: vm.vm_uuid! });
  assert.equal(r.success, false);
  assert.equal((r as any).error.errorCode, 'ERR-03-008');
  assert.match((r as any).error.message, /already running/);
  await c.stopCvm({ id: vm.vm_uuid! });
  await settle(vm.vm_uuid!, 'stopped');
  for (const action of ['safeStopCvm', 'safeShutdownCvm', 'safeRestartCvm'] as const) {
    const res = await (c as any)[action]({ id: vm.vm_uuid! });
    assert.equal(res.success, false, action);
    assert.equal(res.error.errorCode, 'ERR-03-008', action);
    assert.equal(res.error.status, 400, action);
  }
  assert.equal(hostVm('state-app').length, 1);
  assert.equal(hostVm('state-app')[0].status, 'stopped');
});

test('concurrent conflicting operations: exactly one proceeds, the others get 409', async () => {
  const c = client();
  const vm = await deployRunning('race-app');
  // the worker waits until every call has answered: a stop it finished in between would rightly make a
  // later call a 400 (not running), not the 409 this is about
  await env.server.worker.stop();
  const calls = await Promise.all([
    c.safeStopCvm({ id: vm.vm_uuid! }),
    c.safeRestartCvm({ id: vm.vm_uuid! }),
    c.safeShutdownCvm({ id: vm.vm_uuid! }),
    c.safeRestartCvm({ id: vm.vm_uuid!, force: true }),
    c.safeStopCvm({ id: 'race-app' }),
  ]);
  const ok = calls.filter((r) => r.success);
  const refused = calls.filter((r) => !r.success) as { error: any }[];
  assert.equal(ok.length, 1, JSON.stringify(calls.map((r) => (r.success ? 'ok' : (r as any).error.errorCode))));
  for (const r of refused) {
    assert.equal(r.error.status, 409);
    assert.equal(r.error.errorCode, 'ERR-03-009');
    assert.match(r.error.message, /busy with a \w+ operation/);
  }
  const raw = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/start`, { method: 'POST', headers: { 'x-api-key': env.apiKey } });
  assert.equal(raw.status, 409);
  assert.equal(raw.headers.get('retry-after'), '3');
  await env.server.worker.start();
  await waitFor(async () => ((await c.getCvmInfo({ id: vm.vm_uuid! })).progress ? null : true), 15_000);
  assert.equal(hostVm('race-app').length, 1, 'the host ends with exactly one VM');
});

test('start twice in a row does not create a second VM', async () => {
  const c = client();
  const vm = await deployRunning('twice-app');
  await c.stopCvm({ id: vm.vm_uuid! });
  await settle(vm.vm_uuid!, 'stopped');
  const [a, b] = await Promise.all([c.safeStartCvm({ id: vm.vm_uuid! }), c.safeStartCvm({ id: vm.vm_uuid! })]);
  assert.equal([a, b].filter((r) => r.success).length, 1);
  await settle(vm.vm_uuid!, 'running');
  assert.equal(hostVm('twice-app').length, 1);
});

test('delete removes the VM from its host and frees the name', async () => {
  const c = client();
  const vm = await deployRunning('gone-app');
  await c.deleteCvm({ id: 'gone-app' });
  await waitFor(() => (hostVm('gone-app').length === 0 ? true : null), 10_000);
  await waitFor(async () => ((await c.safeGetCvmInfo({ id: vm.vm_uuid! })).success ? null : true), 10_000);
  const r = await c.safeGetCvmInfo({ id: vm.vm_uuid! });
  assert.equal((r as any).error.status, 404);
  const [row] = await env.server.db.query(`SELECT status, encrypted_env, deleted_at FROM cvms WHERE vm_uuid = $1`, [vm.vm_uuid]);
  assert.equal(row.status, 'deleted');
  assert.ok(row.deleted_at);
  // the name is free again
  await deployRunning('gone-app');
  assert.equal(hostVm('gone-app').length, 1);
});

test('replicate: a second VM with the same app_id and configuration', async () => {
  const c = client();
  const vm = await deployRunning('rep-app');
  const replica = await replicateCvm(c, { id: vm.vm_uuid!, node_id: vm.teepod_id });
  assert.equal(replica.app_id, vm.app_id);
  assert.notEqual(replica.vm_uuid, vm.vm_uuid);
  assert.match(replica.name, /^rep-app-[0-9a-f]{4}$/);
  await settle(replica.vm_uuid!, 'running');
  const vms = env.sim.listVms().filter((v) => v.appId === vm.app_id);
  assert.equal(vms.length, 2);
  assert.ok(vms.every((v) => v.status === 'running' && v.bootProgress === 'done'));
  assert.equal(vms[0].composeHash, vms[1].composeHash);
  assert.notEqual(vms[0].instanceId, vms[1].instanceId);
  // and through the app route the CLI's `instances add` uses
  const res = await fetch(`${env.apiUrl}/apps/${vm.app_id}/instances`, {
    method: 'POST',
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 200);
  const third = await res.json();
  await settle(third.vm_uuid, 'running');
  assert.equal(env.sim.listVms().filter((v) => v.appId === vm.app_id).length, 3);
  const bad = await replicateCvm(c, { id: vm.vm_uuid!, node_id: 999 }).catch((e) => e);
  assert.equal(bad.errorCode, 'ERR-01-001');
});

test("replicating a replica names it after the app, not the replica: <app>-<4 hex>, within 63 characters", async () => {
  const c = client();
  const vm = await deployRunning('chain-app');
  const first = await replicateCvm(c, { id: vm.vm_uuid! });
  assert.match(first.name, /^chain-app-[0-9a-f]{4}$/);
  const second = await replicateCvm(c, { id: first.vm_uuid! });
  assert.match(second.name, /^chain-app-[0-9a-f]{4}$/, `not a chained suffix: ${second.name}`);
  assert.notEqual(second.name, first.name);
  assert.equal(second.app_id, vm.app_id);
  // and through the route the CLI's `cvms replicate` posts to, from the second replica
  const res = await fetch(`${env.apiUrl}/cvms/${second.vm_uuid}/replicas`, {
    method: 'POST',
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 200);
  const third = (await res.json()) as { name: string; vm_uuid: string };
  assert.match(third.name, /^chain-app-[0-9a-f]{4}$/);
  assert.equal(new Set([first.name, second.name, third.name]).size, 3, 'each name is free in the workspace');

  // a 63-character app name: the replica's name is cut to fit, and a replica of it is cut the same way
  const long = `long${'x'.repeat(55)}-app`;
  assert.equal(long.length, 63);
  const big = await deployRunning(long);
  const r1 = await replicateCvm(c, { id: big.vm_uuid! });
  const r2 = await replicateCvm(c, { id: r1.vm_uuid! });
  for (const r of [r1, r2]) {
    assert.equal(r.name.length, 63);
    assert.match(r.name, new RegExp(`^${long.slice(0, 58)}-[0-9a-f]{4}$`));
  }
  for (const r of [first, second, third, r1, r2]) await settle(r.vm_uuid!, 'running');
});
