/**
 * The operation queue: the retry policy (exponential backoff, full jitter, a bounded number of attempts, the
 * last error on the row), the lease renewed while an operation runs, and an operation in hand never claimed
 * twice. The queue tests run their own `OperationQueue` with a scripted runner on the test server's database
 * (its worker held meanwhile); the last one runs the real worker against the simulated host.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostError } from '../hosts/vmm-client.ts';
import { failOperation, succeedOperation, type OperationRow } from '../store/operations.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { deployRunning, sdkClient, settle } from '../testing/deploy.ts';
import { waitFor } from '../testing/wait.ts';
import { OperationQueue, retryDelayMs, type OperationRunner, type QueueOptions, type RetryPolicy } from './queue.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';

let env: TestEnv;
let cvm: { id: number; workspace_id: number; vm_uuid: string };
before(async () => {
  // a graceful shutdown that takes a while: the last test lets an operation's lease lapse while it is in hand
  env = await startTestEnv({ sim: { shutdownMs: 3000 } });
  const vm = await deployRunning(env, 'queue-app', COMPOSE);
  [cvm] = await env.server.db.query('SELECT id, workspace_id, vm_uuid FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
});
after(async () => {
  await env?.close();
});

test('retryDelayMs: full jitter under a ceiling that doubles from the base up to the cap', () => {
  const policy: RetryPolicy = { baseMs: 1000, capMs: 60_000, maxAttempts: 10 };
  const top = () => 1 - Number.EPSILON;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map((a) => retryDelayMs(a, policy, top)), [999, 1999, 3999, 7999, 15_999, 31_999, 59_999, 59_999, 59_999]);
  assert.deepEqual([1, 4, 9].map((a) => retryDelayMs(a, policy, () => 0)), [0, 0, 0], 'full jitter: a wait may be none at all');
  assert.equal(retryDelayMs(3, policy, () => 0.5), 2000);
  assert.equal(retryDelayMs(200, policy, top), 59_999, 'no overflow far past the cap');
});

/** Run `runner` on a queue of our own while the server's worker is held; one operation of kind `test` is queued. */
async function withQueue(runner: OperationRunner, opts: Partial<QueueOptions>, fn: (opId: number) => Promise<void>) {
  await env.server.worker.stop();
  const queue = new OperationQueue(env.server.db, runner, {
    pollMs: 10,
    concurrency: 4,
    leaseMs: 60_000,
    retry: { baseMs: 1, capMs: 5, maxAttempts: 3 },
    log: () => {},
    ...opts,
  });
  try {
    const [op] = await env.server.db.query<{ id: number }>(
      `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state)
       VALUES (gen_random_uuid(), $1, $2, 'test', 'running', 'pending') RETURNING id`,
      [cvm.workspace_id, cvm.id],
    );
    await queue.start();
    await fn(op.id);
  } finally {
    await queue.stop();
    await env.server.worker.start();
  }
}

const opRow = async (id: number) =>
  (await env.server.db.query<{ state: string; attempts: number; error: string | null }>('SELECT state, attempts, error FROM operations WHERE id = $1', [id]))[0];
const ended = (id: number) => waitFor(async () => ((r) => (r.state === 'succeeded' || r.state === 'failed' ? r : null))(await opRow(id)));
const unreachable = (n: number) => new HostError(`host http://127.0.0.1:1 unreachable: try ${n}`, 'GetInfo', false);

test(`a host that cannot be reached: the operation runs again, the last error on its row, until it succeeds`, async () => {
  const seen: { attempts: number; error: string | null }[] = [];
  const runner: OperationRunner = {
    async run(op: OperationRow) {
      seen.push({ attempts: op.attempts, error: op.error });
      if (op.attempts < 3) throw unreachable(op.attempts);
      await succeedOperation(env.server.db, op.id, 'done');
    },
    fail: (op, message) => failOperation(env.server.db, op.id, message),
  };
  await withQueue(runner, { retry: { baseMs: 1, capMs: 5, maxAttempts: 5 } }, async (id) => {
    const row = await ended(id);
    assert.deepEqual(row, { state: 'succeeded', attempts: 3, error: null });
  });
  assert.deepEqual(seen, [
    { attempts: 1, error: null },
    { attempts: 2, error: 'host http://127.0.0.1:1 unreachable: try 1' },
    { attempts: 3, error: 'host http://127.0.0.1:1 unreachable: try 2' },
  ]);
});

test('a host that stays unreachable: the operation fails at its last attempt, saying so', async () => {
  const failed: string[] = [];
  const runner: OperationRunner = {
    async run(op) {
      throw unreachable(op.attempts);
    },
    async fail(op, message) {
      failed.push(message);
      await failOperation(env.server.db, op.id, message);
    },
  };
  await withQueue(runner, { retry: { baseMs: 1, capMs: 5, maxAttempts: 3 } }, async (id) => {
    const row = await ended(id);
    assert.equal(row.state, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.error, 'host http://127.0.0.1:1 unreachable: try 3 (gave up after 3 attempts)');
  });
  assert.equal(failed.length, 1);
});

test('a host that answers with an error: no retry, the operation fails at once', async () => {
  const runner: OperationRunner = {
    async run() {
      throw new HostError('StopVm: no such VM', 'StopVm', true);
    },
    fail: (op, message) => failOperation(env.server.db, op.id, message),
  };
  await withQueue(runner, {}, async (id) => {
    assert.deepEqual(await ended(id), { state: 'failed', attempts: 1, error: 'StopVm: no such VM' });
  });
});

test('the lease is renewed while an operation runs, and the operation is claimed once', async () => {
  let calls = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const runner: OperationRunner = {
    async run(op) {
      calls++;
      await released;
      await succeedOperation(env.server.db, op.id, 'done');
    },
    fail: (op, message) => failOperation(env.server.db, op.id, message),
  };
  // long enough that a loaded machine's late timer does not let it lapse between renewals (every third of it)
  const leaseMs = 600;
  await withQueue(runner, { leaseMs }, async (id) => {
    try {
      // three leases after the claim, the lease still lies ahead: it was renewed while the operation ran
      await waitFor(async () => {
        const [r] = await env.server.db.query<{ renewed: boolean; attempts: number }>(
          `SELECT run_after > now() AND run_after - started_at > $2::int * interval '3 milliseconds' AS renewed, attempts
             FROM operations WHERE id = $1`,
          [id, leaseMs],
        );
        assert.equal(r.attempts, 1, 'never claimed again while in hand');
        return r.renewed || null;
      });
      assert.equal(calls, 1);
    } finally {
      release();
    }
    assert.deepEqual(await ended(id), { state: 'succeeded', attempts: 1, error: null });
  });
  assert.equal(calls, 1);
});

test(`an operation in hand whose lease lapsed is not claimed again by its own worker`, async () => {
  const db = env.server.db;
  await sdkClient(env).shutdownCvm({ id: cvm.vm_uuid });
  const op = await waitFor(async () => {
    const [r] = await db.query<{ id: number; step: string | null; shutdown_progress: string | null }>(
      `SELECT o.id, o.step, c.shutdown_progress FROM operations o JOIN cvms c ON c.id = o.cvm_id
        WHERE o.cvm_id = $1 AND o.kind = 'shutdown' AND o.state = 'running'`,
      [cvm.id],
    );
    return r?.step === 'shutting down' && r.shutdown_progress ? r : null;
  });
  // as if the lease could not be renewed: the operation is due again while the guest still shuts down
  await db.query(`UPDATE operations SET run_after = now() - interval '1 second' WHERE id = $1`, [op.id]);
  env.server.worker.wake();
  await settle(env, cvm.vm_uuid, 'stopped');
  assert.deepEqual(await opRow(op.id), { state: 'succeeded', attempts: 1, error: null }, 'claimed once');
});
