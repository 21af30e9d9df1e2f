/**
 * What the Python SDK `phala-cloud` (X-Phala-Version 2026-05-22 / 2026-06-23) sends or expects beyond the
 * 2026-01-21 shapes: the pre-launch script as a JSON string, `create_app_instance`'s CVM answer, and
 * `instance_type` / `allow_restart` on `PATCH /cvms/{id}`. Every answer is also checked against the contract
 * for the version asked (the harness).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cvmInfoV2026Schema, kmsContractPageSchema, kmsContractSchema, vmSchema } from '@opencvm/contract';
import { verifyEnvEncryptPublicKey } from '@phala/dstack-sdk';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, settle } from './testing/deploy.ts';
import { assertEnvelope, fetchAnswer } from './testing/envelope.ts';

const compose = 'services:\n  web:\n    image: nginx\n';
let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(() => env?.close());

const call = (method: string, path: string, version?: string, body?: unknown) =>
  fetchAnswer(`${env.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json', ...(version ? { 'x-phala-version': version } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

test('the pre-launch script: text/plain before 2026-05-22, a JSON string from then on ("" when there is none)', async () => {
  const vm = await deployRunning(env, 'plscript', compose);
  for (const version of [undefined, '2025-10-28', '2026-01-21']) {
    const a = await call('GET', `/cvms/${vm.vm_uuid}/pre-launch-script`, version);
    assert.equal(a.status, 200);
    assert.match(a.contentType ?? '', /^text\/plain/);
    assert.equal(a.body, '');
  }
  for (const version of ['2026-05-22', '2026-06-23']) {
    const a = await call('GET', `/cvms/${vm.vm_uuid}/pre-launch-script`, version);
    assert.equal(a.status, 200);
    assert.match(a.contentType ?? '', /^application\/json/);
    assert.equal(JSON.parse(a.body), '');
  }
  const set = await fetchAnswer(`${env.apiUrl}/cvms/${vm.vm_uuid}/pre-launch-script`, {
    method: 'PATCH',
    headers: { 'x-api-key': env.apiKey, 'content-type': 'text/plain' },
    body: '#!/bin/sh\necho "hi"\n',
  });
  assert.equal(set.status, 202, set.body);
  await settle(env, vm.vm_uuid!, 'running');
  assert.equal(JSON.parse((await call('GET', `/cvms/${vm.vm_uuid}/pre-launch-script`, '2026-06-23')).body), '#!/bin/sh\necho "hi"\n');
  assert.equal((await call('GET', `/cvms/${vm.vm_uuid}/pre-launch-script`, '2026-01-21')).body, '#!/bin/sh\necho "hi"\n');
});

test('POST /apps/{app_id}/instances answers the VM before 2026-05-22, the CVM (CvmInfoV20260121, string id) from then on', async () => {
  const vm = await deployRunning(env, 'instshape', compose);
  const old = await call('POST', `/apps/${vm.app_id}/instances`, '2026-01-21', {});
  assert.equal(old.status, 200, old.body);
  const oldVm = vmSchema.parse(JSON.parse(old.body));
  assert.equal(typeof oldVm.id, 'number');
  await settle(env, oldVm.vm_uuid!, 'running');
  const a = await call('POST', `/apps/${vm.app_id}/instances`, '2026-06-23', {});
  assert.equal(a.status, 200, a.body);
  const cvm = cvmInfoV2026Schema.parse(JSON.parse(a.body));
  assert.equal(cvm.app_id, vm.app_id);
  assert.notEqual(cvm.vm_uuid, vm.vm_uuid);
  assert.notEqual(cvm.vm_uuid, oldVm.vm_uuid);
  assert.equal(typeof cvm.id, 'string');
  await settle(env, cvm.vm_uuid, 'running');
  assert.equal(env.sim.listVms().filter((v) => v.appId === vm.app_id).length, 3);
});

test('PATCH /cvms/{id} takes instance_type (its vCPUs and memory) and allow_restart (false: no restart of a running CVM)', async () => {
  const vm = await deployRunning(env, 'patchtype', compose);
  const hostVcpu = () => env.sim.listVms().find((v) => v.appId === vm.app_id)!.configuration.vcpu;
  const before = hostVcpu();
  assert.notEqual(before, 2);
  const refused = await call('PATCH', `/cvms/${vm.vm_uuid}`, '2026-06-23', { instance_type: 'tdx.medium', allow_restart: false });
  assertEnvelope(refused, 400, 'ERR-03-008', 'allow_restart false');
  assertEnvelope(await call('PATCH', `/cvms/${vm.vm_uuid}`, '2026-06-23', { instance_type: 'tdx.none' }), 400, 'ERR-02-001', 'unknown type');
  assertEnvelope(await call('PATCH', `/cvms/${vm.vm_uuid}`, '2026-06-23', { instance_type: '' }), 422, 'ERR-02-008', 'empty type');
  assert.equal(hostVcpu(), before, 'nothing changed on the host');
  const ok = await call('PATCH', `/cvms/${vm.vm_uuid}`, '2026-06-23', { instance_type: 'tdx.medium', allow_restart: true });
  assert.equal(ok.status, 202, ok.body);
  await settle(env, vm.vm_uuid!, 'running');
  const info = JSON.parse((await call('GET', `/cvms/${vm.vm_uuid}`, '2026-01-21')).body);
  assert.deepEqual([info.resource.instance_type, info.resource.vcpu, info.resource.memory_in_gb], ['tdx.medium', 2, 4]);
  assert.equal(hostVcpu(), 2);
  // vcpu given beside the type wins over the type's
  const both = await call('PATCH', `/cvms/${vm.vm_uuid}`, undefined, { instance_type: 'tdx.large', vcpu: 3 });
  assert.equal(both.status, 202, both.body);
  await settle(env, vm.vm_uuid!, 'running');
  const after = JSON.parse((await call('GET', `/cvms/${vm.vm_uuid}`, '2026-01-21')).body);
  assert.deepEqual([after.resource.instance_type, after.resource.vcpu, after.resource.memory_in_gb], ['tdx.large', 3, 8]);
});

test('the KMS reads at 2026-06-23 are contract-centric: GET /kms and /kms/{kms} answer KMS contracts, /kms/{kms}/nodes its node', async () => {
  const legacy = JSON.parse((await call('GET', '/kms', '2026-05-22')).body);
  const phala = legacy.items.find((k: { slug: string }) => k.slug === 'phala');
  assert.equal(typeof phala.url, 'string');
  const page = await call('GET', '/kms', '2026-06-23');
  assert.equal(page.status, 200);
  const contracts = kmsContractPageSchema.parse(JSON.parse(page.body));
  assert.equal(contracts.total, legacy.total);
  const c = contracts.items.find((k) => k.slug === 'phala')!;
  assert.deepEqual([c.id, c.contract_address, c.chain_id, c.node_count], [phala.id, 'phala', 0, 1]);
  // the key that signs the apps' env keys: GET /kms/{kms}/pubkey/{app_id}'s signature recovers to it
  const appId = '5'.repeat(40);
  const signed = JSON.parse((await call('GET', `/kms/phala/pubkey/${appId}`)).body);
  const signer = verifyEnvEncryptPublicKey(Buffer.from(signed.public_key, 'hex'), Buffer.from(signed.signature, 'hex'), appId);
  assert.ok(signer);
  assert.equal(c.k256_pubkey, signer);
  for (const ref of ['phala', phala.id]) {
    assert.deepEqual(kmsContractSchema.parse(JSON.parse((await call('GET', `/kms/${ref}`, '2026-06-23')).body)), c);
    const nodes = await call('GET', `/kms/${ref}/nodes`, '2026-06-23');
    assert.equal(nodes.status, 200);
    assert.deepEqual(JSON.parse(nodes.body), { items: [{ id: phala.id, slug: 'phala', url: phala.url, version: phala.version, kms_type: 'phala' }], total: 1 });
  }
  // before 2026-06-23, the node as before
  assert.deepEqual(JSON.parse((await call('GET', '/kms/phala', '2026-05-22')).body), phala);
  assertEnvelope(await call('GET', '/kms/nope/nodes', '2026-06-23'), 404, 'ERR-02-011', 'unknown KMS');
  assertEnvelope(await call('GET', '/kms/nope', '2026-06-23'), 404, 'ERR-02-011', 'unknown KMS');
});
