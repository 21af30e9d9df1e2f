/**
 * State watches (`GET /cvms/{id}/state`, `Accept: text/event-stream`) fed by LISTEN/NOTIFY through the
 * server's `StateHub` (services/state-hub.ts): a change committed through one server reaches a watch on
 * another server of the same database; many streams of one CVM cost one read per change, not one per stream;
 * the hub survives its LISTEN connection being killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { startServer, type RunningServer } from './app.ts';
import { STATE_HUB_CONNECTION, type StateHub } from './services/state-hub.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { eventStream } from './testing/sse.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n';

let env: TestEnv;
let second: RunningServer | undefined;

const client = (apiUrl = env.apiUrl) => createClient({ apiKey: env.apiKey, baseURL: apiUrl });

async function deploy(name: string) {
  const c = client();
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: composeYaml } } as any);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const [{ id }] = await env.server.db.query<{ id: number }>('SELECT id FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  return { name, vm_uuid: vm.vm_uuid!, id };
}

const statusOf = async (vmUuid: string) => (await client().getCvmState({ id: vmUuid })).status;

/** An SSE body read one event at a time (`null` once it has ended). */
async function openWatch(apiUrl: string, id: string, query: string, signal?: AbortSignal) {
  const res = await fetch(`${apiUrl}/cvms/${id}/state?${query}`, { headers: { 'X-API-Key': env.apiKey, Accept: 'text/event-stream' }, signal });
  assert.equal(res.status, 200);
  const stream = eventStream(res);
  return {
    next: stream.next,
    /** the events up to and including the first one `until` accepts */
    async until(until: (e: { event: string; data: any }) => boolean) {
      const seen: { event: string; data: any }[] = [];
      for (;;) {
        const e = await this.next();
        assert.ok(e, `the stream ended after ${seen.map((s) => s.event).join(',')}`);
        seen.push(e);
        if (until(e)) return seen;
      }
    },
  };
}

/** Every query the hub made is explained by a watch, a notification of a watched CVM, a refresh tick or a reconnect. */
function assertBounded(before: StateHub['stats'], now: StateHub['stats']) {
  const d = (k: keyof StateHub['stats']) => now[k] - before[k];
  assert.ok(
    d('queries') <= d('watches') + d('notified') + d('refreshes') + d('connects'),
    `queries ${d('queries')} > watches ${d('watches')} + notified ${d('notified')} + refreshes ${d('refreshes')} + connects ${d('connects')}`,
  );
}

before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await second?.close();
  await env?.close();
});

test('a change committed through server A reaches a watch on server B (one database)', async () => {
  const cvm = await deploy('hub-replica');
  await waitFor(async () => ((await statusOf(cvm.vm_uuid)) === 'running' ? true : null), 20_000);
  await env.server.worker.idle(20_000);
  // server B: same database and data dir (same KMS keys), its own port; its worker stays stopped, so every
  // change below is written by server A (its API and its worker)
  second = await startServer({ config: { ...env.config, port: 0 }, worker: { bootPollMs: 50, pollMs: 200 } });
  await second.worker.stop();
  const b = second;
  try {
    const watch = await openWatch(b.apiUrl, cvm.vm_uuid, 'target=stopped&timeout=60');
    const first = await watch.next();
    assert.equal(first?.event, 'state');
    assert.equal(first.data.status, 'running');
    const before = { ...b.services.stateHub.stats };

    await client(env.apiUrl).stopCvm({ id: cvm.vm_uuid });
    const events = await watch.until((e) => e.event !== 'state');
    assert.deepEqual(events.at(-1), { event: 'complete', data: { status: 'stopped' } });
    assert.ok(events.some((e) => e.event === 'state' && e.data.status === 'stopped'), JSON.stringify(events));
    assert.equal(await watch.next(), null);
    assert.ok(b.services.stateHub.stats.notified > before.notified, 'server B was notified');
    assertBounded(before, b.services.stateHub.stats);
  } finally {
    await b.close();
    second = undefined;
  }
});

test('20 watches of a booting CVM: one read per change for all of them, and every watch reaches complete', async () => {
  const { worker, db, services } = env.server;
  const hub = services.stateHub;
  // the worker is held, so the CVM stays `starting` until the test lets it go
  await worker.stop();
  let holding = true;
  try {
    const cvm = await deploy('hub-many');
    const watches = await Promise.all(Array.from({ length: 20 }, () => openWatch(env.apiUrl, cvm.vm_uuid, 'target=running&timeout=120')));
    for (const w of watches) assert.equal((await w.next())?.data.status, 'starting');
    assert.equal(hub.watchers(cvm.id), 20);

    // one change: exactly one notification of the CVM, one read, 20 deliveries
    const s0 = { ...hub.stats };
    await db.query(`UPDATE cvms SET boot_progress = 'one change' WHERE id = $1`, [cvm.id]);
    for (const w of watches) assert.equal((await w.next())?.data.boot_progress, 'one change');
    const s1 = { ...hub.stats };
    assert.equal(s1.notified - s0.notified, 1);
    assert.ok(s1.queries - s0.queries <= 1 + (s1.refreshes - s0.refreshes), `${s1.queries - s0.queries} queries for one change`);

    // the boot: every watch follows it to complete; the reads are bounded by the changes, not by 20 × time
    holding = false;
    await worker.start();
    for (const w of watches) {
      const events = await w.until((e) => e.event !== 'state');
      assert.deepEqual(events.at(-1), { event: 'complete', data: { status: 'running' } });
    }
    assertBounded(s1, hub.stats);
    assert.ok(hub.stats.notified > s1.notified, 'the boot was notified');
    assert.equal(hub.watchers(cvm.id), 0);
  } finally {
    if (holding) await worker.start();
  }
});

test('the LISTEN connection killed (pg_terminate_backend): the hub reconnects and the watch sees what changed meanwhile and after', async () => {
  const { worker, db, services } = env.server;
  const hub = services.stateHub;
  await worker.stop();
  let holding = true;
  try {
    const cvm = await deploy('hub-killed');
    const watch = await openWatch(env.apiUrl, cvm.vm_uuid, 'target=running&timeout=120');
    assert.equal((await watch.next())?.data.status, 'starting');
    const connects = hub.stats.connects;
    const killed = await db.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [STATE_HUB_CONNECTION],
    );
    assert.deepEqual(killed.map((k) => k.ok), [true]);
    // a change right after the kill: whether or not the hub was listening, it must reach the watch
    await db.query(`UPDATE cvms SET boot_progress = 'while reconnecting' WHERE id = $1`, [cvm.id]);
    await watch.until((e) => e.event === 'state' && e.data.boot_progress === 'while reconnecting');
    await waitFor(() => (hub.stats.connects > connects ? true : null), 20_000);
    // and a change once reconnected: notified again
    const notified = hub.stats.notified;
    await db.query(`UPDATE cvms SET boot_progress = 'after reconnect' WHERE id = $1`, [cvm.id]);
    await watch.until((e) => e.event === 'state' && e.data.boot_progress === 'after reconnect');
    assert.ok(hub.stats.notified > notified, 'the change after the reconnect came by NOTIFY');
    holding = false;
    await worker.start();
    const events = await watch.until((e) => e.event !== 'state');
    assert.deepEqual(events.at(-1), { event: 'complete', data: { status: 'running' } });
  } finally {
    if (holding) await worker.start();
  }
});
