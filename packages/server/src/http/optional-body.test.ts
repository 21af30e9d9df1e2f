/**
 * An endpoint whose JSON body is optional (the OpenAPI document says `requestBody.required: false`) takes a
 * request without one as the empty object, also where its schema is an object that does not itself accept
 * "no body" (the unified PATCH /cvms/{id}, /resources, /visibility, /user/ssh-keys/github-sync): that was a 422
 * "expected object, received undefined".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpoints } from '@opencvm/contract';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(() => env?.close());

test('every endpoint with an optional JSON body takes a request without one (no 422); a CVM path then answers 404 for an unknown CVM', async () => {
  const optional = endpoints.filter((e) => e.body?.optional && e.body.json && e.auth === 'apiKey');
  assert.ok(optional.some((e) => e.path === '/api/v1/cvms/{id}/visibility'), 'the list has PATCH /cvms/{id}/visibility');
  for (const e of optional) {
    const path = e.path.replace(/\{id\}/, 'no-such-cvm').replace(/\{[^}]+\}/g, 'x1');
    const res = await fetch(`${env.server.url}${path}`, { method: e.method, headers: { 'X-API-Key': env.apiKey } });
    const body = await res.json() as { detail?: { error_code?: string; message?: string } };
    assert.notEqual(res.status, 422, `${e.method} ${e.path} without a body: ${res.status} ${body.detail?.message}`);
    if (e.path.startsWith('/api/v1/cvms/{id}')) {
      assert.equal(res.status, 404, `${e.method} ${e.path}`);
      assert.equal(body.detail?.error_code, 'ERR-03-001', `${e.method} ${e.path}`);
    }
  }
});
