import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiVersionOf, idsAreStrings } from './api-version.ts';
import { jsonBodyFor } from './endpoint.ts';
import { commitCvmProvision } from './endpoints/deploy.ts';
import { getCvm } from './endpoints/cvms.ts';
import { startCvm } from './endpoints/lifecycle.ts';
import { commitResultSchema, commitResultV20260522Schema, cvmDetailV2026Schema, vmSchema, vmV20260522Schema } from './shapes/cvm.ts';

test('the Python SDK versions are read as themselves; anything else is the default', () => {
  assert.equal(apiVersionOf('2026-05-22'), '2026-05-22');
  assert.equal(apiVersionOf('2026-06-23'), '2026-06-23');
  assert.equal(apiVersionOf('2025-10-28'), '2025-10-28');
  assert.equal(apiVersionOf('2099-01-01'), '2026-01-21');
  assert.equal(apiVersionOf(undefined), '2026-01-21');
  assert.equal(idsAreStrings('2026-01-21'), false);
  assert.equal(idsAreStrings('2026-06-23'), true);
});

test('an action or a commit answers a string id from 2026-05-22 on; a version with no shape of its own takes the one before', () => {
  assert.equal(jsonBodyFor(startCvm.success.json, '2026-01-21'), vmSchema);
  assert.equal(jsonBodyFor(startCvm.success.json, '2026-05-22'), vmV20260522Schema);
  assert.equal(jsonBodyFor(startCvm.success.json, '2026-06-23'), vmV20260522Schema);
  assert.equal(jsonBodyFor(commitCvmProvision.success.json, '2025-10-28'), commitResultSchema);
  assert.equal(jsonBodyFor(commitCvmProvision.success.json, '2026-06-23'), commitResultV20260522Schema);
  assert.equal(jsonBodyFor(getCvm.success.json, '2026-06-23'), cvmDetailV2026Schema);
});
