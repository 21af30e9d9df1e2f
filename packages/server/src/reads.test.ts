/**
 * The list reads the official clients make, against a real server and simulated host, validated by the
 * official SDK's own schemas in both API versions: `GET /cvms/paginated`, `GET /apps`, `GET /apps/{id}`,
 * `GET /apps/{id}/cvms`, `POST /status/batch` (keys echoed exactly as sent), and the CLI commands built on
 * them (`cvms list`, `apps`, `instances ls`, `nodes list`, `cvms list-nodes`, `link`). Another workspace's CVMs and apps never show.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createClient,
  getAppCvms,
  getAppInfo,
  getAppList,
  getCvmStatusBatch,
  safeGetAppCvms,
  safeGetAppInfo,
  ResourceError,
} from '@phala/cloud';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n';

let env: TestEnv;
let foreign: { workspaceId: number; apiKey: string };
let nodeId: number;
let adminId: number;
/** the CVMs of the main workspace, oldest first */
const mine: { name: string; app_id: string; vm_uuid: string; id: number }[] = [];
let foreignCvm: { app_id: string; vm_uuid: string };

const client = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });
const legacy = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl, version: '2025-10-28' });

async function deploy(c: ReturnType<typeof createClient>, name: string, extra: Record<string, unknown> = {}) {
  const p = await c.provisionCvm({ name, instance_type: 'tdx.small', compose_file: { docker_compose_file: composeYaml }, ...extra } as any);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  return { name, app_id: vm.app_id!, vm_uuid: vm.vm_uuid!, id: vm.id };
}

async function raw(method: string, path: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${env.apiUrl}${path}`, {
    method,
    headers: { 'X-API-Key': opts.key ?? env.apiKey, ...(opts.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, body, headers: res.headers };
}

before(async () => {
  env = await startTestEnv();
  foreign = await env.server.services.auth.createWorkspace('reads-foreign');
  nodeId = (await env.server.db.query<{ id: number }>(`SELECT id FROM nodes WHERE name = 'sim-test'`))[0].id;
  adminId = (await env.server.db.query<{ id: number }>(`SELECT id FROM users WHERE username = 'admin'`))[0].id;
  for (const name of ['list-app-one', 'list-app-two', 'list-app-three']) mine.push(await deploy(client(), name));
  foreignCvm = await deploy(client(foreign.apiKey), 'list-app-foreign');
  // every CVM boots, so the list sees settled rows
  await waitFor(async () => {
    const rows = await env.server.db.query(`SELECT 1 FROM cvms WHERE status = 'running'`);
    return rows.length === 4 ? true : null;
  }, 20_000);
});
after(async () => {
  await env?.close();
});

test(`GET /cvms/paginated: both versions validate with getCvmList, newest first, workspace-scoped`, async () => {
  const page = await client().getCvmList();
  assert.equal(page.total, 3);
  assert.equal(page.pages, 1);
  assert.equal(page.page, 1);
  assert.deepEqual(page.items.map((c) => c.name), ['list-app-three', 'list-app-two', 'list-app-one']);
  const three = page.items[0];
  assert.equal(three.vm_uuid, mine[2].vm_uuid);
  assert.equal(three.app_id, mine[2].app_id);
  assert.equal(three.status, 'running');
  assert.equal(three.node_info?.id, nodeId);
  assert.equal(three.workspace?.slug, 'default');
  assert.equal(three.resource.vcpu, 1);
  // the list item's id works as a /cvms/{id} path id
  assert.equal((await client().getCvmInfo({ id: three.id })).vm_uuid, three.vm_uuid);

  const second = await client().getCvmList({ page: 2, page_size: 2 });
  assert.deepEqual(second.items.map((c) => c.name), ['list-app-one']);
  assert.equal(second.total, 3);
  assert.equal(second.pages, 2);
  assert.equal(second.page_size, 2);
  const beyond = await client().getCvmList({ page: 9, page_size: 2 });
  assert.deepEqual(beyond.items, []);
  assert.equal(beyond.total, 3);

  const old = await legacy().getCvmList({ page_size: 2 });
  assert.equal(old.total, 3);
  const item = old.items[0] as any;
  assert.equal(item.hosted.id, mine[2].vm_uuid);
  assert.equal(item.hosted.app_id, mine[2].app_id);
  assert.match(item.hosted.uptime, /\d+s$/);
  assert.equal(item.node.id, nodeId);
  assert.equal(item.managed_user.username, 'admin');
  assert.equal(item.kms_info.slug, 'phala');
  assert.equal(item.in_progress, false);
  assert.equal(item.memory, 2048);
  // a signed log URL of the same form as the v2025 detail's (each read signs a fresh expiry, so only the
  // URL without `exp` and `token` is the same)
  const unsigned = (url: string) => url.replace(/&exp=\d+&token=[\w-]+$/, '');
  const detailUrl = ((await legacy().getCvmInfo({ id: mine[2].vm_uuid })) as any).syslog_endpoint as string;
  assert.match(item.syslog_endpoint, /\/logs\/syslog\?cvm=[\w-]+&exp=\d+&token=[\w-]+$/);
  assert.equal(unsigned(item.syslog_endpoint), unsigned(detailUrl));

  const theirs = await client(foreign.apiKey).getCvmList();
  assert.deepEqual(theirs.items.map((c) => c.vm_uuid), [foreignCvm.vm_uuid]);
});

test('GET /cvms/paginated filters by node_id, teepod_id and user_id, and rejects bad queries with 422', async () => {
  assert.equal((await client().getCvmList({ node_id: nodeId })).total, 3);
  assert.equal((await client().getCvmList({ teepod_id: nodeId })).total, 3);
  assert.equal((await client().getCvmList({ node_id: nodeId + 100 })).total, 0);
  assert.equal((await client().getCvmList({ user_id: String(adminId) })).total, 3);
  assert.equal((await client().getCvmList({ user_id: String(adminId + 100) })).total, 0);

  for (const [query, field] of [
    ['page=0', 'page'],
    ['page_size=101', 'page_size'],
    ['page_size=abc', 'page_size'],
    ['node_id=-1', 'node_id'],
    ['user_id=bob', 'user_id'],
    [`node_id=${nodeId}&teepod_id=${nodeId + 1}`, 'teepod_id'],
  ]) {
    const res = await raw('GET', `/cvms/paginated?${query}`);
    assert.equal(res.status, 422, query);
    assert.equal(res.body.detail.error_code, 'ERR-02-008');
    assert.match(res.body.detail.message, new RegExp(`^${field}: `), query);
  }
  const anon = await raw('GET', '/cvms/paginated', { key: '' });
  assert.equal(anon.status, 401);
});

test('GET /apps: the App Full shape in both versions, with current_cvm = the newest live CVM', async () => {
  const list = await getAppList(client());
  assert.equal(list.total, 3);
  assert.equal(list.total_pages, 1);
  assert.equal(list.page_size, 50);
  assert.deepEqual(list.dstack_apps.map((a) => a.app_id), [mine[2].app_id, mine[1].app_id, mine[0].app_id]);
  const app = list.dstack_apps[0] as any;
  assert.equal(app.name, 'list-app-three');
  assert.equal(app.kms_type, 'phala');
  assert.equal(app.cvm_count, 1);
  assert.equal(app.current_cvm.vm_uuid, mine[2].vm_uuid);
  assert.equal(app.current_cvm.status, 'running');
  assert.equal(app.cvms[0].vm_uuid, mine[2].vm_uuid);

  const old = await getAppList(legacy(), { page_size: 1, page: 2 });
  assert.equal(old.total, 3);
  assert.equal(old.total_pages, 3);
  const oldApp = old.dstack_apps[0] as any;
  assert.equal(oldApp.app_id, mine[1].app_id);
  assert.equal(oldApp.current_cvm.vm_uuid, mine[1].vm_uuid);
  assert.equal(oldApp.current_cvm.teepod_id, nodeId);
  assert.equal(oldApp.current_cvm.teepod_name, 'sim-test');
  assert.equal(oldApp.current_cvm.kms_slug, 'phala');

  assert.deepEqual((await getAppList(client(foreign.apiKey))).dstack_apps.map((a) => a.app_id), [foreignCvm.app_id]);
});

test('GET /apps filters: search, status (repeated), listed, node, region, instance_type, kms_type', async () => {
  const ids = async (q: Parameters<typeof getAppList>[1]) =>
    (await getAppList(client(), q)).dstack_apps.map((a) => a.app_id).sort();
  const all = mine.map((m) => m.app_id).sort();
  assert.deepEqual(await ids({ search: 'app-two' }), [mine[1].app_id]);
  assert.deepEqual(await ids({ search: mine[0].app_id.slice(4, 14) }), [mine[0].app_id]);
  assert.deepEqual(await ids({ search: mine[2].vm_uuid.replace(/-/g, '').slice(0, 12) }), [mine[2].app_id]);
  assert.deepEqual(await ids({ search: '100%_' }), []);
  assert.deepEqual(await ids({ status: ['running'] }), all);
  assert.deepEqual(await ids({ status: ['stopped', 'running'] }), all);
  assert.deepEqual(await ids({ status: ['stopped'] }), []);
  assert.deepEqual(await ids({ listed: false }), all);
  assert.deepEqual(await ids({ listed: true }), []);
  assert.deepEqual(await ids({ node: 'sim-test' }), all);
  assert.deepEqual(await ids({ node: String(nodeId) }), all);
  assert.deepEqual(await ids({ node: 'no-such-node' }), []);
  assert.deepEqual(await ids({ region: 'local' }), all);
  assert.deepEqual(await ids({ instance_type: 'tdx.small' }), all);
  assert.deepEqual(await ids({ instance_type: 'tdx.large' }), []);
  assert.deepEqual(await ids({ kms_type: 'phala', kms_slug: 'phala' }), all);
  assert.deepEqual(await ids({ kms_type: 'ethereum' }), []);

  const bad = await raw('GET', '/apps?page_size=500');
  assert.equal(bad.status, 422);
  assert.match(bad.body.detail.message, /^page_size: page_size is at most 100/);
  const badListed = await raw('GET', '/apps?listed=maybe');
  assert.equal(badListed.status, 422);
  assert.match(badListed.body.detail.message, /^listed: /);
});

test('GET /apps/{app_id} and /apps/{app_id}/cvms: bare, app_ and 0x forms; other workspaces get 404', async () => {
  const { app_id, vm_uuid } = mine[0];
  for (const form of [app_id, `app_${app_id}`, `0x${app_id}`, app_id.toUpperCase()]) {
    const app = (await getAppInfo(client(), { appId: form })) as any;
    assert.equal(app.app_id, app_id, form);
    assert.equal(app.current_cvm.vm_uuid, vm_uuid);
  }
  const old = (await getAppInfo(legacy(), { appId: app_id })) as any;
  assert.equal(old.current_cvm.vm_uuid, vm_uuid);
  assert.equal(old.current_cvm.teepod_name, 'sim-test');

  const cvms = await getAppCvms(client(), { appId: app_id });
  assert.deepEqual(cvms.map((c) => c.vm_uuid), [vm_uuid]);
  const oldCvms = (await getAppCvms(legacy(), { appId: app_id })) as any[];
  assert.equal(oldCvms[0].hosted.id, vm_uuid);

  for (const appId of [foreignCvm.app_id, 'f'.repeat(40), 'not-an-app']) {
    const r = await safeGetAppInfo(client(), { appId });
    assert.equal(r.success, false);
    const err = (r as unknown as { error: ResourceError }).error;
    assert.equal(err.status, 404, appId);
    assert.equal(err.errorCode, 'ERR-03-001');
    const rc = await safeGetAppCvms(client(), { appId });
    assert.equal((rc as unknown as { error: ResourceError }).error.status, 404);
  }
});

test('POST /status/batch: keys are exactly the strings sent; unknown, foreign and malformed ids are left out', async () => {
  const dashed = mine[0].vm_uuid;
  const bare = mine[1].vm_uuid.replace(/-/g, '');
  const upper = mine[2].vm_uuid.toUpperCase();
  const sent = [dashed, bare, upper, foreignCvm.vm_uuid, '00000000-0000-4000-8000-000000000000', 'nope'];
  const map = await getCvmStatusBatch(client(), { vmUuids: sent });
  assert.deepEqual(Object.keys(map).sort(), [dashed, bare, upper].sort());
  assert.equal(map[dashed].vm_uuid, dashed);
  assert.equal(map[bare].vm_uuid, mine[1].vm_uuid);
  assert.equal(map[upper].status, 'running');
  assert.equal(map[dashed].in_progress, false);
  assert.match(map[dashed].uptime!, /\d+s$/);

  // raw: the same uuid in two spellings answers under both
  const twice = await raw('POST', '/status/batch', { body: { vm_uuids: [dashed, dashed.replace(/-/g, '')] } });
  assert.equal(twice.status, 200);
  assert.deepEqual(Object.keys(twice.body).sort(), [dashed, dashed.replace(/-/g, '')].sort());
  assert.deepEqual(await raw('POST', '/status/batch', { body: { vm_uuids: [] } }).then((r) => r.body), {});

  for (const body of [{}, { vm_uuids: 'x' }, { vm_uuids: [1] }, []]) {
    const r = await raw('POST', '/status/batch', { body });
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.body.detail.error_code, 'ERR-02-008');
  }
  const none = await fetch(`${env.apiUrl}/status/batch`, { method: 'POST', headers: { 'X-API-Key': env.apiKey, 'Content-Type': 'application/json' } });
  assert.equal(none.status, 422);
});

test('POST /status/batch reports the active operation of a CVM that is still booting', async () => {
  const booting = await deploy(client(), 'list-app-booting');
  const map = await getCvmStatusBatch(client(), { vmUuids: [booting.vm_uuid] });
  const s = map[booting.vm_uuid];
  // the commit queued a create operation (the simulated boot takes 300 ms): it shows until the CVM runs
  assert.equal(s.status, 'starting');
  assert.equal(s.in_progress, true);
  assert.equal(s.operation_type, 'create');
  assert.match(s.correlation_id!, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(s.operation_started_at!)));
  const done = await waitFor(async () => {
    const m = await getCvmStatusBatch(client(), { vmUuids: [booting.vm_uuid] });
    return m[booting.vm_uuid].status === 'running' ? m[booting.vm_uuid] : null;
  }, 15_000);
  assert.equal(done.in_progress, false);
  assert.equal(done.operation_type, null);
  mine.push(booting);
});

test('the official CLI: cvms list, apps, instances ls, nodes list, cvms list-nodes and link read these endpoints', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  const list = await cli.run(['cvms', 'list', '--json']);
  assert.equal(list.code, 0, list.stdout + list.stderr);
  const listed = JSON.parse(list.stdout.slice(list.stdout.indexOf('{')));
  assert.equal(listed.success, true);
  const items = listed.items ?? listed.data?.items;
  assert.deepEqual(items.map((i: any) => i.appId).sort(), mine.map((m) => m.app_id).sort());
  assert.ok(items.every((i: any) => i.status === 'running'), JSON.stringify(items));

  const text = await cli.run(['cvms', 'list']);
  assert.equal(text.code, 0, text.stderr);
  for (const m of mine) assert.match(text.stdout, new RegExp(m.name));

  const apps = await cli.run(['apps', '--status', 'running', '--search', 'list-app-two']);
  assert.equal(apps.code, 0, apps.stderr);
  assert.match(apps.stdout, /list-app-two/);
  assert.doesNotMatch(apps.stdout, /list-app-one/);

  const inst = await cli.run(['instances', 'ls', '--app-id', mine[0].app_id, '--json']);
  assert.equal(inst.code, 0, inst.stdout + inst.stderr);
  assert.match(inst.stdout, new RegExp(mine[0].vm_uuid));

  const nodes = await cli.run(['nodes', 'list']);
  assert.equal(nodes.code, 0, nodes.stdout + nodes.stderr);
  assert.match(nodes.stdout, /sim-test/);
  const listNodes = await cli.run(['cvms', 'list-nodes']);
  assert.equal(listNodes.code, 0, listNodes.stdout + listNodes.stderr);
  // (the CLI prints this listing on stderr)
  assert.match(listNodes.stdout + listNodes.stderr, /Name:\s+sim-test/);
  assert.match(listNodes.stdout + listNodes.stderr, /dstack-dev-0\.5\.8/);

  const link = await cli.run(['link', mine[1].app_id]);
  assert.equal(link.code, 0, link.stdout + link.stderr);
  const toml = readFileSync(join(cli.home, 'phala.toml'), 'utf8');
  assert.match(toml, new RegExp(mine[1].app_id));
});
