/**
 * `GET /apps/filter-options` through the official SDK's `getAppFilterOptions`: the distinct values of the
 * caller's workspace's live CVMs, each one a value `GET /apps`'s filter of that name finds apps with; another
 * workspace's values never show, nor a deleted CVM's. The static path wins over `GET /apps/{app_id}`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, getAppFilterOptions, getAppList } from '@phala/cloud';
import { settle } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n';

let env: TestEnv;
let foreignKey: string;
const client = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });

async function deploy(c: ReturnType<typeof createClient>, name: string, instanceType: string) {
  const p = await c.provisionCvm({ name, instance_type: instanceType, compose_file: { docker_compose_file: composeYaml } } as any);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  return vm.vm_uuid!;
}

before(async () => {
  env = await startTestEnv();
  foreignKey = (await env.server.services.auth.createWorkspace('filter-foreign')).apiKey;
  const mine = [await deploy(client(), 'filter-a', 'tdx.small'), await deploy(client(), 'filter-b', 'tdx.small')];
  const gone = await deploy(client(), 'filter-gone', 'tdx.large');
  const foreign = await deploy(client(foreignKey), 'filter-foreign', 'tdx.medium');
  for (const id of [...mine, gone]) await settle(env, id, 'running');
  await waitFor(async () => ((await client(foreignKey).getCvmInfo({ id: foreign })).status === 'running' ? true : null), 15_000);
  await client(foreignKey).stopCvm({ id: foreign });
  await waitFor(async () => {
    const info = await client(foreignKey).getCvmInfo({ id: foreign });
    return info.status === 'stopped' && !info.progress ? true : null;
  }, 15_000);
  await client().deleteCvm({ id: gone });
  await waitFor(async () => ((await client().safeGetCvmInfo({ id: gone })).success ? null : true), 15_000);
});

after(async () => {
  await env?.close();
});

test('getAppFilterOptions: the distinct values of the workspace\'s live CVMs, each one a filter of GET /apps finds', async () => {
  const o = await getAppFilterOptions(client());
  assert.deepEqual(o.statuses, ['running']);
  assert.deepEqual(o.instance_types, ['tdx.small'], 'the deleted CVM\'s tdx.large and the other workspace\'s tdx.medium do not show');
  assert.deepEqual(o.nodes, ['sim-test']);
  assert.equal(o.image_versions.length, 1);
  assert.equal(o.kms_types.length, 1);
  assert.equal(o.kms_slugs.length, 1);
  assert.equal(o.regions.length, 1);
  const filters: [string, string[]][] = [
    ['status', o.statuses],
    ['base_image', o.image_versions],
    ['instance_type', o.instance_types],
    ['kms_slug', o.kms_slugs],
    ['kms_type', o.kms_types],
    ['region', o.regions],
    ['node', o.nodes],
  ];
  for (const [name, values] of filters) {
    for (const value of values) {
      const page = await getAppList(client(), { [name]: name === 'status' ? [value] : value } as any);
      assert.equal(page.total, 2, `GET /apps?${name}=${value} finds both apps`);
    }
  }
});

test('another workspace sees only its own values', async () => {
  const o = await getAppFilterOptions(client(foreignKey));
  assert.deepEqual(o.statuses, ['stopped']);
  assert.deepEqual(o.instance_types, ['tdx.medium']);
  const empty = await getAppFilterOptions(client((await env.server.services.auth.createWorkspace('filter-empty')).apiKey));
  assert.deepEqual(empty, { statuses: [], image_versions: [], instance_types: [], kms_slugs: [], kms_types: [], regions: [], nodes: [] });
});

test('the path is not read as an app id, and needs an API key', async () => {
  const res = await fetch(`${env.apiUrl}/apps/filter-options`);
  assert.equal(res.status, 401);
  const ok = await fetch(`${env.apiUrl}/apps/filter-options`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal(ok.status, 200);
  assert.ok(Array.isArray((await ok.json()).statuses));
});
