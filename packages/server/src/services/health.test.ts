/**
 * The health check's time limit: a database that never answers (a network partition, every connection held)
 * is a 503 once the limit passes, not a request that hangs. The closed-database case runs against a real
 * server in observability.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { HealthService } from './health.ts';

/** A database whose every query hangs, as one behind a dead network link does. */
const hanging = { query: () => new Promise(() => {}) } as unknown as Db;

test('a database that never answers: 503 ERR-00-503 once the limit passes, the cause handed to the log', async () => {
  const causes: unknown[] = [];
  const err = await new HealthService(hanging, 50).check((e) => causes.push(e)).then(
    () => assert.fail('answered ok'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 503);
  assert.equal(err.code, 'ERR-00-503');
  assert.match(err.message, /did not answer the health check within 0\.05 s/);
  assert.equal(causes.length, 1);
  assert.match(String((causes[0] as Error).message), /did not answer within 50 ms/);
});

test('a database that answers: ok', async () => {
  const answering = { query: async () => [{ '?column?': 1 }] } as unknown as Db;
  assert.deepEqual(await new HealthService(answering, 50).check(), { status: 'ok' });
});
