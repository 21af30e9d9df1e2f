/**
 * Two-phase configuration updates with the official SDK: the compose-file provision + commit
 * (`provisionCvmComposeFileUpdate`, `commitCvmComposeFileUpdate`), the prepare-only PATCH + commit token
 * (`patchCvm`, `commitCvmUpdate`; once, not expired, for its own CVM only), and app revisions with a rollback
 * (`getAppRevisions`, `getAppRevisionDetail`) — each checked on the simulated host, and each refusal checked
 * to leave the host and the record as they were.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { commitCvmUpdate, encryptEnvVars, getAppRevisionDetail, getAppRevisions, patchCvm } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import {
  composeOf,
  deployWithEnv,
  hostState,
  hostVm,
  operationsOf,
  recordOf,
  refused,
  sha256,
  updatedHostVm,
} from './testing/updates.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const COMPOSE_B = 'services:\n  web:\n    image: nginx:1.27\n    ports:\n      - "8080:80"\n';
const ENV_COMPOSE = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n      - BAR=${BAR}\n';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ sim: { resources: { maxCvms: 40, maxVcpu: 64, maxMemoryMb: 200_000 } } });
});
after(async () => {
  await env?.close();
});

const c = () => sdkClient(env);
const deploy = (name: string) => deployRunning(env, name, COMPOSE);
const running = (id: string) => settle(env, id, 'running');
/** commitCvmComposeFileUpdate (SDK 0.2.9's typings make encrypted_env and env_keys required keys; both are optional on the wire) */
const commitCompose = (r: { id: string; compose_hash: string; encrypted_env?: string; env_keys?: string[] }) =>
  c().commitCvmComposeFileUpdate({ encrypted_env: undefined, env_keys: undefined, ...r });

/** Everything on the host and the record except the pending-update count, which phase one adds to. */
async function snapshot(name: string, vmUuid: string) {
  const { pending: _pending, ...record } = await recordOf(env, vmUuid);
  return { host: hostState(hostVm(env, name)), record };
}

test(`compose-file provision + commit: the host runs exactly the hash the provision returned`, async () => {
  const vm = await deploy('tp-compose');
  const id = vm.vm_uuid!;
  const before = hostVm(env, 'tp-compose');
  const snap0 = await snapshot('tp-compose', id);

  const current = await c().getCvmComposeFile({ id });
  const prov = await c().provisionCvmComposeFileUpdate({ id, app_compose: { ...current, docker_compose_file: COMPOSE_B } });
  assert.equal(prov.app_id, vm.app_id);
  assert.match(prov.compose_hash, /^[0-9a-f]{64}$/);
  assert.notEqual(prov.compose_hash, before.composeHash);
  assert.equal(prov.kms_info ?? null, null, 'PHALA KMS: nothing to register on chain');
  assert.equal(prov.compose_hash_registered, false);
  assert.deepEqual(await snapshot('tp-compose', id), snap0, 'a provision changes nothing on the host or the record');

  await commitCompose({ id, compose_hash: prov.compose_hash });
  await running(id);

  const after = updatedHostVm(env, 'tp-compose', before);
  assert.equal(after.composeHash, prov.compose_hash);
  assert.equal(sha256(after.configuration.compose_file), prov.compose_hash);
  assert.deepEqual(composeOf(after), { ...composeOf(before), docker_compose_file: COMPOSE_B });
  assert.equal((await recordOf(env, id)).compose_hash, prov.compose_hash);

  // a provision is committed once
  const snap1 = await snapshot('tp-compose', id);
  await refused(commitCompose({ id, compose_hash: prov.compose_hash }), 400, 'ERR-01-006');
  assert.deepEqual(await snapshot('tp-compose', id), snap1);
});

test('prepare-only patchCvm changes nothing; commitCvmUpdate applies it; the token works once', async () => {
  const vm = await deploy('tp-prep');
  const id = vm.vm_uuid!;
  const before = hostVm(env, 'tp-prep');
  const snap0 = await snapshot('tp-prep', id);

  const prep = await patchCvm(c(), { id, docker_compose_file: COMPOSE_B, vcpu: 2, prepareOnly: true });
  assert.ok(prep.requiresOnChainHash, 'a prepare-only PATCH answers the two-phase form');
  assert.match(prep.commitToken!, /^ctk_/);
  assert.match(prep.composeHash, /^[0-9a-f]{64}$/);
  assert.notEqual(prep.composeHash, before.composeHash);
  assert.equal(prep.appId, vm.app_id);
  assert.match(prep.apiCommitUrl!, new RegExp(`/cvms/${id}/commit-update$`));
  assert.deepEqual(await snapshot('tp-prep', id), snap0, 'prepare-only: nothing on the host or the record, no operation');

  const done = await commitCvmUpdate(c(), { id, token: prep.commitToken!, composeHash: prep.composeHash, transactionHash: '' });
  assert.equal(done.status, 'in_progress');
  await running(id);

  const after = updatedHostVm(env, 'tp-prep', before);
  assert.equal(after.composeHash, prep.composeHash);
  assert.equal(after.configuration.vcpu, 2);
  assert.equal(composeOf(after).docker_compose_file, COMPOSE_B);
  const ops = await operationsOf(env, id);
  assert.deepEqual(ops.map((o) => `${o.kind}:${o.state}`), ['create:succeeded', 'update:succeeded']);
  assert.equal(ops[1].correlation_id, done.correlationId);

  const snap1 = await snapshot('tp-prep', id);
  const e = await refused(commitCvmUpdate(c(), { id, token: prep.commitToken!, composeHash: prep.composeHash, transactionHash: '' }), 400, 'ERR-01-009');
  assert.match(e.message, /already used/);
  assert.deepEqual(await snapshot('tp-prep', id), snap1, 'a second use changes nothing');
});

test('the same token or provision committed twice at once: one applies, the other is refused as spent', async () => {
  const vm = await deploy('tp-race');
  const id = vm.vm_uuid!;
  const before = hostVm(env, 'tp-race');

  const prep = await patchCvm(c(), { id, vcpu: 2, prepareOnly: true });
  assert.ok(prep.requiresOnChainHash && prep.commitToken);
  const commit = () => commitCvmUpdate(c(), { id, token: prep.commitToken!, composeHash: prep.composeHash, transactionHash: '' });
  const tokenRace = await Promise.allSettled([commit(), commit()]);
  assert.equal(tokenRace.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one commit applies');
  const lost = tokenRace.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  await refused(Promise.reject(lost.reason), 400, 'ERR-01-009');
  await running(id);
  assert.equal(updatedHostVm(env, 'tp-race', before).configuration.vcpu, 2);

  const mid = hostVm(env, 'tp-race');
  const prov = await c().provisionCvmComposeFileUpdate({ id, app_compose: { ...(await c().getCvmComposeFile({ id })), docker_compose_file: COMPOSE_B } });
  const provRace = await Promise.allSettled([
    commitCompose({ id, compose_hash: prov.compose_hash }),
    commitCompose({ id, compose_hash: prov.compose_hash }),
  ]);
  assert.equal(provRace.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one compose commit applies');
  await refused(Promise.reject((provRace.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason), 400, 'ERR-01-006');
  await running(id);
  assert.equal(updatedHostVm(env, 'tp-race', mid).composeHash, prov.compose_hash);
  assert.deepEqual((await operationsOf(env, id)).map((o) => `${o.kind}:${o.state}`), ['create:succeeded', 'update:succeeded', 'update:succeeded']);
});

test('commit tokens: an expired one, one for another CVM and a forged one are refused and change nothing', async () => {
  const a = (await deploy('tp-tok-a')).vm_uuid!;
  const b = (await deploy('tp-tok-b')).vm_uuid!;
  const before = hostVm(env, 'tp-tok-a');
  const prepare = async (body: { docker_compose_file?: string; vcpu?: number }) => {
    const r = await patchCvm(c(), { id: a, ...body, prepareOnly: true });
    assert.ok(r.requiresOnChainHash && r.commitToken);
    return { token: r.commitToken, composeHash: r.composeHash, transactionHash: '' };
  };
  const snapA = await snapshot('tp-tok-a', a);
  const snapB = await snapshot('tp-tok-b', b);
  const unchanged = async (what: string) => {
    assert.deepEqual(await snapshot('tp-tok-a', a), snapA, `${what}: CVM a untouched`);
    assert.deepEqual(await snapshot('tp-tok-b', b), snapB, `${what}: CVM b untouched`);
  };

  const expired = await prepare({ docker_compose_file: COMPOSE_B });
  const n = await env.server.db.query(
    `UPDATE pending_updates SET expires_at = now() - interval '1 minute'
      WHERE kind = 'prepared_patch' AND cvm_id = (SELECT id FROM cvms WHERE vm_uuid = $1) RETURNING id`,
    [a],
  );
  assert.equal(n.length, 1);
  let e = await refused(commitCvmUpdate(c(), { id: a, ...expired }), 400, 'ERR-01-009');
  assert.match(e.message, /expired/);
  await unchanged('expired token');

  const forA = await prepare({ vcpu: 2 });
  e = await refused(commitCvmUpdate(c(), { id: b, ...forA }), 400, 'ERR-01-009');
  assert.match(e.message, /another CVM/);
  await unchanged("another CVM's token");

  e = await refused(commitCvmUpdate(c(), { id: a, ...forA, token: 'ctk_never-issued' }), 400, 'ERR-01-009');
  await unchanged('forged token');

  e = await refused(commitCvmUpdate(c(), { id: a, ...forA, composeHash: 'ab'.repeat(32) }), 400, 'ERR-01-006');
  assert.match(e.message, /not the hash this token was prepared for/);
  await unchanged('a compose hash other than the prepared one');

  // the token presented to the wrong CVM was not spent: it still applies its change to its own CVM
  await commitCvmUpdate(c(), { id: a, ...forA });
  await running(a);
  const after = updatedHostVm(env, 'tp-tok-a', before);
  assert.equal(after.configuration.vcpu, 2);
  assert.equal(after.composeHash, before.composeHash, 'the expired change (the compose) was never applied');
  assert.deepEqual(await snapshot('tp-tok-b', b), snapB);
});

test('compose commit: a hash provisioned for another CVM is refused; the env sealed with it must fit the compose', async () => {
  const a = (await deploy('tp-hash-a')).vm_uuid!;
  const vmB = await deployWithEnv(env, 'tp-hash-b', ENV_COMPOSE, ['FOO', 'BAR'], { FOO: 'one', BAR: 'two' });
  const b = vmB.vm_uuid!;
  const beforeB = hostVm(env, 'tp-hash-b');

  const provA = await c().provisionCvmComposeFileUpdate({ id: a, app_compose: { ...(await c().getCvmComposeFile({ id: a })), docker_compose_file: COMPOSE_B } });
  const snapA = await snapshot('tp-hash-a', a);
  let snapB = await snapshot('tp-hash-b', b);
  let e = await refused(commitCompose({ id: b, compose_hash: provA.compose_hash }), 400, 'ERR-01-006');
  assert.match(e.message, /not provisioned for CVM tp-hash-b/);
  // the documented `POST …/compose_file/commit` form of the same commit
  await refused(c().post(`/cvms/${b}/compose_file/commit`, { compose_hash: provA.compose_hash }), 400, 'ERR-01-006');
  assert.deepEqual(await snapshot('tp-hash-a', a), snapA);
  assert.deepEqual(await snapshot('tp-hash-b', b), snapB);

  // B's own provision (allowed_envs kept: FOO, BAR), committed with a new env carrying a key it does not allow
  const newYaml = `${ENV_COMPOSE}    restart: always\n`;
  const provB = await c().provisionCvmComposeFileUpdate({ id: b, app_compose: { ...(await c().getCvmComposeFile({ id: b })), docker_compose_file: newYaml } });
  snapB = await snapshot('tp-hash-b', b);
  const pubkey = (await c().getCvmInfo({ id: b })).kms_info!.encrypted_env_pubkey!;
  const bad = await encryptEnvVars([{ key: 'FOO', value: 'x' }, { key: 'NEW', value: 'y' }], pubkey);
  e = await refused(commitCompose({ id: b, compose_hash: provB.compose_hash, encrypted_env: bad, env_keys: ['FOO', 'NEW'] }), 400, 'ERR-02-009');
  assert.match(e.message, /NEW/);
  assert.deepEqual(await snapshot('tp-hash-b', b), snapB, 'refused commit: nothing written');

  // the provision was not spent by the refusal: with an env that fits, it applies
  const good = await encryptEnvVars([{ key: 'FOO', value: 'uno' }, { key: 'BAR', value: 'dos' }], pubkey);
  await commitCompose({ id: b, compose_hash: provB.compose_hash, encrypted_env: good, env_keys: ['FOO', 'BAR'] });
  await running(b);
  const after = updatedHostVm(env, 'tp-hash-b', beforeB);
  assert.equal(after.composeHash, provB.compose_hash);
  assert.equal(composeOf(after).docker_compose_file, newYaml);
  assert.deepEqual(after.guest.env, { FOO: 'uno', BAR: 'dos' });
});

test('compose update with update_env_vars swaps env keys: provision drops a sealed key, the commit brings the env without it', async () => {
  const vm = await deployWithEnv(env, 'tp-swap', ENV_COMPOSE, ['FOO', 'BAR'], { FOO: 'one', BAR: 'two' });
  const id = vm.vm_uuid!;
  const before = hostVm(env, 'tp-swap');
  const swapYaml = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n      - BAZ=${BAZ}\n';
  const current = await c().getCvmComposeFile({ id });
  const prov = await c().provisionCvmComposeFileUpdate({
    id,
    app_compose: { ...current, docker_compose_file: swapYaml, allowed_envs: ['FOO', 'BAZ'] },
    update_env_vars: true,
  } as Parameters<ReturnType<typeof c>['provisionCvmComposeFileUpdate']>[0]);
  // committed without a new env, the sealed BAR would fall outside allowed_envs: refused, nothing written
  const snap = await snapshot('tp-swap', id);
  const e = await refused(commitCompose({ id, compose_hash: prov.compose_hash }), 400, 'ERR-02-009');
  assert.match(e.message, /BAR/);
  assert.deepEqual(await snapshot('tp-swap', id), snap);
  // with the env that fits the new allowance, the same provision applies
  const pubkey = (await c().getCvmInfo({ id })).kms_info!.encrypted_env_pubkey!;
  const sealed = await encryptEnvVars([{ key: 'FOO', value: 'uno' }, { key: 'BAZ', value: 'tres' }], pubkey);
  await commitCompose({ id, compose_hash: prov.compose_hash, encrypted_env: sealed, env_keys: ['FOO', 'BAZ'] });
  await running(id);
  const after = updatedHostVm(env, 'tp-swap', before);
  assert.equal(after.composeHash, prov.compose_hash);
  assert.deepEqual(composeOf(after).allowed_envs, ['FOO', 'BAZ']);
  assert.deepEqual(after.guest.env, { FOO: 'uno', BAZ: 'tres' });
});

test('revisions: the create revision and one per compose-hash change, newest first; a rollback restores one on the host', async () => {
  const vm = await deploy('tp-rev');
  const id = vm.vm_uuid!;
  const appId = vm.app_id!;
  const first = hostVm(env, 'tp-rev');
  const h0 = first.composeHash;

  await c().updateDockerCompose({ id, docker_compose_file: COMPOSE_B });
  await running(id);
  const h1 = hostVm(env, 'tp-rev').composeHash;
  await c().updateCvmResources({ id, vcpu: 2 }); // no compose change: no revision
  await running(id);
  await c().updatePreLaunchScript({ id, pre_launch_script: 'echo hi\n' });
  await running(id);
  const h2 = hostVm(env, 'tp-rev').composeHash;
  assert.equal(new Set([h0, h1, h2]).size, 3);

  const list = await getAppRevisions(c(), { appId });
  assert.equal(list.total, 3);
  assert.deepEqual(list.revisions.map((r) => [r.operation_type, r.compose_hash]), [['pre_launch_script', h2], ['compose_update', h1], ['create', h0]]);
  assert.ok(list.revisions.every((r) => r.vm_uuid === id && r.app_id === appId && r.cvm?.name === 'tp-rev'));
  const created = list.revisions[2];

  const detail = await getAppRevisionDetail(c(), { appId, revisionId: created.revision_id });
  assert.equal(detail.compose_hash, h0);
  assert.equal((detail.compose_file as Record<string, unknown>).docker_compose_file, COMPOSE);
  const raw = await getAppRevisionDetail(c(), { appId, revisionId: created.revision_id, rawComposeFile: true });
  assert.equal(sha256(raw.compose_file as string), h0, 'the raw compose is the exact hashed text');

  const r = await c().post<{ status: string; correlation_id: string }>(`/apps/${appId}/revisions/${created.revision_id}/rollback`, {});
  assert.equal(r.status, 'in_progress');
  assert.match(r.correlation_id, /^[0-9a-f-]{36}$/);
  await running(id);
  const after = updatedHostVm(env, 'tp-rev', first);
  assert.equal(after.composeHash, h0);
  assert.equal(after.configuration.compose_file, first.configuration.compose_file);
  assert.equal(after.configuration.vcpu, 2, 'a rollback restores the compose, not the resources');
  assert.equal((await recordOf(env, id)).compose_hash, h0);

  const again = await getAppRevisions(c(), { appId });
  assert.equal(again.total, 4);
  assert.deepEqual([again.revisions[0].operation_type, again.revisions[0].compose_hash, again.revisions[0].trace_id], ['rollback', h0, r.correlation_id]);
  const unknown = await refused(c().post(`/apps/${appId}/revisions/rev_0000000000000000/rollback`, {}), 404, 'ERR-03-001');
  assert.match(unknown.message, /no revision/);
});
