/** The generated OpenAPI document is valid OpenAPI 3.1 and describes every endpoint of the contract. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { buildOpenApi } from './openapi.ts';
import { endpoints } from './endpoints/index.ts';
import { errorsOf } from './endpoint.ts';

const doc = buildOpenApi(endpoints, { serverUrl: 'http://127.0.0.1:8000' }) as {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; security: unknown[] }>>;
  components: { schemas: Record<string, unknown> };
};

test('the document validates against the OpenAPI 3.1 schema', async () => {
  const result = await new Validator().validate(doc as never);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(doc.openapi, '3.1.0');
});

test('every endpoint is an operation with its id, its success status and each error status it declares', () => {
  const ids = new Set<string>();
  for (const e of endpoints) {
    assert.ok(!ids.has(e.id), `operationId ${e.id} is used twice`);
    ids.add(e.id);
    const op = doc.paths[e.path]?.[e.method.toLowerCase()];
    assert.ok(op, `${e.method} ${e.path} is missing`);
    assert.equal(op.operationId, e.id);
    assert.ok(op.responses[String(e.success.status)], `${e.id}: no ${e.success.status}`);
    for (const status of errorsOf(e).keys()) assert.ok(op.responses[String(status)], `${e.id}: no ${status}`);
    assert.equal(op.security.length, e.auth === 'public' ? 0 : 1, `${e.id}: security`);
  }
  const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p));
  assert.equal(operations.length, endpoints.length, 'one operation per endpoint, no more');
});

test('shared shapes are components, referenced rather than repeated', () => {
  for (const id of ['ErrorEnvelope', 'Vm', 'KmsInfo', 'CvmDetailV20251028', 'CvmDetailV20260121', 'UpdateAccepted']) {
    assert.ok(doc.components.schemas[id], `components.schemas.${id}`);
  }
  const text = JSON.stringify(doc);
  assert.ok(text.includes('"$ref":"#/components/schemas/ErrorEnvelope"'));
  assert.ok(!text.includes('#/$defs/'), 'every reference points into components');
});
