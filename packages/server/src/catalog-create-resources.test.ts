/**
 * `GET /teepods/cvm-create-resources` (the Python SDK's `get_cvm_create_resources`) at every X-Phala-Version: the
 * simulated host with its capacity, the workspace's limits as `GET /workspaces/{slug}/quotas` counts them, the
 * KMS and which node takes which, the host's gateway, the catalogue of `GET /instance-types`, and the GPUs
 * placement could still give (one fewer once a CVM holds one). Every answer is also checked against the contract.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSIONS, cvmCreateResourcesSchema } from '@opencvm/contract';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { settle } from './testing/deploy.ts';
import { fetchAnswer } from './testing/envelope.ts';

const H200 = '2335';
const GPUS = [
  { slot: '0000:17:00.0', product_id: H200, description: 'NVIDIA H200' },
  { slot: '0000:18:00.0', product_id: H200, description: 'NVIDIA H200' },
];
let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 7, maxVcpu: 12, maxMemoryMb: 24576 }, gpus: GPUS } });
});
after(() => env?.close());

const get = async (path: string, version?: string) => {
  const a = await fetchAnswer(`${env.apiUrl}${path}`, { headers: { 'x-api-key': env.apiKey, ...(version ? { 'x-phala-version': version } : {}) } });
  assert.equal(a.status, 200, a.body);
  return JSON.parse(a.body);
};
const resources = async (version?: string) => cvmCreateResourcesSchema.parse(await get('/teepods/cvm-create-resources', version));

test('every version answers the host, the limits of the quotas, the KMS, the gateway and the catalogue', async () => {
  const [me, available, types] = await Promise.all([get('/auth/me', '2026-01-21'), get('/teepods/available'), get('/instance-types')]);
  const quotas = await get(`/workspaces/${me.workspace.slug}/quotas`);
  const kms = (await get('/kms')).items as { id: string; chain_id: number | null }[];
  for (const version of [undefined, ...API_VERSIONS]) {
    const r = await resources(version);
    assert.equal(r.tier, me.workspace.tier);
    assert.deepEqual(r.capacity, { max_instances: 7, max_vcpu: 12, max_memory: 24576, max_disk: null });
    assert.equal(quotas.quotas.vm_slots.limit, 7);
    assert.equal(quotas.quotas.vcpu.limit, 12);
    assert.equal(quotas.quotas.memory_mb.limit, 24576);

    assert.equal(r.nodes.length, 1);
    const [node] = r.nodes;
    assert.equal(node.name, 'sim-test');
    assert.equal(node.remaining_cvm_slots, 7);
    assert.equal(node.remaining_vcpu, 12);
    assert.equal(node.remaining_memory, 24576);
    assert.ok(node.images.length > 0);
    assert.deepEqual(r.nodes, available.nodes, 'the nodes of GET /teepods/available');

    assert.deepEqual(r.kms_nodes.map((k) => k.id), kms.map((k) => k.id));
    assert.ok(r.kms_nodes.every((k) => k.kms_contract_id === k.id));
    const images = [...new Set(node.images.map((i) => i.name))];
    assert.deepEqual(
      r.node_kms_relations.map((x) => [x.teepod_id, x.kms_id, x.supported_os_images]),
      kms.filter((k) => k.chain_id === null).map((k) => [node.teepod_id, k.id, images]),
    );
    assert.deepEqual(
      r.gateway_nodes,
      r.node_kms_relations.map((x) => ({
        id: `${node.teepod_id}-${x.kms_id}`, teepod_id: node.teepod_id, kms_contract_id: x.kms_id, rpc_url: null,
        domain_suffix: 'sim-test.dstack.localhost', enabled: true,
      })),
    );

    const catalogue = (types.result as { items: { id: string; vcpu: number; memory_mb: number; default_disk_size_gb: number; requires_gpu: boolean; family: string }[] }[])
      .flatMap((f) => f.items);
    assert.deepEqual(
      r.instance_types.map((t) => [t.id, t.vcpu, t.memory_mb, t.default_disk_size_gb, t.requires_gpu, t.family]),
      catalogue.map((t) => [t.id, t.vcpu, t.memory_mb, t.default_disk_size_gb, t.requires_gpu, t.family]),
    );
    assert.deepEqual(r.instance_types.map((t) => t.display_order), catalogue.map((_, i) => i));
    assert.equal(r.instance_types.find((t) => t.id === 'h200.small')?.requires_gpu_count, 1);
    assert.equal(r.instance_types.find((t) => t.id === 'tdx.small')?.requires_gpu_count, 0);

    assert.deepEqual(r.gpu_availability, { has_reserved_gpus: false, reserved_gpu_count: 0, has_public_gpus: true, public_gpu_count: 2 });
  }
});

test('a CVM holding a GPU and some capacity: one GPU fewer, the node and quotas count it', async () => {
  const prov = await fetchAnswer(`${env.apiUrl}/cvms/provision`, {
    method: 'POST',
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'res-gpu', vcpu: 2, memory: 2048, gpus: { gpus: [{ slot: '', product_id: H200 }] }, compose_file: { docker_compose_file: 'services:\n  web:\n    image: nginx\n' } }),
  });
  assert.equal(prov.status, 200, prov.body);
  const p = JSON.parse(prov.body);
  const commit = await fetchAnswer(`${env.apiUrl}/cvms`, {
    method: 'POST',
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ app_id: p.app_id, compose_hash: p.compose_hash }),
  });
  assert.equal(commit.status, 200, commit.body);
  await settle(env, JSON.parse(commit.body).vm_uuid, 'running');

  for (const version of ['2026-01-21', '2026-06-23']) {
    const r = await resources(version);
    assert.deepEqual(r.gpu_availability, { has_reserved_gpus: false, reserved_gpu_count: 0, has_public_gpus: true, public_gpu_count: 1 });
    assert.equal(r.nodes[0].remaining_cvm_slots, 6);
    assert.equal(r.nodes[0].remaining_vcpu, 10);
    assert.equal(r.nodes[0].remaining_memory, 24576 - 2048);
    // the limits stay the workspace's totals
    assert.deepEqual(r.capacity, { max_instances: 7, max_vcpu: 12, max_memory: 24576, max_disk: null });
  }
});
