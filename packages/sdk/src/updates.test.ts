/**
 * Our SDK's configuration-update flow against a real server and simulated host: each change is followed
 * with waitForOperation and then checked on the host (`env.sim.listVms()`: the VM's configuration, its
 * compose, the env its guest decrypted).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestEnv, type TestEnv } from '@opencvm/server/testing';
import {
  createClient,
  CvmWaitError,
  encryptEnvVars,
  OpenCvmError,
  updateCvmEnvs,
  type Client,
  type EnvVar,
} from './index.ts';

let env: TestEnv;
let client: Client;
before(async () => {
  env = await startTestEnv();
  client = createClient({ baseURL: env.apiUrl, apiKey: env.apiKey });
});
after(async () => {
  await env?.close();
});

const COMPOSE_A = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n      - BAR=${BAR}\n';
const COMPOSE_A2 = 'services:\n  web:\n    image: caddy\n    environment:\n      - FOO=${FOO}\n      - BAR=${BAR}\n';
const COMPOSE_B = 'services:\n  api:\n    image: redis\n    environment:\n      - FOO=${FOO}\n      - BAZ=${BAZ}\n';
const ENV_A: EnvVar[] = [
  { key: 'FOO', value: 'one' },
  { key: 'BAR', value: 'two' },
];
const ENV_B: EnvVar[] = [
  { key: 'FOO', value: 'uno' },
  { key: 'BAZ', value: 'three' },
];

type HostVm = ReturnType<TestEnv['sim']['listVms']>[number];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const composeOf = (vm: HostVm) =>
  JSON.parse(vm.configuration.compose_file) as { docker_compose_file: string; allowed_envs: string[]; public_logs: boolean };
const resourcesOf = (vm: HostVm) => ({ vcpu: vm.configuration.vcpu, memory: vm.configuration.memory, disk_size: vm.configuration.disk_size });

/** The CVM's one VM on the host. */
function hostVm(name: string): HostVm {
  // the host VM is named after the CVM, then opencvm's label
  const vms = env.sim.listVms().filter((v) => v.name === name || v.name.startsWith(`${name} (opencvm `));
  assert.equal(vms.length, 1, `one host VM for ${name}`);
  return vms[0];
}

/** Deploy with our SDK and wait until it runs; returns the CVM and its host VM. */
async function deploy(name: string, compose: string, envs: EnvVar[]) {
  const p = await client.provisionCvm({ name, compose_file: { docker_compose_file: compose, allowed_envs: envs.map((e) => e.key) } });
  const encrypted_env = await encryptEnvVars(envs, p.app_env_encrypt_pubkey!);
  const vm = await client.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env, env_keys: envs.map((e) => e.key) });
  const cvm = await client.waitForStatus({ id: vm.vm_uuid, status: 'running' });
  const host = hostVm(name);
  assert.equal(host.status, 'running');
  return { id: vm.vm_uuid, app_id: vm.app_id, cvm, host };
}

test('updateCvm: compose, allowed_envs, env sealed from envs, resources and visibility in one change reach the host', async () => {
  const { id, host: before } = await deploy('sdk-upd', COMPOSE_A, ENV_A);
  assert.deepEqual(before.guest.env, { FOO: 'one', BAR: 'two' });
  const want = { vcpu: before.configuration.vcpu + 1, memory: before.configuration.memory + 1024, disk_size: before.configuration.disk_size + 10 };

  const r = await client.updateCvm({
    id,
    docker_compose_file: COMPOSE_B,
    allowed_envs: ['FOO', 'BAZ'],
    envs: ENV_B,
    ...want,
    public_logs: false,
    listed: false,
  });
  assert.equal(r.status, 'in_progress');
  assert.match(r.correlation_id, /\S/);
  assert.equal(r.allowed_envs_changed, true);
  assert.notEqual(r.compose_hash, before.composeHash);

  const cvm = await client.waitForOperation({ id, ...r });
  assert.equal(cvm.status, 'running');
  assert.equal(cvm.progress, null);
  assert.equal(cvm.compose_hash, r.compose_hash);
  assert.equal(cvm.listed, false);
  assert.equal(cvm.public_logs, false);
  assert.equal(cvm.resource.vcpu, want.vcpu);

  const vm = hostVm('sdk-upd');
  assert.equal(vm.id, before.id, 'updated in place');
  assert.equal(vm.status, 'running');
  assert.deepEqual(resourcesOf(vm), want);
  assert.equal(vm.composeHash, r.compose_hash);
  assert.equal(sha256(vm.configuration.compose_file), r.compose_hash);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_B);
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO', 'BAZ']);
  assert.equal(composeOf(vm).public_logs, false);
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
  assert.deepEqual(vm.guest.containers.map((c) => c.image), ['redis']);

  // control-plane-only fields: recorded at once, no restart, nothing sent to the host
  const quick = await client.updateCvm({ id, listed: true, shutdown_timeout: 30, allow_force_stop: true });
  assert.equal(quick.status, 'applied');
  assert.equal(quick.compose_hash, r.compose_hash);
  const now = await client.waitForOperation({ id, ...quick });
  assert.equal(now.listed, true);
  assert.equal(now.status, 'running');
  assert.deepEqual(hostVm('sdk-upd').configuration, vm.configuration);
});

test('prepareCvmUpdate changes nothing; commitCvmUpdate applies it once, a second commit is ERR-01-009', async () => {
  const { id, app_id, host: before } = await deploy('sdk-prep', COMPOSE_A, ENV_A);

  const prep = await client.prepareCvmUpdate({ id, docker_compose_file: COMPOSE_A2, vcpu: before.configuration.vcpu + 1 });
  assert.match(prep.commit_token, /^ctk_/);
  assert.match(prep.compose_hash, /^[0-9a-f]{64}$/);
  assert.notEqual(prep.compose_hash, before.composeHash);
  assert.equal(prep.app_id, app_id);
  assert.ok(prep.device_id);
  assert.ok(prep.kms_info?.id);
  assert.ok(Date.parse(prep.expires_at) > Date.now());
  assert.match(prep.commit_url ?? '', /\/commit-update$/);

  const idle = await client.getCvmDetail({ id });
  assert.equal(idle.status, 'running');
  assert.equal(idle.progress, null);
  assert.equal(idle.compose_hash, before.composeHash);
  assert.deepEqual(hostVm('sdk-prep').configuration, before.configuration, 'the host VM is untouched');

  const r = await client.commitCvmUpdate({ id, token: prep.commit_token });
  assert.equal(r.status, 'in_progress');
  assert.equal(r.compose_hash, prep.compose_hash);
  await client.waitForOperation({ id, ...r });
  const vm = hostVm('sdk-prep');
  assert.equal(vm.composeHash, prep.compose_hash);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_A2);
  assert.equal(vm.configuration.vcpu, before.configuration.vcpu + 1);
  assert.deepEqual(vm.guest.env, { FOO: 'one', BAR: 'two' });

  await assert.rejects(client.commitCvmUpdate({ id, token: prep.commit_token }), (e: unknown) => {
    assert.ok(e instanceof OpenCvmError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'ERR-01-009');
    assert.match(e.message, /already used/);
    return true;
  });
  const again = await client.safeCommitCvmUpdate({ id, token: prep.commit_token });
  assert.equal(again.success, false);
  if (!again.success) assert.equal(again.error.code, 'ERR-01-009');
  assert.deepEqual(hostVm('sdk-prep').configuration, vm.configuration, 'and changes nothing');
});

test('updateCvmEnvs seals locally and replaces the env as a whole: the guest gets exactly the new envs', async () => {
  const { id, host: before } = await deploy('sdk-envs', COMPOSE_A, ENV_A);
  assert.deepEqual(before.guest.env, { FOO: 'one', BAR: 'two' });

  const sent: { method: string; path: string; body: unknown }[] = [];
  const spy: Client = {
    ...client,
    request: (method, path, body, opts) => {
      sent.push({ method, path, body });
      return client.request(method, path, body, opts);
    },
  };
  const r = await updateCvmEnvs(spy, { id, envs: ENV_B });
  assert.equal(r.status, 'in_progress');
  assert.equal(r.allowed_envs_changed, true);
  // the values never leave this process; the keys do
  assert.doesNotMatch(JSON.stringify(sent), /uno|three/);
  const patch = sent.find((s) => s.method === 'PATCH')!;
  assert.equal(patch.path, `/cvms/${id}/envs`);
  assert.deepEqual(Object.keys(patch.body as object).sort(), ['encrypted_env', 'env_keys']);
  assert.deepEqual((patch.body as { env_keys: string[] }).env_keys, ['FOO', 'BAZ']);

  await client.waitForOperation({ id, ...r });
  let vm = hostVm('sdk-envs');
  assert.equal(vm.id, before.id);
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
  assert.deepEqual(vm.guest.droppedEnvKeys, []);
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO', 'BAZ']);

  // the same keys, new values: allowed_envs and the compose hash stay
  const same = await client.updateCvmEnvs({ id, envs: [{ key: 'FOO', value: 'eins' }, { key: 'BAZ', value: 'drei' }] });
  assert.equal(same.allowed_envs_changed, false);
  assert.equal(same.compose_hash, vm.composeHash);
  await client.waitForOperation({ id, ...same });
  assert.deepEqual(hostVm('sdk-envs').guest.env, { FOO: 'eins', BAZ: 'drei' });

  // one key: the other one is gone
  const one = await client.updateCvmEnvs({ id, envs: [{ key: 'FOO', value: 'solo' }] });
  await client.waitForOperation({ id, ...one });
  vm = hostVm('sdk-envs');
  assert.deepEqual(vm.guest.env, { FOO: 'solo' });
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO']);

  // an env the guest would refuse is caught before anything is sent
  sent.length = 0;
  const bad = await updateCvmEnvs(spy, { id, envs: [{ key: 'NOT-A-KEY', value: 'x' }] }).catch((e: unknown) => e);
  assert.ok(bad instanceof OpenCvmError);
  assert.equal(bad.status, 0);
  assert.match(bad.message, /NOT-A-KEY/);
  const twice = await client.safeUpdateCvmEnvs({ id, envs: [{ key: 'FOO', value: 'a' }, { key: 'FOO', value: 'b' }] });
  assert.equal(twice.success, false);
  if (!twice.success) assert.match(twice.error.message, /FOO appear/);
  assert.deepEqual(sent, []);
});

test('bad input gives OpenCvmError with the ERR code, and changes nothing', async () => {
  const { id, host: before } = await deploy('sdk-bad', COMPOSE_A, ENV_A);
  const disk = before.configuration.disk_size;

  await assert.rejects(client.updateCvm({ id, disk_size: disk - 1 }), (e: unknown) => {
    assert.ok(e instanceof OpenCvmError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'ERR-02-009');
    assert.match(e.message, /can only grow/);
    return true;
  });
  const shrink = await client.safeUpdateResources({ id, disk_size: disk - 1 });
  assert.equal(shrink.success, false);
  if (!shrink.success) assert.equal(shrink.error.code, 'ERR-02-009');

  // allowed_envs that would drop a key the sealed env carries
  const drop = await client.safeUpdateCvm({ id, allowed_envs: ['FOO'] });
  assert.equal(drop.success, false);
  if (!drop.success) {
    assert.equal(drop.error.code, 'ERR-02-009');
    assert.deepEqual(drop.error.details.map((d) => d.value), ['BAR']);
  }

  const unknown = await client.safeUpdateCvm({ id, bogus: 1 } as never);
  assert.equal(unknown.success, false);
  if (!unknown.success) {
    assert.equal(unknown.error.status, 422);
    assert.equal(unknown.error.code, 'ERR-02-008');
  }

  const noRestart = await client.safeUpdateResources({ id, vcpu: before.configuration.vcpu + 1, allow_restart: false });
  assert.equal(noRestart.success, false);
  if (!noRestart.success) assert.equal(noRestart.error.code, 'ERR-03-008');

  const missing = await client.safeUpdateCvm({ id: 'no-such-cvm', listed: false });
  assert.equal(missing.success, false);
  if (!missing.success) {
    assert.equal(missing.error.status, 404);
    assert.equal(missing.error.code, 'ERR-03-001');
  }

  const cvm = await client.getCvmDetail({ id });
  assert.equal(cvm.status, 'running');
  assert.equal(cvm.progress, null);
  assert.deepEqual(hostVm('sdk-bad').configuration, before.configuration);

  // a valid resize still goes through afterwards
  const grow = await client.updateResources({ id, vcpu: before.configuration.vcpu + 1, disk_size: disk + 5 });
  await client.waitForOperation({ id, ...grow });
  assert.deepEqual(resourcesOf(hostVm('sdk-bad')), { vcpu: before.configuration.vcpu + 1, memory: before.configuration.memory, disk_size: disk + 5 });
});

test('listRevisions, getRevision and rollbackToRevision restore the earlier compose on the host', async () => {
  const { id, app_id, host: first } = await deploy('sdk-rev', COMPOSE_A, ENV_A);
  const hashA = first.composeHash;
  let page = await client.listRevisions({ app_id });
  assert.equal(page.total, 1);
  assert.equal(page.revisions[0].compose_hash, hashA);
  assert.equal(page.revisions[0].operation_type, 'create');

  const upd = await client.updateCvm({ id, docker_compose_file: COMPOSE_A2 });
  await client.waitForOperation({ id, ...upd });
  assert.equal(hostVm('sdk-rev').composeHash, upd.compose_hash);

  page = await client.listRevisions({ app_id });
  assert.equal(page.total, 2);
  assert.deepEqual(page.revisions.map((r) => r.compose_hash), [upd.compose_hash, hashA], 'newest first');
  assert.equal(page.revisions[0].trace_id, upd.correlation_id);
  const paged = await client.listRevisions({ app_id, page: 2, page_size: 1 });
  assert.deepEqual(paged.revisions.map((r) => r.compose_hash), [hashA]);
  assert.equal(paged.total_pages, 2);

  const revA = page.revisions[1].revision_id;
  const detail = await client.getRevision({ app_id, revision_id: revA });
  assert.equal(detail.compose_file.docker_compose_file, COMPOSE_A);
  assert.match(detail.encrypted_env, /^[0-9a-f]+$/);
  const raw = await client.getRevision({ app_id, revision_id: revA, raw_compose_file: true });
  assert.equal(sha256(raw.compose_file), hashA);

  const rb = await client.rollbackToRevision({ app_id, revision_id: revA });
  assert.equal(rb.status, 'in_progress');
  assert.equal(rb.compose_hash, hashA);
  await client.waitForOperation({ id, ...rb });
  const vm = hostVm('sdk-rev');
  assert.equal(vm.id, first.id);
  assert.equal(vm.composeHash, hashA);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_A);
  assert.deepEqual(vm.guest.env, { FOO: 'one', BAR: 'two' });
  assert.deepEqual(vm.guest.containers.map((c) => c.image), ['nginx']);

  page = await client.listRevisions({ app_id });
  assert.equal(page.total, 3);
  assert.equal(page.revisions[0].operation_type, 'rollback');
  assert.equal(page.revisions[0].compose_hash, hashA);

  const gone = await client.safeGetRevision({ app_id, revision_id: 'rev_nope' });
  assert.equal(gone.success, false);
  if (!gone.success) assert.equal(gone.error.status, 404);
});

test('provisionComposeUpdate + commitComposeUpdate (with envs sealed locally) apply a new compose once', async () => {
  const { id, host: before } = await deploy('sdk-compose', COMPOSE_A, ENV_A);

  const prov = await client.provisionComposeUpdate({ id, docker_compose_file: COMPOSE_B, allowed_envs: ['FOO', 'BAR', 'BAZ'], update_env_vars: true });
  assert.match(prov.compose_hash, /^[0-9a-f]{64}$/);
  assert.equal(prov.kms_info, null, 'PHALA KMS: nothing to register');
  assert.equal(hostVm('sdk-compose').composeHash, before.composeHash, 'provision alone changes nothing');

  const r = await client.commitComposeUpdate({ id, compose_hash: prov.compose_hash, envs: ENV_B });
  assert.equal(r.compose_hash, prov.compose_hash);
  await client.waitForOperation({ id, ...r });
  const vm = hostVm('sdk-compose');
  assert.equal(vm.composeHash, prov.compose_hash);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_B);
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO', 'BAR', 'BAZ']);
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
  assert.deepEqual(vm.guest.containers.map((c) => c.image), ['redis']);

  const again = await client.safeCommitComposeUpdate({ id, compose_hash: prov.compose_hash });
  assert.equal(again.success, false);
  if (!again.success) assert.equal(again.error.code, 'ERR-01-006');
});

test('refreshInstanceId: the VM is created again and boots with a new instance id; the old one names nothing', async () => {
  const { id, cvm, host: before } = await deploy('sdk-iid', COMPOSE_A, ENV_A);
  const old = cvm.instance_id;
  assert.ok(old);
  assert.equal(before.instanceId, old);

  const r = await client.refreshInstanceId({ id });
  assert.equal(r.status, 'updated');
  assert.equal(r.old_instance_id, old);
  const now = await client.waitForOperation({ id: r.cvm_id, correlation_id: r.correlation_id });
  assert.equal(now.status, 'running');
  assert.ok(now.instance_id);
  assert.notEqual(now.instance_id, old);
  const vm = hostVm('sdk-iid');
  assert.equal(vm.instanceId, now.instance_id);
  assert.deepEqual(vm.guest.env, { FOO: 'one', BAR: 'two' });

  const byOld = await client.safeGetCvmDetail({ id: old });
  assert.equal(byOld.success, false);
  if (!byOld.success) assert.equal(byOld.error.code, 'ERR-03-001');
});

test('waits reject clearly: a change the host refuses, a status not reached, a failed boot', async () => {
  const { id, host: before } = await deploy('sdk-wait', COMPOSE_A, ENV_A);

  // the host refuses UpdateVm: the CVM boots again on its previous compose, the operation failed
  env.sim.injectFault({ method: 'UpdateVm', error: 'simulated: disk pool exhausted' });
  const refused = await client.updateCvm({ id, docker_compose_file: COMPOSE_A2 });
  const e1 = await client.waitForOperation({ id, ...refused }).catch((e: unknown) => e);
  assert.ok(e1 instanceof CvmWaitError, String(e1));
  assert.equal(e1.reason, 'not_applied');
  assert.match(e1.message, /not applied/);
  assert.equal(e1.cvm?.status, 'running');
  assert.equal(e1.cvm?.compose_hash, before.composeHash);
  assert.equal(hostVm('sdk-wait').composeHash, before.composeHash);

  // a status that is not coming: with no time left, the first read decides
  const late = await client.waitForStatus({ id, status: 'stopped', timeoutMs: 0 }).catch((e: unknown) => e);
  assert.ok(late instanceof CvmWaitError);
  assert.equal(late.reason, 'timeout');
  assert.match(late.message, /sdk-wait; it is running \(no operation under way\)/);

  // the next boot fails: the update lands the CVM in exited, and the wait says why
  env.sim.injectFault({ method: 'boot', error: 'simulated firmware crash' });
  const upd = await client.updateCvm({ id, vcpu: before.configuration.vcpu + 1 });
  const e2 = await client.safeWaitForOperation({ id, ...upd });
  assert.equal(e2.success, false);
  if (!e2.success) {
    assert.ok(e2.error instanceof CvmWaitError);
    assert.equal(e2.error.reason, 'failed');
    assert.match(e2.error.message, /exited.*simulated firmware crash/);
  }
  const e3 = await client.waitForStatus({ id, status: 'running' }).catch((e: unknown) => e);
  assert.ok(e3 instanceof CvmWaitError);
  assert.equal(e3.reason, 'failed');
});
