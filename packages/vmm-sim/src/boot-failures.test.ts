/** Failed boots (KMS refusal, wrong env key, bad token, non-KMS key provider) and fault injection. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encryptEnv, generateX25519KeyPair, toHex } from '@opencvm/core';
import { appCompose, booted, call, rpc, startFakeKms, startTestSim, vmConfig, waitVm, type FakeKms } from './testkit.ts';
import type { SimVmView, VmmSim } from './types.ts';

let kms: FakeKms;
let sim: VmmSim;

before(async () => {
  kms = await startFakeKms();
  sim = await startTestSim(kms);
});
after(async () => {
  await sim.close();
  await kms.close();
});

const exited = (vm: SimVmView): boolean => vm.status === 'exited';

async function createAndFail(config: Record<string, unknown>, target: VmmSim = sim): Promise<SimVmView> {
  const { id } = await call(target.url, 'CreateVm', config);
  const vm = await waitVm(target, id, exited, 'failed boot');
  assert.equal(vm.guest.env, null);
  assert.deepEqual(vm.guest.containers, []);
  const info = (await call(target.url, 'GetInfo', { id })).info;
  assert.equal(info.status, 'exited');
  assert.equal(info.configuration.stopped, false, 'the started flag stays set');
  assert.notEqual(info.exited_at, 'never');
  assert.equal(info.boot_error, vm.bootError);
  assert.ok(info.events.some((e: any) => e.event === 'boot.error' && e.body === vm.bootError));
  const serial = await (await fetch(`${target.url}/logs?id=${id}`)).text();
  assert.ok(serial.includes(vm.bootError), 'the error is in the serial log');
  return vm;
}

test('env encrypted to another key: exited with a decrypt boot_error', async () => {
  const other = generateX25519KeyPair();
  const encrypted = encryptEnv([{ key: 'FOO', value: 'x' }], toHex(other.publicKey));
  const vm = await createAndFail(vmConfig({ encrypted_env: encrypted }));
  assert.match(vm.bootError, /^failed to decrypt env: /);
  assert.match(vm.bootError, /authentication failed|different key/);
});

test('KMS refusing: boot_error carries the KMS error text', async () => {
  kms.refuse = 'app not allowed: compose hash not registered';
  try {
    const vm = await createAndFail(vmConfig({ encrypted_env: encryptEnv([], kms.envPublicKeyHex) }));
    assert.equal(vm.bootError, 'failed to get app keys from KMS: app not allowed: compose hash not registered');
    assert.equal(vm.instanceId?.length, 40, 'the instance id was generated before the key request');
  } finally {
    kms.refuse = null;
  }
});

test('the KMS sees a bad token as unattested; an unreachable KMS is a boot error too', async () => {
  const badToken = await startTestSim(kms, { kmsToken: 'wrong' });
  try {
    const vm = await createAndFail(vmConfig(), badToken);
    assert.equal(vm.bootError, 'failed to get app keys from KMS: attestation required');
    assert.equal(kms.authHeaders.at(-1), 'Bearer wrong');
  } finally {
    await badToken.close();
  }
  const vm = await createAndFail(vmConfig({ kms_urls: ['http://127.0.0.1:9'] }));
  assert.match(vm.bootError, /^failed to get app keys from KMS: error sending request to http:\/\/127\.0\.0\.1:9\/prpc\/GetAppKey\?json/);
});

test('per-VM kms_urls override the host default', async () => {
  const other = await startFakeKms(kms.token);
  try {
    const encrypted = encryptEnv([{ key: 'FOO', value: 'other' }], other.envPublicKeyHex);
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ encrypted_env: encrypted, kms_urls: [other.url] }));
    const vm = await waitVm(sim, id, booted, 'boot');
    assert.deepEqual(vm.guest.env, { FOO: 'other' });
    assert.equal(other.keyRequests.length, 1);
  } finally {
    await other.close();
  }
});

test('without a KMS key provider an encrypted env cannot be decrypted; without env it boots', async () => {
  const noKms = appCompose({ kms_enabled: false, gateway_enabled: false });
  const before = kms.keyRequests.length;
  const vm = await createAndFail(
    vmConfig({ compose_file: noKms, encrypted_env: encryptEnv([{ key: 'FOO', value: 'x' }], kms.envPublicKeyHex) }),
  );
  assert.match(vm.bootError, /^failed to decrypt env: /);

  const { id } = await call(sim.url, 'CreateVm', vmConfig({ compose_file: noKms }));
  const ok = await waitVm(sim, id, booted, 'boot without KMS');
  assert.deepEqual(ok.guest.env, {});
  assert.equal(kms.keyRequests.length, before, 'no key request without the KMS key provider');
  const progress = (await call(sim.url, 'GetInfo', { id })).info.events
    .filter((e: any) => e.event === 'boot.progress')
    .map((e: any) => e.body);
  assert.ok(!progress.includes('setting up dstack-gateway'));
  const info = await call(sim.url, 'Info', { id }, 'guest');
  assert.equal(JSON.parse(info.key_provider_info).name, 'none');
  // Key provider none: a fresh instance id at every boot, as in dstack.
  const first = ok.instanceId;
  await call(sim.url, 'StopVm', { id });
  await call(sim.url, 'StartVm', { id });
  const again = await waitVm(sim, id, booted, 'reboot without KMS');
  assert.notEqual(again.instanceId, first);
});

test('key_provider "kms", no_instance_id, public_tcbinfo false, pre_launch_script, bash runner', async () => {
  const compose = appCompose({
    kms_enabled: false,
    key_provider: 'kms',
    no_instance_id: true,
    public_tcbinfo: false,
    gateway_enabled: false,
    pre_launch_script: 'echo hi',
  });
  const { id } = await call(sim.url, 'CreateVm', vmConfig({ compose_file: compose }));
  const vm = await waitVm(sim, id, booted, 'boot');
  assert.equal(vm.instanceId, '');
  assert.equal(kms.keyRequests.at(-1)!.instance_id, '');
  const info = (await call(sim.url, 'GetInfo', { id })).info;
  assert.equal(info.app_url, null);
  assert.ok(info.events.some((e: any) => e.event === 'boot.progress' && e.body === 'pre-launch'));
  const guest = await call(sim.url, 'Info', { id }, 'guest');
  assert.equal(guest.tcb_info, '');
  assert.equal(guest.vm_config, '');

  const bash = JSON.stringify({ manifest_version: 2, name: 'b', runner: 'bash', bash_script: 'sleep 1' });
  const b = await call(sim.url, 'CreateVm', vmConfig({ compose_file: bash }));
  const bvm = await waitVm(sim, b.id, booted, 'bash boot');
  assert.deepEqual(bvm.guest.containers, []);
  const bprog = (await call(sim.url, 'GetInfo', { id: b.id })).info.events.map((e: any) => e.body);
  assert.ok(bprog.includes('running main script'));
});

test('env that breaks the guest limits fails the boot', async () => {
  const compose = appCompose({ allowed_envs: ['1BAD'] });
  const encrypted = encryptEnv([{ key: '1BAD', value: 'x' }], kms.envPublicKeyHex);
  const vm = await createAndFail(vmConfig({ compose_file: compose, encrypted_env: encrypted }));
  assert.match(vm.bootError, /^failed to parse env: invalid environment variable key/);
});

test('invalid docker compose YAML fails at starting containers', async () => {
  const compose = appCompose({ docker_compose_file: 'services: [unclosed' });
  const vm = await createAndFail(vmConfig({ compose_file: compose }));
  assert.match(vm.bootError, /^failed to start containers: invalid docker compose file/);
});

test('injectFault: a pRPC method fails `times` times, "boot" fails the next boot', async () => {
  sim.injectFault({ method: 'Status', error: 'host is on fire', times: 2 });
  for (let i = 0; i < 2; i++) {
    const r = await rpc(sim.url, 'Status', {});
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'host is on fire' });
  }
  assert.equal((await rpc(sim.url, 'Status', {})).status, 200);

  // Over HTTP, through the simulator-only route; a CreateVm fault creates nothing.
  const count = sim.listVms().length;
  const inject = await fetch(`${sim.url}/sim/faults`, {
    method: 'POST',
    body: JSON.stringify({ method: 'CreateVm', error: 'no capacity today' }),
  });
  assert.equal(inject.status, 200);
  const failed = await rpc(sim.url, 'CreateVm', vmConfig());
  assert.deepEqual([failed.status, failed.body], [400, { error: 'no capacity today' }]);
  assert.equal(sim.listVms().length, count);

  sim.injectFault({ method: 'boot', error: 'simulated firmware crash' });
  const vm = await createAndFail(vmConfig());
  assert.equal(vm.bootError, 'simulated firmware crash');
  // Only once: StartVm on the exited VM boots fine, and clears boot_error.
  await call(sim.url, 'StartVm', { id: vm.id });
  const ok = await waitVm(sim, vm.id, booted, 'boot after fault');
  assert.equal(ok.bootError, '');

  sim.injectFault({ method: 'guest.ListContainers', error: 'agent hiccup' });
  const g = await rpc(sim.url, 'ListContainers', { id: vm.id }, { prefix: 'guest' });
  assert.deepEqual([g.status, g.body], [400, { error: 'agent hiccup' }]);
});
