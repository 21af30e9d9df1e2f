/** Our SDK against a real server: the two-phase deploy, and API errors as typed errors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from '@opencvm/server/testing';
import { createClient, encryptEnvVars, OpenCvmError } from './index.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

test('provision, seal, commit and read a CVM', async () => {
  const client = createClient({ baseURL: env.apiUrl, apiKey: env.apiKey });
  const p = await client.provisionCvm({
    name: 'sdk-app',
    compose_file: { docker_compose_file: 'services:\n  a:\n    image: busybox\n', allowed_envs: ['TOKEN'] },
  });
  const encrypted_env = await encryptEnvVars([{ key: 'TOKEN', value: 't0k3n' }], p.app_env_encrypt_pubkey!);
  const vm = await client.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env });
  assert.equal(vm.name, 'sdk-app');
  const info = await client.getCvmInfo({ id: vm.vm_uuid });
  assert.equal(info.name, 'sdk-app');
  assert.equal(info.compose_hash, p.compose_hash);
});

test('errors carry the status, the ERR code and the message', async () => {
  const client = createClient({ baseURL: env.apiUrl, apiKey: env.apiKey });
  const r = await client.safeProvisionCvm({ name: '1bad', compose_file: { docker_compose_file: 'services: {a: {image: x}}' } });
  assert.equal(r.success, false);
  if (r.success) return;
  assert.ok(r.error instanceof OpenCvmError);
  assert.equal(r.error.status, 422);
  assert.equal(r.error.code, 'ERR-02-008');
  assert.match(r.error.message, /not a valid CVM name/);
  const unauth = createClient({ baseURL: env.apiUrl, apiKey: 'phak_wrong' });
  await assert.rejects(unauth.getCvmInfo({ id: 'x-app-name' }), (e: OpenCvmError) => e.status === 401 && e.code === 'ERR-06-102');
});
