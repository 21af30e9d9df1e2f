/**
 * What an operator sees: `GET /metrics` (Prometheus text; HTTP latency by route template, operations, the
 * queue, host calls, KMS key releases, process metrics; bounded labels; the optional metrics token),
 * `GET /healthz` (the database answers, or 503 in the envelope), request ids (`X-Request-Id` on every answer,
 * a caller's sane one echoed, in the error envelope and in every log line of the request) and the worker's
 * structured log lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { encryptEnvVars, ResourceError } from '@phala/cloud';
import { endpoints } from '@opencvm/core';
import { fastifyPath } from './http/endpoint.ts';
import { assertEnvelope, fetchAnswer } from './testing/envelope.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { rawRequest, type RawAnswer } from './testing/raw-http.ts';
import { sdkClient, settle } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';

const COMPOSE = 'services:\n  app:\n    image: nginx:latest\n    environment:\n      - DB_PASSWORD=${DB_PASSWORD}\n';
const SECRET = `hunter2-${Math.random().toString(36).slice(2)}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let env: TestEnv;
const lines: string[] = [];
/** the log lines so far, parsed */
const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
let cvms: { vm_uuid: string; name: string; encrypted: string }[] = [];

before(async () => {
  delete process.env.PHALA_CLOUD_API_KEY;
  env = await startTestEnv({ server: { logger: true, logStream: { write: (line) => lines.push(line) } } });
  const c = sdkClient(env);
  cvms = await Promise.all(
    ['obs-a', 'obs-b'].map(async (name) => {
      const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: COMPOSE, allowed_envs: ['DB_PASSWORD'] } });
      const encrypted = await encryptEnvVars([{ key: 'DB_PASSWORD', value: SECRET }], p.app_env_encrypt_pubkey!);
      const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: ['DB_PASSWORD'] });
      await settle(env, vm.vm_uuid!, 'running');
      return { vm_uuid: vm.vm_uuid!, name, encrypted };
    }),
  );
  await env.server.worker.idle();
});
after(() => env?.close());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition; every line must be a comment or a well-formed sample. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(headers: Record<string, string> = {}) {
  const res = await fetch(`${env.server.url}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseExposition(text) };
}

/** The value of the one sample `name` with (at least) `labels`; undefined if there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

test(`/metrics after two deploys: HTTP by route template, operations, queue, host calls, KMS releases, process`, async () => {
  const headers = { 'X-API-Key': env.apiKey };
  const get = { method: 'GET', route: '/api/v1/cvms/:id' };
  const before = await scrape();
  const reads = (s: Sample[], status_class: string) => value(s, 'opencvm_http_request_duration_seconds_count', { ...get, status_class }) ?? 0;
  for (const c of cvms) assert.equal((await fetch(`${env.apiUrl}/cvms/${c.vm_uuid}`, { headers })).status, 200);
  assert.equal((await fetch(`${env.apiUrl}/cvms/${cvms[0].name}`, { headers })).status, 200);
  assert.equal((await fetch(`${env.apiUrl}/cvms/no-such-cvm`, { headers })).status, 404);
  assert.equal((await fetch(`${env.apiUrl}/no/such/route?token=leak-me-not`)).status, 404);
  assert.equal((await fetch(`${env.server.url}/logs/syslog?cvm=${cvms[0].vm_uuid}&exp=1&token=leak-me-not`)).status, 403);
  // a guest asking with a credential no host has: refused
  const refused = await fetch(`${env.server.url}/kms/prpc/GetAppKey`, {
    method: 'POST',
    headers: { authorization: 'Bearer not-a-host', 'content-type': 'application/json' },
    body: JSON.stringify({ vm_config: '{}' }),
  });
  assert.equal(refused.status, 400);
  // a host that cannot be reached, and one that answers an error
  await assert.rejects(env.server.services.nodes.register({ name: 'gone', url: 'http://127.0.0.1:1' }));
  const [node] = await env.server.db.query<{ id: number }>(`SELECT id FROM nodes WHERE name = 'sim-test'`);
  await assert.rejects((await env.server.services.nodes.client(node.id)).startVm('no-such-vm'));

  // a run's end is counted once its outcome is recorded, just after the CVM shows it
  const { text, samples } = await waitFor(async () => {
    const s = await scrape();
    return (value(s.samples, 'opencvm_operation_runs_total', { kind: 'create', outcome: 'succeeded' }) ?? 0) >= 2 ? s : null;
  });

  // HTTP: one series per route template, whatever id the path carried
  assert.equal(reads(samples, '2xx') - reads(before.samples, '2xx'), 3, 'three reads of two CVMs by two id forms: one series');
  assert.equal(reads(samples, '4xx') - reads(before.samples, '4xx'), 1);
  assert.ok(value(samples, 'opencvm_http_request_duration_seconds_sum', { ...get, status_class: '2xx' })! > 0);
  assert.ok(value(samples, 'opencvm_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_class: '4xx' })! >= 1);
  assert.ok(value(samples, 'opencvm_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/cvms/provision', status_class: '2xx' })! >= 2);
  assert.equal(value(samples, 'opencvm_http_request_duration_seconds_count', { method: 'GET', route: '/logs/syslog', status_class: '4xx' }), 1);
  const templates = new Set([...endpoints.map((e) => fastifyPath(e.path)), 'unmatched']);
  const routes = new Set(samples.filter((s) => s.name.startsWith('opencvm_http_')).map((s) => s.labels.route));
  for (const r of routes) assert.ok(templates.has(r), `route label ${r} is not a route template`);
  for (const c of cvms) {
    assert.ok(!text.includes(c.vm_uuid) && !text.includes(c.name), 'no CVM id in any label');
  }
  for (const secret of ['leak-me-not', env.apiKey, 'not-a-host', SECRET]) assert.ok(!text.includes(secret), `${secret} is not in the metrics`);

  // operations: both creates succeeded, took a sane time from queued to finished, and nothing is left queued
  const create = { kind: 'create', outcome: 'succeeded' };
  assert.equal(value(samples, 'opencvm_operation_runs_total', create), 2);
  assert.equal(value(samples, 'opencvm_operation_duration_seconds_count', create), 2);
  const took = value(samples, 'opencvm_operation_duration_seconds_sum', create)!;
  assert.ok(took > 0 && took < 120, `two creates took ${took} s in all`);
  assert.equal(value(samples, 'opencvm_operation_runs_total', { kind: 'create', outcome: 'failed' }), undefined);
  assert.equal(value(samples, 'opencvm_operations', { kind: 'create', state: 'pending' }), 0);
  assert.equal(value(samples, 'opencvm_operations', { kind: 'create', state: 'running' }), 0);
  assert.equal(value(samples, 'opencvm_operation_queue_depth'), 0);
  assert.equal(value(samples, 'opencvm_operation_queue_oldest_due_seconds'), 0);
  assert.equal(value(samples, 'opencvm_database_up'), 1);

  // host calls by node and method; errors by reason
  const sim = (method: string) => value(samples, 'opencvm_host_call_duration_seconds_count', { node: 'sim-test', method });
  // the boots are followed through the host's batched Status reads (worker/boot-watch.ts), not GetInfo per VM
  assert.ok(sim('CreateVm')! >= 2 && sim('StartVm')! >= 2 && sim('Status')! >= 1, 'each create: CreateVm, StartVm; the boots read by Status');
  assert.ok(value(samples, 'opencvm_host_call_duration_seconds_sum', { node: 'sim-test', method: 'CreateVm' })! > 0);
  assert.equal(value(samples, 'opencvm_host_call_errors_total', { node: 'sim-test', method: 'CreateVm' }), undefined, 'no CreateVm failed');
  assert.equal(value(samples, 'opencvm_host_call_errors_total', { node: 'sim-test', method: 'StartVm', reason: 'error' }), 1);
  assert.equal(value(samples, 'opencvm_host_call_errors_total', { node: 'gone', method: 'GetMeta', reason: 'unreachable' }), 1);

  // KMS: each boot fetched its keys; the stranger was refused
  assert.ok(value(samples, 'opencvm_kms_key_releases_total', { outcome: 'released' })! >= 2);
  assert.equal(value(samples, 'opencvm_kms_key_releases_total', { outcome: 'refused' }), 1);

  // the process's own
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(value(samples, name)! > 0 || name === 'nodejs_eventloop_lag_seconds', `${name}`);
    assert.ok(samples.some((s) => s.name === name), name);
  }
  // every series is declared (HELP and TYPE) once
  for (const name of ['opencvm_http_request_duration_seconds', 'opencvm_operation_runs_total', 'opencvm_kms_key_releases_total']) {
    assert.equal(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `)).length, 1, name);
  }
});

test('/healthz: 200 {"status":"ok"} while the database answers', async () => {
  const res = await fetch(`${env.server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('X-Request-Id: on a 200, echoed when sane, replaced when not', async () => {
  const fresh = await fetch(`${env.server.url}/healthz`);
  assert.match(fresh.headers.get('x-request-id')!, UUID, 'generated when none is sent');
  const again = await fetch(`${env.server.url}/healthz`);
  assert.notEqual(again.headers.get('x-request-id'), fresh.headers.get('x-request-id'));

  for (const sane of ['trace-1', 'c0ffee.beef:01_2-3', 'a'.repeat(128), '018f6e4e-5c1b-7cc2-9f1a-2b3c4d5e6f70']) {
    const res = await fetch(`${env.server.url}/healthz`, { headers: { 'X-Request-Id': sane } });
    assert.equal(res.headers.get('x-request-id'), sane);
  }
  for (const insane of ['has space', 'a'.repeat(129), '<script>', '-leading-dash', 'x;y=1', '%41', 'a"b']) {
    const res = await fetch(`${env.server.url}/healthz`, { headers: { 'X-Request-Id': insane } });
    assert.match(res.headers.get('x-request-id')!, UUID, `${JSON.stringify(insane)} is replaced`);
  }
  // bytes fetch would not send: non-ASCII in the header value
  const port = Number(new URL(env.server.url).port);
  const raw = (await rawRequest(port, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: caf\xe9\xff\r\nConnection: close\r\n\r\n', 'latin1'))) as RawAnswer;
  assert.equal(raw.status, 200);
  assert.match(raw.headers['x-request-id'], UUID);
});

test('X-Request-Id in the envelope and the header: 404 (no route, no CVM), 401, framework 400, parser 400', async () => {
  const cases: [string, RequestInit, number, string][] = [
    [`${env.apiUrl}/nothing-here`, {}, 404, 'ERR-00-404'],
    [`${env.apiUrl}/cvms/no-such-cvm`, { headers: { 'X-API-Key': env.apiKey } }, 404, 'ERR-03-001'],
    [`${env.apiUrl}/cvms/paginated`, {}, 401, 'ERR-06-101'],
    [`${env.apiUrl}/cvms/%zz`, { headers: { 'X-API-Key': env.apiKey } }, 400, 'ERR-02-008'],
    [`${env.apiUrl}/cvms/provision`, { method: 'POST', headers: { 'X-API-Key': env.apiKey, 'content-type': 'application/json' }, body: '{' }, 400, 'ERR-02-008'],
  ];
  for (const [i, [url, init, status, code]] of cases.entries()) {
    const mine = `case-${i}-${Date.now()}`;
    const a = await fetchAnswer(url, { ...init, headers: { ...(init.headers as Record<string, string>), 'X-Request-Id': mine } });
    const e = assertEnvelope(a, status, code, url);
    assert.equal(a.headers.get('x-request-id'), mine, `${url}: header`);
    assert.equal((e.detail as { request_id?: string }).request_id, mine, `${url}: envelope`);
    // and the request's log lines carry it
    const mineLogged = logged().filter((l) => l.request_id === mine);
    assert.ok(mineLogged.some((l) => l.msg === 'incoming request'), `${url}: logged`);
    assert.ok(mineLogged.some((l) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode === status), `${url}: completion logged`);

    const generated = await fetchAnswer(url, init);
    const g = assertEnvelope(generated, status, code, url);
    assert.match(generated.headers.get('x-request-id')!, UUID);
    assert.equal((g.detail as { request_id?: string }).request_id, generated.headers.get('x-request-id'));
  }

  // Node's HTTP parser refuses a control byte in the path: answered on the socket, still with an id
  const port = Number(new URL(env.server.url).port);
  const raw = (await rawRequest(port, `GET /api/v1/cvms/a\x01b HTTP/1.1\r\nHost: x\r\nX-Request-Id: parser-case\r\n\r\n`)) as RawAnswer;
  assert.equal(raw.status, 400);
  const id = raw.headers['x-request-id'];
  assert.match(id, UUID, 'a new id: the request could not be read');
  assert.equal(JSON.parse(raw.body).detail.request_id, id);
  assert.ok(logged().some((l) => l.request_id === id && l.msg === 'request refused by the HTTP parser'), 'the refusal is logged under its id');
});

test('X-Request-Id on a stream written outside fastify\'s send (an SSE watch)', async () => {
  const ac = new AbortController();
  const res = await fetch(`${env.apiUrl}/cvms/${cvms[0].vm_uuid}/state`, {
    headers: { 'X-API-Key': env.apiKey, accept: 'text/event-stream', 'X-Request-Id': 'watch-1' },
    signal: ac.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/event-stream/);
  assert.equal(res.headers.get('x-request-id'), 'watch-1');
  ac.abort();
});

test('the official SDK still parses an error that carries request_id (a ResourceError with the code)', async () => {
  const r = await sdkClient(env).safeGetCvmInfo({ id: 'no-such-cvm' });
  assert.equal(r.success, false);
  const err = r.error as ResourceError;
  assert.ok(err instanceof ResourceError, `got ${JSON.stringify(err)}`);
  assert.equal(err.errorCode, 'ERR-03-001');
  assert.match((err.detail as { request_id: string }).request_id, UUID);
});

test('worker log lines: structured start and end of each run (op_id, cvm_id, kind, attempt, step, outcome, duration), no secrets', async () => {
  const [row] = await env.server.db.query<{ id: number; op_id: number }>(
    `SELECT c.id, o.id AS op_id FROM cvms c JOIN operations o ON o.cvm_id = c.id AND o.kind = 'create' WHERE c.vm_uuid = $1`,
    [cvms[0].vm_uuid],
  );
  const mine = logged().filter((l) => l.op_id === row.op_id);
  const started = mine.find((l) => l.msg === 'operation run started');
  assert.ok(started, JSON.stringify(mine));
  assert.equal(started.level, 30, 'info');
  assert.equal(started.cvm_id, row.id);
  assert.equal(started.kind, 'create');
  assert.equal(started.attempt, 1);
  assert.ok('step' in started);
  const ended = mine.find((l) => l.outcome !== undefined);
  assert.ok(ended, JSON.stringify(mine));
  assert.equal(ended.level, 30);
  assert.equal(ended.msg, 'operation run ended: succeeded');
  assert.equal(ended.outcome, 'succeeded');
  assert.equal(ended.cvm_id, row.id);
  assert.equal(ended.kind, 'create');
  assert.equal(ended.step, 'done');
  assert.equal(typeof ended.duration_ms, 'number');
  assert.ok((ended.duration_ms as number) >= 0);

  const all = lines.join('\n');
  for (const secret of [env.apiKey, SECRET, ...cvms.map((c) => c.encrypted)]) assert.ok(!all.includes(secret), 'no key, env value or sealed env in the log');
});

test('/metrics with OPENCVM_METRICS_TOKEN: 401 in the envelope without it or with another, 200 with it; /healthz 503 once the database is gone', async () => {
  const token = 'metrics-token-0123456789abcdef';
  const ownLines: string[] = [];
  const own = await startTestEnv({ config: { metricsToken: token }, server: { logger: true, logStream: { write: (line) => ownLines.push(line) } } });
  try {
    const url = `${own.server.url}/metrics`;
    const none = await fetchAnswer(url);
    assertEnvelope(none, 401, 'ERR-06-103');
    assert.match(none.headers.get('www-authenticate')!, /^Bearer/);
    assertEnvelope(await fetchAnswer(url, { headers: { authorization: 'Bearer not-the-token-at-all' } }), 401, 'ERR-06-103');
    assertEnvelope(await fetchAnswer(url, { headers: { authorization: token } }), 401, 'ERR-06-103', 'no Bearer scheme');
    const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    const text = await ok.text();
    assert.ok(!text.includes(token));
    assert.equal(value(parseExposition(text), 'opencvm_database_up'), 1);
    assert.equal((await fetch(`${own.server.url}/healthz`)).status, 200, '/healthz needs no token');

    // the database goes away
    const db = own.server.db;
    await db.close();
    db.close = async () => {}; // closed once; the env's teardown closes it again
    const down = await fetchAnswer(`${own.server.url}/healthz`, { headers: { 'X-Request-Id': 'health-down' } });
    const e = assertEnvelope(down, 503, 'ERR-00-503');
    assert.match(e.detail.message, /database/);
    assert.equal((e.detail as { request_id?: string }).request_id, 'health-down');
    const warned = ownLines.map((l) => JSON.parse(l)).find((l) => l.request_id === 'health-down' && l.msg === 'health check: the database did not answer');
    assert.ok(warned, 'the driver error is logged under the request id');
    assert.equal(warned.level, 40);
    // every other request that needs the database: 503 in the envelope with Retry-After, not a 500
    const list = await fetchAnswer(`${own.apiUrl}/cvms/paginated`, { headers: { 'X-API-Key': own.apiKey, 'X-Request-Id': 'list-down' } });
    const le = assertEnvelope(list, 503, 'ERR-00-503');
    assert.equal(list.headers.get('retry-after'), '5');
    assert.match(le.detail.message, /database does not answer/);
    // a scrape still answers: the process and counters, database_up 0, and no stale queue gauges
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(scraped.status, 200);
    const samples = parseExposition(await scraped.text());
    assert.equal(value(samples, 'opencvm_database_up'), 0);
    assert.ok(Number.isNaN(value(samples, 'opencvm_operation_queue_depth')), 'the queue is unknown, not a stale number');
    assert.equal(samples.filter((s) => s.name === 'opencvm_operations').length, 0);
    assert.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'));
  } finally {
    await own.close();
  }
});

test('a caller-chosen id that is not sane is never echoed, even in the envelope', async () => {
  const a = await fetchAnswer(`${env.apiUrl}/nothing`, { headers: { 'X-Request-Id': 'evil"id' } });
  const e = assertEnvelope(a, 404, 'ERR-00-404');
  assert.ok(!a.body.includes('evil'));
  assert.match((e.detail as { request_id?: string }).request_id!, UUID);
});
