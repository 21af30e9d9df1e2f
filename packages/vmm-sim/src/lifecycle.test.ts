/** Happy paths: boot with KMS keys and encrypted env, VmInfo shapes, guest API, lifecycle transitions. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encryptEnv } from '@opencvm/core';
import {
  appCompose,
  booted,
  call,
  rpc,
  startFakeKms,
  startTestSim,
  vmConfig,
  waitFor,
  waitVm,
  type FakeKms,
} from './testkit.ts';
import type { VmmSim } from './types.ts';
import { sha256Hex } from './util.ts';

let kms: FakeKms;
let sim: VmmSim;

before(async () => {
  kms = await startFakeKms();
  sim = await startTestSim(kms, { name: 'sim-test' });
});
after(async () => {
  await sim.close();
  await kms.close();
});

describe('host metadata', () => {
  test('Version, GetMeta, ListImages, ListGpus', async () => {
    assert.deepEqual(await call(sim.url, 'Version'), { version: '0.5.8-sim', rev: 'vmm-sim' });

    const meta = await call(sim.url, 'GetMeta');
    assert.deepEqual(meta.kms, { url: kms.url, urls: [kms.url] });
    assert.equal(meta.gateway.base_domain, 'sim-test.dstack.localhost');
    assert.equal(meta.gateway.port, 443);
    assert.equal(meta.gateway.agent_port, 8090);
    assert.equal(meta.resources.max_cvm_number, 64);
    assert.equal(meta.resources.max_allocable_vcpu, 32);
    assert.equal(meta.resources.max_allocable_memory_in_mb, 65536);
    assert.deepEqual(meta.networking, { supported_modes: ['user'], default_mode: 'user', default_bridge: '' });

    const { images } = await call(sim.url, 'ListImages');
    assert.deepEqual(
      images.map((i: any) => [i.name, i.version, i.is_dev]),
      [
        ['dstack-0.5.8', '0.5.8', false],
        ['dstack-dev-0.5.8', '0.5.8', true],
        ['dstack-0.5.7', '0.5.7', false],
        ['dstack-nvidia-0.5.8', '0.5.8', false],
      ],
    );
    const desc = JSON.parse(images[3].description);
    assert.equal(desc.requires_gpu, true);
    assert.match(desc.os_image_hash, /^[0-9a-f]{64}$/);

    assert.deepEqual(await call(sim.url, 'ListGpus'), { gpus: [], allow_attach_all: false });
  });

  test('GetComposeHash hashes the exact compose string; invalid composes are rejected', async () => {
    const compose = appCompose() + '\n';
    assert.deepEqual(await call(sim.url, 'GetComposeHash', { name: 'x', compose_file: compose }), {
      hash: sha256Hex(compose),
    });
    const bad = await rpc(sim.url, 'GetComposeHash', { compose_file: JSON.stringify({ name: 'x', runner: 'bash' }) });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /manifest_version/);
  });

  test('GetAppEnvEncryptPubKey is proxied to the KMS', async () => {
    const r = await call(sim.url, 'GetAppEnvEncryptPubKey', { app_id: '0x' + 'ab'.repeat(20) });
    assert.equal(r.public_key, kms.envPublicKeyHex);
    assert.equal(r.app_id, 'ab'.repeat(20));
  });
});

describe('boot with KMS keys and encrypted env', () => {
  let id: string;
  const compose = appCompose({ allowed_envs: ['FOO', 'BAR'] });

  test('CreateVm boots to done; guest env holds exactly the allowed keys', async () => {
    const encrypted = encryptEnv(
      [
        { key: 'FOO', value: 'foo value' },
        { key: 'BAR', value: 'b=a r$' },
        { key: 'SNEAKY', value: 'dropped' },
      ],
      kms.envPublicKeyHex,
    );
    const before = kms.keyRequests.length;
    const created = await call(sim.url, 'CreateVm', vmConfig({ compose_file: compose, encrypted_env: encrypted }));
    id = created.id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const early = sim.getVm(id)!;
    assert.equal(early.status, 'running');
    assert.equal(early.bootProgress, 'booting');

    const vm = await waitVm(sim, id, booted, 'boot');
    assert.deepEqual(vm.guest.env, { FOO: 'foo value', BAR: 'b=a r$' });
    assert.deepEqual(vm.guest.droppedEnvKeys, ['SNEAKY']);
    assert.deepEqual(vm.guest.containers, [
      { name: 'web', image: 'nginx:latest', state: 'running' },
      { name: 'worker', image: 'busybox:1.36', state: 'running' },
    ]);
    assert.equal(vm.bootError, '');
    assert.equal(vm.appId, sha256Hex(compose).slice(0, 40));
    assert.match(vm.instanceId!, /^[0-9a-f]{40}$/);

    // The key request carried the measured identity.
    assert.equal(kms.keyRequests.length, before + 1);
    const req = kms.keyRequests.at(-1)!;
    assert.equal(req.app_id, vm.appId);
    assert.equal(req.compose_hash, sha256Hex(compose));
    assert.equal(req.instance_id, vm.instanceId);
    assert.equal(req.host_vm_id, id);
    assert.equal(req.cpu_count, 2);
    assert.equal(req.memory_size, 2048 * 1024 * 1024);
    assert.match(String(req.device_id), /^[0-9a-f]{64}$/);
    assert.match(String(req.os_image_hash), /^[0-9a-f]{64}$/);
    assert.ok(kms.authHeaders.every((h) => h === `Bearer ${kms.token}`));
  });

  test('GetInfo and Status report VmInfo', async () => {
    const info = await call(sim.url, 'GetInfo', { id });
    assert.equal(info.found, true);
    const vm = info.info;
    assert.equal(vm.id, id);
    assert.equal(vm.name, 'app-1');
    assert.equal(vm.status, 'running');
    assert.equal(vm.boot_progress, 'done');
    assert.equal(vm.boot_error, '');
    assert.equal(vm.image_version, '0.5.8');
    assert.equal(vm.exited_at, 'never');
    assert.match(vm.uptime, /^\d+s$|^\d+m( \d+s)?$/);
    assert.match(vm.instance_id, /^[0-9a-f]{40}$/);
    assert.equal(vm.app_url, `https://${vm.instance_id}-8090.sim-test.dstack.localhost`);
    assert.equal(vm.configuration.compose_file, compose);
    assert.equal(vm.configuration.app_id, vm.app_id);
    assert.equal(vm.configuration.stopped, false);
    assert.match(vm.configuration.encrypted_env, /^[0-9a-f]+$/);
    assert.deepEqual(vm.configuration.kms_urls, []);
    const progress = vm.events.filter((e: any) => e.event === 'boot.progress').map((e: any) => e.body);
    assert.deepEqual(progress, [
      'requesting app keys',
      'initializing data disk',
      'mounting data disk',
      'data disk ready',
      'setting up dstack-gateway',
      'setting up docker',
      'starting containers',
      'done',
    ]);
    assert.ok(vm.events.length <= 20);
    assert.ok(vm.events.every((e: any) => typeof e.timestamp === 'number' && e.timestamp > 1.6e12));

    assert.deepEqual(await call(sim.url, 'GetInfo', { id: 'nope' }), { found: false, info: null });

    const status = await call(sim.url, 'Status', { ids: [id], brief: true });
    assert.equal(status.total, 1);
    assert.equal(status.port_mapping_enabled, false);
    assert.equal(status.vms[0].id, id);
    assert.equal(status.vms[0].configuration, null);
    const full = await call(sim.url, 'Status', { keyword: vm.app_id.slice(0, 12) });
    assert.ok(full.vms.some((v: any) => v.id === id && v.configuration?.name === 'app-1'));
  });

  test('guest API: Info, SysInfo, NetworkInfo, ListContainers', async () => {
    const info = await call(sim.url, 'Info', { id }, 'guest');
    assert.equal(info.app_id, sim.getVm(id)!.appId);
    assert.equal(info.compose_hash, sha256Hex(compose));
    assert.equal(info.app_name, 'hello');
    assert.match(info.device_id, /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(info.key_provider_info), { name: 'kms', id: '' });
    const tcb = JSON.parse(info.tcb_info);
    assert.equal(tcb.app_compose, compose);
    assert.equal(sha256Hex(tcb.app_compose), info.compose_hash);
    assert.deepEqual(
      tcb.event_log.map((e: any) => e.event),
      ['system-preparing', 'app-id', 'compose-hash', 'instance-id', 'boot-mr-done', 'os-image-hash', 'key-provider', 'storage-fs', 'system-ready'],
    );
    assert.equal(tcb.event_log[2].event_payload, info.compose_hash);
    assert.equal(tcb.event_log[5].event_payload, '44'.repeat(32), 'os-image-hash as returned by the KMS');

    const sys = await call(sim.url, 'SysInfo', { id }, 'guest');
    assert.equal(sys.num_cpus, 2);
    assert.ok(sys.total_memory > 1.9e9 && sys.total_memory <= 2048 * 1024 * 1024);
    assert.equal(sys.used_memory + sys.available_memory, sys.total_memory);
    assert.ok(sys.disks.some((d: any) => d.total_size === 20 * 1024 ** 3));

    const net = await call(sim.url, 'NetworkInfo', { id }, 'guest');
    assert.deepEqual(net.dns_servers, ['10.0.2.3']);
    assert.ok(net.interfaces.some((i: any) => i.name === 'eth0'));

    const { containers } = await call(sim.url, 'ListContainers', { id }, 'guest');
    assert.deepEqual(
      containers.map((c: any) => [c.names, c.image, c.state]),
      [
        [['/web'], 'nginx:latest', 'running'],
        [['/worker'], 'busybox:1.36', 'running'],
      ],
    );
    assert.match(containers[0].id, /^[0-9a-f]{64}$/);
    assert.equal(containers[1].command, 'sleep infinity');
    assert.equal(typeof containers[0].created, 'number');
  });

  test('StopVm kills at once; StartVm boots again from scratch with the same instance id', async () => {
    const instanceId = sim.getVm(id)!.instanceId;
    const requests = kms.keyRequests.length;
    await call(sim.url, 'StopVm', { id });
    let vm = sim.getVm(id)!;
    assert.equal(vm.status, 'stopped');
    assert.equal(vm.bootProgress, 'N/A');
    assert.equal(vm.guest.env, null);
    assert.deepEqual(vm.guest.containers, []);
    assert.equal((await call(sim.url, 'GetInfo', { id })).info.configuration.stopped, true);

    const again = await rpc(sim.url, 'StopVm', { id });
    assert.equal(again.status, 400);
    assert.match(again.body.error, /not running/);
    const guestDown = await rpc(sim.url, 'ListContainers', { id }, { prefix: 'guest' });
    assert.equal(guestDown.status, 400);

    await call(sim.url, 'StartVm', { id });
    assert.equal(sim.getVm(id)!.bootProgress, 'booting');
    const dup = await rpc(sim.url, 'StartVm', { id });
    assert.equal(dup.status, 400);
    assert.match(dup.body.error, /already running/);

    vm = await waitVm(sim, id, booted, 'reboot');
    assert.equal(vm.instanceId, instanceId);
    assert.deepEqual(vm.guest.env, { FOO: 'foo value', BAR: 'b=a r$' });
    assert.equal(kms.keyRequests.length, requests + 1, 'keys are requested again');
  });

  test('ShutdownVm: stopping containers … powering off → stopped', async () => {
    await call(sim.url, 'ShutdownVm', { id });
    let vm = sim.getVm(id)!;
    assert.equal(vm.shutdownProgress, 'stopping containers');
    assert.ok(vm.guest.containers.every((c) => c.state === 'exited'));
    const twice = await rpc(sim.url, 'ShutdownVm', { id });
    assert.equal(twice.status, 400);
    await waitVm(sim, id, (v) => v.shutdownProgress === 'powering off', 'powering off');
    vm = await waitVm(sim, id, (v) => v.status === 'stopped', 'stopped');
    assert.equal(vm.guest.env, null);
    assert.deepEqual(vm.guest.containers, []);
    assert.equal(vm.bootProgress, 'N/A');
    const info = (await call(sim.url, 'GetInfo', { id })).info;
    assert.notEqual(info.exited_at, 'never');
    assert.ok(info.events.some((e: any) => e.event === 'shutdown.progress' && e.body === 'powering off'));
    const notRunning = await rpc(sim.url, 'ShutdownVm', { id });
    assert.equal(notRunning.status, 400);
  });

  test('UpdateVm: returned id quirk, resources only when stopped, disk grows only, applies on next start', async () => {
    // Stopped now: resources may change.
    const newCompose = appCompose({ allowed_envs: ['FOO'] });
    const r = await call(sim.url, 'UpdateVm', { id, compose_file: newCompose, vcpu: 4, memory: 4096, disk_size: 30 });
    assert.deepEqual(r, { id: sha256Hex(newCompose).slice(0, 40) });
    assert.deepEqual(await call(sim.url, 'UpdateVm', { id, user_config: '{"a":1}' }), { id: '' });
    const shrink = await rpc(sim.url, 'UpdateVm', { id, disk_size: 10 });
    assert.equal(shrink.status, 400);
    assert.match(shrink.body.error, /shrink/);

    let vm = sim.getVm(id)!;
    assert.equal(vm.configuration.compose_file, newCompose);
    assert.equal(vm.configuration.vcpu, 4);
    assert.equal(vm.configuration.disk_size, 30);
    assert.equal(vm.configuration.user_config, '{"a":1}');
    assert.equal(vm.appId, sha256Hex(compose).slice(0, 40), 'app_id never changes');

    await call(sim.url, 'StartVm', { id });
    vm = await waitVm(sim, id, booted, 'boot after update');
    assert.deepEqual(vm.guest.env, { FOO: 'foo value' });
    assert.deepEqual(vm.guest.droppedEnvKeys, ['BAR', 'SNEAKY']);
    assert.equal(kms.keyRequests.at(-1)!.cpu_count, 4);

    const busy = await rpc(sim.url, 'UpdateVm', { id, vcpu: 1 });
    assert.equal(busy.status, 400);
    assert.match(busy.body.error, /stopped/);
    const resize = await rpc(sim.url, 'ResizeVm', { id, memory: 1024 });
    assert.equal(resize.status, 400);
    // A compose change on a running VM is accepted and waits for the next boot.
    const later = appCompose({ allowed_envs: ['FOO', 'BAR'], name: 'hello2' });
    await call(sim.url, 'UpdateVm', { id, compose_file: later });
    const guestInfo = await call(sim.url, 'Info', { id }, 'guest');
    assert.equal(guestInfo.compose_hash, sha256Hex(newCompose));
  });

  test('RemoveVm: removing, then gone', async () => {
    await call(sim.url, 'RemoveVm', { id });
    assert.equal(sim.getVm(id)!.status, 'removing');
    assert.equal((await call(sim.url, 'GetInfo', { id })).info.status, 'removing');
    await waitFor(() => sim.getVm(id) === undefined, 'removal');
    assert.equal((await call(sim.url, 'GetInfo', { id })).found, false);
    const gone = await rpc(sim.url, 'StartVm', { id });
    assert.equal(gone.status, 400);
    assert.match(gone.body.error, /not found/);
  });
});

describe('CreateVm validation and capacity', () => {
  test('rejects bad requests with 400', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [vmConfig({ name: 'bad/name' }), /Invalid name/],
      [vmConfig({ name: '' }), /Invalid name/],
      [vmConfig({ image: 'dstack-9.9.9' }), /image/],
      [vmConfig({ compose_file: '{"name":"x"}' }), /Invalid compose file/],
      [vmConfig({ compose_file: 'not json' }), /Invalid compose file/],
      [vmConfig({ vcpu: 0 }), /vcpu/],
      [vmConfig({ app_id: '0x1234' }), /app_id/],
      [vmConfig({ ports: [{ protocol: 'tcp', host_port: 8080, vm_port: 80, host_address: '127.0.0.1' }] }), /Port mapping/],
      [vmConfig({ gpus: { gpus: [{ slot: '18:00.0' }], attach_mode: 'listed' } }), /GPU/],
      [vmConfig({ encrypted_env: 'xyz' }), /hex/],
    ];
    const count = sim.listVms().length;
    for (const [req, re] of cases) {
      const r = await rpc(sim.url, 'CreateVm', req);
      assert.equal(r.status, 400, JSON.stringify(req));
      assert.match(r.body.error, re);
    }
    assert.equal(sim.listVms().length, count, 'no VM was created');
  });

  test('capacity is summed over existing VMs (stopped ones included, removed ones not)', async () => {
    const small = await startTestSim(kms, { resources: { maxVcpu: 4, maxMemoryMb: 8192, maxCvms: 3 } });
    try {
      const a = await call(small.url, 'CreateVm', vmConfig({ vcpu: 3, stopped: true }));
      assert.equal(small.getVm(a.id)!.status, 'stopped');
      const cpu = await rpc(small.url, 'CreateVm', vmConfig({ vcpu: 2 }));
      assert.equal(cpu.status, 400);
      assert.match(cpu.body.error, /insufficient resources: requested 2 vCPU, but only 1 of 4 are free/);
      const mem = await rpc(small.url, 'CreateVm', vmConfig({ vcpu: 1, memory: 8192 }));
      assert.equal(mem.status, 400);
      assert.match(mem.body.error, /insufficient resources.*memory/);
      await call(small.url, 'CreateVm', vmConfig({ vcpu: 1, memory: 1024, stopped: true }));
      await call(small.url, 'RemoveVm', { id: a.id });
      await call(small.url, 'CreateVm', vmConfig({ vcpu: 1, memory: 1024, stopped: true }));
      await call(small.url, 'CreateVm', vmConfig({ vcpu: 1, memory: 1024, stopped: true }));
      const count = await rpc(small.url, 'CreateVm', vmConfig({ vcpu: 1, memory: 1024 }));
      assert.equal(count.status, 400);
      assert.match(count.body.error, /maximum of 3 CVMs/);
      await waitFor(() => small.listVms().length === 3, 'removal of the first VM');
    } finally {
      await small.close();
    }
  });

  test('app_id from the configuration (0x accepted) and created with stopped: true', async () => {
    const appId = '0x' + 'AB'.repeat(20);
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ app_id: appId, stopped: true }));
    const vm = sim.getVm(id)!;
    assert.equal(vm.appId, 'ab'.repeat(20));
    assert.equal(vm.status, 'stopped');
    assert.equal(vm.instanceId, null);
    assert.equal(kms.keyRequests.filter((r) => r.host_vm_id === id).length, 0);
    await call(sim.url, 'RemoveVm', { id });
  });
});
