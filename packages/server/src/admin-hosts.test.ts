/**
 * The host registry's admin API (`/api/v1/admin/hosts…`): a second simulated host added, read, used,
 * cordoned, drained and removed; the admin key; tokens never in an answer nor a log line, sealed at rest.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { startVmmSim, type VmmSim } from '@opencvm/vmm-sim';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx:alpine\n';
const adminKey = `admin_${randomBytes(24).toString('base64url')}`;
const authToken = `host-auth-${randomBytes(24).toString('base64url')}`;
const kmsToken = `guest-kms-${randomBytes(24).toString('base64url')}`;
const deviceId = 'ab'.repeat(32);
const GPU = { slot: '0000:17:00.0', product_id: '2335', description: 'NVIDIA H100' };

let env: TestEnv;
let two: VmmSim;
const logLines: string[] = [];

before(async () => {
  env = await startTestEnv({
    config: { adminKey },
    server: { logger: true, logStream: new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }) },
  });
  const kmsUrl = `${env.server.url}/kms`;
  two = await startVmmSim({ name: 'sim-two', bootMs: 300, shutdownMs: 100, authToken, kmsToken, kmsUrls: [kmsUrl], deviceId, resources: { maxVcpu: 8, maxMemoryMb: 16384, maxCvms: 10 }, gpus: [GPU] });
});

after(async () => {
  await env?.close();
  await two?.close();
});

const admin = (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const { key = adminKey, ...rest } = init;
  return fetch(`${env.apiUrl}/admin/hosts${path}`, {
    ...rest,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-admin-key': key }), ...(rest.headers as Record<string, string>) },
  });
};
const errorOf = async (res: Response) => ((await res.json()) as { detail: { error_code: string; message: string } }).detail;
/** No answer and no log line carries a token. */
const noToken = (text: string, where: string) => {
  for (const t of [authToken, kmsToken, adminKey]) assert.ok(!text.includes(t), `${where} carries a token: ${text.slice(0, 300)}`);
};

let hostId = 0;

test('the admin API needs the admin key: missing or wrong 401 ERR-06-104; a workspace API key is not one', async () => {
  for (const [key, word] of [[null, 'needs the admin key'], ['not-the-admin-key-0000', 'not the admin key'], [env.apiKey, 'not the admin key']] as const) {
    const res = await admin('', { key });
    assert.equal(res.status, 401);
    const e = await errorOf(res);
    assert.equal(e.error_code, 'ERR-06-104');
    assert.match(e.message, new RegExp(`${word}.*X-Admin-Key`));
  }
  // the workspace key in its own header does not open it either
  const res = await admin('', { key: null, headers: { 'x-api-key': env.apiKey } });
  assert.equal(res.status, 401);
});

test('add a second simulated host: what it reports, what the operator set, no token in the answer', async () => {
  const res = await admin('', {
    method: 'POST',
    body: JSON.stringify({
      name: 'sim-two', url: two.url, auth_token: authToken, kms_token: kmsToken, region: 'eu-west', labels: { tier: 'gold' },
      capacity: { slots: 3, disk_gb: 500 }, device_id: `0x${deviceId}`, dev: true,
    }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  noToken(text, 'the add answer');
  const host = JSON.parse(text);
  hostId = host.id;
  assert.equal(host.name, 'sim-two');
  assert.equal(host.region, 'eu-west');
  assert.deepEqual(host.labels, { tier: 'gold' });
  assert.equal(host.status, 'online');
  assert.equal(host.cordoned, false);
  assert.equal(host.dev, true);
  assert.equal(host.source, 'admin');
  assert.equal(host.device_id, deviceId);
  // vCPU and memory from the host's GetMeta, slots the operator's, GPUs from its ListGpus
  assert.deepEqual(host.capacity, { vcpu: 8, memory_mb: 16384, disk_gb: 500, slots: 3, gpus: [GPU] });
  assert.deepEqual(host.overridden.sort(), ['device_id', 'slots']);
  assert.ok(host.images.some((i: { name: string }) => i.name === 'dstack-dev-0.5.8'));
  assert.equal(host.auth_token_set, true);
  assert.equal(host.kms_token_set, true);

  // at rest: sealed, not the token
  const [row] = await env.server.db.query<{ auth_token: string | null; auth_token_sealed: string; kms_token_hash: string }>(
    'SELECT auth_token, auth_token_sealed, kms_token_hash FROM nodes WHERE id = $1', [hostId]);
  assert.equal(row.auth_token, null);
  assert.match(row.auth_token_sealed, /"alg":"aes-256-gcm"/);
  noToken(JSON.stringify(row), 'the nodes row');

  const again = await admin('', { method: 'POST', body: JSON.stringify({ name: 'sim-two', url: two.url }) });
  assert.equal(again.status, 409);
  assert.equal((await errorOf(again)).error_code, 'ERR-08-002');
  // one entry per dstack-vmm host: another name at its URL is refused (the KMS token check: admin-hosts-patch.test.ts)
  const sameUrl = await admin('', { method: 'POST', body: JSON.stringify({ name: 'sim-two-b', url: two.url, auth_token: authToken, kms_token: kmsToken }) });
  assert.equal(sameUrl.status, 409);
  const e = await errorOf(sameUrl);
  assert.equal(e.error_code, 'ERR-08-007');
  assert.ok(!e.message.includes(kmsToken));
});

test('a host that does not answer, or refuses the auth token, is not added (400 ERR-08-004)', async () => {
  // (a host of its own: a second entry at sim-two's URL would be refused before the host is asked)
  const authed = await startVmmSim({ name: 'sim-wrong', authToken });
  const wrongToken = await admin('', { method: 'POST', body: JSON.stringify({ name: 'sim-wrong', url: authed.url, auth_token: 'wrong-token' }) });
  await authed.close();
  assert.equal(wrongToken.status, 400);
  const e = await errorOf(wrongToken);
  assert.equal(e.error_code, 'ERR-08-004');
  assert.match(e.message, /sim-wrong .* did not answer as a dstack-vmm host/);
  assert.ok(!e.message.includes('wrong-token'), e.message);
  const down = await admin('', { method: 'POST', body: JSON.stringify({ name: 'sim-down', url: 'http://127.0.0.1:1' }) });
  assert.equal(down.status, 400);
  assert.equal((await errorOf(down)).error_code, 'ERR-08-004');
  assert.equal((await admin('/sim-down')).status, 404);
});

test('list and get (by id and by name): both hosts, no token; GET /teepods/available shows the new host', async () => {
  const list = await admin('');
  const text = await list.text();
  assert.equal(list.status, 200);
  noToken(text, 'the list');
  const { items, total } = JSON.parse(text);
  assert.equal(total, 2);
  assert.deepEqual(items.map((h: { name: string }) => h.name).sort(), ['sim-test', 'sim-two']);
  for (const ref of [String(hostId), 'sim-two']) {
    const one = await admin(`/${ref}`);
    const body = await one.text();
    assert.equal(one.status, 200);
    noToken(body, 'the get');
    assert.equal(JSON.parse(body).id, hostId);
  }
  const missing = await admin('/no-such-host');
  assert.equal(missing.status, 404);
  assert.equal((await errorOf(missing)).error_code, 'ERR-08-001');

  const available = await fetch(`${env.apiUrl}/teepods/available`, { headers: { 'x-api-key': env.apiKey } });
  const nodes = ((await available.json()) as { nodes: { teepod_id: number; name: string; remaining_cvm_slots: number }[] }).nodes;
  const mine = nodes.find((n) => n.name === 'sim-two');
  assert.ok(mine, JSON.stringify(nodes));
  assert.equal(mine.teepod_id, hostId);
  assert.equal(mine.remaining_cvm_slots, 3);
});

test('a CVM placed on the new host with node_id boots there (its sealed auth token opens)', async () => {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name: 'on-two', node_id: hostId, compose_file: { docker_compose_file: COMPOSE } });
  assert.equal(p.node_id, hostId);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await waitFor(async () => ((await c.getCvmInfo({ id: vm.vm_uuid! })).status === 'running' ? true : null), 20_000);
  assert.equal(two.listVms().length, 1, 'the VM is on the second host');
  const refreshed = await admin(`/${hostId}`);
  assert.equal(((await refreshed.json()) as { used: { cvms: number } }).used.cvms, 1);
});

test('cordon: a provision with node_id of that host is refused naming the cordon; others place elsewhere; uncordon', async () => {
  const cordoned = await admin(`/${hostId}/cordon`, { method: 'POST' });
  assert.equal(cordoned.status, 200);
  assert.equal(((await cordoned.json()) as { cordoned: boolean }).cordoned, true);

  const c = sdkClient(env);
  const refused = await c.safeProvisionCvm({ name: 'not-on-two', node_id: hostId, compose_file: { docker_compose_file: COMPOSE } });
  assert.equal(refused.success, false);
  const err = (refused as { error: { status: number; message: string; detail?: unknown } }).error;
  assert.equal(err.status, 400);
  assert.match(err.message, /sim-two .*is cordoned: it takes no new CVMs/);
  assert.match(JSON.stringify(err), /ERR-08-005/);

  // without node_id, placement skips it
  const elsewhere = await c.provisionCvm({ name: 'elsewhere', compose_file: { docker_compose_file: COMPOSE } });
  assert.notEqual(elsewhere.node_id, hostId);
  // cordoned hosts are not offered for placement
  const available = await fetch(`${env.apiUrl}/teepods/available`, { headers: { 'x-api-key': env.apiKey } });
  assert.ok(!((await available.json()) as { nodes: { name: string }[] }).nodes.some((n) => n.name === 'sim-two'));

  const uncordoned = await admin('/sim-two/uncordon', { method: 'POST' });
  assert.equal(((await uncordoned.json()) as { cordoned: boolean }).cordoned, false);
  const ok = await c.safeProvisionCvm({ name: 'two-again', node_id: hostId, compose_file: { docker_compose_file: COMPOSE } });
  assert.equal(ok.success, true);
});

test('drain cordons and lists the live CVMs; remove is refused while one lives there and accepted after its delete', async () => {
  const drain = await admin('/sim-two/drain', { method: 'POST' });
  const text = await drain.text();
  assert.equal(drain.status, 200, text);
  noToken(text, 'the drain answer');
  const drained = JSON.parse(text) as { host: { cordoned: boolean }; cvms: { name: string; vm_uuid: string }[]; message: string };
  assert.equal(drained.host.cordoned, true);
  assert.deepEqual(drained.cvms.map((v) => v.name), ['on-two']);
  assert.match(drained.message, /1 live CVM still runs there: nothing is moved/);
  assert.equal(two.listVms().length, 1, 'a drain moves nothing');

  const refused = await admin(`/${hostId}`, { method: 'DELETE' });
  assert.equal(refused.status, 409);
  const e = await errorOf(refused);
  assert.equal(e.error_code, 'ERR-08-003');
  assert.match(e.message, new RegExp(`sim-two still has 1 live CVM: on-two \\(${drained.cvms[0].vm_uuid}\\)`));

  await sdkClient(env).deleteCvm({ id: drained.cvms[0].vm_uuid });
  await waitFor(async () => ((await env.server.db.query('SELECT 1 FROM cvms WHERE vm_uuid = $1 AND deleted_at IS NOT NULL', [drained.cvms[0].vm_uuid])).length ? true : null), 20_000);
  assert.equal(two.listVms().length, 0);

  const removed = await admin(`/${hostId}`, { method: 'DELETE' });
  assert.equal(removed.status, 200);
  const gone = (await removed.json()) as { status: string; auth_token_set: boolean; kms_token_set: boolean };
  assert.deepEqual([gone.status, gone.auth_token_set, gone.kms_token_set], ['removed', false, false]);
  assert.equal((await admin(`/${hostId}`)).status, 404);
  const { items } = (await (await admin('')).json()) as { items: { name: string }[] };
  assert.deepEqual(items.map((h) => h.name), ['sim-test']);
  // its guests' KMS token is forgotten, its name is free again
  const [row] = await env.server.db.query<{ kms_token_hash: string | null; auth_token_sealed: string | null }>('SELECT kms_token_hash, auth_token_sealed FROM nodes WHERE id = $1', [hostId]);
  assert.deepEqual(row, { kms_token_hash: null, auth_token_sealed: null });
  const readd = await admin('', { method: 'POST', body: JSON.stringify({ name: 'sim-two', url: two.url, auth_token: authToken }) });
  assert.equal(readd.status, 201);
  assert.notEqual(((await readd.json()) as { id: number }).id, hostId);
});

test('an auth token an earlier version stored in plaintext is sealed at the next start, and still opens', async () => {
  const [row] = await env.server.db.query<{ id: number }>("SELECT id FROM nodes WHERE name = 'sim-two' AND removed_at IS NULL");
  await env.server.db.query('UPDATE nodes SET auth_token = $2, auth_token_sealed = NULL WHERE id = $1', [row.id, authToken]);
  await env.restartServer();
  const [after] = await env.server.db.query<{ auth_token: string | null; auth_token_sealed: string | null }>('SELECT auth_token, auth_token_sealed FROM nodes WHERE id = $1', [row.id]);
  assert.equal(after.auth_token, null);
  assert.ok(after.auth_token_sealed && !after.auth_token_sealed.includes(authToken));
  // the driver opens it: a refresh reaches the host, which requires that token
  const refreshed = await admin(`/${row.id}/refresh`, { method: 'POST' });
  const text = await refreshed.text();
  assert.equal(refreshed.status, 200, text);
  noToken(text, 'the refresh answer');
  assert.equal(JSON.parse(text).status, 'online');
});

test('no log line carries a host token or the admin key', () => {
  assert.ok(logLines.length > 10, 'the server logged');
  for (const line of logLines) noToken(line, 'a log line');
});

test('a server without OPENCVM_ADMIN_KEY answers the admin API 403 ERR-06-105, saying how to enable it', async () => {
  const off = await startTestEnv();
  try {
    const res = await fetch(`${off.apiUrl}/admin/hosts`, { headers: { 'x-admin-key': adminKey } });
    assert.equal(res.status, 403);
    const e = await errorOf(res);
    assert.equal(e.error_code, 'ERR-06-105');
    assert.match(e.message, /start it with OPENCVM_ADMIN_KEY set/);
  } finally {
    await off.close();
  }
});
