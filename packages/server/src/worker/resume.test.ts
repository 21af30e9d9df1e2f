/**
 * An operation taken up again after a crash continues from the step it had recorded. The crash is staged:
 * the operation is queued while the worker is held, then given the step (and error) it would have had.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { deployRunning, sdkClient, settle } from '../testing/deploy.ts';
import { waitFor } from '../testing/wait.ts';
import { cvmNameOf } from '../services/host-vm-names.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';

let env: TestEnv;
before(async () => {
  // boots slow enough to stop the worker in the middle of one
  env = await startTestEnv({ sim: { bootMs: 2500 } });
});
after(async () => {
  await env?.close();
});

test(`an update of a stopped CVM that the host refused, resumed at "reverting": the CVM stays stopped`, async () => {
  const c = sdkClient(env);
  const vm = await deployRunning(env, 'resume-revert', COMPOSE);
  await c.stopCvm({ id: vm.vm_uuid! });
  await settle(env, vm.vm_uuid!, 'stopped');

  await env.server.worker.stop();
  const r = await c.patch<{ correlation_id: string }>(`/cvms/${vm.vm_uuid}`, { vcpu: 2 });
  // the process died after recording the host's refusal, before recording how the update ended
  const reason = 'the host refused the update: UpdateVm: simulated: disk pool exhausted';
  await env.server.db.query(
    `UPDATE operations SET state = 'running', attempts = 1, started_at = now(), step = 'reverting', error = $2 WHERE correlation_id = $1`,
    [r.correlation_id, reason],
  );
  await env.server.worker.start();

  const op = await waitFor(async () => {
    const [o] = await env.server.db.query<{ state: string; error: string | null }>('SELECT state, error FROM operations WHERE correlation_id = $1', [r.correlation_id]);
    return o.state === 'failed' || o.state === 'succeeded' ? o : null;
  });
  assert.deepEqual(op, { state: 'failed', error: reason });
  const [rec] = await env.server.db.query<{ status: string; vcpu: number }>('SELECT status, vcpu FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  assert.deepEqual(rec, { status: 'stopped', vcpu: 1 }, 'stopped, on its previous configuration');
  const hostVms = env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'resume-revert');
  assert.deepEqual(hostVms.map((v) => v.status), ['stopped'], 'the host VM was not booted');
});

test(`a refused update of a running CVM, interrupted while the previous configuration boots again: resumed, it still fails with the reason`, async () => {
  const c = sdkClient(env);
  const db = env.server.db;
  const vm = await deployRunning(env, 'resume-reboot', COMPOSE);
  env.sim.injectFault({ method: 'UpdateVm', error: 'simulated: disk pool exhausted', times: 1 });
  const r = await c.patch<{ correlation_id: string }>(`/cvms/${vm.vm_uuid}`, { vcpu: 2 });
  // the refusal is recorded and the VM boots again on its previous configuration: the worker stops mid-boot
  await waitFor(async () => {
    const [o] = await db.query<{ error: string | null; boot_progress: string | null }>(
      `SELECT o.error, c.boot_progress FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE o.correlation_id = $1`,
      [r.correlation_id],
    );
    return o.error && o.boot_progress && o.boot_progress !== 'done' ? o : null;
  });
  await env.server.worker.stop();
  const [held] = await db.query<{ state: string }>('SELECT state FROM operations WHERE correlation_id = $1', [r.correlation_id]);
  assert.equal(held.state, 'running', 'left in hand, to be taken up by the next start');
  await env.server.worker.start();

  await settle(env, vm.vm_uuid!, 'running');
  const [op] = await db.query<{ state: string; error: string | null }>('SELECT state, error FROM operations WHERE correlation_id = $1', [r.correlation_id]);
  assert.equal(op.state, 'failed', 'the update did not happen: it must not end as succeeded');
  assert.match(op.error ?? '', /refused the update: .*disk pool exhausted/);
  const [rec] = await db.query<{ vcpu: number }>('SELECT vcpu FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
  assert.equal(rec.vcpu, 1);
  assert.deepEqual(env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'resume-reboot').map((v) => [v.status, v.configuration.vcpu]), [['running', 1]]);
});
