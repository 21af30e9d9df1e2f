/**
 * The list reads (`store/cvms.ts` listCvmPage, listCvmsOfApps) read their rows as one JSON document; these
 * tests hold them to exactly the views `findCvmById` builds for the same CVMs (dates as Dates, nulls, an
 * active operation, a CVM without creator), and check the page arithmetic (filters, pages read from either
 * end) against the whole list.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CvmView } from '@opencvm/core';
import { findCvmById, listCvmPage, listCvmsOfApps } from './store/cvms.ts';
import { deployRunning, sdkClient } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

const compose = 'services:\n  web:\n    image: nginx:latest\n    ports:\n      - "80:80"\n';

let env: TestEnv;
let ws: number;
let nodeId: number;
let adminId: number;

before(async () => {
  env = await startTestEnv();
  for (const name of ['views-one', 'views-two', 'views-three']) await deployRunning(env, name, compose);
  // one CVM without a creator (a deleted user), one whose create operation stays pending (worker stopped)
  await env.server.db.query(`UPDATE cvms SET creator_id = NULL WHERE name = 'views-two'`);
  await env.server.worker.stop();
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name: 'views-pending', compose_file: { docker_compose_file: compose } });
  await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  [{ workspace_id: ws, node_id: nodeId }] = await env.server.db.query<{ workspace_id: number; node_id: number }>(
    `SELECT workspace_id, node_id FROM cvms WHERE name = 'views-one'`,
  );
  [{ id: adminId }] = await env.server.db.query<{ id: number }>(`SELECT id FROM users WHERE username = 'admin'`);
});
after(async () => {
  await env?.close();
});

async function same(views: CvmView[]) {
  for (const v of views) assert.deepEqual(v, await findCvmById(env.server.db, v.id), `list view of ${v.name}`);
}

test(`list views are the views findCvmById builds`, async () => {
  const { items, total } = await listCvmPage(env.server.db, ws, {}, { limit: 50, offset: 0 });
  assert.equal(total, 4);
  assert.deepEqual(
    items.map((c) => c.name),
    ['views-pending', 'views-three', 'views-two', 'views-one'],
  );
  await same(items);
  const pending = items[0];
  assert.ok(pending.progress, 'the pending CVM shows its create operation');
  assert.ok(pending.progress.started_at instanceof Date);
  assert.ok(items[1].started_at instanceof Date && items[1].created_at instanceof Date && items[1].updated_at instanceof Date);
  assert.equal(items[2].creator, null);

  const ofApps = await listCvmsOfApps(env.server.db, ws, items.map((c) => c.app_id));
  assert.deepEqual(ofApps.map((c) => c.id), items.map((c) => c.id));
  await same(ofApps);
  assert.deepEqual(await listCvmsOfApps(env.server.db, ws + 1000, items.map((c) => c.app_id)), []);
});

test(`list pages: either end, filters, past the end`, async () => {
  const all = (await listCvmPage(env.server.db, ws, {}, { limit: 50, offset: 0 })).items.map((c) => c.name);
  for (let limit = 1; limit <= 3; limit++) {
    for (let offset = 0; offset < 5; offset++) {
      const page = await listCvmPage(env.server.db, ws, {}, { limit, offset });
      assert.equal(page.total, 4);
      assert.deepEqual(page.items.map((c) => c.name), all.slice(offset, offset + limit), `limit ${limit} offset ${offset}`);
    }
  }
  const byNode = await listCvmPage(env.server.db, ws, { nodeId }, { limit: 50, offset: 0 });
  assert.deepEqual(byNode.items.map((c) => c.name), all);
  assert.equal(byNode.total, 4);
  const noNode = await listCvmPage(env.server.db, ws, { nodeId: nodeId + 1000 }, { limit: 50, offset: 0 });
  assert.deepEqual(noNode, { items: [], total: 0 });
  const byAdmin = await listCvmPage(env.server.db, ws, { creatorId: adminId }, { limit: 50, offset: 0 });
  assert.deepEqual(byAdmin.items.map((c) => c.name), ['views-pending', 'views-three', 'views-one']);
  assert.equal(byAdmin.total, 3);
  const both = await listCvmPage(env.server.db, ws, { nodeId, creatorId: adminId }, { limit: 1, offset: 2 });
  assert.deepEqual({ names: both.items.map((c) => c.name), total: both.total }, { names: ['views-one'], total: 3 });
  await same(both.items);
});
