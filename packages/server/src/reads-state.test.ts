/**
 * The per-CVM and catalogue reads, validated by the official SDK: `GET /cvms/{id}/state` (JSON, and the
 * Server-Sent Events `watchCvmState` consumes: state / complete / timeout, client disconnects),
 * `compose_file`, `docker-compose.yml`, `pre-launch-script`, `user_config`, `GET /teepods/available`,
 * `GET /workspaces[/{slug}[/nodes|/quotas]]`; and the list counts staying exact as CVMs come and go.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createClient,
  getAppInfo,
  getAppList,
  getCvmStatusBatch,
  getCvmUserConfig,
  getWorkspace,
  getWorkspaceNodes,
  getWorkspaceQuotas,
  listWorkspaces,
  safeGetWorkspace,
  watchCvmState,
  type SSEEvent,
} from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { eventStream } from './testing/sse.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n    ports:\n      - "80:80"\n';
const preLaunch = '#!/bin/sh\necho "pre-launch ok"\n';

let env: TestEnv;
let foreign: { workspaceId: number; apiKey: string };
let cvm: { name: string; app_id: string; vm_uuid: string };

const client = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });

async function deploy(name: string, extra: Record<string, unknown> = {}, composeExtra: Record<string, unknown> = {}, apiKey = env.apiKey) {
  const c = client(apiKey);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: composeYaml, ...composeExtra }, ...extra } as any);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  return { name, app_id: vm.app_id!, vm_uuid: vm.vm_uuid! };
}

async function raw(path: string, opts: { key?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}) {
  return fetch(`${env.apiUrl}${path}`, { headers: { 'X-API-Key': opts.key ?? env.apiKey, ...opts.headers }, signal: opts.signal });
}

/** Read an SSE body into `{event, data}` records until it ends. */
async function readEvents(res: Response): Promise<{ event: string; data: any }[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return event && data ? { event, data: JSON.parse(data) } : null;
    })
    .filter((e): e is { event: string; data: any } => e !== null);
}

const running = (vmUuid: string) =>
  waitFor(async () => ((await client().getCvmInfo({ id: vmUuid })).status === 'running' ? true : null), 15_000);

before(async () => {
  env = await startTestEnv();
  foreign = await env.server.services.auth.createWorkspace('state-foreign');
  cvm = await deploy(
    'state-app',
    { user_config: JSON.stringify({ hostname: 'state-host', ssh_authorized_keys: ['ssh-ed25519 AAAAC3 test@x'] }) },
    { pre_launch_script: preLaunch, allowed_envs: ['A'] },
  );
  await running(cvm.vm_uuid);
});
after(async () => {
  await env?.close();
});

test(`GET /cvms/{id}/state: getCvmState validates; absent keys, never null`, async () => {
  const state = await client().getCvmState({ id: cvm.vm_uuid });
  assert.equal(state.name, 'state-app');
  assert.equal(state.status, 'running');
  assert.equal(state.id, cvm.vm_uuid);
  assert.match(state.uptime!, /\d+s$/);
  assert.equal(state.boot_progress, 'done');

  const res = await raw(`/cvms/${cvm.name}/state`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) assert.equal(typeof v, 'string', `${k} is ${JSON.stringify(v)}`);
  assert.ok(!('boot_error' in body) && !('exited_at' in body) && !('shutdown_progress' in body), JSON.stringify(body));

  const theirs = await raw(`/cvms/${cvm.vm_uuid}/state`, { key: foreign.apiKey });
  assert.equal(theirs.status, 404);
  assert.equal(((await theirs.json()) as any).detail.error_code, 'ERR-03-001');
});

test('the state stream pushes a change as soon as it is seen, not on the `interval` hint', async () => {
  // the worker is held, so the CVM stays `starting` with its create operation queued until the test lets it go
  const { worker, db } = env.server;
  await worker.stop();
  let holding = true;
  try {
    const held = await deploy('state-watch-push');
    const [{ id }] = await db.query<{ id: number }>('SELECT id FROM cvms WHERE vm_uuid = $1', [held.vm_uuid]);
    // an interval (30 s) longer than the timeout (25 s): a server that sent changes on the interval would send
    // the next state only at the deadline, together with `timeout`
    const res = await raw(`/cvms/${held.vm_uuid}/state?target=running&interval=30&timeout=25`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    const stream = eventStream(res);
    const first = await stream.next();
    assert.equal(first?.event, 'state');
    assert.equal(first.data.status, 'starting');

    await db.query(`UPDATE cvms SET boot_progress = 'pushed-as-seen' WHERE id = $1`, [id]);
    const second = await stream.next();
    assert.equal(second?.event, 'state');
    assert.equal(second.data.boot_progress, 'pushed-as-seen');
    assert.equal(second.data.status, 'starting');

    // the boot goes on; the stream follows it and ends with complete, never with timeout
    holding = false;
    await worker.start();
    const rest: string[] = [];
    for (let e = await stream.next(); e; e = await stream.next()) {
      rest.push(e.event);
      if (e.event === 'complete') assert.deepEqual(e.data, { status: 'running' });
    }
    assert.equal(rest.at(-1), 'complete', rest.join(','));
    assert.ok(!rest.includes('timeout'), rest.join(','));
  } finally {
    if (holding) await worker.start();
  }
});

describe('watchCvmState (SSE)', { concurrency: true }, () => {
  test('reaches complete for target running on a CVM that is still booting', async () => {
    const booting = await deploy('state-watch-boot');
    const events: SSEEvent[] = [];
    const final = await watchCvmState(client(), { id: booting.vm_uuid, target: 'running', maxRetries: 1 } as any, {
      onEvent: (e) => events.push(e),
    });
    assert.equal(final.status, 'running');
    assert.equal(final.name, 'state-watch-boot');
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'state');
    assert.equal((events[0].data as { status: string }).status, 'starting');
    assert.equal(types.at(-1), 'complete');
    assert.deepEqual(events.at(-1)!.data, { status: 'running' });
    assert.ok(types.filter((t) => t === 'state').length >= 2, types.join(','));
  });

  test('the raw stream: text/event-stream without version or content-type headers, complete at once when already there', async () => {
    const res = await fetch(`${env.apiUrl}/cvms/${cvm.vm_uuid.replace(/-/g, '')}/state?target=running&interval=5&timeout=30`, {
      headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache', 'X-API-Key': env.apiKey },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const events = await readEvents(res);
    assert.deepEqual(events.map((e) => e.event), ['state', 'complete']);
    assert.equal(events[0].data.status, 'running');
    for (const v of Object.values(events[0].data)) assert.equal(typeof v, 'string');
  });

  test('ends with a timeout event when the target is not reached in `timeout` seconds', async () => {
    const res = await raw(`/cvms/${cvm.name}/state?target=stopped&timeout=10`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    // readEvents returns once the server has ended the stream: the timeout event is the last thing sent
    const events = await readEvents(res);
    assert.deepEqual(events.map((e) => e.event), ['state', 'timeout']);
    assert.equal(events[0].data.status, 'running');
    assert.deepEqual(events[1].data, { status: 'running', timeout: 10 });
    // the CVM was only watched: it is still running
    assert.equal((await client().getCvmState({ id: cvm.vm_uuid })).status, 'running');
  });

  test('a watch ends with its client: its CVM is no longer read, another watch goes on', async () => {
    const [drop, other] = await Promise.all([deploy('state-watch-drop'), deploy('state-watch-other')]);
    await Promise.all([running(drop.vm_uuid), running(other.vm_uuid)]);
    const { db, services } = env.server;
    const hub = services.stateHub;
    const idOf = async (vmUuid: string) => (await db.query<{ id: number }>('SELECT id FROM cvms WHERE vm_uuid = $1', [vmUuid]))[0].id;
    const [dropId, otherId] = [await idOf(drop.vm_uuid), await idOf(other.vm_uuid)];
    const acDrop = new AbortController();
    const acOther = new AbortController();
    const watchOf = async (name: string, signal: AbortSignal) => {
      const res = await raw(`/cvms/${name}/state?target=never&timeout=60`, { headers: { Accept: 'text/event-stream' }, signal });
      const stream = eventStream(res);
      assert.equal((await stream.next())?.event, 'state');
      return stream;
    };
    const original = db.query.bind(db);
    try {
      await watchOf(drop.name, acDrop.signal);
      const otherStream = await watchOf(other.name, acOther.signal);
      assert.equal(hub.watchers(dropId), 1);
      acDrop.abort();
      await waitFor(() => (hub.watchers(dropId) === 0 ? true : null), 5000);
      let dropReads = 0;
      db.query = ((sql: string, params?: unknown[]) => {
        if (sql.includes('ANY($1::bigint[])') && Array.isArray(params?.[0]) && (params[0] as number[]).includes(dropId)) dropReads++;
        return original(sql, params);
      }) as typeof db.query;
      // a change of the dropped CVM, then one of the other: once the other watch has its change, the first one
      // (committed before it) has been seen too, and did not make the server read the dropped CVM
      await db.query(`UPDATE cvms SET boot_progress = 'after-drop' WHERE id = $1`, [dropId]);
      await db.query(`UPDATE cvms SET boot_progress = 'seen' WHERE id = $1`, [otherId]);
      for (let e = await otherStream.next(); ; e = await otherStream.next()) {
        assert.ok(e, 'the other watch ended');
        if (e.event === 'state' && e.data.boot_progress === 'seen') break;
      }
      assert.equal(dropReads, 0);
    } finally {
      db.query = original as typeof db.query;
      acDrop.abort();
      acOther.abort();
    }
  });

  test('bad watch parameters are a 422 before any stream starts; unknown CVMs a 404', async () => {
    for (const q of ['interval=2', 'interval=31', 'timeout=5', 'timeout=601', 'timeout=abc']) {
      const res = await raw(`/cvms/${cvm.name}/state?target=running&${q}`, { headers: { Accept: 'text/event-stream' } });
      assert.equal(res.status, 422, q);
      const body = (await res.json()) as any;
      assert.equal(body.detail.error_code, 'ERR-02-008');
      assert.match(body.detail.message, /^(interval|timeout): /);
    }
    const missing = await raw('/cvms/no-such-cvm/state?target=running', { headers: { Accept: 'text/event-stream' } });
    assert.equal(missing.status, 404);
  });
});

test('compose_file, docker-compose.yml, pre-launch-script and user_config', async () => {
  const c = client();
  const compose = await c.getCvmComposeFile({ id: cvm.vm_uuid });
  assert.equal(compose.docker_compose_file, composeYaml);
  assert.equal(compose.pre_launch_script, preLaunch);
  assert.deepEqual(compose.allowed_envs, ['A']);
  assert.equal(compose.name, 'state-app');
  assert.equal(compose.storage_fs, 'zfs');

  assert.equal(await c.getCvmDockerCompose({ id: cvm.name }), composeYaml);
  const yml = await raw(`/cvms/${cvm.name}/docker-compose.yml`);
  assert.match(yml.headers.get('content-type')!, /^text\/yaml/);

  assert.equal(await c.getCvmPreLaunchScript({ id: cvm.vm_uuid }), preLaunch);
  const plain = await deploy('state-plain');
  assert.equal(await c.getCvmPreLaunchScript({ id: plain.vm_uuid }), '');
  const script = await raw(`/cvms/${plain.name}/pre-launch-script`);
  assert.match(script.headers.get('content-type')!, /^text\/plain/);

  const cfg = await getCvmUserConfig(c, { id: cvm.vm_uuid });
  assert.deepEqual(cfg, { hostname: 'state-host', ssh_authorized_keys: ['ssh-ed25519 AAAAC3 test@x'], default_gateway_domain: cfg.default_gateway_domain });
  const none = (await (await raw(`/cvms/${plain.name}/user_config`)).json()) as any;
  assert.equal(none.hostname, 'state-plain');
  assert.deepEqual(none.ssh_authorized_keys, []);

  for (const path of ['compose_file', 'docker-compose.yml', 'pre-launch-script', 'user_config']) {
    const res = await raw(`/cvms/${cvm.vm_uuid}/${path}`, { key: foreign.apiKey });
    assert.equal(res.status, 404, path);
  }
});

test('GET /teepods/available: nodes with capacity, images as version tuples, the KMS list', async () => {
  const nodes = await client().getAvailableNodes();
  assert.equal(nodes.tier, 'self-hosted');
  assert.equal(nodes.nodes.length, 1);
  const n = nodes.nodes[0];
  assert.equal(n.name, 'sim-test');
  const [row] = await env.server.db.query<{ max_vcpu: number; max_cvms: number; used: number; vcpu: number }>(
    `SELECT max_vcpu, max_cvms, (SELECT count(*)::int FROM cvms WHERE node_id = nodes.id AND deleted_at IS NULL) AS used,
            (SELECT coalesce(sum(vcpu), 0)::int FROM cvms WHERE node_id = nodes.id AND deleted_at IS NULL) AS vcpu FROM nodes`,
  );
  assert.equal(n.remaining_cvm_slots, row.max_cvms ? row.max_cvms - row.used : -1);
  assert.equal(n.remaining_vcpu, row.max_vcpu ? row.max_vcpu - row.vcpu : -1);
  const image = n.images.find((i) => i.name === 'dstack-dev-0.5.8')!;
  assert.deepEqual(image.version, [0, 5, 8]);
  assert.equal(image.is_dev, true);
  assert.match(image.os_image_hash!, /^[0-9a-f]{64}$/);
  assert.equal(nodes.kms_list[0].slug, 'phala');
  assert.deepEqual(n.kms_list, [nodes.kms_list[0].id]);
});

test('workspaces: list (cursor), one by slug, its nodes and quotas; another workspace is a 404', async () => {
  const c = client();
  const list = await listWorkspaces(c);
  assert.deepEqual(list.data.map((w) => w.slug), ['default']);
  assert.equal(list.data[0].is_default, true);
  assert.equal(list.pagination.has_more, false);
  assert.equal(list.pagination.next_cursor, null);
  assert.equal(list.pagination.total, 1);

  // a user in two workspaces pages through them
  const [{ id: adminId }] = await env.server.db.query<{ id: number }>(`SELECT id FROM users WHERE username = 'admin'`);
  await env.server.db.query(`INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, 'member')`, [foreign.workspaceId, adminId]);
  try {
    const first = await listWorkspaces(c, { limit: 1 });
    assert.equal(first.data.length, 1);
    assert.equal(first.pagination.has_more, true);
    assert.equal(first.pagination.total, 2);
    const second = await listWorkspaces(c, { limit: 1, cursor: first.pagination.next_cursor! });
    assert.deepEqual(second.data.map((w) => [w.slug, w.role, w.is_default]), [['state-foreign', 'member', false]]);
    assert.equal(second.pagination.has_more, false);
  } finally {
    await env.server.db.query('DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2', [foreign.workspaceId, adminId]);
  }

  const ws = await getWorkspace(c, 'default');
  assert.equal(ws.slug, 'default');
  assert.equal(ws.tier, 'self-hosted');

  const nodes = await getWorkspaceNodes(c, { teamSlug: 'default' });
  assert.equal(nodes.total, 1);
  assert.equal(nodes.items[0].object_type, 'node');
  assert.equal(nodes.items[0].name, 'sim-test');
  assert.equal(nodes.pages, 1);

  const quotas = await getWorkspaceQuotas(c, { teamSlug: 'default' });
  assert.equal(quotas.team_slug, 'default');
  assert.ok(quotas.quotas.vm_slots.limit === -1 || quotas.quotas.vm_slots.remaining < quotas.quotas.vm_slots.limit);
  assert.ok(!Number.isNaN(Date.parse(quotas.as_of)));

  for (const path of ['/workspaces/state-foreign', '/workspaces/state-foreign/nodes', '/workspaces/state-foreign/quotas', '/workspaces/nope']) {
    const res = await raw(path);
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as any).detail.error_code, 'ERR-06-201');
  }
  const r = await safeGetWorkspace(c, 'state-foreign');
  assert.equal(r.success, false);
  const bad = await raw('/workspaces?cursor=abc');
  assert.equal(bad.status, 422);
  // the CLI's `nodes list` reads the same endpoint
});

test('list totals stay exact as CVMs are deleted: counters, apps without live CVMs, status batch', async () => {
  const c = client();
  const a = await deploy('count-a');
  const b = await deploy('count-b');
  await Promise.all([running(a.vm_uuid), running(b.vm_uuid)]);
  const before = await c.getCvmList({ page_size: 1 });
  const appsBefore = await getAppList(c, { page_size: 1 });
  // what the worker's delete leaves behind (deleted_at set)
  await env.server.db.query(`UPDATE cvms SET status = 'deleted', deleted_at = now() WHERE vm_uuid = $1`, [a.vm_uuid]);
  const after = await c.getCvmList({ page_size: 1 });
  assert.equal(after.total, before.total - 1);
  assert.equal((await getAppList(c, { page_size: 1 })).total, appsBefore.total - 1);
  assert.ok(!(await c.getCvmList({ page_size: 100 })).items.some((i) => i.vm_uuid === a.vm_uuid));
  assert.deepEqual(await getCvmStatusBatch(c, { vmUuids: [a.vm_uuid] }), {});
  // the app is still readable, with no live CVM
  const app = (await getAppInfo(c, { appId: a.app_id })) as any;
  assert.equal(app.current_cvm, null);
  assert.equal(app.cvm_count, 0);
  // a second live CVM of an app: one app, two CVMs, the newer one current
  const [{ id: replica }] = await env.server.db.query<{ id: number }>(
    `INSERT INTO cvms (vm_uuid, workspace_id, creator_id, app_id, name, status, node_id, kms_id, vcpu, memory_mb, disk_gb, image, compose_hash, app_compose)
     SELECT gen_random_uuid(), workspace_id, creator_id, app_id, 'count-b-replica', 'stopped', node_id, kms_id, vcpu, memory_mb, disk_gb, image, compose_hash, app_compose
       FROM cvms WHERE vm_uuid = $1 RETURNING id`,
    [b.vm_uuid],
  );
  const withReplica = (await getAppInfo(c, { appId: b.app_id })) as any;
  assert.equal(withReplica.cvm_count, 2);
  assert.equal(withReplica.current_cvm.name, 'count-b-replica');
  assert.equal((await getAppList(c, { page_size: 1 })).total, appsBefore.total - 1);
  assert.equal((await c.getCvmList({ page_size: 1 })).total, before.total);
  await env.server.db.query('DELETE FROM cvms WHERE id = $1', [replica]);
  // the kept counts equal a count of the rows
  const [counts] = await env.server.db.query<{ kept: number; real: number; apps_kept: number; apps_real: number }>(
    `SELECT (SELECT coalesce(sum(n), 0)::int FROM cvm_counts) AS kept, (SELECT count(*)::int FROM cvms WHERE deleted_at IS NULL) AS real,
            (SELECT coalesce(sum(n), 0)::int FROM live_app_counts) AS apps_kept,
            (SELECT count(DISTINCT app_id)::int FROM cvms WHERE deleted_at IS NULL) AS apps_real`,
  );
  assert.deepEqual([counts.kept, counts.apps_kept], [counts.real, counts.apps_real]);
});
