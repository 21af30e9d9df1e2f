/**
 * Several workers on one database (one per replica): a worker that starts leaves alone the operations
 * another live worker runs, and takes one over only once that worker is gone (its lock connection closed,
 * as when its process is killed) or its lease lapsed; the worker that lost it stops at its next step.
 * Each test runs two queues of its own with scripted runners on the test server's database (the server's
 * worker held meanwhile). PostgreSQL only: the workers tell each other apart by their lock connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseOrphanedLeases, claimDue, lockOwnedOperation, setOwnedStep, succeedOperation, failOperation, WORKER_LOCK_NAMESPACE, type OperationRow } from '../store/operations.ts';
import { recordBootDone } from '../store/cvm-records.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { deployRunning } from '../testing/deploy.ts';
import { waitFor } from '../testing/wait.ts';
import { OperationQueue, type Claim, type OperationRunner } from './queue.ts';


let env: TestEnv;
let cvm: { id: number; workspace_id: number };
before(async () => {
  env = await startTestEnv({});
  const vm = await deployRunning(env, 'lease-app', 'services:\n  web:\n    image: nginx\n');
  [cvm] = await env.server.db.query('SELECT id, workspace_id FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  await env.server.worker.stop();
});
after(async () => {
  await env?.close();
});

/** A runner that records each claim and holds the operation until released. */
function holdingRunner() {
  const claims: { op: OperationRow; claim: Claim }[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const runner: OperationRunner = {
    async run(op, claim) {
      claims.push({ op, claim });
      await released;
      if (!claim.stopping()) await succeedOperation(env.server.db, op.id, 'done');
    },
    fail: (op, message) => failOperation(env.server.db, op.id, message),
  };
  return { runner, claims, release };
}

const queue = (runner: OperationRunner, leaseMs = 60_000) =>
  new OperationQueue(env.server.db, runner, { pollMs: 20, concurrency: 4, leaseMs, retry: { baseMs: 1, capMs: 5, maxAttempts: 3 }, log: () => {} });

async function queueOperation(): Promise<number> {
  const [op] = await env.server.db.query<{ id: number }>(
    `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state)
     VALUES (gen_random_uuid(), $1, $2, 'test', 'running', 'pending') RETURNING id`,
    [cvm.workspace_id, cvm.id],
  );
  return op.id;
}

const opRow = async (id: number) =>
  (await env.server.db.query<{ state: string; attempts: number; lease_owner: number | null; leased: boolean }>(
    'SELECT state, attempts, lease_owner, run_after > now() AS leased FROM operations WHERE id = $1',
    [id],
  ))[0];

/** Close the connection that holds `owner`'s lock, as the death of its process does. */
async function killLockConnection(owner: number) {
  const rows = await env.server.db.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
      WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2 AND granted`,
    [WORKER_LOCK_NAMESPACE, owner],
  );
  assert.deepEqual(rows, [{ ok: true }], 'the lock was held by one connection');
}

test(`a worker that starts while another runs an operation does not take it; it does once the first is killed`, async () => {
  const a = holdingRunner();
  const b = holdingRunner();
  const qa = queue(a.runner);
  const qb = queue(b.runner);
  try {
    const id = await queueOperation();
    await qa.start();
    await waitFor(async () => a.claims.length === 1 || null);
    const owner = qa.owner!;
    assert.deepEqual(await opRow(id), { state: 'running', attempts: 1, lease_owner: owner, leased: true });

    // a second replica starts: what its start and every tick do leaves the operation to the first
    await qb.start();
    assert.equal(await releaseOrphanedLeases(env.server.db), 0, 'the first worker is alive: nothing is orphaned');
    assert.equal(await claimDue(env.server.db, 60_000, qb.owner!), null, 'nothing is due for the second worker');
    assert.deepEqual(await opRow(id), { state: 'running', attempts: 1, lease_owner: owner, leased: true });
    assert.equal(b.claims.length, 0);

    // the first replica dies (its lock connection closes) without finishing: the second takes it over now,
    // long before the 60 s lease would lapse
    await killLockConnection(owner);
    await waitFor(async () => b.claims.length === 1 || null);
    assert.equal(b.claims[0].op.id, id);
    const row = await opRow(id);
    assert.equal(row.attempts, 2);
    assert.equal(row.lease_owner, qb.owner);
    // the first worker knows it lost the operation: it stops at its next step, and records nothing more
    assert.equal(a.claims[0].claim.stopping(), true, 'the old holder abandons it');
    assert.equal(await setOwnedStep(env.server.db, id, owner, 'late step'), false, 'a step of the old holder is refused');
    a.release();
    b.release();
    await waitFor(async () => ((await opRow(id)).state === 'succeeded') || null);
    assert.equal(b.claims.length, 1, 'claimed once by the second worker');
  } finally {
    a.release();
    b.release();
    await qa.stop();
    await qb.stop();
  }
});

test(`a lease that lapses is taken over even while its worker is alive; that worker's next renewal makes it stop`, async () => {
  const a = holdingRunner();
  const b = holdingRunner();
  // a renews every third of its lease (500 ms): the second worker has that long to claim the lapsed lease
  const leaseMs = 1500;
  const qa = queue(a.runner, leaseMs);
  const qb = queue(b.runner, leaseMs);
  try {
    const id = await queueOperation();
    await qa.start();
    await waitFor(async () => a.claims.length === 1 || null);
    await qb.start();
    // as if the first worker hung and its lease lapsed; a renewal of the live first worker may come before the
    // second worker's claim on a loaded machine and put the lease back: then it lapses again, until taken over
    await waitFor(async () => {
      if (b.claims.length === 1) return true;
      await env.server.db.query(`UPDATE operations SET run_after = now() - interval '1 second' WHERE id = $1 AND lease_owner = $2`, [id, qa.owner]);
      qb.wake();
      return null;
    });
    assert.equal((await opRow(id)).lease_owner, qb.owner);
    await waitFor(async () => a.claims[0].claim.stopping() || null);
    assert.equal(b.claims[0].claim.stopping(), false, 'the new holder keeps it');
    b.release();
    await waitFor(async () => ((await opRow(id)).state === 'succeeded') || null);
  } finally {
    a.release();
    b.release();
    await qa.stop();
    await qb.stop();
  }
});

test(`a worker whose lock connection breaks claims nothing more until it holds a new lock`, async () => {
  const a = holdingRunner();
  const qa = queue(a.runner);
  try {
    await qa.start();
    const first = qa.owner!;
    await killLockConnection(first);
    // it takes a new owner id and lock, and claims under it
    await waitFor(async () => (qa.owner !== null && qa.owner !== first) || null);
    const id = await queueOperation();
    qa.wake();
    await waitFor(async () => a.claims.length === 1 || null);
    assert.equal((await opRow(id)).lease_owner, qa.owner);
    a.release();
    await waitFor(async () => ((await opRow(id)).state === 'succeeded') || null);
  } finally {
    a.release();
    await qa.stop();
  }
});

test(`a restart after a crash takes up the operations of the dead worker at once`, async () => {
  const a = holdingRunner();
  const qa = queue(a.runner);
  const id = await queueOperation();
  await qa.start();
  await waitFor(async () => a.claims.length === 1 || null);
  const owner = qa.owner!;
  // the process dies: its lock goes with its connection, the operation stays running with a 60 s lease
  await killLockConnection(owner);
  const b = holdingRunner();
  const qb = queue(b.runner);
  try {
    await qb.start();
    await waitFor(async () => b.claims.length === 1 || null);
    assert.equal(b.claims[0].op.id, id);
    b.release();
    await waitFor(async () => ((await opRow(id)).state === 'succeeded') || null);
  } finally {
    a.release();
    b.release();
    await qa.stop();
    await qb.stop();
  }
});

test(`the writes that end an operation are refused to a worker it is no longer leased to`, async () => {
  const id = await queueOperation();
  const ownerA = 1_000_001;
  const ownerB = 1_000_002;
  const claimed = await claimDue(env.server.db, 60_000, ownerA);
  assert.equal(claimed?.id, id);
  await env.server.db.query(`UPDATE cvms SET status = 'starting' WHERE id = $1`, [cvm.id]);
  try {
    // another worker took it over: its former holder's boot-done and its transactions' row lock both fail
    await env.server.db.query('UPDATE operations SET lease_owner = $2 WHERE id = $1', [id, ownerB]);
    assert.equal(await recordBootDone(env.server.db, cvm.id, id, undefined, ownerA), false);
    assert.equal(await env.server.db.tx((q) => lockOwnedOperation(q, id, ownerA)), false);
    assert.equal((await opRow(id)).state, 'running', 'the operation is not ended by the worker that lost it');
    const [{ status }] = await env.server.db.query<{ status: string }>('SELECT status FROM cvms WHERE id = $1', [cvm.id]);
    assert.equal(status, 'starting', 'nor is its CVM marked running');
    // its holder records it
    assert.equal(await env.server.db.tx((q) => lockOwnedOperation(q, id, ownerB)), true);
    assert.equal(await recordBootDone(env.server.db, cvm.id, id, undefined, ownerB), true);
    assert.equal((await opRow(id)).state, 'succeeded');
  } finally {
    await env.server.db.query(`UPDATE operations SET state = 'succeeded', finished_at = now() WHERE id = $1 AND state <> 'succeeded'`, [id]);
    await env.server.db.query(`UPDATE cvms SET status = 'running' WHERE id = $1`, [cvm.id]);
  }
});
