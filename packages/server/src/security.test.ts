/**
 * Security properties of the API and the built-in KMS, against a real server and simulated hosts:
 * API-key authentication (missing, wrong, revoked), workspace isolation by every CVM id form, keys stored
 * only as hashes and never echoed, plaintext env never reaching the server, the KMS root key file's mode,
 * and the guest-facing `GetAppKey` refusing callers that are not the host a CVM was placed on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, encryptEnvVars, ResourceError } from '@phala/cloud';
import { sha256Hex } from '@opencvm/core';
import { startVmmSim, type VmmSim } from '@opencvm/vmm-sim';
import { simulatedDeviceId } from './services/nodes.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = `services:
  app:
    image: nginx:latest
    environment:
      - DB_PASSWORD=\${DB_PASSWORD}
`;

let env: TestEnv;
/** a second host whose guest credential this suite knows */
let sim2: VmmSim;
const sim2Token = randomBytes(24).toString('base64url');
let node1: number;
let node2: number;
let other: { workspaceId: number; apiKey: string };

before(async () => {
  // the SDK falls back to PHALA_CLOUD_API_KEY; "no key" must mean no key
  delete process.env.PHALA_CLOUD_API_KEY;
  env = await startTestEnv();
  sim2 = await startVmmSim({ name: 'sim-sec', bootMs: 300, shutdownMs: 100, kmsToken: sim2Token, deviceId: simulatedDeviceId('sim-sec') });
  node1 = (await env.server.db.query<{ id: number }>(`SELECT id FROM nodes WHERE name = 'sim-test'`))[0].id;
  node2 = (await env.server.services.nodes.register({ name: 'sim-sec', url: sim2.url, kmsToken: sim2Token })).id;
  other = await env.server.services.auth.createWorkspace('intruder');
});
after(async () => {
  await env?.close();
  await sim2?.close();
});

const client = (apiKey: string = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });
/** the official SDK with no API key at all (PHALA_CLOUD_API_KEY is unset in `before`) */
const keylessClient = () => createClient({ baseURL: env.apiUrl });

/** Every response this suite saw, to check that no API key is ever echoed. */
const seen: { what: string; text: string }[] = [];

async function call(method: string, path: string, opts: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...opts.headers };
  const key = opts.key === undefined ? env.apiKey : opts.key;
  if (key !== null) headers['X-API-Key'] = key;
  const url = path.startsWith('/kms/prpc') || path === '/healthz' ? `${env.server.url}${path}` : `${env.apiUrl}${path}`;
  const res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  seen.push({ what: `${method} ${path} → ${res.status}`, text: text + '\n' + JSON.stringify([...res.headers]) });
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body, text };
}

function assertEnvelope(res: { status: number; body: any }, status: number, code: string, message: RegExp) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body?.detail?.error_code, code, JSON.stringify(res.body));
  assert.match(res.body.detail.message, message);
}

function assertSdkError(result: { success: boolean; error?: unknown }, status: number, code: string) {
  assert.equal(result.success, false, 'expected the call to fail');
  const err = result.error as ResourceError;
  assert.ok(err instanceof ResourceError, `expected a ResourceError, got ${JSON.stringify(err)}`);
  assert.equal(err.status, status, err.message);
  assert.equal(err.errorCode, code, err.message);
}

async function deploy(name: string, opts: { nodeId?: number; env?: { key: string; value: string }[] } = {}) {
  const c = client();
  const p = await c.provisionCvm({
    name,
    node_id: opts.nodeId ?? node1,
    compose_file: { docker_compose_file: composeYaml, allowed_envs: ['DB_PASSWORD'] },
  });
  const encrypted = opts.env ? await encryptEnvVars(opts.env, p.app_env_encrypt_pubkey!) : undefined;
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: opts.env ? ['DB_PASSWORD'] : undefined });
  const info = await waitFor(async () => {
    const i = await c.getCvmInfo({ id: vm.vm_uuid! });
    return i.status === 'running' && i.instance_id ? i : null;
  }, 15_000);
  return { provision: p, vm, info, encrypted };
}

/** Every row of every table of the schema, as text. */
async function wholeDatabaseText(): Promise<{ table: string; text: string }[]> {
  const tables = await env.server.db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  assert.ok(tables.some((t) => t.table_name === 'cvms') && tables.some((t) => t.table_name === 'api_keys'), 'schema tables found');
  const out: { table: string; text: string }[] = [];
  for (const { table_name } of tables) {
    const rows = await env.server.db.query<{ r: string }>(`SELECT t::text AS r FROM "${table_name}" t`);
    out.push({ table: table_name, text: rows.map((r) => r.r).join('\n') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// authentication

const protectedRoutes: [string, string, unknown?][] = [
  ['GET', '/auth/me'],
  ['POST', '/cvms/provision', { name: 'no-key-app', compose_file: { docker_compose_file: composeYaml } }],
  ['POST', '/cvms', { app_id: 'a'.repeat(40), compose_hash: 'b'.repeat(64) }],
  ['GET', '/cvms/some-cvm-name'],
  ['GET', '/instance-types'],
  ['GET', '/instance-types/cpu'],
  ['GET', '/os-images'],
  ['GET', '/kms'],
  ['GET', '/kms/phala'],
  ['GET', `/kms/phala/pubkey/${'c'.repeat(40)}`],
];

test(`a request without X-API-Key is 401 ERR-06-101 on every API route`, async () => {
  for (const [method, path, body] of protectedRoutes) {
    const res = await call(method, path, { key: null, body });
    assert.equal(res.status, 401, `${method} ${path}: ${res.text}`);
    assert.equal(res.body.detail.error_code, 'ERR-06-101', `${method} ${path}`);
    assert.match(res.body.detail.message, /needs an API key: send it in the X-API-Key header/);
    // an empty header is no key either
    const empty = await call(method, path, { key: '', body });
    assert.equal(empty.status, 401, `${method} ${path} with an empty key`);
  }
  const [{ n }] = await env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM provisions');
  assert.equal(n, 0, 'an unauthenticated provision wrote a row');

  // the official SDK, without a key, sees the same
  const sdk = keylessClient();
  assertSdkError(await sdk.safeGetCurrentUser(), 401, 'ERR-06-101');
  assertSdkError(await sdk.safeGetCvmInfo({ id: 'some-cvm-name' }), 401, 'ERR-06-101');
  assertSdkError(await sdk.safeProvisionCvm({ name: 'no-key-app', compose_file: { docker_compose_file: composeYaml } }), 401, 'ERR-06-101');
  assertSdkError(await sdk.safeGetKmsList(), 401, 'ERR-06-101');
});

test('a wrong or revoked API key is 401 ERR-06-102', async () => {
  const wrongKey = `phak_${randomBytes(32).toString('base64url')}`;
  for (const [method, path, body] of protectedRoutes) {
    const res = await call(method, path, { key: wrongKey, body });
    assertEnvelope(res, 401, 'ERR-06-102', /The API key is not valid/);
    assert.ok(!res.text.includes(wrongKey), 'the wrong key was echoed back');
  }
  // a key differing from a valid one in its last character
  const almost = env.apiKey.slice(0, -1) + (env.apiKey.endsWith('A') ? 'B' : 'A');
  assertEnvelope(await call('GET', '/auth/me', { key: almost }), 401, 'ERR-06-102', /not valid/);
  assertSdkError(await client(wrongKey).safeGetCurrentUser(), 401, 'ERR-06-102');

  // a revoked key stops working
  const revoked = await env.server.services.auth.createWorkspace('revoked-ws');
  await env.server.db.query('UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1', [sha256Hex(revoked.apiKey)]);
  assertEnvelope(await call('GET', '/auth/me', { key: revoked.apiKey }), 401, 'ERR-06-102', /not valid/);

  // sanity: the valid keys do work
  assert.equal((await call('GET', '/auth/me')).status, 200);
  assert.equal((await call('GET', '/auth/me', { key: other.apiKey })).body.workspace.slug, 'intruder');
});

test('/kms/phala/pubkey/<app> needs an API key', async () => {
  const appId = randomBytes(20).toString('hex');
  assertEnvelope(await call('GET', `/kms/phala/pubkey/${appId}`, { key: null }), 401, 'ERR-06-101', /API key/);
  assertEnvelope(await call('GET', `/kms/phala/pubkey/0x${appId}`, { key: 'phak_nope' }), 401, 'ERR-06-102', /not valid/);
  const ok = await call('GET', `/kms/phala/pubkey/${appId}`);
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.body.public_key, /^[0-9a-f]{64}$/);
  assertSdkError(await keylessClient().safeGetAppEnvEncryptPubKey({ kms: 'phala', app_id: appId }), 401, 'ERR-06-101');
});

// ---------------------------------------------------------------------------------------------
// workspace isolation

test('another workspace\'s CVM is a 404 ERR-03-001 by every id form', async () => {
  const { provision, vm, info } = await deploy('isolated-app');
  const appId = provision.app_id!;
  const forms: { sdk: Record<string, string>; path: string }[] = [
    { sdk: { name: 'isolated-app' }, path: 'isolated-app' },
    { sdk: { id: 'isolated-app' }, path: 'isolated-app' },
    { sdk: { uuid: vm.vm_uuid! }, path: vm.vm_uuid! },
    { sdk: { id: vm.vm_uuid!.replace(/-/g, '') }, path: vm.vm_uuid!.replace(/-/g, '') },
    { sdk: { app_id: appId }, path: appId },
    { sdk: { id: `app_${appId}` }, path: `app_${appId}` },
    { sdk: { id: `0x${appId}` }, path: `0x${appId}` },
    { sdk: { id: String(vm.id) }, path: String(vm.id) },
    { sdk: { instance_id: info.instance_id! }, path: `instance_${info.instance_id}` },
  ];
  const owner = client();
  const intruder = client(other.apiKey);
  for (const form of forms) {
    // the owner finds it by this form (so a 404 below is isolation, not a bad id)
    const mine = await owner.safeGetCvmInfo(form.sdk as any);
    assert.ok(mine.success, `owner, form ${JSON.stringify(form.sdk)}: ${JSON.stringify((mine as any).error)}`);
    assert.equal(mine.data.vm_uuid, vm.vm_uuid);
    assert.equal((await call('GET', `/cvms/${encodeURIComponent(form.path)}`)).status, 200, `owner raw ${form.path}`);

    const theirs = await intruder.safeGetCvmInfo(form.sdk as any);
    assertSdkError(theirs, 404, 'ERR-03-001');
    for (const version of ['2026-01-21', '2025-10-28']) {
      const raw = await call('GET', `/cvms/${encodeURIComponent(form.path)}`, { key: other.apiKey, headers: { 'X-Phala-Version': version } });
      assertEnvelope(raw, 404, 'ERR-03-001', /was not found in this workspace/);
      // the 404 says nothing about the CVM that exists elsewhere
      assert.ok(!raw.text.includes(appId) || form.path.includes(appId), `404 for ${form.path} leaks the app id`);
      assert.ok(!raw.text.includes(vm.vm_uuid!) || form.path === vm.vm_uuid, `404 for ${form.path} leaks the vm_uuid`);
      assert.ok(!raw.text.includes('running'), `404 for ${form.path} leaks the status`);
    }
  }
  // the intruder's own CVM of the same name does not make the owner's visible, and vice versa
  const ip = await intruder.provisionCvm({ name: 'isolated-app', node_id: node1, compose_file: { docker_compose_file: composeYaml } });
  const ivm = await intruder.commitCvmProvision({ app_id: ip.app_id!, compose_hash: ip.compose_hash });
  assert.equal((await intruder.getCvmInfo({ name: 'isolated-app' })).vm_uuid, ivm.vm_uuid);
  assert.equal((await owner.getCvmInfo({ name: 'isolated-app' })).vm_uuid, vm.vm_uuid);
  assertSdkError(await owner.safeGetCvmInfo({ uuid: ivm.vm_uuid! }), 404, 'ERR-03-001');
  await waitFor(() => env.sim.listVms().find((v) => v.appId === ip.app_id) ?? null, 10_000);
});

// ---------------------------------------------------------------------------------------------
// secrets at rest and on the wire

test('the API key never appears in a response body or header', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'echo-check', node_id: node1, compose_file: { docker_compose_file: composeYaml } });
  const responses = [
    await call('GET', '/auth/me'),
    await call('GET', '/auth/me', { headers: { 'X-Phala-Version': '2025-10-28' } }),
    await call('GET', '/auth/me', { key: other.apiKey }),
    await call('POST', '/cvms/provision', { body: { name: 'echo-check-2', node_id: node1, compose_file: { docker_compose_file: composeYaml } } }),
    await call('POST', '/cvms', { body: { app_id: p.app_id, compose_hash: p.compose_hash } }),
    await call('GET', '/cvms/echo-check'),
    await call('GET', '/cvms/echo-check', { headers: { 'X-Phala-Version': '2025-10-28' } }),
    await call('GET', '/instance-types'),
    await call('GET', '/os-images'),
    await call('GET', '/kms'),
    await call('GET', '/kms/phala'),
    await call('GET', `/kms/phala/pubkey/${p.app_id}`),
    await call('GET', '/no-such-route'),
    await call('GET', '/cvms/nothing-here'),
    await call('POST', '/cvms/provision', { body: { name: 'x' } }),
  ];
  assert.equal(responses[4].status, 200, responses[4].text);
  await waitFor(() => env.sim.listVms().find((v) => v.appId === p.app_id) ?? null, 10_000);
  for (const key of [env.apiKey, other.apiKey]) {
    for (const r of seen) assert.ok(!r.text.includes(key), `an API key appears in ${r.what}`);
  }
  assert.ok(seen.length >= responses.length);
});

test('the database holds only the SHA-256 of each API key, never the key', async () => {
  const rows = await env.server.db.query<{ key_hash: string; prefix: string; workspace_id: number }>('SELECT key_hash, prefix, workspace_id FROM api_keys');
  const hashes = rows.map((r) => r.key_hash);
  for (const key of [env.apiKey, other.apiKey]) {
    assert.ok(hashes.includes(sha256Hex(key)), 'the key is stored as its SHA-256');
    const row = rows.find((r) => r.key_hash === sha256Hex(key))!;
    assert.ok(row.prefix.length <= 9 && key.startsWith(row.prefix), 'the prefix is a short prefix of the key');
  }
  for (const { table, text } of await wholeDatabaseText()) {
    for (const key of [env.apiKey, other.apiKey]) {
      assert.ok(!text.includes(key), `the plaintext API key is stored in table ${table}`);
      // nor any long piece of it
      assert.ok(!text.includes(key.slice(10, 40)), `a 30-character piece of an API key is stored in table ${table}`);
    }
  }
});

test('plaintext env values never reach the server; the guest has them', async () => {
  const secret = `s3cret-${randomBytes(12).toString('hex')}`;
  const { provision, vm, encrypted } = await deploy('secret-env-app', { env: [{ key: 'DB_PASSWORD', value: secret }] });
  const hostVm = await waitFor(() => env.sim.listVms().find((v) => v.appId === provision.app_id && v.guest.env) ?? null, 10_000);
  assert.deepEqual(hostVm.guest.env, { DB_PASSWORD: secret }, 'the guest decrypted the env');

  const [row] = await env.server.db.query<{ encrypted_env: string }>('SELECT encrypted_env FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  assert.equal(row.encrypted_env, encrypted!.replace(/^0x/, '').toLowerCase(), 'the server keeps the ciphertext as sent');
  const [cvmText] = await env.server.db.query<{ t: string }>('SELECT string_agg(c::text, E\'\\n\') AS t FROM cvms c');
  const [provText] = await env.server.db.query<{ t: string }>('SELECT string_agg(p::text, E\'\\n\') AS t FROM provisions p');
  assert.ok(!cvmText.t.includes(secret), 'the plaintext env value is in the cvms table');
  assert.ok(!provText.t.includes(secret), 'the plaintext env value is in the provisions table');
  for (const { table, text } of await wholeDatabaseText()) {
    assert.ok(!text.includes(secret), `the plaintext env value is stored in table ${table}`);
    assert.ok(!text.includes(Buffer.from(secret).toString('hex')), `the plaintext env value (hex) is stored in table ${table}`);
  }
  for (const version of ['2026-01-21', '2025-10-28']) {
    const res = await call('GET', `/cvms/${vm.vm_uuid}`, { headers: { 'X-Phala-Version': version } });
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes(secret), 'the plaintext env value is in GET /cvms/{id}');
  }
});

test('the KMS root keys are in the database only sealed; the generated seal key file is mode 0600', async () => {
  const file = join(env.dataDir, 'seal-key');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'seal-key mode');
  assert.ok(!existsSync(join(env.dataDir, 'kms', 'root-keys.json')), 'no root key file is written');
  const [row] = await env.server.db.query<{ value: string }>(`SELECT value FROM server_secrets WHERE name = 'kms_root_keys'`);
  const sealed = JSON.parse(row.value) as Record<string, unknown>;
  assert.deepEqual(Object.keys(sealed).sort(), ['alg', 'data', 'iv', 'tag', 'v']);
  assert.ok(!/ca_scalar|k256/.test(row.value), 'the stored value is not the keys in the clear');
});

// ---------------------------------------------------------------------------------------------
// the guest-facing KMS

test('GetAppKey refuses a missing or wrong host credential and an app/compose hash not placed on that host', async () => {
  // a CVM on the second host: its guest fetched its keys with sim2Token, so the positive path works
  const onSim2 = await deploy('kms-guest-app', { nodeId: node2 });
  const onSim1 = await deploy('kms-other-host', { nodeId: node1 });
  const [row2] = await env.server.db.query<{ host_vm_id: string; compose_hash: string; app_id: string }>(
    'SELECT host_vm_id, compose_hash, app_id FROM cvms WHERE vm_uuid = $1', [onSim2.vm.vm_uuid]);
  const [row1] = await env.server.db.query<{ host_vm_id: string; compose_hash: string; app_id: string }>(
    'SELECT host_vm_id, compose_hash, app_id FROM cvms WHERE vm_uuid = $1', [onSim1.vm.vm_uuid]);
  assert.ok(sim2.listVms().some((v) => v.id === row2.host_vm_id && v.status === 'running'), 'the CVM runs on the second host');

  const claims = (over: Record<string, unknown> = {}) => ({
    app_id: row2.app_id,
    compose_hash: row2.compose_hash,
    instance_id: onSim2.info.instance_id,
    host_vm_id: row2.host_vm_id,
    ...over,
  });
  const getAppKey = (vmConfig: unknown, authorization?: string) =>
    call('POST', '/kms/prpc/GetAppKey?json', {
      key: null,
      headers: authorization ? { Authorization: authorization } : {},
      body: { api_version: 1, vm_config: typeof vmConfig === 'string' ? vmConfig : JSON.stringify(vmConfig) },
    });
  const refused = (res: { status: number; body: any; text: string }, reason: RegExp) => {
    assert.equal(res.status, 400, res.text);
    assert.equal(typeof res.body.error, 'string', res.text);
    assert.match(res.body.error, reason);
    assert.equal(res.body.env_crypt_key, undefined);
    assert.equal(res.body.disk_crypt_key, undefined);
  };

  // positive control: the right host credential and the right claims get the keys
  const ok = await getAppKey(claims(), `Bearer ${sim2Token}`);
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.body.env_crypt_key, /^[0-9a-f]{64}$/);

  refused(await getAppKey(claims()), /no host credential/);
  refused(await getAppKey(claims(), `Bearer ${randomBytes(24).toString('base64url')}`), /unknown host credential/);
  refused(await getAppKey(claims(), `Basic ${Buffer.from(`x:${sim2Token}`).toString('base64')}`), /no host credential/);
  refused(await getAppKey(claims(), sim2Token), /no host credential/);
  // the API key is not a host credential
  refused(await getAppKey(claims(), `Bearer ${env.apiKey}`), /unknown host credential/);

  // the right credential, but claims for a VM on the other host
  refused(await getAppKey(claims({ app_id: row1.app_id, compose_hash: row1.compose_hash, host_vm_id: row1.host_vm_id }), `Bearer ${sim2Token}`),
    /no CVM is placed on this host with that VM id/);
  // a VM id nobody placed
  refused(await getAppKey(claims({ host_vm_id: randomBytes(16).toString('hex') }), `Bearer ${sim2Token}`), /no CVM is placed on this host/);
  // the right VM, but another app or another compose hash
  refused(await getAppKey(claims({ app_id: row1.app_id }), `Bearer ${sim2Token}`), /app id does not match/);
  refused(await getAppKey(claims({ compose_hash: 'ab'.repeat(32) }), `Bearer ${sim2Token}`), /compose hash is not allowed/);
  refused(await getAppKey(claims({ compose_hash: row1.compose_hash }), `Bearer ${sim2Token}`), /compose hash is not allowed/);
  // garbage
  refused(await getAppKey('not json', `Bearer ${sim2Token}`), /vm_config is not JSON/);
  refused(await getAppKey('', `Bearer ${sim2Token}`), /vm_config is not JSON/);
});
