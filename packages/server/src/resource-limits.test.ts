/**
 * vCPU, memory and disk sizes outside the limits a dstack CVM can have are refused, with the allowed range
 * in the message: at provision (asked for, or implied by an instance type) and on every update path, through
 * the official SDK and the `phala` CLI. Nothing is written and nothing reaches the host.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { patchCvm } from '@phala/cloud';
import { RESOURCE_LIMITS } from '@opencvm/core';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import { hostState, hostVm, recordOf, refused } from './testing/updates.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const MEMORY = RESOURCE_LIMITS.memory_mb;
const VCPU = RESOURCE_LIMITS.vcpu;
const DISK = RESOURCE_LIMITS.disk_gb;

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 20, maxVcpu: 64, maxMemoryMb: 262_144 } } });
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);
const provisions = async () => (await env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM provisions'))[0].n;

test('provisionCvm: vcpu, memory and disk_size outside the limits are refused with the range; nothing is provisioned', async () => {
  const n0 = await provisions();
  const base = { name: 'lim-prov', compose_file: { docker_compose_file: COMPOSE } };

  let e = await refused(c().provisionCvm({ ...base, vcpu: 1, memory: 4 }), 422, 'ERR-02-008');
  assert.match(e.message, new RegExp(`memory must be between ${MEMORY.min} and ${MEMORY.max} MB: got 4\\b`));
  assert.match(e.message, /did you mean 4 GB\?/);

  e = await refused(c().provisionCvm({ ...base, vcpu: VCPU.max + 1, memory: 4096 }), 422, 'ERR-02-008');
  assert.match(e.message, new RegExp(`vcpu must be between ${VCPU.min} and ${VCPU.max} vCPUs: got ${VCPU.max + 1}`));

  // with an instance type: its vCPU and memory, the disk asked for
  e = await refused(c().provisionCvm({ ...base, instance_type: 'tdx.small', disk_size: 2 }), 422, 'ERR-02-008');
  assert.match(e.message, new RegExp(`disk_size must be between ${DISK.min} and ${DISK.max} GB: got 2`));
  e = await refused(c().provisionCvm({ ...base, instance_type: 'tdx.small', disk_size: DISK.max + 1 }), 422, 'ERR-02-008');
  assert.match(e.message, /disk_size must be between/);

  assert.equal(await provisions(), n0, 'nothing provisioned');
  assert.equal(env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'lim-prov').length, 0);

  // the bounds themselves are fine
  const ok = await c().provisionCvm({ ...base, vcpu: VCPU.min, memory: MEMORY.min, disk_size: DISK.min });
  assert.ok(ok.compose_hash);
});

test('updateCvmResources and patchCvm: a 4 MB memory (and other sizes outside the limits) is refused and changes nothing', async () => {
  const vm = await deployRunning(env, 'lim-upd', COMPOSE);
  const id = vm.vm_uuid!;
  const host0 = hostState(hostVm(env, 'lim-upd'));
  const rec0 = await recordOf(env, id);
  const unchanged = async (what: string) => {
    assert.deepEqual(hostState(hostVm(env, 'lim-upd')), host0, `${what}: the host VM is untouched`);
    assert.deepEqual(await recordOf(env, id), rec0, `${what}: the record and its operations are untouched`);
  };

  let e = await refused(c().updateCvmResources({ id, memory: 4 }), 422, 'ERR-02-008');
  assert.match(e.message, new RegExp(`^memory must be between ${MEMORY.min} and ${MEMORY.max} MB: got 4\\b`));
  await unchanged('resources: memory 4');

  e = await refused(c().updateCvmResources({ id, vcpu: rec0.vcpu, memory: rec0.memory_mb, disk_size: DISK.max + 1 }), 422, 'ERR-02-008');
  assert.match(e.message, /^disk_size must be between/);
  await unchanged('resources: disk beyond the ceiling');

  e = await refused(patchCvm(c(), { id, memory: 4 }), 422, 'ERR-02-008');
  assert.match(e.message, /^memory must be between/);
  e = await refused(patchCvm(c(), { id, vcpu: VCPU.max + 1, docker_compose_file: `${COMPOSE}# v2\n` }), 422, 'ERR-02-008');
  assert.match(e.message, /^vcpu must be between/);
  e = await refused(patchCvm(c(), { id, memory: MEMORY.max + 1 }), 422, 'ERR-02-008');
  assert.match(e.message, /^memory must be between/);
  await unchanged('PATCH /cvms/{id}');

  // prepare-only keeps a change under a token: one outside the limits is refused there already
  await refused(patchCvm(c(), { id, memory: 4, prepareOnly: true }), 422, 'ERR-02-008');
  await unchanged('prepare-only PATCH');
});

test('phala cvms resize --memory 4G: the CLI sends 4 (MB), the server refuses it with the range, the CLI exits 1', async () => {
  const vm = await deployRunning(env, 'lim-cli', COMPOSE);
  const host0 = hostState(hostVm(env, 'lim-cli'));
  const rec0 = await recordOf(env, vm.vm_uuid!);
  const cli = makeCli(env.apiUrl, env.apiKey);

  // every size given (without a terminal the CLI would prompt for the missing ones)
  const sizes = ['--vcpu', String(rec0.vcpu), '--disk-size', String(rec0.disk_gb)];
  const r = await cli.run(['cvms', 'resize', 'lim-cli', ...sizes, '--memory', '4G', '-r', 'true', '-y']);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.code, 1, `exit code\n${out}`);
  assert.match(out, new RegExp(`memory must be between ${MEMORY.min} and ${MEMORY.max} MB: got 4\\b`));
  assert.doesNotMatch(out, /being resized/);

  assert.deepEqual(hostState(hostVm(env, 'lim-cli')), host0, 'the host VM is untouched');
  assert.deepEqual(await recordOf(env, vm.vm_uuid!), rec0, 'the record and its operations are untouched');

  // the same resize in MB goes through
  const ok = await cli.run(['cvms', 'resize', 'lim-cli', ...sizes, '--memory', '4096', '-r', 'true', '-y']);
  assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
  await settle(env, vm.vm_uuid!, 'running');
  assert.equal(hostVm(env, 'lim-cli').configuration.memory, 4096);
});

test('a CVM on a size from before the limits can still be resized in its other sizes', async () => {
  const vm = await deployRunning(env, 'lim-legacy', COMPOSE);
  await env.server.db.query('UPDATE cvms SET memory_mb = 256 WHERE vm_uuid = $1', [vm.vm_uuid]);
  // what `phala cvms resize --disk-size` sends: the other sizes as they are on record
  await c().updateCvmResources({ id: vm.vm_uuid!, vcpu: 1, memory: 256, disk_size: 30 });
  await settle(env, vm.vm_uuid!, 'running');
  const rec = await recordOf(env, vm.vm_uuid!);
  assert.deepEqual({ memory: rec.memory_mb, disk: rec.disk_gb }, { memory: 256, disk: 30 });
  // moving the old size is checked
  await refused(c().updateCvmResources({ id: vm.vm_uuid!, memory: 300 }), 422, 'ERR-02-008');
});
