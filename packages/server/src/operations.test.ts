/** GET /cvms/{id}/operations[/{correlation_id}]: how each recorded operation ended, with the host's reason. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({});
});
after(async () => {
  await env?.close();
});

test(`an update the host refuses: the operation says failed and why`, async () => {
  const c = sdkClient(env);
  const vm = await deployRunning(env, 'ops-app', 'services:\n  web:\n    image: nginx\n');
  env.sim.injectFault({ method: 'UpdateVm', error: 'disk pool exhausted', times: 1 });
  const r = await c.patch<{ correlation_id: string }>(`/cvms/${vm.vm_uuid}`, { vcpu: 2 });
  await settle(env, vm.vm_uuid!, 'running');

  const op = await c.get<Record<string, unknown>>(`/cvms/${vm.vm_uuid}/operations/${r.correlation_id}`);
  assert.equal(op.kind, 'update');
  assert.equal(op.state, 'failed');
  assert.match(String(op.error), /refused the update: .*disk pool exhausted/);
  assert.ok(op.finished_at);

  const list = await c.get<{ items: { correlation_id: string; kind: string; state: string }[] }>(`/cvms/ops-app/operations`);
  assert.deepEqual(list.items.map((o) => [o.kind, o.state]), [['update', 'failed'], ['create', 'succeeded']]);
  assert.equal(list.items[0].correlation_id, r.correlation_id);

  const missing = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/operations/00000000-0000-4000-8000-000000000000`, { headers: { 'x-api-key': env.apiKey } });
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { detail: { error_code: string } }).detail.error_code, 'ERR-03-001');
  const noKey = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/operations`);
  assert.equal(noKey.status, 401);
});
