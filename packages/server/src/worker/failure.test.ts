/**
 * A failed operation and the CVM's status are written together: no client ever sees an operation that
 * ended `failed` while its CVM still shows the transitional status (`stopping`, `updating`, `deleting`…).
 *
 * A deferred constraint trigger on `operations` (installed by the test) runs at the commit of the
 * transaction that marks an operation failed and copies the CVM's status at that moment into a side
 * table. Each host call is made to fail with the simulated host's fault injection; the last tests put the
 * host out of reach to see retries, and the failure that ends them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { VmmClient } from '../hosts/vmm-client.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { deployRunning, sdkClient, settle } from '../testing/deploy.ts';
import { waitFor } from '../testing/wait.ts';
import { Worker } from './index.ts';
import { cvmNameOf, installationId } from '../services/host-vm-names.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({});
  const db = env.server.db;
  await db.query('CREATE TABLE test_failure_seen (operation_id bigint PRIMARY KEY, cvm_status text NOT NULL)');
  await db.query(`CREATE FUNCTION test_capture_failure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO test_failure_seen (operation_id, cvm_status) SELECT NEW.id, c.status FROM cvms c WHERE c.id = NEW.cvm_id;
      RETURN NULL;
    END $$`);
  // deferred: it runs when the transaction that failed the operation commits, and sees what that transaction wrote
  await db.query(`CREATE CONSTRAINT TRIGGER test_capture_failure AFTER UPDATE ON operations DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.state = 'failed' AND OLD.state <> 'failed') EXECUTE FUNCTION test_capture_failure()`);
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);

/** Start `call` on a running CVM with `fault` injected, wait for its operation to fail, and answer what was seen. */
async function failOnce(name: string, kind: string, fault: { method: string; error: string }, call: (vmUuid: string) => Promise<unknown>) {
  const vm = await deployRunning(env, name, COMPOSE);
  env.sim.injectFault({ ...fault, times: 1 });
  await call(vm.vm_uuid!);
  const op = await waitFor(async () => {
    const [row] = await env.server.db.query<{ id: number; kind: string; state: string; error: string | null }>(
      `SELECT o.id, o.kind, o.state, o.error FROM operations o JOIN cvms c ON c.id = o.cvm_id
        WHERE c.vm_uuid = $1 ORDER BY o.id DESC LIMIT 1`,
      [vm.vm_uuid],
    );
    return row?.kind === kind && row.state === 'failed' ? row : null;
  }, 15_000);
  const [seen] = await env.server.db.query<{ cvm_status: string }>('SELECT cvm_status FROM test_failure_seen WHERE operation_id = $1', [op.id]);
  return { vm, op, seenStatus: seen?.cvm_status };
}

for (const [kind, fault, call] of [
  ['stop', 'StopVm', (id: string) => c().stopCvm({ id })],
  ['shutdown', 'ShutdownVm', (id: string) => c().shutdownCvm({ id })],
  ['delete', 'RemoveVm', (id: string) => c().deleteCvm({ id })],
  // an update stops the CVM first: a failed graceful stop ends the update there
  ['update', 'ShutdownVm', (id: string) => c().patch(`/cvms/${id}`, { vcpu: 2 })],
  ['refresh_instance_id', 'ShutdownVm', (id: string) => c().post(`/cvms/${id}/refresh-instance-id`)],
] as const) {
  test(`${kind} refused by the host: the CVM shows what the host says in the transaction that fails the operation`, async () => {
    const error = `simulated: ${fault} refused for ${kind}`;
    const { vm, op, seenStatus } = await failOnce(`fail-${kind.replace(/_/g, '-')}`, kind, { method: fault, error }, call);
    assert.match(op.error ?? '', new RegExp(error));
    assert.equal(seenStatus, 'running', 'when the operation became failed, the CVM already showed the status the host reports');
    const info = await settle(env, vm.vm_uuid!, 'running');
    assert.equal(info.status, 'running');
  });
}

test('start whose boot fails: the CVM shows exited with the boot error in the transaction that fails the operation', async () => {
  const vm = await deployRunning(env, 'fail-start', COMPOSE);
  await c().stopCvm({ id: vm.vm_uuid! });
  await settle(env, vm.vm_uuid!, 'stopped');
  env.sim.injectFault({ method: 'boot', error: 'simulated firmware crash' });
  await c().startCvm({ id: vm.vm_uuid! });
  const op = await waitFor(async () => {
    const [row] = await env.server.db.query<{ id: number; state: string }>(
      `SELECT o.id, o.state FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 AND o.kind = 'start'`,
      [vm.vm_uuid],
    );
    return row?.state === 'failed' ? row : null;
  }, 15_000);
  const [seen] = await env.server.db.query<{ cvm_status: string }>('SELECT cvm_status FROM test_failure_seen WHERE operation_id = $1', [op.id]);
  assert.equal(seen?.cvm_status, 'exited');
  const [rec] = await env.server.db.query<{ status: string; boot_error: string | null }>('SELECT status, boot_error FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  assert.equal(rec.status, 'exited');
  assert.match(rec.boot_error ?? '', /simulated firmware crash/);
});

/**
 * The worker on the test server's database, its host unreachable until `reachable` says otherwise (the
 * server's own worker is held meanwhile).
 */
async function withUnreachableHost(maxAttempts: number, fn: (host: { reachable: boolean }) => Promise<void>) {
  const host = { reachable: false };
  const down = new VmmClient('http://127.0.0.1:1');
  const nodes = { client: async (nodeId: number) => (host.reachable ? env.server.services.nodes.client(nodeId) : down) };
  await env.server.worker.stop();
  const worker = new Worker(env.server.db, nodes, { kmsUrls: [], installationId: await installationId(env.server.db), pollMs: 20, bootPollMs: 50, retry: { baseMs: 20, capMs: 100, maxAttempts } });
  await worker.start();
  try {
    await fn(host);
  } finally {
    await worker.stop();
    await env.server.worker.start();
  }
}

const lastOp = async (vmUuid: string) =>
  (await env.server.db.query<{ id: number; state: string; attempts: number; error: string | null }>(
    `SELECT o.id, o.state, o.attempts, o.error FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 ORDER BY o.id DESC LIMIT 1`,
    [vmUuid],
  ))[0];

test('a host that cannot be reached: the stop runs again (the error kept on the operation) and completes once the host is back', async () => {
  const vm = await deployRunning(env, 'retry-stop', COMPOSE);
  await withUnreachableHost(50, async (host) => {
    await c().stopCvm({ id: vm.vm_uuid! });
    const waiting = await waitFor(async () => ((op) => (op.attempts >= 2 && op.error ? op : null))(await lastOp(vm.vm_uuid!)));
    assert.equal(waiting.state, 'running', 'still in hand, waiting to run again');
    assert.match(waiting.error!, /unreachable/);
    host.reachable = true;
    await settle(env, vm.vm_uuid!, 'stopped');
  });
  const op = await lastOp(vm.vm_uuid!);
  assert.equal(op.state, 'succeeded');
  assert.equal(op.error, null);
  // the host came back while attempt 2 (or a later one) was due or in hand: it is the one that succeeded
  assert.ok(op.attempts >= 2, `attempts recorded: ${op.attempts}`);
  assert.equal(env.sim.listVms().find((v) => cvmNameOf(v.name) === 'retry-stop')?.status, 'stopped');
});

test('a host that stays unreachable: the stop fails after its last attempt, and the CVM shows error in the same transaction', async () => {
  const vm = await deployRunning(env, 'retry-gone', COMPOSE);
  await withUnreachableHost(3, async () => {
    await c().stopCvm({ id: vm.vm_uuid! });
    await waitFor(async () => ((op) => (op.state === 'failed' ? op : null))(await lastOp(vm.vm_uuid!)));
  });
  const op = await lastOp(vm.vm_uuid!);
  assert.equal(op.attempts, 3);
  assert.match(op.error ?? '', /unreachable.*\(gave up after 3 attempts\)$/);
  const [seen] = await env.server.db.query<{ cvm_status: string }>('SELECT cvm_status FROM test_failure_seen WHERE operation_id = $1', [op.id]);
  assert.equal(seen?.cvm_status, 'error', 'the host could not be asked: error, written with the failure');
});
