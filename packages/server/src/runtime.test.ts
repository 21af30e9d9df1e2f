/**
 * Runtime reads and the runtime reconciler, with the official SDK against a real server and simulated host:
 * composition (#30), stats (#27) and network (#28) come from the store and show the guest's containers,
 * SysInfo and gateway URLs; a VM stopped or removed behind the control plane's back is seen as such.
 */
import { prpc } from '@opencvm/contract';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { hostStatePatch, VM_GONE } from './services/runtime.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { deployRunning as deployRunningIn } from './testing/deploy.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const compose = `services:
  web:
    image: nginx:latest
    ports:
      - "8080:80"
      - "127.0.0.1:9000:9000/tcp"
      - "5353:53/udp"
  worker:
    image: busybox
`;

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ config: { reconcileMs: 100 } });
});
after(async () => {
  await env?.close();
});

const client = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

const deployRunning = (name: string) => deployRunningIn(env, name, compose);

/** The CVM's composition once the reconciler has read its containers. */
const onlineComposition = (id: string) =>
  waitFor(async () => {
    const comp = await client().getCvmContainersStats({ id });
    return comp.is_online ? comp : null;
  }, 10_000);

test(`composition, stats and network come from the store and show the guest`, async () => {
  const c = client();
  const vm = await deployRunning('runtime-app');
  const hostVm = env.sim.listVms().find((v) => cvmNameOf(v.name) === 'runtime-app')!;

  const comp = await onlineComposition('runtime-app');
  assert.equal(comp.error, null);
  assert.equal(comp.runner, 'docker-compose');
  assert.equal(comp.manifest_version, 2);
  assert.equal(comp.docker_compose_file, compose);
  assert.deepEqual(comp.features, ['kms', 'tproxy-net']);
  assert.equal(comp.is_public, true, 'the app-compose default is public_logs: true');
  const names = comp.containers!.map((k) => k.names[0]).sort();
  assert.deepEqual(names, ['/web', '/worker']);
  const web = comp.containers!.find((k) => k.names[0] === '/web')!;
  assert.equal(web.image, 'nginx:latest');
  assert.equal(web.state, 'running');
  assert.match(web.status, /^Up /);
  assert.equal(typeof web.created, 'number');
  assert.match(web.log_endpoint!, new RegExp(`^${env.server.url}/logs/container/web\\?cvm=${vm.vm_uuid}&exp=\\d+&token=[\\w-]+$`));

  const stats = await c.getCvmStats({ id: vm.vm_uuid! });
  assert.equal(stats.is_online, true);
  assert.equal(stats.error, null);
  assert.equal(stats.status, 'running');
  assert.equal(stats.boot_progress, 'done');
  assert.equal(stats.sysinfo!.os_name, 'DStack');
  assert.equal(stats.sysinfo!.num_cpus, hostVm.configuration.vcpu);
  assert.ok(stats.sysinfo!.disks.some((d) => d.mount_point === '/dstack/persistent'));

  const net = await c.getCvmNetwork({ id: 'runtime-app' });
  assert.equal(net.is_online, true);
  assert.match(net.internal_ip!, /^10\.4\.0\.\d+$/, 'the WireGuard address of a gateway-enabled CVM');
  const info = await c.getCvmInfo({ id: vm.vm_uuid! });
  const base = 'sim-test.dstack.localhost';
  assert.deepEqual(net.public_urls, [
    { app: `https://${info.app_id}-8080.${base}`, instance: `https://${info.instance_id}-8080.${base}` },
    { app: `https://${info.app_id}-9000.${base}`, instance: `https://${info.instance_id}-9000.${base}` },
  ]);
  // the same per-port URLs wherever a CVM's gateway URLs appear: v2025 detail and list item (`public_urls`),
  // v2026 detail and list item (`endpoints`)
  const read = async (path: string, version: string) =>
    (await (await fetch(`${env.apiUrl}${path}`, { headers: { 'x-api-key': env.apiKey, 'x-phala-version': version } })).json()) as any;
  const listed = (page: any) => page.items.find((i: any) => (i.hosted?.id ?? i.id) === vm.vm_uuid);
  assert.deepEqual((await read(`/cvms/${vm.vm_uuid}`, '2025-10-28')).public_urls, net.public_urls);
  assert.deepEqual((await read(`/cvms/${vm.vm_uuid}`, '2026-01-21')).endpoints, net.public_urls);
  assert.deepEqual(listed(await read('/cvms/paginated?page_size=100', '2025-10-28')).public_urls, net.public_urls);
  assert.deepEqual(listed(await read('/cvms/paginated?page_size=100', '2026-01-21')).endpoints, net.public_urls);

  // served from the store: no read reaches the host. With the reconciler paused, a fault armed on the
  // guest API is still there after the three reads (nobody called it)
  await env.server.reconciler.stop();
  try {
    for (const method of ['guest.ListContainers', 'guest.SysInfo', 'guest.NetworkInfo']) {
      await fetch(`${env.sim.url}/sim/faults`, { method: 'POST', body: JSON.stringify({ method, error: 'armed', times: 1 }) });
    }
    await c.getCvmContainersStats({ id: 'runtime-app' });
    await c.getCvmStats({ id: 'runtime-app' });
    await c.getCvmNetwork({ id: 'runtime-app' });
    for (const method of ['ListContainers', 'SysInfo', 'NetworkInfo']) {
      const r = await fetch(`${env.sim.url}/guest/${method}?json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: hostVm.id }),
      });
      assert.deepEqual([r.status, await r.json()], [400, { error: 'armed' }], method);
    }
  } finally {
    env.server.reconciler.start();
  }
});

test('a guest agent that does not answer is reported, and read again later', async () => {
  const fault = (times: number) =>
    fetch(`${env.sim.url}/sim/faults`, { method: 'POST', body: JSON.stringify({ method: 'guest.ListContainers', error: 'agent asleep', times }) });
  await fault(100_000);
  try {
    await deployRunning('agent-down');
    const comp = await waitFor(async () => {
      const r = await client().getCvmContainersStats({ id: 'agent-down' });
      return r.error?.includes('did not answer') ? r : null;
    }, 10_000);
    assert.equal(comp.is_online, false);
    assert.match(comp.error!, /agent-down is running, but its guest agent did not answer \(ListContainers: agent asleep\)/);
  } finally {
    await fault(0);
  }
  const back = await onlineComposition('agent-down');
  assert.equal(back.error, null);
});

test('a VM stopped behind the control plane\'s back shows as stopped; composition then says why it is offline', async () => {
  const c = client();
  const vm = await deployRunning('behind-back');
  await onlineComposition('behind-back');
  const hostVm = env.sim.listVms().find((v) => cvmNameOf(v.name) === 'behind-back')!;

  const res = await fetch(`${env.sim.url}/prpc/StopVm?json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: hostVm.id }),
  });
  assert.equal(res.status, 200, await res.text());

  const stopped = await waitFor(async () => {
    const info = await c.getCvmInfo({ id: vm.vm_uuid! });
    return info.status === 'stopped' ? info : null;
  }, 10_000);
  assert.equal(stopped.progress, null, 'no operation was involved');

  const comp = await c.getCvmContainersStats({ id: vm.vm_uuid! });
  assert.equal(comp.is_online, false);
  assert.equal(comp.containers, null);
  assert.match(comp.error!, /behind-back is stopped: start it/);
  assert.equal(comp.docker_compose_file, compose, 'the composition still describes the app');
  const stats = await c.getCvmStats({ id: vm.vm_uuid! });
  assert.equal(stats.is_online, false);
  assert.equal(stats.sysinfo, null);
  assert.equal(stats.status, 'stopped');
  const net = await c.getCvmNetwork({ id: vm.vm_uuid! });
  assert.equal(net.is_online, false);
  assert.equal(net.internal_ip, null);
  assert.equal(net.public_urls!.length, 2, 'gateway URLs follow from the compose, running or not');
  assert.deepEqual(stopped.endpoints, net.public_urls);
  const [row] = await env.server.db.query('SELECT runtime, exited_at FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  assert.equal(row.runtime, null, 'the snapshot of a stopped CVM is dropped');
  assert.ok(row.exited_at);

  // started again through the API, the CVM comes back online with fresh containers
  await c.startCvm({ id: vm.vm_uuid! });
  const back = await onlineComposition(vm.vm_uuid!);
  assert.equal(back.containers!.length, 2);
});

test('a VM removed from its host behind the control plane\'s back puts the CVM in error', async () => {
  const c = client();
  const vm = await deployRunning('removed-app');
  const hostVm = env.sim.listVms().find((v) => cvmNameOf(v.name) === 'removed-app')!;
  const res = await fetch(`${env.sim.url}/prpc/RemoveVm?json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: hostVm.id }),
  });
  assert.equal(res.status, 200, await res.text());
  const info = await waitFor(async () => {
    const r = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}`, { headers: { 'x-api-key': env.apiKey } });
    const body = (await r.json()) as { status: string; boot_error: string | null };
    return body.status === 'error' ? body : null;
  }, 10_000);
  assert.equal(info.boot_error, VM_GONE);
  const comp = await c.getCvmContainersStats({ id: vm.vm_uuid! });
  assert.equal(comp.is_online, false);
  assert.match(comp.error!, /removed-app is in error: the host no longer has this VM/);
});

test('the reconciler leaves a CVM with an operation in progress to the worker', async () => {
  const vm = await deployRunning('busy-app');
  const [{ id }] = await env.server.db.query<{ id: number }>('SELECT id FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  // a pending operation that no worker picks up yet (run_after in the future)
  await env.server.db.query(
    `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state, run_after)
     SELECT gen_random_uuid(), workspace_id, id, 'stop', 'stopped', 'pending', now() + interval '1 hour' FROM cvms WHERE id = $1`,
    [id],
  );
  const hostVm = env.sim.listVms().find((v) => cvmNameOf(v.name) === 'busy-app')!;
  await fetch(`${env.sim.url}/prpc/StopVm?json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: hostVm.id }),
  });
  await waitFor(() => (env.sim.getVm(hostVm.id)?.status === 'stopped' ? true : null), 5000);
  // several ticks pass; the CVM keeps the status the operation owns
  for (let i = 0; i < 3; i++) await env.server.reconciler.tick();
  const [row] = await env.server.db.query<{ status: string }>('SELECT status FROM cvms WHERE id = $1', [id]);
  assert.equal(row.status, 'running');
  // once the operation is over, the next tick brings the host's view in
  await env.server.db.query(`UPDATE operations SET state = 'failed', finished_at = now() WHERE cvm_id = $1`, [id]);
  await env.server.reconciler.tick();
  const [after] = await env.server.db.query<{ status: string }>('SELECT status FROM cvms WHERE id = $1', [id]);
  assert.equal(after.status, 'stopped');
});

test('hostStatePatch maps the host\'s view (dstack-vmm\'s statuses) and writes nothing when nothing changed', () => {
  const row = { id: 1, host_vm_id: 'h', status: 'running', boot_progress: 'done', boot_error: null, shutdown_progress: null, instance_id: 'i1', version: '1' };
  const vm = (over: object) => prpc.vmInfoSchema.parse({ id: 'h', name: 'n', app_id: 'a', status: 'running', boot_progress: 'done', boot_error: '', shutdown_progress: '', instance_id: 'i1', ...over });
  assert.equal(hostStatePatch(row, vm({})), null);
  assert.equal(hostStatePatch(row, vm({ boot_progress: 'setting up docker' }))?.status, 'starting');
  assert.deepEqual(hostStatePatch(row, vm({ status: 'exited', boot_error: 'oom' })), {
    status: 'exited', boot_progress: 'done', boot_error: 'oom', shutdown_progress: null, instance_id: 'i1',
  });
  assert.deepEqual(hostStatePatch(row, vm({ status: 'stopped', boot_progress: 'N/A' })), {
    status: 'stopped', boot_progress: null, boot_error: null, shutdown_progress: null, instance_id: 'i1',
  });
  assert.equal(hostStatePatch(row, vm({ status: 'removing' })), null, 'a VM being removed is looked at again once gone');
  assert.equal(hostStatePatch(row, undefined)?.boot_error, VM_GONE);
  assert.equal(hostStatePatch({ ...row, status: 'error', boot_progress: null, boot_error: VM_GONE }, undefined), null);
  assert.equal(hostStatePatch({ ...row, instance_id: null }, vm({}))?.instance_id, 'i1');
});
