/**
 * A change that changes nothing (a repeated deploy of the same thing) succeeds and does nothing: 202 with
 * `{status, message, correlation_id}` that say so, no operation queued, no restart, no revision, the host VM
 * untouched. Its correlation id names an operation that already succeeded (step `unchanged`). A request that
 * names no field at all is still refused. Driven through the official SDK; the CLI's repeated
 * `phala deploy --cvm-id` is in cli-updates.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { commitCvmUpdate, patchCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { sdkClient, settle } from './testing/deploy.ts';
import { deployWithEnv, hostState, hostVm, recordOf, refused } from './testing/updates.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 20, maxVcpu: 32, maxMemoryMb: 65_536 } } });
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);

async function http(method: string, path: string, body: unknown, contentType = 'application/json') {
  const res = await fetch(`${env.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': env.apiKey, 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function operation(vmUuid: string, correlationId: string) {
  const r = await fetch(`${env.apiUrl}/cvms/${vmUuid}/operations/${correlationId}`, { headers: { 'x-api-key': env.apiKey } });
  assert.equal(r.status, 200, `GET /cvms/${vmUuid}/operations/${correlationId}`);
  return (await r.json()) as { kind: string; state: string; step: string; operation_type: string };
}

test('the same configuration again, through every update endpoint: 2xx, nothing queued, nothing restarted', async () => {
  const vm = await deployWithEnv(env, 'same-cfg', COMPOSE, ['FOO'], { FOO: 'one' });
  const id = vm.vm_uuid!;
  const host0 = hostState(hostVm(env, 'same-cfg'));
  const rec0 = await recordOf(env, id);
  const compose0 = JSON.parse(rec0.app_compose) as { docker_compose_file: string; public_logs: boolean; allowed_envs: string[] };
  let receipts = 0;
  /** Nothing moved but `more` succeeded operations (each no-op's receipt), and the CVM still runs. */
  const nothingChanged = async (what: string, correlationId: string | null, more = 1) => {
    receipts += more;
    assert.deepEqual(hostState(hostVm(env, 'same-cfg')), host0, `${what}: the host VM is untouched (not restarted, nothing sent)`);
    const rec = await recordOf(env, id);
    assert.deepEqual({ ...rec, operations: rec0.operations }, rec0, `${what}: the record and its revisions are untouched`);
    assert.equal(rec.operations, rec0.operations + receipts, `${what}: one operation, already finished`);
    assert.equal(rec.status, 'running');
    if (!correlationId) return;
    const op = await operation(id, correlationId);
    assert.deepEqual({ kind: op.kind, state: op.state, step: op.step }, { kind: 'update', state: 'succeeded', step: 'unchanged' }, what);
  };

  // SDK patchCvm with the values the CVM has: the answer the SDK needs (a correlation id), not a 400
  const r = await patchCvm(c(), {
    id,
    docker_compose_file: compose0.docker_compose_file,
    public_logs: compose0.public_logs,
    vcpu: rec0.vcpu,
    memory: rec0.memory_mb,
    disk_size: rec0.disk_gb,
  });
  assert.equal(r.requiresOnChainHash, false);
  assert.ok(r.requiresOnChainHash === false && typeof r.correlationId === 'string' && r.correlationId.length > 0);
  await nothingChanged('patchCvm', r.correlationId);

  // the same over HTTP: 202 like any accepted change; status and message say nothing changed
  const raw = await http('PATCH', `/cvms/${id}`, { docker_compose_file: compose0.docker_compose_file, allowed_envs: compose0.allowed_envs });
  assert.equal(raw.status, 202);
  assert.equal(raw.body.status, 'unchanged');
  assert.match(raw.body.message, /^Nothing changed: CVM same-cfg already has this configuration/);
  assert.equal(raw.body.compose_hash, rec0.compose_hash);
  await nothingChanged('PATCH /cvms/{id}', raw.body.correlation_id);

  // updateCvmResources with the sizes it has (what `phala cvms resize` sends for the sizes not given)
  await c().updateCvmResources({ id, vcpu: rec0.vcpu, memory: rec0.memory_mb, disk_size: rec0.disk_gb });
  const res = await http('PATCH', `/cvms/${id}/resources`, { vcpu: rec0.vcpu, allow_restart: 0 });
  assert.equal(res.status, 202);
  assert.equal(res.body.status, 'unchanged');
  await nothingChanged('updateCvmResources, PATCH /cvms/{id}/resources', res.body.correlation_id, 2);

  // the SDK's updateDockerCompose and updateCvmEnvs accept status "in_progress" only: they get it, with a
  // message that says nothing changed and the no-op's correlation id
  const dc = await c().updateDockerCompose({ id, docker_compose_file: compose0.docker_compose_file });
  assert.equal(dc.status, 'in_progress');
  assert.match(dc.message, /^Nothing changed/);
  await nothingChanged('updateDockerCompose', (dc as { correlation_id: string }).correlation_id);
  const envs = await c().updateCvmEnvs({ id, encrypted_env: rec0.encrypted_env!, env_keys: rec0.env_keys });
  assert.equal(envs.status, 'in_progress');
  assert.match(envs.message, /^Nothing changed/);
  await nothingChanged('updateCvmEnvs with the sealed env it has', (envs as { correlation_id: string }).correlation_id);

  // prepare-only + commit of a change that changes nothing: the commit answers unchanged
  const prep = await patchCvm(c(), { id, vcpu: rec0.vcpu, prepareOnly: true });
  assert.equal(prep.requiresOnChainHash, true);
  rec0.pending++;
  const commit = await commitCvmUpdate(c(), { id, token: (prep as { commitToken: string }).commitToken, composeHash: '', transactionHash: '' });
  assert.equal(commit.status, 'unchanged');
  await nothingChanged('commitCvmUpdate', commit.correlationId);

  // a request that names nothing to change is still refused
  await refused(patchCvm(c(), { id }), 400, 'ERR-02-008');
  await refused(c().patch(`/cvms/${id}/resources`, {}), 400, 'ERR-02-008');
  await nothingChanged('empty requests', null, 0);
});

test('a change that changes nothing on a stopped CVM leaves it stopped', async () => {
  const vm = await deployWithEnv(env, 'same-stop', COMPOSE, ['FOO'], { FOO: 'one' });
  const id = vm.vm_uuid!;
  await c().stopCvm({ id });
  await settle(env, id, 'stopped');
  const rec0 = await recordOf(env, id);
  const r = await patchCvm(c(), { id, vcpu: rec0.vcpu });
  assert.ok(r.requiresOnChainHash === false && r.correlationId);
  const rec = await recordOf(env, id);
  assert.equal(rec.status, 'stopped');
  assert.equal(hostVm(env, 'same-stop').status, 'stopped');
  assert.equal((await operation(id, r.correlationId)).state, 'succeeded');
});
