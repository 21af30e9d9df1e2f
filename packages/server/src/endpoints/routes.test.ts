/**
 * The server serves exactly the contract: every route it registers is an endpoint of the contract (one file
 * each, named after the endpoint's id) and every endpoint is registered; the OpenAPI document it serves
 * validates and lists every route; the reference page and its assets are served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { endpoints } from '@opencvm/contract';
import { fastifyPath } from '../http/endpoint.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { routes } from './index.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(() => env?.close());

/** The routes the running server registered (fastify adds a HEAD route beside each GET). */
function registered(): Set<string> {
  const out = new Set<string>();
  for (const { method, url } of env.server.registeredRoutes) if (method !== 'HEAD') out.add(`${method} ${url}`);
  return out;
}

test('the routes the server registers are exactly the endpoints of the contract', () => {
  const served = registered();
  const declared = new Set(endpoints.map((e) => `${e.method} ${fastifyPath(e.path)}`));
  const undeclared = [...served].filter((r) => !declared.has(r));
  const unserved = [...declared].filter((r) => !served.has(r));
  assert.deepEqual(undeclared, [], 'routes the contract does not declare');
  assert.deepEqual(unserved, [], 'endpoints the server does not serve');
});

test('each endpoint is one file named after its id, and the route list holds each once', () => {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const kebab = (id: string) => id.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(dir, d.name)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => f.slice(0, -3)));
  assert.deepEqual(files.sort(), endpoints.map((e) => kebab(e.id)).sort());
  assert.equal(routes.length, endpoints.length);
  assert.equal(new Set(routes.map((r) => r.endpoint)).size, endpoints.length);
});

test('GET /api/v1/openapi.json: valid OpenAPI 3.1 listing every registered route', async () => {
  const res = await fetch(`${env.apiUrl}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>>; servers: { url: string }[] };
  const result = await new Validator().validate(doc as never);
  assert.equal(result.valid, true, JSON.stringify(result.errors));
  assert.equal(doc.servers[0].url, env.server.url);
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`)));
  for (const r of registered()) assert.ok(documented.has(r), `${r} is served but not in openapi.json`);
});

test('GET /api/v1/docs: a reference page whose script and stylesheet this server serves', async () => {
  const page = await fetch(`${env.apiUrl}/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /text\/html/);
  const html = await page.text();
  assert.match(html, /openapi\.json/);
  for (const [asset, type] of [['swagger-ui-bundle.js', /javascript/], ['swagger-ui.css', /css/]] as const) {
    assert.ok(html.includes(`./docs/${asset}`), asset);
    const res = await fetch(`${env.apiUrl}/docs/${asset}`);
    assert.equal(res.status, 200, asset);
    assert.match(res.headers.get('content-type')!, type);
    assert.ok((await res.arrayBuffer()).byteLength > 10_000, `${asset} has content`);
  }
  const missing = await fetch(`${env.apiUrl}/docs/nothing.js`);
  assert.equal(missing.status, 422);
});
