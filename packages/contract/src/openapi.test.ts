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
    // a credential the operation may go without is a second, empty requirement (`{}`)
    const optionalCredential = e.auth === 'metricsToken' || e.auth === 'hostToken';
    assert.equal(op.security.length, e.auth === 'public' ? 0 : optionalCredential ? 2 : 1, `${e.id}: security`);
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

test('what API testing tools read right: versioned answers anyOf, X-Phala-Version any text, optional credentials, the guest KMS error, no prefixItems', () => {
  const ops = doc.paths as Record<string, Record<string, any>>;
  const text = JSON.stringify(doc);
  // an answer both versions describe (an empty list) is right, which oneOf would call wrong
  const apps = ops['/api/v1/apps'].get.responses['200'].content['application/json'].schema;
  assert.ok(Array.isArray(apps.anyOf) && apps.anyOf.length >= 2 && !('oneOf' in apps));
  assert.ok(!text.includes('"oneOf"'));
  // the server answers an unknown X-Phala-Version with the default shape: the document does not refuse it
  const version = ops['/api/v1/auth/me'].get.parameters.find((p: any) => p.name === 'X-Phala-Version');
  assert.deepEqual(version.schema.type, 'string');
  assert.ok(!('enum' in version.schema));
  // /metrics needs its token only on a server given one; the guest KMS reads one for GetAppKey only
  assert.deepEqual(ops['/metrics'].get.security, [{ MetricsToken: [] }, {}]);
  assert.deepEqual(ops['/kms/prpc/{method}'].post.security, [{ HostToken: [] }, {}]);
  // the guest KMS's errors carry dstack's pRPC `error` beside `detail`
  assert.equal(ops['/kms/prpc/{method}'].post.responses['400'].content['application/json'].schema.$ref, '#/components/schemas/GuestKmsError');
  assert.equal(ops['/api/v1/auth/me'].get.responses['401'].content['application/json'].schema.$ref, '#/components/schemas/ErrorEnvelope');
  // tuples as prefixItems trip tools that read draft-4 style `items` arrays (schemathesis)
  assert.ok(!text.includes('"prefixItems"'));
});
