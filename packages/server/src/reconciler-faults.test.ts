/**
 * The reconciler under host faults, with three simulated hosts of different sizes and regions, each its own
 * `opencvm-vmm-sim` process driven through its fault API (`/sim/faults`, `/sim/restart`): a host that loses its
 * VMs in a restart (`wipe`) or keeps them stopped, a boot that hangs, a boot that fails, 5xx answers, a host
 * cut off (every connection dropped) until it is marked unreachable, then back. After each, every CVM
 * converges to its desired state with exactly one VM (counted on every host), and the operation history says
 * what happened. No timing is asserted: waits have generous limits.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { startSimProcess, type SimProcess } from './testing/replicas.ts';
import { sdkClient } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';
import { parseHostVmName } from './services/host-vm-names.ts';
import { HOST_RECOVERED, HOST_UNREACHABLE, gaveUpNote } from './services/runtime.ts';

const compose = `services:
  web:
    image: nginx:latest
`;
const ADMIN_KEY = 'admin-key-reconciler-faults-0123456789';
const LONG = 90_000;

let env: TestEnv;
const hosts: Record<'h1' | 'h2' | 'h3', SimProcess> = {} as never;
const nodeIds: Record<string, number> = {};

before(async () => {
  const [h1, h2, h3] = await Promise.all([
    startSimProcess({ name: 'rf-h1', region: 'eu-west', vcpu: 16, memoryMb: 32768, bootMs: 300 }),
    startSimProcess({ name: 'rf-h2', region: 'us-east', vcpu: 32, memoryMb: 65536, bootMs: 300 }),
    startSimProcess({ name: 'rf-h3', region: 'ap-south', vcpu: 8, memoryMb: 16384, bootMs: 300 }),
  ]);
  Object.assign(hosts, { h1, h2, h3 });
  env = await startTestEnv({
    config: {
      hosts: [
        { name: 'rf-h1', url: h1.url, kmsToken: h1.kmsToken, region: 'eu-west' },
        { name: 'rf-h2', url: h2.url, kmsToken: h2.kmsToken, region: 'us-east' },
        { name: 'rf-h3', url: h3.url, kmsToken: h3.kmsToken, region: 'ap-south' },
      ],
      adminKey: ADMIN_KEY,
      reconcileMs: 150,
      unreachableAfter: 3,
      recoveryAttempts: 5,
      recoveryBackoffMs: 200,
      orphanGraceMs: 0,
    },
    // a hung boot is given up on quickly; a host that answers 5xx or nothing is retried often
    worker: { bootTimeoutMs: 4000, retry: { baseMs: 100, capMs: 1000, maxAttempts: 40 } },
  });
  for (const r of await env.server.db.query<{ id: number; name: string }>('SELECT id, name FROM nodes')) nodeIds[r.name] = Number(r.id);
});

after(async () => {
  for (const h of Object.values(hosts)) await h?.close();
  await env?.close();
});

const api = async (path: string, init: RequestInit = {}) => {
  const r = await fetch(`${env.apiUrl}${path}`, { ...init, headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json', ...init.headers } });
  return { status: r.status, body: (await r.json()) as any };
};

async function control(h: SimProcess, method: string, path: string, body?: unknown) {
  const r = await fetch(`${h.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Deploy `name` on host `node` (by node_id) and wait until it runs. */
async function deployOn(name: string, node: string): Promise<string> {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: compose }, node_id: nodeIds[node] } as never);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await settled(vm.vm_uuid!, 'running');
  return vm.vm_uuid!;
}

/** The CVM once it shows `status` with no operation in progress. */
function settled(id: string, status: string, timeoutMs = LONG) {
  return waitFor(async () => {
    const info = await sdkClient(env).getCvmInfo({ id });
    return info.status === status && !info.progress ? info : null;
  }, timeoutMs, 100);
}

const operations = async (id: string) =>
  (await api(`/cvms/${id}/operations`)).body.items as { kind: string; operation_type: string; state: string; step: string | null; error: string | null; reason: string | null }[];

/** Every VM of this installation on every host, by the CVM id its label names (a host that does not answer: none read). */
async function vmsByCvm(): Promise<Map<string, { host: string; id: string; status: string }[]>> {
  const out = new Map<string, { host: string; id: string; status: string }[]>();
  for (const [name, h] of Object.entries(hosts)) {
    const vms = (await (await fetch(`${h.url}/sim/vms`)).json()) as { id: string; status: string; configuration: { name: string } }[];
    for (const v of vms) {
      const label = parseHostVmName(v.configuration.name);
      if (!label) continue;
      out.set(label.vmUuid, [...(out.get(label.vmUuid) ?? []), { host: name, id: v.id, status: v.status }]);
    }
  }
  return out;
}

/**
 * Every live CVM shows its desired state with no operation in progress, and has exactly one VM, on its own host,
 * the one it records (one that should stay stopped and whose host lost its VM: none); no VM without a CVM.
 * Checked until it holds (the reconciler gets there in its own time); the last failure is the error.
 */
async function assertConverged(expected: Record<string, 'running' | 'stopped'>) {
  await waitFor(async () => {
    for (const [id, status] of Object.entries(expected)) {
      const info = await sdkClient(env).getCvmInfo({ id });
      assert.equal(info.status, status, `CVM ${id} shows ${status}`);
      assert.equal(info.progress, null, `CVM ${id} has no operation in progress`);
    }
    const vms = await vmsByCvm();
    const rows = await env.server.db.query<{ vm_uuid: string; node: string; host_vm_id: string | null }>(
      `SELECT c.vm_uuid::text AS vm_uuid, n.name AS node, c.host_vm_id FROM cvms c JOIN nodes n ON n.id = c.node_id WHERE c.deleted_at IS NULL`,
    );
    for (const r of rows) {
      const mine = vms.get(r.vm_uuid) ?? [];
      if (!r.host_vm_id && expected[r.vm_uuid] === 'stopped') {
        assert.equal(mine.length, 0, `CVM ${r.vm_uuid} records no VM and has none`);
        continue;
      }
      assert.equal(mine.length, 1, `CVM ${r.vm_uuid} has exactly one VM (found ${JSON.stringify(mine)})`);
      assert.equal(`rf-${mine[0].host}`, r.node, 'on the host it is placed on');
      assert.equal(mine[0].id, r.host_vm_id, 'the VM the CVM records');
      assert.equal(mine[0].status, expected[r.vm_uuid] ?? mine[0].status);
    }
    assert.deepEqual([...vms.keys()].filter((k) => !rows.some((r) => r.vm_uuid === k)), [], 'no VM without a CVM');
    return true;
  }, LONG, 250);
}

const expected: Record<string, 'running' | 'stopped'> = {};

test('a host restarted with its VMs wiped: a CVM that should run is created again (once), one that should stay stopped shows stopped and is created at its next start', async () => {
  const a = await deployOn('rf-wipe-a', 'rf-h1');
  const b = await deployOn('rf-wipe-b', 'rf-h1');
  const s = await deployOn('rf-wipe-s', 'rf-h1');
  await sdkClient(env).stopCvm({ id: s });
  await settled(s, 'stopped');
  const before = await vmsByCvm();

  const restarted = await control(hosts.h1, 'POST', '/sim/restart', { vms: 'wipe' });
  assert.ok(restarted);
  Object.assign(expected, { [a]: 'running', [b]: 'running', [s]: 'stopped' });
  await assertConverged(expected);

  for (const id of [a, b]) {
    const ops = await operations(id);
    const recover = ops.find((o) => o.operation_type === 'recover');
    assert.ok(recover, `CVM ${id} has a recovery operation: ${JSON.stringify(ops)}`);
    assert.equal(recover.kind, 'create');
    assert.equal(recover.state, 'succeeded');
    assert.match(recover.reason ?? '', /the host lost VM .* creating it again/);
    assert.notEqual((await vmsByCvm()).get(id)![0].id, before.get(id)![0].id, 'a new VM');
  }
  // the stopped one: stopped, no VM on the host, nothing queued
  assert.equal((await operations(s)).filter((o) => o.operation_type === 'recover').length, 0);
  const [row] = await env.server.db.query<{ host_vm_id: string | null }>('SELECT host_vm_id FROM cvms WHERE vm_uuid = $1', [s]);
  assert.equal(row.host_vm_id, null, 'the lost VM is no longer recorded');
  assert.equal((await vmsByCvm()).get(s), undefined);
  // its next start creates it
  await sdkClient(env).startCvm({ id: s });
  expected[s] = 'running';
  await assertConverged(expected);
});

test('a host restarted keeping its VMs stopped: CVMs that should run get a start, those stopped stay stopped', async () => {
  const a = await deployOn('rf-stop-a', 'rf-h2');
  const s = await deployOn('rf-stop-s', 'rf-h2');
  await sdkClient(env).stopCvm({ id: s });
  await settled(s, 'stopped');
  await control(hosts.h2, 'POST', '/sim/restart', { vms: 'stopped' });
  Object.assign(expected, { [a]: 'running', [s]: 'stopped' });
  await assertConverged(expected);
  const recover = (await operations(a)).filter((o) => o.operation_type === 'recover');
  assert.equal(recover.length, 1, 'one start');
  assert.equal(recover[0].kind, 'start');
  assert.match(recover[0].reason ?? '', /reports VM .* stopped while the CVM should run: starting it again/);
  assert.equal((await operations(s)).filter((o) => o.operation_type === 'recover').length, 0);
});

test('a boot that hangs: the operation ends with the reason, the CVM reads exited, then the reconciler boots it again', async () => {
  const a = await deployOn('rf-hang', 'rf-h2');
  await control(hosts.h2, 'POST', '/sim/faults', { kind: 'hang', method: 'boot', times: 1 });
  await sdkClient(env).restartCvm({ id: a });
  const failed = await waitFor(async () => (await operations(a)).find((o) => o.kind === 'restart' && o.state === 'failed'), LONG, 100);
  assert.match(failed.error ?? '', /boot did not finish within 4s .*the VM was stopped/);
  expected[a] = 'running';
  await assertConverged(expected);
  const recover = (await operations(a)).find((o) => o.operation_type === 'recover');
  assert.ok(recover);
  assert.equal(recover.kind, 'start');
  assert.equal(recover.state, 'succeeded');
  assert.match(recover.reason ?? '', /boot did not finish/);
  await control(hosts.h2, 'DELETE', '/sim/faults');
});

test('a boot that fails, and a host answering 5xx meanwhile: retried, then booted again by the reconciler', async () => {
  const a = await deployOn('rf-5xx', 'rf-h3');
  await control(hosts.h3, 'POST', '/sim/faults', { kind: 'error', method: 'boot', error: 'simulated firmware crash', times: 1 });
  await control(hosts.h3, 'POST', '/sim/faults', { kind: 'status', method: 'GetInfo', status: 503, times: 3 });
  await sdkClient(env).restartCvm({ id: a });
  const failed = await waitFor(async () => (await operations(a)).find((o) => o.kind === 'restart' && o.state === 'failed'), LONG, 100);
  assert.match(failed.error ?? '', /simulated firmware crash/);
  expected[a] = 'running';
  await assertConverged(expected);
  const recover = (await operations(a)).find((o) => o.operation_type === 'recover');
  assert.ok(recover);
  assert.match(recover.reason ?? '', /exited .*simulated firmware crash/);
  await control(hosts.h3, 'DELETE', '/sim/faults');
});

test('a host cut off: marked unreachable (placement skips it, operators and users see it), then online again; its CVMs converge', async () => {
  const a = await deployOn('rf-cut', 'rf-h3');
  expected[a] = 'running';
  await control(hosts.h3, 'POST', '/sim/faults', { kind: 'drop' });
  const admin = { 'x-admin-key': ADMIN_KEY };
  const down = await waitFor(async () => {
    const h = (await api(`/admin/hosts/${nodeIds['rf-h3']}`, { headers: admin })).body;
    return h.status === 'unreachable' ? h : null;
  }, LONG, 100);
  assert.ok(down.unreachable_since);
  assert.match(down.last_error ?? '', /unreachable/);
  // the CVM keeps its last known status, and says its host is unreachable
  const info = await sdkClient(env).getCvmInfo({ id: a });
  assert.equal(info.status, 'running');
  assert.equal(info.node_info?.status, 'unreachable');
  // no new CVM is placed there
  const placed = await api('/cvms/provision', {
    method: 'POST',
    body: JSON.stringify({ name: 'rf-cut-new', compose_file: { docker_compose_file: compose }, node_id: nodeIds['rf-h3'] }),
  });
  assert.equal(placed.status, 400, JSON.stringify(placed.body));
  // a lifecycle call meanwhile waits for the host (retried with backoff), and goes through once it is back
  await sdkClient(env).restartCvm({ id: a });

  await control(hosts.h3, 'DELETE', '/sim/faults');
  await waitFor(async () => ((await api(`/admin/hosts/${nodeIds['rf-h3']}`, { headers: admin })).body.status === 'online' ? true : null), LONG, 100);
  await assertConverged(expected);
  assert.equal((await sdkClient(env).getCvmInfo({ id: a })).node_info?.status, 'online');
  const events = await env.server.db.query<{ kind: string; reason: string }>(
    'SELECT kind, reason FROM host_events WHERE node_id = $1 AND kind IN ($2, $3) ORDER BY id',
    [nodeIds['rf-h3'], HOST_UNREACHABLE, HOST_RECOVERED],
  );
  assert.deepEqual(events.map((e) => e.kind), [HOST_UNREACHABLE, HOST_RECOVERED], 'recorded once each');
  const restart = (await operations(a)).find((o) => o.kind === 'restart');
  assert.equal(restart?.state, 'succeeded');
});

test('a CVM whose recovery keeps failing: retried with backoff a bounded number of times, then left with the reason', async () => {
  const a = await deployOn('rf-giveup', 'rf-h1');
  // every CreateVm refused: the lost VM cannot be made again
  await control(hosts.h1, 'POST', '/sim/faults', { kind: 'error', method: 'CreateVm', error: 'no room for this VM' });
  await control(hosts.h1, 'POST', '/sim/restart', { vms: 'wipe' });
  const gaveUp = await waitFor(async () => {
    const r = await api(`/cvms/${a}`);
    return r.body.boot_error?.includes(gaveUpNote(5)) && !r.body.progress ? r.body : null;
  }, LONG, 200);
  assert.equal(gaveUp.status, 'error');
  const recover = (await operations(a)).filter((o) => o.operation_type === 'recover');
  assert.equal(recover.length, 5, 'five attempts');
  assert.ok(recover.every((o) => o.state === 'failed' && /no room for this VM/.test(o.error ?? '')));
  assert.equal((await vmsByCvm()).get(a), undefined, 'no VM made');
  // once the host takes VMs again, the owners' starts bring back this CVM and the others the restart took
  await control(hosts.h1, 'DELETE', '/sim/faults');
  expected[a] = 'running';
  const onHost = await env.server.db.query<{ vm_uuid: string }>(
    `SELECT vm_uuid::text AS vm_uuid FROM cvms WHERE node_id = $1 AND deleted_at IS NULL AND desired_state = 'running'`,
    [nodeIds['rf-h1']],
  );
  for (const { vm_uuid } of onHost) {
    await settled(vm_uuid, 'error');
    await sdkClient(env).startCvm({ id: vm_uuid });
  }
  await assertConverged(expected);
});
