/**
 * Configuration updates with the official SDK: every single-aspect update (`updateCvmResources`,
 * `updateCvmVisibility`, `updatePreLaunchScript`, `updateOsImage`, `updateDockerCompose`, `updateCvmEnvs`) and
 * the unified PATCH (`patchCvm`), each checked on the simulated host after the CVM's
 * stop and start (the same host VM, running, its configuration changed and the old value gone); a host
 * that refuses the update; and bad input, each refused without writing anything to the record or the host.
 * The two-phase forms, tokens and revisions are in updates-twophase.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { encryptEnvVars, patchCvm, safePatchCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import {
  composeOf,
  deployWithEnv,
  hostState,
  hostVm,
  operationsOf,
  recordOf,
  refused,
  updatedHostVm,
} from './testing/updates.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const COMPOSE_B = 'services:\n  web:\n    image: nginx:1.27\n    ports:\n      - "8080:80"\n';
const ENV_COMPOSE = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n      - BAR=${BAR}\n';
/** the node's vCPU: small, so a resize beyond it is refused (the scheduler counts what its CVMs hold) */
const NODE_VCPU = 16;

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 40, maxVcpu: NODE_VCPU, maxMemoryMb: 65_536 } } });
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);
const deploy = (name: string) => deployRunning(env, name, COMPOSE);
const running = (id: string) => settle(env, id, 'running');

test(`updateCvmResources: the host VM gets the new vCPU, memory and disk`, async () => {
  const vm = await deploy('upd-res');
  const before = hostVm(env, 'upd-res');
  const want = { vcpu: 2, memory: before.configuration.memory + 1024, disk_size: before.configuration.disk_size + 10 };
  assert.notEqual(before.configuration.vcpu, want.vcpu);

  await c().updateCvmResources({ id: vm.vm_uuid!, ...want });
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-res', before);
  assert.deepEqual({ vcpu: after.configuration.vcpu, memory: after.configuration.memory, disk_size: after.configuration.disk_size }, want);
  assert.equal(after.composeHash, before.composeHash, 'the compose is untouched');
  const rec = await recordOf(env, vm.vm_uuid!);
  assert.deepEqual({ vcpu: rec.vcpu, memory: rec.memory_mb, disk_size: rec.disk_gb }, want);
  assert.deepEqual((await operationsOf(env, vm.vm_uuid!)).map((o) => `${o.kind}:${o.state}`), ['create:succeeded', 'update:succeeded']);
  assert.equal(rec.revisions, 1, 'the compose hash did not move: no revision besides the create one');
});

test('updateCvmVisibility answers the v2025 detail and restarts; `listed` alone is recorded without one', async () => {
  const vm = await deploy('upd-vis');
  const before = hostVm(env, 'upd-vis');
  assert.equal(composeOf(before).public_logs, true);
  assert.equal(composeOf(before).public_sysinfo, true);

  // the client's typings say void; at run time the action parses the answer with CvmDetailV20251028Schema
  const detail = (await c().updateCvmVisibility({ id: vm.vm_uuid!, public_logs: false, public_sysinfo: false })) as unknown as {
    vm_uuid: string; app_id: string; status: string; in_progress: boolean;
  };
  assert.equal(detail.vm_uuid, vm.vm_uuid);
  assert.equal(detail.app_id, vm.app_id);
  assert.equal(detail.status, 'updating');
  assert.equal(detail.in_progress, true);
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-vis', before);
  assert.equal(composeOf(after).public_logs, false);
  assert.equal(composeOf(after).public_sysinfo, false);
  assert.notEqual(after.composeHash, before.composeHash);
  assert.equal((await recordOf(env, vm.vm_uuid!)).compose_hash, after.composeHash);

  // `listed` lives only in the control plane: recorded at once, the host VM untouched
  const opsBefore = (await operationsOf(env, vm.vm_uuid!)).length;
  const listed = await c().patch<Record<string, unknown>>(`/cvms/${vm.vm_uuid}/visibility`, { listed: true });
  assert.equal(listed.listed, true);
  assert.equal(listed.status, 'running');
  assert.equal(listed.in_progress, false);
  assert.deepEqual(hostState(hostVm(env, 'upd-vis')), hostState(after), 'no restart, nothing sent to the host');
  assert.equal((await recordOf(env, vm.vm_uuid!)).listed, true);
  const ops = await operationsOf(env, vm.vm_uuid!);
  assert.equal(ops.length, opsBefore + 1);
  assert.equal(`${ops.at(-1)!.kind}:${ops.at(-1)!.state}`, 'update:succeeded', 'recorded as done when answered');
});

test('updatePreLaunchScript: the host compose carries the script, under a new compose hash', async () => {
  const vm = await deploy('upd-pls');
  const before = hostVm(env, 'upd-pls');
  assert.equal(composeOf(before).pre_launch_script, undefined);
  const script = '#!/bin/sh\necho "prepared"\n';

  const r = await c().updatePreLaunchScript({ id: vm.vm_uuid!, pre_launch_script: script });
  assert.equal(r.status, 'in_progress');
  assert.match((r as { correlation_id: string }).correlation_id, /^[0-9a-f-]{36}$/);
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-pls', before);
  assert.equal(composeOf(after).pre_launch_script, script);
  assert.notEqual(after.composeHash, before.composeHash);
  assert.equal((await recordOf(env, vm.vm_uuid!)).compose_hash, after.composeHash);
  assert.equal(await c().getCvmPreLaunchScript({ id: vm.vm_uuid! }), script);
});

test('getAvailableOsImages lists the node images by version; updateOsImage boots the CVM on another one', async () => {
  const vm = await deploy('upd-img');
  const before = hostVm(env, 'upd-img');
  const images = await c().getAvailableOsImages({ id: vm.vm_uuid! });
  assert.deepEqual(images.map((i) => i.version), [[0, 5, 8], [0, 5, 7]], 'newest first, GPU images left out');
  const variants = images.flatMap((i) => [i.prod, i.dev]).filter((v) => v !== null);
  assert.deepEqual(variants.map((v) => v.name).sort(), ['dstack-0.5.7', 'dstack-0.5.8', 'dstack-dev-0.5.8']);
  assert.deepEqual(variants.filter((v) => v.is_current).map((v) => v.name), [before.configuration.image]);
  const target = variants.find((v) => !v.is_current && !v.name.includes('dev'))!;

  await c().updateOsImage({ id: vm.vm_uuid!, os_image_name: target.name });
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-img', before);
  assert.equal(after.configuration.image, target.name);
  assert.notEqual(after.configuration.image, before.configuration.image);
  assert.equal((await recordOf(env, vm.vm_uuid!)).image, target.name);
  const now = (await c().getAvailableOsImages({ id: vm.vm_uuid! })).flatMap((i) => [i.prod, i.dev]).filter((v) => v?.is_current);
  assert.deepEqual(now.map((v) => v!.name), [target.name]);
});

test('updateDockerCompose: the host runs the new YAML, the rest of the app-compose kept', async () => {
  const vm = await deploy('upd-dc');
  const before = hostVm(env, 'upd-dc');

  const r = await c().updateDockerCompose({ id: vm.vm_uuid!, docker_compose_file: COMPOSE_B });
  assert.equal(r.status, 'in_progress');
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-dc', before);
  assert.deepEqual(composeOf(after), { ...composeOf(before), docker_compose_file: COMPOSE_B });
  assert.notEqual(after.composeHash, before.composeHash);
  assert.equal((await recordOf(env, vm.vm_uuid!)).compose_hash, after.composeHash);
});

test('updateCvmEnvs: sealed to the v2026 kms_info key, the guest boots with exactly the new env', async () => {
  const vm = await deployWithEnv(env, 'upd-env', ENV_COMPOSE, ['FOO', 'BAR'], { FOO: 'one', BAR: 'two' });
  const before = hostVm(env, 'upd-env');
  assert.deepEqual(before.guest.env, { FOO: 'one', BAR: 'two' });
  const info = await c().getCvmInfo({ id: vm.vm_uuid! });
  const pubkey = info.kms_info!.encrypted_env_pubkey!;
  assert.match(pubkey, /^[0-9a-f]{64}$/);

  // the same keys allowed: BAR left out of the new env is gone, the compose (and its hash) unchanged
  const r1 = await c().updateCvmEnvs({ id: vm.vm_uuid!, encrypted_env: await encryptEnvVars([{ key: 'FOO', value: 'uno' }], pubkey) });
  assert.equal(r1.status, 'in_progress');
  assert.equal((r1 as { allowed_envs_changed: boolean }).allowed_envs_changed, false);
  await running(vm.vm_uuid!);
  const mid = updatedHostVm(env, 'upd-env', before);
  assert.deepEqual(mid.guest.env, { FOO: 'uno' });
  assert.equal(mid.composeHash, before.composeHash);
  assert.notEqual(mid.configuration.encrypted_env, before.configuration.encrypted_env);

  // env_keys that differ from allowed_envs: the compose allows exactly them now
  const sealed = await encryptEnvVars([{ key: 'FOO', value: 'eins' }, { key: 'BAZ', value: 'drei' }], pubkey);
  const r2 = await c().updateCvmEnvs({ id: vm.vm_uuid!, encrypted_env: sealed, env_keys: ['FOO', 'BAZ'] });
  assert.equal(r2.status, 'in_progress');
  assert.equal((r2 as { allowed_envs_changed: boolean }).allowed_envs_changed, true);
  await running(vm.vm_uuid!);
  const after = updatedHostVm(env, 'upd-env', before);
  assert.deepEqual(after.guest.env, { FOO: 'eins', BAZ: 'drei' });
  assert.deepEqual(after.guest.droppedEnvKeys, []);
  assert.deepEqual(composeOf(after).allowed_envs, ['FOO', 'BAZ']);
  assert.notEqual(after.composeHash, before.composeHash);
  const rec = await recordOf(env, vm.vm_uuid!);
  assert.deepEqual(rec.env_keys, ['FOO', 'BAZ']);
  assert.equal(rec.compose_hash, after.composeHash);
});

test('patchCvm with compose, vCPU, memory and public_logs: one operation, one restart, all applied', async () => {
  const vm = await deploy('upd-patch');
  const before = hostVm(env, 'upd-patch');
  const memory = before.configuration.memory + 2048;

  const r = await patchCvm(c(), { id: vm.vm_uuid!, docker_compose_file: COMPOSE_B, vcpu: 2, memory, public_logs: false });
  assert.equal(r.requiresOnChainHash, false);
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-patch', before);
  assert.equal(after.configuration.vcpu, 2);
  assert.equal(after.configuration.memory, memory);
  assert.deepEqual(composeOf(after), { ...composeOf(before), docker_compose_file: COMPOSE_B, public_logs: false });
  const ops = await operationsOf(env, vm.vm_uuid!);
  assert.deepEqual(ops.map((o) => `${o.kind}:${o.state}`), ['create:succeeded', 'update:succeeded'], 'one operation for all four fields');
  assert.equal(ops[1].correlation_id, (r as { correlationId: string }).correlationId);
  const rec = await recordOf(env, vm.vm_uuid!);
  assert.deepEqual({ vcpu: rec.vcpu, memory: rec.memory_mb, hash: rec.compose_hash, revisions: rec.revisions }, { vcpu: 2, memory, hash: after.composeHash, revisions: 2 });
});

test('a host that refuses UpdateVm: the CVM runs again on its previous configuration, the operation failed with the reason', async () => {
  const vm = await deploy('upd-fail');
  const before = hostVm(env, 'upd-fail');
  const recBefore = await recordOf(env, vm.vm_uuid!);

  env.sim.injectFault({ method: 'UpdateVm', error: 'simulated: disk pool exhausted', times: 1 });
  const r = await patchCvm(c(), { id: vm.vm_uuid!, docker_compose_file: COMPOSE_B, vcpu: 2 });
  assert.equal(r.requiresOnChainHash, false);
  await running(vm.vm_uuid!);

  const after = updatedHostVm(env, 'upd-fail', before);
  assert.deepEqual(hostState(after), hostState(before), 'the host VM kept its previous configuration');
  assert.equal(after.configuration.vcpu, before.configuration.vcpu);
  const rec = await recordOf(env, vm.vm_uuid!);
  assert.deepEqual({ ...rec, operations: recBefore.operations }, recBefore, 'the record kept its configuration, and no revision was added');
  assert.equal(rec.operations, recBefore.operations + 1);
  const op = (await operationsOf(env, vm.vm_uuid!)).at(-1)!;
  assert.equal(op.kind, 'update');
  assert.equal(op.state, 'failed');
  assert.equal(op.correlation_id, (r as { correlationId: string }).correlationId);
  assert.match(op.error ?? '', /simulated: disk pool exhausted/);
  const state = await c().getCvmState({ id: vm.vm_uuid! });
  assert.equal(state.status, 'running');
});

test('bad input is refused and writes nothing; a second update while one runs gets 409', async () => {
  const vm = await deployWithEnv(env, 'upd-bad', ENV_COMPOSE, ['FOO', 'BAR'], { FOO: 'one', BAR: 'two' });
  const id = vm.vm_uuid!;
  const host0 = hostState(hostVm(env, 'upd-bad'));
  let rec0 = await recordOf(env, id);
  const unchanged = async (what: string) => {
    assert.deepEqual(hostState(hostVm(env, 'upd-bad')), host0, `${what}: the host VM is untouched`);
    assert.deepEqual(await recordOf(env, id), rec0, `${what}: the record, its operations, revisions and pending updates are untouched`);
  };
  const raw = (path: string, body: Record<string, unknown>) => c().patch(path, body);

  let e = await refused(c().updateCvmResources({ id, disk_size: rec0.disk_gb - 1 }), 400, 'ERR-02-009');
  assert.match(e.message, /disk_size can only grow/);
  await unchanged('disk shrink');

  e = await refused(patchCvm(c(), { id, vcpu: NODE_VCPU }), 400, 'ERR-02-003');
  assert.match(e.message, /vCPU free/);
  await unchanged('vCPU beyond the node');

  e = await refused(c().updateOsImage({ id, os_image_name: 'dstack-9.9.9' }), 400, 'ERR-02-010');
  assert.match(e.message, /available-os-images/);
  await unchanged('unknown image');

  // a new sealed env whose keys the compose would not let through (the SDK's patchCvm has no env_keys: raw PATCH)
  const info = await c().getCvmInfo({ id });
  const sealed = await encryptEnvVars([{ key: 'FOO', value: 'x' }, { key: 'NEW', value: 'y' }], info.kms_info!.encrypted_env_pubkey!);
  e = await refused(raw(`/cvms/${id}`, { encrypted_env: sealed, env_keys: ['FOO', 'NEW'] }), 400, 'ERR-02-009');
  assert.match(e.message, /NEW/);
  await unchanged('env keys outside allowed_envs');

  // a compose whose allowed_envs drops a key the sealed env carries
  e = await refused(patchCvm(c(), { id, allowed_envs: ['FOO'] }), 400, 'ERR-02-009');
  assert.match(e.message, /BAR/);
  await unchanged('allowed_envs dropping a sealed key');
  // a compose-file provision that drops it: refused at provision, or (as its commit may bring a new env)
  // at a commit that brings none; either way it never reaches the host
  const prov = await c().safeProvisionCvmComposeFileUpdate({ id, app_compose: { ...(await c().getCvmComposeFile({ id })), allowed_envs: ['FOO'] }, update_env_vars: true });
  if (prov.success) {
    rec0 = { ...rec0, pending: rec0.pending + 1 };
    await unchanged('a compose provision');
    e = await refused(c().commitCvmComposeFileUpdate({ id, compose_hash: prov.data.compose_hash, encrypted_env: undefined, env_keys: undefined }), 400, 'ERR-02-009');
  } else {
    e = await refused(Promise.reject(prov.error), 400, 'ERR-02-009');
  }
  assert.match(e.message, /BAR/);
  await unchanged('a compose-file update dropping a sealed key');

  e = await refused(safePatchCvm(c(), { id }).then((r) => (r.success ? r : Promise.reject(r.error))), 400, 'ERR-02-008');
  assert.match(e.message, /empty/);
  assert.match(e.message, /docker_compose_file, .*, listed/, 'the message lists the fields PATCH takes');
  await unchanged('empty PATCH');

  e = await refused(raw(`/cvms/${id}`, { vcpu: 2, colour: 'blue' }), 422, 'ERR-02-008');
  assert.match(e.message, /colour/);
  assert.match(e.message, /takes docker_compose_file, .*, listed/, 'the message lists the fields PATCH takes');
  await unchanged('unknown PATCH field');

  // one update under way: a second one (any endpoint) is refused until it finishes
  const first = await patchCvm(c(), { id, vcpu: 2 });
  assert.equal(first.requiresOnChainHash, false);
  await refused(patchCvm(c(), { id, memory: rec0.memory_mb + 1024 }), 409, 'ERR-03-009');
  await refused(c().updateDockerCompose({ id, docker_compose_file: COMPOSE_B }), 409, 'ERR-03-009');
  await running(id);
  const after = hostVm(env, 'upd-bad');
  assert.equal(after.configuration.vcpu, 2);
  assert.equal(after.configuration.memory, rec0.memory_mb, 'the refused second update left no trace');
  assert.equal(after.composeHash, host0.composeHash);
  const rec = await recordOf(env, id);
  assert.deepEqual({ ...rec, vcpu: rec0.vcpu, operations: rec0.operations }, rec0);
  assert.equal(rec.operations, rec0.operations + 1);
});
