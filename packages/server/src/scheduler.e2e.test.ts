/**
 * The scheduler over three simulated hosts, each an `opencvm-vmm-sim` process of its own, of different sizes,
 * regions, labels and GPUs, added through the admin API: placement honours region, node_id, labels and GPUs
 * (the slots reach the host's CreateVm); replicas land where asked and spread otherwise; a cordoned host gets
 * no new CVM; 50 deploys at once through the official SDK never over-commit a host.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient, replicateCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { settle } from './testing/deploy.ts';
import { startSimProcess, type SimProcess } from './testing/replicas.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx:alpine\n';
const adminKey = `admin_${randomBytes(24).toString('base64url')}`;
const H200 = '2335';

let env: TestEnv;
const sims: Record<string, SimProcess> = {};
const ids: Record<string, number> = {};

/** The three hosts: name → (program settings, what the operator adds). */
const HOSTS = {
  big: { sim: { VMM_SIM_VCPU: '16', VMM_SIM_MEMORY: '32768', VMM_SIM_SLOTS: '20' }, add: { region: 'us-east', labels: { tier: 'gold' }, capacity: { disk_gb: 2000 } } },
  mid: { sim: { VMM_SIM_VCPU: '8', VMM_SIM_MEMORY: '16384', VMM_SIM_SLOTS: '10' }, add: { region: 'eu-west', labels: { tier: 'silver' }, capacity: { disk_gb: 300 } } },
  gpu: {
    sim: { VMM_SIM_VCPU: '8', VMM_SIM_MEMORY: '16384', VMM_SIM_SLOTS: '6', VMM_SIM_GPUS: `0000:17:00.0@${H200}@NVIDIA H200,0000:18:00.0@${H200}@NVIDIA H200` },
    add: { region: 'us-east', labels: { accel: 'h200' }, capacity: { disk_gb: 1000 }, onchain_kms: false },
  },
} as const;
type HostName = keyof typeof HOSTS;

const sdk = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });
const admin = (path: string, body?: unknown) =>
  fetch(`${env.apiUrl}/admin/hosts${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-key': adminKey },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
/** A provision as the API sees it (opencvm's `node_labels` is not in the official SDK's types). */
const provision = (body: Record<string, unknown>) =>
  fetch(`${env.apiUrl}/cvms/provision`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': env.apiKey },
    body: JSON.stringify({ compose_file: { docker_compose_file: COMPOSE }, ...body }),
  }).then(async (r) => ({ status: r.status, body: await r.json() as any }));
const hostOf = (nodeId: number) => Object.entries(ids).find(([, id]) => id === nodeId)?.[0];

before(async () => {
  env = await startTestEnv({ config: { adminKey } });
  // the harness's own host stays out of it: only the three programs take CVMs here
  assert.equal((await admin('/sim-test/cordon', {})).status, 200);
  const kmsUrl = `${env.server.url}/kms`;
  await Promise.all((Object.keys(HOSTS) as HostName[]).map(async (name) => {
    sims[name] = await startSimProcess({ name: `sched-${name}`, bootMs: 150, shutdownMs: 50, env: { ...HOSTS[name].sim, VMM_SIM_KMS_URL: kmsUrl } });
  }));
  for (const name of Object.keys(HOSTS) as HostName[]) {
    const res = await admin('', { name: `sched-${name}`, url: sims[name].url, kms_token: sims[name].kmsToken, ...HOSTS[name].add });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    ids[name] = JSON.parse(text).id;
  }
});

after(async () => {
  await env?.close();
  await Promise.all(Object.values(sims).map((s) => s.close()));
});

/** Provision and commit through the official SDK; the CVM's node. */
async function deploy(name: string, extra: Record<string, unknown> = {}) {
  const c = sdk();
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: COMPOSE }, ...extra } as any);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  return { p, vm };
}

test('region, node_id and labels decide the host; a refusal names each constraint', async () => {
  const eu = await deploy('sched-eu', { region: 'eu-west' });
  assert.equal(hostOf(eu.p.node_id!), 'mid');
  assert.equal(eu.vm.teepod_id, ids.mid);
  // 12 vCPU: in us-east only big has them
  const wide = await deploy('sched-wide', { region: 'us-east', vcpu: 12, memory: 4096 });
  assert.equal(hostOf(wide.p.node_id!), 'big');
  const pinned = await deploy('sched-pinned', { node_id: ids.gpu, instance_type: 'tdx.small' });
  assert.equal(hostOf(pinned.p.node_id!), 'gpu');
  const gold = await provision({ name: 'sched-gold', node_labels: { tier: 'gold' } });
  assert.equal(gold.status, 200, JSON.stringify(gold.body));
  assert.equal(hostOf(gold.body.node_id), 'big');

  const none = await provision({ name: 'sched-none', node_labels: { tier: 'platinum' } });
  assert.equal(none.status, 400);
  assert.equal(none.body.detail.error_code, 'ERR-02-002');
  assert.match(none.body.detail.message, /No node can take this CVM: 1 node is cordoned; 3 nodes lack the labels tier=platinum/);
  const tooBig = await provision({ name: 'sched-huge', region: 'eu-west', vcpu: 9, memory: 2048 });
  assert.equal(tooBig.status, 400);
  assert.equal(tooBig.body.detail.error_code, 'ERR-02-003');
  assert.match(tooBig.body.detail.message, /3 nodes are in other regions \(.*us-east.*\); 1 node lacks vCPU \(need 9, most free 7: sched-mid\)/);
  const disk = await provision({ name: 'sched-disk', node_id: ids.mid, disk_size: 400 });
  assert.equal(disk.status, 400);
  assert.match(disk.body.detail.message, /lacks disk \(need 400 GB, most free \d+ GB: sched-mid\)/);
  // an on-chain KMS app never goes to a host without on-chain KMS support (none is configured here: the
  // request is refused for its KMS first, so the flag is checked by the scheduler's unit tests)

  for (const vm of [eu.vm, wide.vm, pinned.vm]) await settle(env, vm.vm_uuid!, 'running');
});

test('GPUs: a provision asking for an H200 lands on the GPU host, holds a slot, and the host attaches it', async () => {
  const gpuReq = { gpus: { gpus: [{ slot: '', product_id: H200 }] }, vcpu: 2, memory: 2048 };
  const first = await deploy('sched-gpu-1', gpuReq);
  assert.equal(hostOf(first.p.node_id!), 'gpu');
  const second = await deploy('sched-gpu-2', gpuReq);
  const rows = await env.server.db.query<{ name: string; gpu_slots: string[] }>(
    `SELECT name, gpu_slots FROM cvms WHERE name LIKE 'sched-gpu-%' AND deleted_at IS NULL ORDER BY name`);
  assert.deepEqual(rows.map((r) => r.gpu_slots.length), [1, 1]);
  assert.notEqual(rows[0].gpu_slots[0], rows[1].gpu_slots[0], 'two CVMs never share a GPU slot');
  for (const vm of [first.vm, second.vm]) await settle(env, vm.vm_uuid!, 'running');
  // the host's own view: both GPUs attached to VMs
  const res = await fetch(`${sims.gpu.url}/prpc/ListGpus?json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const listed = (await res.json()) as { gpus: { slot: string; is_free: boolean }[] };
  assert.deepEqual(listed.gpus.map((g) => g.is_free), [false, false]);
  // a third finds none free, and says so
  const third = await provision({ name: 'sched-gpu-3', ...gpuReq });
  assert.equal(third.status, 400);
  assert.equal(third.body.detail.error_code, 'ERR-02-007');
  assert.match(third.body.detail.message, /1 node is cordoned; 3 nodes lack GPUs \(need 1 GPU \(product 2335\), most free 0: sched-gpu\)/);
  // the instance type's GPU count asks for one too
  const typed = await provision({ name: 'sched-gpu-4', instance_type: 'h200.small' });
  assert.equal(typed.status, 400);
  assert.equal(typed.body.detail.error_code, 'ERR-02-007');
});

test('replicas land on the node asked for, and spread across hosts otherwise', async () => {
  const c = sdk();
  const { vm } = await deploy('sched-rep', { node_id: ids.big });
  await settle(env, vm.vm_uuid!, 'running');
  const onMid = await replicateCvm(c, { id: vm.vm_uuid!, node_id: ids.mid });
  assert.equal(onMid.teepod_id, ids.mid);
  // big and mid have one each: the next goes to the host with none, then the app is on all three
  const spread = await replicateCvm(c, { id: vm.vm_uuid! });
  assert.equal(hostOf(spread.teepod_id!), 'gpu');
  const [row] = await env.server.db.query<{ gpu_slots: string[] }>('SELECT gpu_slots FROM cvms WHERE vm_uuid = $1', [spread.vm_uuid]);
  assert.deepEqual(row.gpu_slots, [], 'a CPU replica takes no GPU slot');
  const hosts = await env.server.db.query<{ node_id: number }>(
    'SELECT DISTINCT node_id FROM cvms WHERE app_id = $1 AND deleted_at IS NULL', [vm.app_id]);
  assert.equal(hosts.length, 3);
  for (const r of [onMid, spread]) await settle(env, r.vm_uuid!, 'running');
});

test('a cordoned host gets no new CVM: not by region, not by spreading; uncordoned it does again', async () => {
  assert.equal((await admin(`/${ids.mid}/cordon`, {})).status, 200);
  const refused = await provision({ name: 'sched-cord', region: 'eu-west' });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.detail.error_code, 'ERR-08-005');
  assert.match(refused.body.detail.message, /1 node is cordoned/);
  const pinned = await provision({ name: 'sched-cord', node_id: ids.mid });
  assert.equal(pinned.body.detail.error_code, 'ERR-08-005');
  for (let i = 0; i < 3; i++) {
    const ok = await provision({ name: `sched-cord-${i}` });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.notEqual(hostOf(ok.body.node_id), 'mid');
  }
  assert.equal((await admin(`/${ids.mid}/uncordon`, {})).status, 200);
  const back = await provision({ name: 'sched-uncord', region: 'eu-west' });
  assert.equal(back.status, 200);
  assert.equal(hostOf(back.body.node_id), 'mid');
});

test('50 deploys at once (provision + commit through the official SDK) never over-commit a host', async () => {
  const c = sdk();
  const outcomes = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const name = `sched-rush-${String(i).padStart(2, '0')}`;
    try {
      const p = await c.provisionCvm({ name, instance_type: 'tdx.medium', compose_file: { docker_compose_file: COMPOSE } });
      const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
      return { ok: true as const, vm };
    } catch (e: any) {
      return { ok: false as const, status: e.status as number | undefined, code: e.errorCode as string | undefined, message: String(e.message) };
    }
  }));
  const made = outcomes.filter((o) => o.ok);
  const refused = outcomes.filter((o) => !o.ok);
  assert.ok(made.length > 0, 'some fit');
  assert.ok(refused.length > 0, 'the hosts cannot take all 50 medium CVMs');
  for (const r of refused) {
    assert.equal(r.status, 400, JSON.stringify(r));
    assert.ok(['ERR-02-003', 'ERR-02-004', 'ERR-02-005', 'ERR-02-002'].includes(r.code!), JSON.stringify(r));
    assert.match(r.message, /No node can take this CVM: .*(lack|no free CVM slot)/, JSON.stringify(r));
  }
  // allocated against capacity, per host, as the database records it
  const usage = await env.server.db.query<{ name: string; cvms: number; vcpu: number; memory_mb: number; disk_gb: number; max_cvms: number; max_vcpu: number; max_memory_mb: number; max_disk_gb: number }>(
    `SELECT n.name, count(c.id)::int AS cvms, coalesce(sum(c.vcpu), 0)::int AS vcpu, coalesce(sum(c.memory_mb), 0)::int AS memory_mb,
            coalesce(sum(c.disk_gb), 0)::int AS disk_gb, n.max_cvms, n.max_vcpu, n.max_memory_mb, n.max_disk_gb
       FROM nodes n LEFT JOIN cvms c ON c.node_id = n.id AND c.deleted_at IS NULL
      WHERE n.name LIKE 'sched-%' GROUP BY n.id ORDER BY n.name`);
  assert.equal(usage.length, 3);
  for (const u of usage) {
    assert.ok(u.cvms <= u.max_cvms, `${u.name}: ${u.cvms} CVMs on ${u.max_cvms} slots`);
    assert.ok(u.vcpu <= u.max_vcpu, `${u.name}: ${u.vcpu} vCPU allocated of ${u.max_vcpu}`);
    assert.ok(u.memory_mb <= u.max_memory_mb, `${u.name}: ${u.memory_mb} MB allocated of ${u.max_memory_mb}`);
    assert.ok(u.disk_gb <= u.max_disk_gb, `${u.name}: ${u.disk_gb} GB allocated of ${u.max_disk_gb}`);
  }
  // nothing was refused that fitted: after the rush no host has room for one more medium CVM
  const more = await provision({ name: 'sched-rush-more', instance_type: 'tdx.medium' });
  assert.equal(more.status, 400, JSON.stringify(more.body));
  // and every CVM made boots on its host (the hosts accept what was committed to them)
  for (const o of made) await settle(env, o.vm!.vm_uuid!, 'running', 60_000);
});
