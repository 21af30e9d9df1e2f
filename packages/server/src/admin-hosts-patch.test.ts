/**
 * `PATCH /api/v1/admin/hosts/{host}`: what the operator sets (region, labels, capacity, GPUs, dev, on-chain KMS,
 * device id, auth token, URL), kept over the host's own report at refresh; the strict body; refusals (a capacity
 * below what live CVMs reserve, a URL or KMS token another host has, a host that does not answer); one entry
 * per host URL at add too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startVmmSim, type VmmSim } from '@opencvm/vmm-sim';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { sdkClient } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx:alpine\n';
const adminKey = `admin_${randomBytes(24).toString('base64url')}`;
const authToken = `host-auth-${randomBytes(24).toString('base64url')}`;
const newAuthToken = `host-auth-${randomBytes(24).toString('base64url')}`;
const kmsToken = `guest-kms-${randomBytes(24).toString('base64url')}`;
const GPU = { slot: '0000:17:00.0', product_id: '2335', description: 'NVIDIA H100' };
const OTHER_GPU = { slot: '0000:18:00.0', product_id: '2330', description: 'NVIDIA H200' };

let env: TestEnv;
/** the host the CVM is placed on (auth on, reports 8 vCPU, 16 GB, 10 slots, one GPU) */
let two: VmmSim;
/** hosts without auth for the URL moves */
let three: VmmSim;
let four: VmmSim;
let twoId = 0;

type Host = {
  id: number; name: string; url: string; region: string; labels: Record<string, string>; status: string; dev: boolean; onchain_kms: boolean;
  device_id: string; capacity: { vcpu: number; memory_mb: number; disk_gb: number; slots: number; gpus: unknown[] }; overridden: string[];
  used: { cvms: number; vcpu: number; memory_mb: number }; auth_token_set: boolean; kms_token_set: boolean; version: string | null;
};
type Detail = { error_code: string; message: string; details?: { field?: string; value?: unknown }[] };

before(async () => {
  env = await startTestEnv({ config: { adminKey } });
  const kmsUrls = [`${env.server.url}/kms`];
  two = await startVmmSim({ name: 'sim-two', bootMs: 200, shutdownMs: 100, authToken, kmsToken, kmsUrls, resources: { maxVcpu: 8, maxMemoryMb: 16384, maxCvms: 10 }, gpus: [GPU] });
  three = await startVmmSim({ name: 'sim-three', resources: { maxVcpu: 4, maxMemoryMb: 8192, maxCvms: 4 } });
  four = await startVmmSim({ name: 'sim-four', resources: { maxVcpu: 6, maxMemoryMb: 12288, maxCvms: 6 } });
});

after(async () => {
  await env?.close();
  await Promise.all([two?.close(), three?.close(), four?.close()]);
});

const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${env.apiUrl}/admin/hosts${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-admin-key': adminKey },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const patch = (host: string | number, body: unknown) => admin(`/${host}`, 'PATCH', body);
const hostOf = async (res: Response, status = 200): Promise<Host> => {
  const text = await res.text();
  assert.equal(res.status, status, text);
  for (const t of [authToken, newAuthToken, kmsToken]) assert.ok(!text.includes(t), `the answer carries a token: ${text.slice(0, 200)}`);
  return JSON.parse(text);
};
const refusal = async (res: Response, status: number, code: string): Promise<Detail> => {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const detail = JSON.parse(text).detail as Detail | { loc: string[]; msg: string }[];
  if (Array.isArray(detail)) throw new Error(`not the ERR- envelope: ${text}`);
  assert.equal(detail.error_code, code, text);
  return detail;
};
const rowOf = async (id: number) =>
  (await env.server.db.query<{ url: string; auth_token_sealed: string | null; max_vcpu: number; max_memory_mb: number; region: string; overrides: Record<string, unknown> }>(
    'SELECT url, auth_token_sealed, max_vcpu, max_memory_mb, region, overrides FROM nodes WHERE id = $1', [id]))[0];

test('add the host; a second entry at its URL (even spelled with a trailing slash or in capitals) is 409 ERR-08-007', async () => {
  const added = await hostOf(await admin('', 'POST', { name: 'sim-two', url: two.url, auth_token: authToken, kms_token: kmsToken }), 201);
  twoId = added.id;
  const shout = two.url.replace('http://', 'HTTP://') + '/';
  for (const url of [two.url, `${two.url}/`, shout]) {
    const e = await refusal(await admin('', 'POST', { name: 'sim-two-again', url, auth_token: authToken }), 409, 'ERR-08-007');
    assert.match(e.message, new RegExp(`Host sim-two \\(id ${twoId}\\) is registered at http://127\\.0\\.0\\.1:\\d+ already`));
  }
  // the configured host's URL too
  const sim = await refusal(await admin('', 'POST', { name: 'sim-copy', url: env.sim.url }), 409, 'ERR-08-007');
  assert.match(sim.message, /Host sim-test /);
  // another URL with this host's KMS token: the KMS would not tell the two apart
  await refusal(await admin('', 'POST', { name: 'sim-three', url: three.url, kms_token: kmsToken }), 409, 'ERR-08-006');
  assert.equal((await admin('/sim-two-again')).status, 404);
  assert.equal((await admin('/sim-three')).status, 404);
});

test('the body is strict: an unknown field, a wrong type, an empty change are 422 naming the field; an unknown host 404', async () => {
  const cases: [unknown, RegExp][] = [
    [{ name: 'renamed' }, /name/],
    [{ capacity: { vcpu: 'eight' } }, /capacity\.vcpu/],
    [{ capacity: { cores: 4 } }, /capacity.*cores|cores/],
    [{ capacity: { slots: 0 } }, /capacity\.slots is at least 1/],
    [{ labels: { tier: 3 } }, /labels/],
    [{ dev: 'yes' }, /dev must be true or false/],
    [{ device_id: 'abc' }, /device_id must be 64 hex characters/],
    [{ url: 'ftp://10.0.0.5' }, /url must be the host's dstack-vmm URL/],
    [{ auth_token: '' }, /auth_token must not be empty/],
    [{}, /give at least one field to change/],
  ];
  for (const [body, field] of cases) {
    const res = await patch(twoId, body);
    const text = await res.text();
    assert.equal(res.status, 422, `${JSON.stringify(body)}: ${text}`);
    assert.match(text, field, `${JSON.stringify(body)}: ${text}`);
  }
  await refusal(await patch('no-such-host', { region: 'x' }), 404, 'ERR-08-001');
  await refusal(await patch(999_999, { region: 'x' }), 404, 'ERR-08-001');
});

test('region, labels, dev, on-chain KMS, capacity, GPUs and device id change; the operator\'s values survive a refresh', async () => {
  const deviceId = 'cd'.repeat(32);
  const h = await hostOf(await patch('sim-two', {
    region: 'eu-west', labels: { tier: 'gold', zone: 'b' }, dev: true, onchain_kms: false, device_id: `0x${deviceId.toUpperCase()}`,
    capacity: { vcpu: 6, memory_mb: 12000, disk_gb: 400, slots: 5, gpus: [GPU, OTHER_GPU] },
  }));
  assert.equal(h.region, 'eu-west');
  assert.deepEqual(h.labels, { tier: 'gold', zone: 'b' });
  assert.equal(h.dev, true);
  assert.equal(h.onchain_kms, false);
  assert.equal(h.device_id, deviceId);
  assert.deepEqual(h.capacity, { vcpu: 6, memory_mb: 12000, disk_gb: 400, slots: 5, gpus: [GPU, OTHER_GPU] });
  assert.deepEqual([...h.overridden].sort(), ['device_id', 'gpus', 'memory_mb', 'region', 'slots', 'vcpu']);
  assert.equal(h.auth_token_set, true);
  assert.equal(h.kms_token_set, true);

  // the host still reports 8 vCPU, 16 GB, 10 slots and one GPU: the operator's values win
  const refreshed = await hostOf(await admin(`/${twoId}/refresh`, 'POST'));
  assert.deepEqual(refreshed.capacity, h.capacity);
  assert.equal(refreshed.device_id, deviceId);
  assert.equal(refreshed.region, 'eu-west');

  // only what is given changes: labels are replaced as a whole, the rest stays
  const labelled = await hostOf(await patch(twoId, { labels: { tier: 'silver' } }));
  assert.deepEqual(labelled.labels, { tier: 'silver' });
  assert.deepEqual(labelled.capacity, h.capacity);
  assert.equal(labelled.dev, true);

  // null drops the operator's value: the host is asked and its own comes back (disk: not capped)
  const back = await hostOf(await patch(twoId, { capacity: { vcpu: null, gpus: null, disk_gb: null } }));
  assert.deepEqual(back.capacity, { vcpu: 8, memory_mb: 12000, disk_gb: 0, slots: 5, gpus: [GPU] });
  assert.deepEqual([...back.overridden].sort(), ['device_id', 'memory_mb', 'region', 'slots']);
  const back2 = await hostOf(await patch(twoId, { capacity: { memory_mb: null, slots: null } }));
  assert.deepEqual(back2.capacity, { vcpu: 8, memory_mb: 16384, disk_gb: 0, slots: 10, gpus: [GPU] });
  // placement sees the change: the host is offered with its slots
  const available = await fetch(`${env.apiUrl}/teepods/available`, { headers: { 'x-api-key': env.apiKey } });
  const nodes = ((await available.json()) as { nodes: { name: string; remaining_cvm_slots: number; region_identifier?: string }[] }).nodes;
  assert.equal(nodes.find((n) => n.name === 'sim-two')?.remaining_cvm_slots, 10);
  await hostOf(await patch(twoId, { dev: false, onchain_kms: true }));
});

test('a capacity below what the live CVMs reserve is 409 ERR-08-008 naming the resource and both figures; nothing changes', async () => {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name: 'on-two', node_id: twoId, vcpu: 2, memory: 4096, compose_file: { docker_compose_file: COMPOSE } });
  assert.equal(p.node_id, twoId);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await waitFor(async () => ((await c.getCvmInfo({ id: vm.vm_uuid! })).status === 'running' ? true : null), 20_000);
  const used = (await hostOf(await admin(`/${twoId}`))).used;
  assert.deepEqual([used.cvms, used.vcpu, used.memory_mb], [1, 2, 4096]);

  const e = await refusal(await patch(twoId, { capacity: { vcpu: 1, memory_mb: 2048, slots: 4 } }), 409, 'ERR-08-008');
  assert.match(e.message, /Host sim-two has 1 live CVM: capacity\.vcpu 1 is below the 2 vCPUs they reserve; capacity\.memory_mb 2048 is below the 4096 MB of memory they reserve\./);
  assert.deepEqual(e.details?.map((d) => [d.field, d.value]), [['capacity.vcpu', 1], ['capacity.memory_mb', 2048]]);
  const row = await rowOf(twoId);
  assert.deepEqual([row.max_vcpu, row.max_memory_mb], [8, 16384], 'nothing written');
  assert.equal((await hostOf(await admin(`/${twoId}`))).capacity.slots, 10, 'the slots of the refused change were not written either');

  // down to exactly what is reserved is fine
  const tight = await hostOf(await patch(twoId, { capacity: { vcpu: 2, memory_mb: 4096, slots: 1 } }));
  assert.deepEqual([tight.capacity.vcpu, tight.capacity.memory_mb, tight.capacity.slots], [2, 4096, 1]);
  // and the next placement on it is refused for want of room
  const full = await c.safeProvisionCvm({ name: 'no-room', node_id: twoId, compose_file: { docker_compose_file: COMPOSE } });
  assert.equal(full.success, false);
  await hostOf(await patch(twoId, { capacity: { vcpu: null, memory_mb: null, slots: null } }));
});

test('auth token: a wrong one is tried on the host and refused (400 ERR-08-004, nothing written); the right one is sealed anew', async () => {
  const sealedBefore = (await rowOf(twoId)).auth_token_sealed;
  const e = await refusal(await patch(twoId, { auth_token: newAuthToken }), 400, 'ERR-08-004');
  assert.ok(!e.message.includes(newAuthToken));
  assert.equal((await rowOf(twoId)).auth_token_sealed, sealedBefore);
  // the CVM on it is still reachable: the stored token was kept
  assert.equal((await hostOf(await admin(`/${twoId}/refresh`, 'POST'))).status, 'online');

  const same = await hostOf(await patch(twoId, { auth_token: authToken }));
  assert.equal(same.auth_token_set, true);
  const sealedAfter = (await rowOf(twoId)).auth_token_sealed;
  assert.ok(sealedAfter && sealedAfter !== sealedBefore && !sealedAfter.includes(authToken), 'sealed again, not in plaintext');
  assert.equal((await hostOf(await admin(`/${twoId}/refresh`, 'POST'))).status, 'online', 'the driver opens the new token');
});

test('URL: a host moved to a new address is asked there first; a URL another host has is 409; one that does not answer 400', async () => {
  const mover = await hostOf(await admin('', 'POST', { name: 'mover', url: three.url }), 201);
  assert.equal(mover.capacity.vcpu, 4);
  await refusal(await patch('mover', { url: two.url }), 409, 'ERR-08-007');
  await refusal(await patch('mover', { url: `${env.sim.url}/` }), 409, 'ERR-08-007');
  await refusal(await patch('mover', { kms_token: kmsToken }), 409, 'ERR-08-006');
  const down = await refusal(await patch('mover', { url: 'http://127.0.0.1:1' }), 400, 'ERR-08-004');
  assert.match(down.message, /mover at http:\/\/127\.0\.0\.1:1 did not answer/);
  assert.equal((await rowOf(mover.id)).url, three.url);

  const moved = await hostOf(await patch('mover', { url: four.url }));
  assert.equal(moved.url, four.url);
  assert.equal(moved.capacity.vcpu, 6, "what the host at the new URL reports");
  assert.equal(moved.status, 'online');
  // the old URL is free again; the new one is taken
  await hostOf(await admin('', 'POST', { name: 'at-three', url: three.url }), 201);
  await refusal(await admin('', 'POST', { name: 'at-four', url: four.url }), 409, 'ERR-08-007');
  // the same URL as its own is no change, not a conflict
  assert.equal((await hostOf(await patch('mover', { url: `${four.url}/`, region: 'ap-east' }))).region, 'ap-east');
});

test('a removed host frees its URL', async () => {
  await hostOf(await admin('/at-three', 'DELETE'));
  await hostOf(await admin('', 'POST', { name: 'at-three-again', url: three.url }), 201);
});
