/**
 * Errors raised before any handler runs are answered in the error envelope with an `ERR-` code, like every
 * other error: a malformed percent-encoding, raw control or non-ASCII bytes in the path, a path parameter
 * longer than the API's identifiers, request headers over 16 KB, a request without Host, and methods a path
 * does not have (HEAD and OPTIONS included). Requests `fetch` cannot send go over a raw socket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceError, createClient } from '@phala/cloud';
import { assertEnvelope, fetchAnswer } from '../testing/envelope.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { rawRequest, type RawResult } from '../testing/raw-http.ts';

let env: TestEnv;
let port: number;
before(async () => {
  env = await startTestEnv();
  port = Number(new URL(env.server.url).port);
});
after(() => env?.close());

const sdk = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

/** What the official SDK made of an error answer. */
async function sdkError(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    const err = e as ResourceError & { status?: number };
    return { status: err.status, errorCode: err instanceof ResourceError ? err.errorCode : undefined, fields: (err.structuredDetails ?? []).map((d) => d.field) };
  }
  assert.fail('the request succeeded');
}

function answered(r: RawResult) {
  assert.ok(!('closed' in r), `the server closed the connection without an answer${'timedOut' in r && r.timedOut ? ' (timed out)' : ''}`);
  return { status: r.status, contentType: r.headers['content-type'], headers: r.headers, body: r.body };
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${env.apiKey}\r\nConnection: close\r\n${extra}\r\n`;

test('a method no route takes, sent without a Content-Type (QUERY), is still a 405 with Allow, or a 404 on an unknown path', async () => {
  // fastify wants a Content-Type for a QUERY body before it reaches the not-found handler: that was a 400
  const q = answered(await rawRequest(port, `QUERY /api/v1/admin/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  assertEnvelope(q, 405, 'ERR-00-405', 'QUERY /api/v1/admin/hosts');
  assert.match(String(q.headers.allow ?? ''), /GET/);
  assert.match(String(q.headers.allow ?? ''), /POST/);
  const nowhere = answered(await rawRequest(port, `QUERY /api/v1/no-such-thing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  assertEnvelope(nowhere, 404, 'ERR-00-404', 'QUERY /api/v1/no-such-thing');
});

test('a malformed percent-encoding in the path is a 400 envelope, which the official SDK reads as a ResourceError', async () => {
  for (const path of ['/api/v1/cvms/%zz', '/api/v1/cvms/%', '/api/v1/cvms/abc%2', '/api/v1/cvms/%zz/compose_file', '/api/v1/apps/%g0']) {
    const a = await fetchAnswer(`${env.server.url}${path}`, { headers: { 'X-API-Key': env.apiKey } });
    assertEnvelope(a, 400, 'ERR-02-008', path);
  }
  assert.deepEqual(await sdkError(sdk().getCvmInfo({ id: '%zz' })), { status: 400, errorCode: 'ERR-02-008', fields: [] });
});

test('raw control and non-ASCII bytes in the path are a 400 envelope', async () => {
  for (const byte of [0x00, 0x01, 0x08, 0x0b, 0x1b, 0x7f, 0x80, 0xc3, 0xe9, 0xff]) {
    const path = `/api/v1/cvms/a${String.fromCharCode(byte)}b`;
    const r = answered(await rawRequest(port, get(path)));
    assertEnvelope(r, 400, 'ERR-02-008', `byte 0x${byte.toString(16)}`);
  }
});

test('a path parameter over 100 characters is a 422 naming it; over 1000, a 414; both in the envelope', async () => {
  assert.deepEqual(await sdkError(sdk().getCvmInfo({ id: 'a'.repeat(101) })), { status: 422, errorCode: 'ERR-02-008', fields: ['id'] });
  for (const path of [`/api/v1/cvms/${'a'.repeat(101)}`, `/api/v1/apps/${'b'.repeat(150)}/revisions`, `/api/v1/cvms/${'c'.repeat(120)}/operations/x`]) {
    assertEnvelope(await fetchAnswer(`${env.server.url}${path}`, { headers: { 'X-API-Key': env.apiKey } }), 422, 'ERR-02-008', path.slice(0, 40));
  }
  assert.deepEqual(await sdkError(sdk().getCvmInfo({ id: 'a'.repeat(1001) })), { status: 414, errorCode: 'ERR-02-008', fields: [] });
  const a = await fetchAnswer(`${env.server.url}/api/v1/cvms/${'x'.repeat(5000)}/stop`, { method: 'POST', headers: { 'X-API-Key': env.apiKey } });
  assertEnvelope(a, 414, 'ERR-02-008');
});

test('request headers over 16 KB are a 431 envelope', async () => {
  const big = answered(await rawRequest(port, get('/api/v1/cvms/paginated', `X-Padding: ${'a'.repeat(17 * 1024)}\r\n`)));
  assertEnvelope(big, 431, 'ERR-02-008', 'one large header');
  const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(50)}\r\n`).join('');
  assertEnvelope(answered(await rawRequest(port, get('/api/v1/cvms/paginated', many))), 431, 'ERR-02-008', 'many headers');
  assertEnvelope(answered(await rawRequest(port, get(`/api/v1/cvms/${'p'.repeat(20_000)}`))), 431, 'ERR-02-008', 'a 20 000-byte request line');
});

test('a request without Host is a 400 envelope', async () => {
  for (const req of [
    `GET /api/v1/cvms/paginated HTTP/1.1\r\nX-API-Key: ${env.apiKey}\r\nConnection: close\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`,
    `POST /api/v1/cvms/provision HTTP/1.1\r\nX-API-Key: ${env.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
  ]) {
    assertEnvelope(answered(await rawRequest(port, req)), 400, 'ERR-02-008', req.split('\r\n')[0]);
  }
});

test('a method the path does not have is a 405 envelope with Allow, for OPTIONS, HEAD, PUT and the rest', async () => {
  const cases: [string, string, string[]][] = [
    ['OPTIONS', '/api/v1/cvms/some-cvm', ['GET', 'PATCH', 'DELETE']],
    ['PUT', '/api/v1/cvms/some-cvm/stats', ['GET']],
    ['POST', '/api/v1/cvms/some-cvm/compose_file', ['GET', 'PATCH']],
    ['DELETE', '/api/v1/status/batch', ['POST']],
    ['GET', '/api/v1/cvms/some-cvm/start', ['POST']],
    ['PATCH', '/api/v1/auth/me', ['GET']],
  ];
  for (const [method, path, allow] of cases) {
    const a = await fetchAnswer(`${env.server.url}${path}`, { method, headers: { 'X-API-Key': env.apiKey } });
    assertEnvelope(a, 405, 'ERR-00-405', `${method} ${path}`);
    const allowed = (a.headers.get('allow') ?? '').split(/,\s*/);
    for (const m of allow) assert.ok(allowed.includes(m), `${method} ${path}: Allow "${a.headers.get('allow')}" lists ${m}`);
  }
  // HEAD has no body by HTTP's rules: its status and headers are the envelope's
  const head = await fetch(`${env.server.url}/api/v1/status/batch`, { method: 'HEAD', headers: { 'X-API-Key': env.apiKey } });
  assert.equal(head.status, 405);
  assert.match(head.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(head.headers.get('allow') ?? '', /POST/);
  assert.equal(await head.text(), '');
  // a TRACE (which fetch may not send) too
  const trace = answered(await rawRequest(port, `TRACE /api/v1/cvms/some-cvm HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  assertEnvelope(trace, 405, 'ERR-00-405', 'TRACE');
});

test('the error body carries the structured error under detail and, equal, at the top level, at every X-Phala-Version; the SDK reads it as before', async () => {
  for (const version of [undefined, '2025-10-28', '2026-01-21', '2026-05-22', '2026-06-23']) {
    const headers: Record<string, string> = { 'X-API-Key': env.apiKey, ...(version ? { 'X-Phala-Version': version } : {}) };
    const a = await fetchAnswer(`${env.apiUrl}/cvms/app_0000000000000000000000000000000000000000`, { headers });
    const body = assertEnvelope(a, 404, 'ERR-03-001', `version ${version ?? 'none'}`);
    assert.equal(body.error_code, 'ERR-03-001');
    assert.equal(body.message, body.detail.message);
    assert.equal(typeof body.request_id, 'string');
    assert.equal(body.request_id, a.headers.get('x-request-id'));
    assert.deepEqual(Object.keys(body).sort(), ['detail', ...Object.keys(body.detail)].sort());
    for (const k of Object.keys(body.detail) as (keyof typeof body.detail)[]) assert.deepEqual(body[k], body.detail[k], k);
  }
  // an answer written on the socket by the HTTP parser's handler (no request to read a version from) too
  const raw = answered(await rawRequest(port, `GET /api/v1/cvms/a\x01b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  const env400 = assertEnvelope(raw, 400, 'ERR-02-008', 'raw control byte');
  assert.equal(env400.error_code, 'ERR-02-008');
  assert.equal(env400.request_id, env400.detail.request_id);
  // the official SDK still makes a ResourceError of it (it reads `detail` first)
  const e = await sdkError(sdk().getCvmInfo({ id: 'app_0000000000000000000000000000000000000000' }));
  assert.deepEqual(e, { status: 404, errorCode: 'ERR-03-001', fields: [] });
});
