/**
 * The PHALA-KMS deploy flow, driven by the official `@phala/cloud` SDK against a real server and a
 * simulated dstack host: provision → encryptEnvVars → commit → running, and the guest's env is
 * exactly what the client sealed (only allowed_envs survive).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, encryptEnvVars } from '@phala/cloud';
import { getComposeHash, verifyEnvEncryptPublicKey } from '@phala/dstack-sdk';
import { sha256Hex } from '@opencvm/core';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const composeYaml = `services:
  app:
    image: nginx:latest
    environment:
      - API_KEY=\${API_KEY}
    ports:
      - "80:80"
`;

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

const client = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

test(`PHALA KMS provision and commit reach running with the sealed env`, async () => {
  const c = client();
  const provision = await c.provisionCvm({
    name: 'my-app-e2e',
    instance_type: 'tdx.small',
    compose_file: { docker_compose_file: composeYaml, allowed_envs: ['API_KEY', 'SECRET'] },
  });
  assert.match(provision.compose_hash, /^[0-9a-f]{64}$/);
  assert.match(provision.app_id!, /^[0-9a-f]{40}$/);
  assert.match(provision.app_env_encrypt_pubkey!, /^[0-9a-f]{64}$/);
  assert.equal(provision.instance_type, 'tdx.small');
  assert.equal(provision.kms_info?.slug, 'phala');
  assert.equal(provision.kms_info?.chain_id, null);
  assert.equal(typeof provision.node_id, 'number');
  assert.ok(provision.fmspc);
  assert.match(provision.os_image_hash!, /^[0-9a-f]{64}$/);

  // the signed pubkey endpoint agrees with provision, and its signature recovers the KMS root key
  const signed = await c.getAppEnvEncryptPubKey({ kms: provision.kms_id!, app_id: provision.app_id! });
  assert.equal(signed.public_key, provision.app_env_encrypt_pubkey);
  const signer = verifyEnvEncryptPublicKey(Buffer.from(signed.public_key, 'hex'), Buffer.from(signed.signature, 'hex'), provision.app_id!);
  assert.equal(signer, env.server.services.kms.k256Pubkey);

  const encrypted = await encryptEnvVars(
    [
      { key: 'API_KEY', value: 'sk-live-123' },
      { key: 'SECRET', value: 'p@ss word "quoted"' },
      { key: 'NOT_ALLOWED', value: 'dropped' },
    ],
    provision.app_env_encrypt_pubkey!,
  );
  const committed = await c.commitCvmProvision({
    app_id: provision.app_id!,
    compose_hash: provision.compose_hash,
    encrypted_env: encrypted,
    env_keys: ['API_KEY', 'SECRET'],
  });
  assert.equal(committed.name, 'my-app-e2e');
  assert.equal(committed.app_id, provision.app_id);
  assert.equal(committed.teepod_id, provision.node_id);
  assert.match(committed.vm_uuid!, /^[0-9a-f-]{36}$/);

  const running = await waitFor(async () => {
    const info = await c.getCvmInfo({ id: committed.vm_uuid! });
    return info.status === 'running' ? info : null;
  }, 15_000);
  assert.equal(running.name, 'my-app-e2e');
  assert.equal(running.compose_hash, provision.compose_hash);
  assert.equal(running.kms_info?.encrypted_env_pubkey, provision.app_env_encrypt_pubkey);

  const [vm] = env.sim.listVms();
  assert.equal(env.sim.listVms().length, 1);
  assert.equal(vm.status, 'running');
  assert.equal(vm.bootProgress, 'done');
  assert.equal(vm.appId, provision.app_id);
  // the host received exactly the bytes whose hash provision returned
  assert.equal(vm.composeHash, provision.compose_hash);
  assert.equal(sha256Hex(vm.configuration.compose_file), provision.compose_hash);
  // …and that hash is the official SDK's getComposeHash of the same app-compose object
  assert.equal(getComposeHash(JSON.parse(vm.configuration.compose_file)), provision.compose_hash);
  assert.deepEqual(vm.guest.env, { API_KEY: 'sk-live-123', SECRET: 'p@ss word "quoted"' });
  assert.deepEqual(vm.guest.droppedEnvKeys, ['NOT_ALLOWED']);
  assert.equal(running.instance_id, vm.instanceId);
});

test('the app-compose carries the AppComposeV2 defaults of POST /cvms/provision', async () => {
  const c = client();
  const provision = await c.provisionCvm({
    name: 'defaults-app',
    compose_file: { docker_compose_file: composeYaml },
  });
  await c.commitCvmProvision({ app_id: provision.app_id!, compose_hash: provision.compose_hash });
  const vm = await waitFor(() => env.sim.listVms().find((v) => cvmNameOf(v.configuration.name) === 'defaults-app') ?? null, 5000);
  const compose = JSON.parse(vm.configuration.compose_file);
  assert.deepEqual(
    { ...compose, docker_compose_file: undefined },
    {
      allowed_envs: [],
      docker_compose_file: undefined,
      features: ['kms', 'tproxy-net'],
      gateway_enabled: true,
      kms_enabled: true,
      local_key_provider_enabled: false,
      manifest_version: 2,
      name: 'defaults-app',
      no_instance_id: false,
      public_logs: true,
      public_sysinfo: true,
      public_tcbinfo: true,
      runner: 'docker-compose',
      secure_time: false,
      storage_fs: 'zfs',
      tproxy_enabled: true,
    },
  );
  assert.equal(compose.docker_compose_file, composeYaml);
});

test('every id form the SDK sends (CvmIdSchema) finds the CVM, in both API versions', async () => {
  const c = client();
  const provision = await c.provisionCvm({ name: 'idforms-app', compose_file: { docker_compose_file: composeYaml } });
  const vm = await c.commitCvmProvision({ app_id: provision.app_id!, compose_hash: provision.compose_hash });
  const v2026 = await c.getCvmInfo({ id: vm.vm_uuid! });
  const forms = [
    { id: 'idforms-app' },
    { name: 'idforms-app' },
    { uuid: vm.vm_uuid! },
    { id: vm.vm_uuid!.replace(/-/g, '') },
    { app_id: provision.app_id! },
    { id: `app_${provision.app_id}` },
    { id: String(vm.id) },
    { id: v2026.id },
  ];
  for (const form of forms) {
    const got = await c.getCvmInfo(form as any);
    assert.equal(got.vm_uuid, vm.vm_uuid, `form ${JSON.stringify(form)}`);
  }
  const old = createClient({ apiKey: env.apiKey, baseURL: env.apiUrl, version: '2025-10-28' } as any);
  const legacy = (await old.getCvmInfo({ id: 'idforms-app' })) as any;
  assert.equal(legacy.id, vm.id);
  assert.equal(typeof legacy.id, 'number');
  assert.equal(legacy.encrypted_env_pubkey, provision.app_env_encrypt_pubkey);
  assert.equal(legacy.kms_info.id, provision.kms_id);
  const instance = await waitFor(async () => (await c.getCvmInfo({ id: vm.vm_uuid! })).instance_id ?? null, 10_000);
  const byInstance = await c.getCvmInfo({ instance_id: instance });
  assert.equal(byInstance.vm_uuid, vm.vm_uuid);
});

test('catalogue reads validate against the official SDK schemas', async () => {
  const c = client();
  const families = await c.listAllInstanceTypeFamilies();
  assert.ok(families.result.some((f: any) => f.items.some((t: any) => t.id === 'tdx.small')));
  const cpu = await c.listFamilyInstanceTypes({ family: 'cpu' });
  assert.equal(cpu.family, 'cpu');
  const images = await c.getOsImages({ is_dev: true });
  assert.ok(images.items.length > 0 && images.items.every((i: any) => i.is_dev));
  const kms = await c.getKmsList();
  assert.equal(kms.items[0].slug, 'phala');
  const me = await c.getCurrentUser();
  assert.equal((me as any).workspace.slug, 'default');
});
