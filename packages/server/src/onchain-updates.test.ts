/**
 * Updates of on-chain KMS CVMs (`kms: "ETHEREUM"`) with the official SDK on a real local chain: a change that moves
 * the compose hash is applied only once the app's contract allows the new hash. The compose-file provision reports
 * `compose_hash_registered` and its commit asks the chain; `patchCvm` answers 465 until `addComposeHash`, then
 * `confirmCvmPatch` applies it; `updateCvmEnvs` / `updatePreLaunchScript` / `updateDockerCompose` return
 * `precondition_required` and apply on their retry; `patchCvm({prepareOnly})` + `commitCvmUpdate` with the hash
 * added by another account (the app's owner, as a multisig would be). Each refusal (465, 466, 467, 468, a chain that
 * does not answer) is checked to leave the record as it was. Replicas of an on-chain app: only on a device its
 * contract allows, else (or with `X-Prepare-Only`) 465 and `commit-replica` / `instances` with the token. A revision
 * redeploy (`POST /cvms/{id}/revisions/{revision_id}/redeploy`) whose hash the contract no longer allows answers
 * 465 too, and applies with `?transaction_hash=`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addComposeHash,
  addDevice,
  commitCvmUpdate,
  confirmCvmPatch,
  encryptEnvVars,
  getAppRevisions,
  patchCvm,
  removeDevice,
  replicateCvm,
  updateCvmEnvs,
  updateDockerCompose,
  updatePreLaunchScript,
  type Client,
} from '@phala/cloud';
import { appAuthAbi } from '@opencvm/contracts';
import { createWalletClient, http, type Chain, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { mainnet } from 'viem/chains';
import { deployOnChain, quietly, startOnChainEnv, startTestChain, type OnChainEnv } from './testing/chain.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning, sdkClient } from './testing/deploy.ts';
import { hostVm, refused } from './testing/updates.ts';
import { waitFor } from './testing/wait.ts';

const compose = (name: string, image = 'nginx:latest') => `services:
  ${name}:
    image: ${image}
`;

let oc: OnChainEnv;
before(async () => {
  oc = await startOnChainEnv({ sim: { resources: { maxCvms: 40, maxVcpu: 64, maxMemoryMb: 200_000 } } });
});
after(() => oc?.close());

const chain = () => ({ ...mainnet, rpcUrls: { default: { http: [oc.chain.chain.rpcUrl] } } }) as Chain;

/** The CVM's configuration as recorded, its operations, revisions and pending (kept) changes. */
async function recordOf(env: TestEnv, vmUuid: string) {
  const [row] = await env.server.db.query<{
    compose_hash: string; app_compose: string; encrypted_env: string | null; vcpu: number; status: string;
    operations: number; revisions: number; pending: number; unused: number;
  }>(
    `SELECT c.compose_hash, c.app_compose, c.encrypted_env, c.vcpu, c.status,
            (SELECT count(*)::int FROM operations o WHERE o.cvm_id = c.id) AS operations,
            (SELECT count(*)::int FROM revisions r WHERE r.cvm_id = c.id) AS revisions,
            (SELECT count(*)::int FROM pending_updates u WHERE u.cvm_id = c.id) AS pending,
            (SELECT count(*)::int FROM pending_updates u WHERE u.cvm_id = c.id AND u.used_at IS NULL) AS unused
       FROM cvms c WHERE c.vm_uuid = $1`,
    [vmUuid],
  );
  assert.ok(row, `CVM ${vmUuid} is on record`);
  return row;
}

/** Wait until the CVM has no operation in progress (its boot or update ran to an end); answers its record. */
async function idle(env: TestEnv, vmUuid: string) {
  await waitFor(async () => {
    const [r] = await env.server.db.query<{ active: number }>(
      `SELECT count(*)::int AS active FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 AND o.state IN ('pending', 'running')`,
      [vmUuid],
    );
    return r.active === 0 ? true : null;
  }, 30_000);
  return recordOf(env, vmUuid);
}

/** An on-chain CVM, deployed as Phala's docs write it, running (its keys released by the KMS as its contract allows). */
async function onChainCvm(name: string, o: { privateKey?: Hex } = {}) {
  const d = await deployOnChain(oc, name, compose(name), o.privateKey ? { privateKey: o.privateKey } : {});
  const vm = await d.commit();
  const settled = await idle(oc.env, vm.vm_uuid!);
  assert.equal(settled.status, 'running');
  return { ...d, vm, id: vm.vm_uuid!, appId: d.deployed.appId as Hex };
}

/** `addComposeHash` with the official SDK, as the app's owner (the chain's `user` unless told). */
async function register(appId: Hex, composeHash: string, privateKey: Hex = oc.chain.user.privateKey) {
  const r = await quietly(() => addComposeHash({ chain: chain(), rpcUrl: oc.chain.chain.rpcUrl, appId, composeHash, privateKey }));
  return r.transactionHash as Hex;
}

/** The app owner's `removeComposeHash` (the SDK has no helper for it). */
async function unregister(appId: Hex, composeHash: string, privateKey: Hex = oc.chain.user.privateKey) {
  const wallet = createWalletClient({ account: privateKeyToAccount(privateKey), chain: chain(), transport: http(oc.chain.chain.rpcUrl) });
  const tx = await wallet.writeContract({ address: appId, abi: appAuthAbi, functionName: 'removeComposeHash', args: [`0x${composeHash}`] });
  await waitFor(async () => {
    const r = await fetch(oc.chain.chain.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionReceipt', params: [tx] }),
    });
    return ((await r.json()) as { result: unknown }).result ?? null;
  });
  return tx;
}

/** A CVM's `cvm.update.pending_approval` events (Phala Cloud's type), oldest first: their data. */
async function pendingApprovals(vmUuid: string) {
  const rows = await oc.env.server.db.query<{ data: Record<string, any> }>(
    `SELECT e.data FROM events e JOIN cvms c ON c.id = e.cvm_id WHERE c.vm_uuid = $1 AND e.type = 'cvm.update.pending_approval' ORDER BY e.seq`,
    [vmUuid],
  );
  return rows.map((r) => r.data);
}

const client = (): Client => sdkClient(oc.env) as unknown as Client;

/**
 * After an update: the CVM runs again, booted on the host with `hash` (the KMS released its keys for it, as the
 * contract allows it); answers its record.
 */
async function runs(name: string, id: string, hash: string) {
  const rec = await idle(oc.env, id);
  assert.equal(rec.status, 'running');
  assert.equal(rec.compose_hash, hash);
  const vm = hostVm(oc.env, name);
  assert.equal(vm.composeHash, hash);
  assert.equal(vm.bootProgress, 'done');
  return rec;
}

/** What a refusal must leave as it was: the CVM's configuration, operations and revisions, and no change kept. */
async function unchangedBy<T>(id: string, call: () => Promise<T>): Promise<T> {
  const before = await recordOf(oc.env, id);
  const out = await call();
  assert.deepEqual(await recordOf(oc.env, id), before, 'a refusal changed the record');
  return out;
}

test('compose-file provision reports compose_hash_registered from the chain; the commit is refused until addComposeHash', async () => {
  const { id, appId } = await onChainCvm('oc-compose');
  const c = client();
  const current = await c.getCvmComposeFile({ id });
  const next = { ...current, docker_compose_file: compose('oc-compose', 'nginx:1.27') };
  const prov = await c.provisionCvmComposeFileUpdate({ id, app_compose: next });
  assert.equal(prov.compose_hash_registered, false);
  assert.equal(prov.kms_info?.chain_id, 1);
  assert.equal(prov.kms_info?.kms_contract_address, oc.chain.config.kmsContract);
  assert.equal(`0x${prov.app_id}`, appId.toLowerCase());

  const commit = (transaction_hash?: string) =>
    c.commitCvmComposeFileUpdate({ id, compose_hash: prov.compose_hash, encrypted_env: undefined, env_keys: undefined, ...(transaction_hash && { transaction_hash }) } as never);
  const e = await unchangedBy(id, () => refused(commit(), 468, 'ERR-01-008'));
  assert.match(e.message, new RegExp(`compose_hash ${prov.compose_hash} is not allowed by app 0x${prov.app_id}'s contract.*addComposeHash`));

  const tx = await register(appId, prov.compose_hash);
  // now the provision says so, and its commit needs no addComposeHash
  const again = await c.provisionCvmComposeFileUpdate({ id, app_compose: next });
  assert.equal(again.compose_hash, prov.compose_hash);
  assert.equal(again.compose_hash_registered, true);

  const before = await recordOf(oc.env, id);
  await commit(tx);
  const after = await runs('oc-compose', id, prov.compose_hash);
  assert.equal(after.revisions, before.revisions + 1);
});

test('patchCvm → 465 with what the SDK reads → addComposeHash → confirmCvmPatch applies it, once', async () => {
  const { id, appId, vm } = await onChainCvm('oc-patch');
  const c = client();
  const before = await recordOf(oc.env, id);

  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-patch', 'nginx:1.27') });
  assert.equal(r.requiresOnChainHash, true);
  assert.ok(r.requiresOnChainHash);
  assert.match(r.composeHash, /^[0-9a-f]{64}$/);
  assert.notEqual(r.composeHash, before.compose_hash);
  assert.equal(r.appId, vm.app_id);
  assert.match(r.deviceId, /^[0-9a-f]{64}$/);
  assert.equal(r.kmsInfo.chain_id, 1);
  assert.equal(r.kmsInfo.kms_contract_address, oc.chain.config.kmsContract);
  assert.match(r.commitToken ?? '', /^ctk_/);
  assert.equal(r.apiCommitUrl, `${oc.env.server.url}/api/v1/cvms/${id}/commit-update`);
  assert.deepEqual(r.onchainStatus, { compose_hash_allowed: false, device_id_allowed: true, is_allowed: false });
  // nothing applied: the change is kept (one pending row), the configuration and operations as they were
  const kept = await recordOf(oc.env, id);
  assert.deepEqual({ ...kept, pending: 0, unused: 0 }, { ...before, pending: 0, unused: 0 });
  assert.equal(kept.unused, before.unused + 1);
  // Phala Cloud's cvm.update.pending_approval: the kept change waits for the app's contract
  const [pending, ...more] = await pendingApprovals(id);
  assert.equal(more.length, 0);
  assert.deepEqual(
    [pending.vm_uuid, pending.name, pending.app_id, pending.status, pending.compose_hash, pending.awaiting, pending.pending],
    [id, 'oc-patch', vm.app_id!.replace(/^app_/, ''), 'running', r.composeHash, ['compose_hash'], 'update'],
  );

  const tx = await register(appId, r.composeHash);
  const confirmed = await confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: tx });
  assert.match(confirmed.correlationId, /^[0-9a-f-]{36}$/);
  const after = await runs('oc-patch', id, r.composeHash);
  assert.equal(after.revisions, before.revisions + 1);
  assert.match(JSON.parse(after.app_compose).docker_compose_file, /nginx:1\.27/);

  // a change is confirmed once
  const e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: tx }), 466, 'ERR-01-006'));
  assert.match(e.message, /already applied/);
});

test('a change to a hash the contract already allows is applied at once; one that keeps the hash needs no chain', async () => {
  const { id, appId } = await onChainCvm('oc-allowed');
  const c = client();
  const change = { id, docker_compose_file: compose('oc-allowed', 'nginx:1.26') };
  const first = await patchCvm(c, change);
  assert.ok(first.requiresOnChainHash);
  await register(appId, first.composeHash);
  // the same request again, without a confirmation: the contract allows the hash now
  const second = await patchCvm(c, change);
  assert.equal(second.requiresOnChainHash, false);
  await runs('oc-allowed', id, first.composeHash);

  // vCPU does not move the compose hash: applied as with PHALA
  const resized = await patchCvm(c, { id, vcpu: 2 });
  assert.equal(resized.requiresOnChainHash, false);
  assert.equal((await idle(oc.env, id)).vcpu, 2);
});

test('466: no kept change for that hash, or it expired', async () => {
  const { id, appId } = await onChainCvm('oc-466');
  const c = client();
  const stranger = 'ab'.repeat(32);
  const tx = await register(appId, stranger);
  let e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: stranger, transactionHash: tx }), 466, 'ERR-01-006'));
  assert.match(e.message, /No change of CVM oc-466 waits for compose_hash/);

  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-466', 'nginx:1.25') });
  assert.ok(r.requiresOnChainHash);
  const added = await register(appId, r.composeHash);
  await oc.env.server.db.query(`UPDATE pending_updates SET expires_at = now() - interval '1 second' WHERE compose_hash = $1`, [r.composeHash]);
  e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: added }), 466, 'ERR-01-006'));
  assert.match(e.message, /expired at/);
});

test('467: a transaction that added another hash, a removal, one that does not exist', async () => {
  const { id, appId } = await onChainCvm('oc-467');
  const c = client();
  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-467', 'nginx:1.24') });
  assert.ok(r.requiresOnChainHash);
  const other = await register(appId, 'cd'.repeat(32));
  let e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: other }), 467, 'ERR-01-007'));
  assert.match(e.message, new RegExp(`did not add compose_hash ${r.composeHash} to app ${appId.toLowerCase()}'s contract`));

  await register(appId, r.composeHash);
  const removal = await unregister(appId, 'cd'.repeat(32));
  e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: removal }), 467, 'ERR-01-007'));
  assert.match(e.message, /did not add/);

  e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: `0x${'ee'.repeat(32)}` }), 467, 'ERR-01-007'));
  assert.match(e.message, /is not a mined transaction on the ETHEREUM chain \(id 1\)/);

  // the hash is allowed, so the literal already-registered (contract only) confirms it
  await confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: 'already-registered' });
  await runs('oc-467', id, r.composeHash);
});

test('468: the hash was removed after the transaction that added it', async () => {
  const { id, appId } = await onChainCvm('oc-468');
  const c = client();
  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-468', 'nginx:1.23') });
  assert.ok(r.requiresOnChainHash);
  const tx = await register(appId, r.composeHash);
  await unregister(appId, r.composeHash);
  const e = await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: tx }), 468, 'ERR-01-008'));
  assert.match(e.message, /is not allowed .* now \(it was removed after that transaction\)/);
  // not allowed: already-registered is refused the same way
  await unchangedBy(id, () => refused(confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: 'already-registered' }), 468, 'ERR-01-008'));
});

test('revision redeploy: 465 (naming ?transaction_hash=) while the contract does not allow its hash; with the addComposeHash transaction it applies', async () => {
  const { id, appId } = await onChainCvm('oc-redeploy');
  const c = client();
  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-redeploy', 'nginx:1.22') });
  assert.ok(r.requiresOnChainHash);
  await confirmCvmPatch(c, { id, composeHash: r.composeHash, transactionHash: await register(appId, r.composeHash) });
  await runs('oc-redeploy', id, r.composeHash);
  const history = await getAppRevisions(c, { appId: appId.replace(/^0x/, '') });
  const first = history.revisions.find((x) => x.compose_hash !== r.composeHash)!;
  assert.ok(first, 'the first revision is listed');

  // the first revision's hash is removed from the contract: redeploying it must be allowed again first
  await unregister(appId, first.compose_hash);
  const raw = sdkClient(oc.env);
  const before = await recordOf(oc.env, id);
  const e = await refused(raw.post(`/cvms/${id}/revisions/${first.revision_id}/redeploy`), 465, 'ERR-01-005');
  // nothing applied; the change is kept under a commit token, as a patchCvm's 465 keeps it
  assert.deepEqual({ ...(await recordOf(oc.env, id)), pending: 0, unused: 0 }, { ...before, pending: 0, unused: 0 });
  assert.equal((await recordOf(oc.env, id)).unused, before.unused + 1);
  assert.match(e.message, new RegExp(`compose_hash ${first.compose_hash} must be allowed by app ${appId.toLowerCase()}'s contract`));
  assert.match(e.message, /\?transaction_hash=/);
  assert.doesNotMatch(e.message, /X-Transaction-Hash/);

  const tx = await register(appId, first.compose_hash);
  const done = await raw.post<{ status: string; compose_hash: string }>(`/cvms/${id}/revisions/${first.revision_id}/redeploy?transaction_hash=${tx}`);
  assert.equal(done.compose_hash, first.compose_hash);
  await runs('oc-redeploy', id, first.compose_hash);
});

test('updateCvmEnvs and updatePreLaunchScript return precondition_required, and apply on their retry with the hashes', async () => {
  const { id, appId, vm } = await onChainCvm('oc-single');
  const c = client();
  const encrypted = await encryptEnvVars([{ key: 'FOO', value: 'bar' }], vm.encrypted_env_pubkey!);

  // new env keys move allowed_envs, so the compose hash
  const pre = await recordOf(oc.env, id);
  const r = await updateCvmEnvs(c, { id, encrypted_env: encrypted, env_keys: ['FOO'] });
  assert.equal(r.status, 'precondition_required');
  assert.ok(r.status === 'precondition_required');
  assert.equal(r.app_id, vm.app_id);
  assert.equal(r.kms_info.chain_id, 1);
  const tx = await register(appId, r.compose_hash);
  const applied = await updateCvmEnvs(c, { id, encrypted_env: encrypted, env_keys: ['FOO'], compose_hash: r.compose_hash, transaction_hash: tx });
  assert.equal(applied.status, 'in_progress');
  let rec = await runs('oc-single', id, r.compose_hash);
  assert.equal(rec.encrypted_env, encrypted);
  assert.deepEqual(JSON.parse(rec.app_compose).allowed_envs, ['FOO']);
  assert.equal(rec.revisions, pre.revisions + 1);

  const script = '#!/bin/sh\necho on-chain\n';
  const p = await updatePreLaunchScript(c, { id, pre_launch_script: script });
  assert.equal(p.status, 'precondition_required');
  assert.ok(p.status === 'precondition_required');
  assert.match(p.message, /must be allowed by app .*addComposeHash/);
  const ptx = await register(appId, p.compose_hash);
  const done = await updatePreLaunchScript(c, { id, pre_launch_script: script, compose_hash: p.compose_hash, transaction_hash: ptx });
  assert.equal(done.status, 'in_progress');
  rec = await runs('oc-single', id, p.compose_hash);
  assert.equal(JSON.parse(rec.app_compose).pre_launch_script, script);

  const d = await updateDockerCompose(c, { id, docker_compose_file: compose('oc-single', 'nginx:1.22') });
  assert.equal(d.status, 'precondition_required');
  assert.ok(d.status === 'precondition_required');
  // a retry whose body leads to another hash than the one confirmed is refused
  await unchangedBy(id, () =>
    refused(updateDockerCompose(c, { id, docker_compose_file: compose('oc-single', 'nginx:1.21'), compose_hash: d.compose_hash, transaction_hash: 'already-registered' }), 466, 'ERR-01-006'));
});

test('multisig: patchCvm({prepareOnly}) → addComposeHash sent by another account (the owner) → commitCvmUpdate', async () => {
  const owner = oc.chain.other;
  const { id, appId } = await onChainCvm('oc-multisig', { privateKey: owner.privateKey });
  const c = client();
  const before = await recordOf(oc.env, id);
  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-multisig', 'nginx:1.20'), prepareOnly: true });
  assert.ok(r.requiresOnChainHash && r.commitToken);
  assert.equal(r.onchainStatus?.compose_hash_allowed, false);
  // not registered yet: the commit is refused and the token stays usable
  await unchangedBy(id, () => refused(commitCvmUpdate(c, { id, token: r.commitToken!, composeHash: '', transactionHash: '' }), 468, 'ERR-01-008'));
  // the API caller's own account does not own the app: the SDK refuses to send it
  await assert.rejects(register(appId, r.composeHash, oc.chain.user.privateKey), /owner/);
  const tx = await register(appId, r.composeHash, owner.privateKey);
  const done = await commitCvmUpdate(c, { id, token: r.commitToken!, composeHash: '', transactionHash: tx });
  assert.match(done.correlationId, /^[0-9a-f-]{36}$/);
  assert.equal(done.status, 'in_progress');
  const after = await runs('oc-multisig', id, r.composeHash);
  assert.equal(after.revisions, before.revisions + 1);
});

test('a chain that does not answer: 503 ERR-02-016 with Retry-After and nothing written; a change that keeps the hash still applies', async () => {
  const testChain = await startTestChain();
  const env = await startTestEnv({ config: { chains: [testChain.config] } });
  try {
    const local: OnChainEnv = { env, chain: testChain, close: async () => {} };
    const d = await deployOnChain(local, 'oc-down', compose('oc-down'));
    const vm = await d.commit();
    const id = vm.vm_uuid!;
    await idle(env, id);
    const c = sdkClient(env) as unknown as Client;
    const kept = await patchCvm(c, { id, docker_compose_file: compose('oc-down', 'nginx:1.27') });
    assert.ok(kept.requiresOnChainHash);
    await testChain.stop();

    const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const before = await recordOf(env, id);
      const res = await fetch(`${env.apiUrl}${path}`, {
        method,
        headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      const e = (await res.json()) as { detail: { error_code: string; message: string } };
      assert.equal(res.status, 503, e.detail.message);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal(e.detail.error_code, 'ERR-02-016');
      assert.match(e.detail.message, /The ETHEREUM chain \(id 1\) did not answer.*nothing was changed/);
      assert.deepEqual(await recordOf(env, id), before, `${method} ${path} wrote something`);
    };
    await call('PATCH', `/cvms/${id}`, { docker_compose_file: compose('oc-down', 'nginx:1.26') });
    await call('PATCH', `/cvms/${id}`, {}, { 'x-compose-hash': kept.composeHash, 'x-transaction-hash': 'already-registered' });
    await call('POST', `/cvms/${id}/commit-update`, { token: kept.commitToken, compose_hash: '', transaction_hash: '' });
    const current = await c.getCvmComposeFile({ id });
    await call('POST', `/cvms/${id}/compose_file/provision`, { ...current, docker_compose_file: compose('oc-down', 'nginx:1.25') });

    const resized = await patchCvm(c, { id, vcpu: 2 });
    assert.equal(resized.requiresOnChainHash, false);
    assert.equal((await idle(env, id)).vcpu, 2);
  } finally {
    await env.close();
    await testChain.stop();
  }
});

test('a PHALA KMS CVM: confirmation headers are refused, its changes apply at once as before', async () => {
  const vm = await deployRunning(oc.env, 'oc-phala', compose('oc-phala'));
  const c = client();
  const id = vm.vm_uuid!;
  const e = await unchangedBy(id, () =>
    refused(confirmCvmPatch(c, { id, composeHash: 'ab'.repeat(32), transactionHash: `0x${'ab'.repeat(32)}` }), 400, 'ERR-02-008'));
  assert.match(e.message, /PHALA KMS, whose updates are applied without an on-chain confirmation/);
  const r = await patchCvm(c, { id, docker_compose_file: compose('oc-phala', 'nginx:1.27') });
  assert.equal(r.requiresOnChainHash, false);
});

/** A raw request, as the `phala` CLI sends its replica calls (no schema on the answer). */
async function send(env: TestEnv, method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${env.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const replicasOf = async (appId: string) => {
  const [r] = await oc.env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cvms WHERE app_id = $1 AND deleted_at IS NULL', [appId]);
  return r.n;
};

/** The details of a 465 as a map (the CLI reads them raw: error_code and message must be there too). */
function kept(r: { status: number; body: any }) {
  assert.equal(r.status, 465, JSON.stringify(r.body));
  assert.equal(r.body.detail.error_code, 'ERR-01-005');
  assert.equal(typeof r.body.detail.message, 'string');
  return Object.fromEntries((r.body.detail.details as { field: string; value: any }[]).map((d) => [d.field, d.value]));
}

test('replicas of an on-chain app: at once on an allowed device; X-Prepare-Only keeps it for commit-replica', async () => {
  const { id, vm } = await onChainCvm('oc-replica');
  const appId = vm.app_id!;
  const made = await replicateCvm(client(), { id });
  assert.equal(made.app_id, appId);
  assert.equal(await replicasOf(appId), 2);
  assert.equal((await idle(oc.env, made.vm_uuid!)).status, 'running');

  const prep = kept(await send(oc.env, 'POST', `/cvms/${id}/replicas`, {}, { 'x-prepare-only': 'true' }));
  assert.equal(await replicasOf(appId), 2, 'prepare-only made nothing');
  assert.equal(prep.app_id, appId);
  assert.equal(prep.commit_url, `${oc.env.server.url}/api/v1/cvms/${id}/commit-replica`);
  assert.deepEqual(prep.onchain_status, { compose_hash_allowed: true, device_id_allowed: true, is_allowed: true });
  assert.equal(prep.kms_info.chain_id, 1);
  assert.deepEqual(await pendingApprovals(id), [], 'a prepare-only keep the contract already allows waits for no approval');
  const commit = await send(oc.env, 'POST', `/cvms/${id}/commit-replica`, { token: prep.commit_token, compose_hash: prep.compose_hash, transaction_hash: 'already-registered' });
  assert.equal(commit.status, 200, JSON.stringify(commit.body));
  assert.equal(commit.body.app_id, appId);
  assert.equal(await replicasOf(appId), 3);
  const again = await send(oc.env, 'POST', `/cvms/${id}/commit-replica`, { token: prep.commit_token, compose_hash: '', transaction_hash: 'already-registered' });
  assert.equal(again.status, 400);
  assert.equal(again.body.detail.error_code, 'ERR-01-009');
  assert.equal(await replicasOf(appId), 3);
});

test('a replica on a device the app\'s contract does not allow: 465, refused until addDevice, then commit-replica / instances', async () => {
  const { id, vm, appId: contract, provision } = await onChainCvm('oc-device');
  const appId = vm.app_id!;
  const owner = { chain: chain(), rpcUrl: oc.chain.chain.rpcUrl, privateKey: oc.chain.user.privateKey };
  await quietly(() => removeDevice({ ...owner, appAddress: contract, deviceId: provision.device_id! }));

  const r = kept(await send(oc.env, 'POST', `/cvms/${id}/replicas`, {}));
  assert.equal(await replicasOf(appId), 1, 'nothing made');
  assert.equal(r.device_id, provision.device_id);
  assert.deepEqual(r.onchain_status, { compose_hash_allowed: true, device_id_allowed: false, is_allowed: false });
  const early = await send(oc.env, 'POST', `/cvms/${id}/commit-replica`, { token: r.commit_token, compose_hash: '', transaction_hash: 'already-registered' });
  assert.equal(early.status, 400);
  assert.equal(early.body.detail.error_code, 'ERR-01-011');
  assert.match(early.body.detail.message, /is not allowed by app .*addDevice/);
  assert.equal(await replicasOf(appId), 1);
  const [pending] = await pendingApprovals(id);
  assert.deepEqual([pending.compose_hash, pending.awaiting, pending.pending, pending.device_id], [r.compose_hash, ['device'], 'replica', provision.device_id]);

  // POST /apps/{app}/instances keeps one the same way; its commit is the same path with the token
  const inst = kept(await send(oc.env, 'POST', `/apps/${appId}/instances`, {}, { 'x-prepare-only': 'true' }));
  assert.equal(inst.commit_url, `${oc.env.server.url}/api/v1/apps/${appId}/instances`);
  assert.equal((await pendingApprovals(id)).length, 2, 'prepare-only, but the device must still be allowed: it waits for approval too');

  await quietly(() => addDevice({ ...owner, appAddress: contract, deviceId: provision.device_id! }));
  const made = await send(oc.env, 'POST', `/cvms/${id}/commit-replica`, { token: r.commit_token, compose_hash: '', transaction_hash: 'already-registered' });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  // the device is allowed now: the KMS releases the replica's keys
  assert.equal((await idle(oc.env, made.body.vm_uuid)).status, 'running');
  const instance = await send(oc.env, 'POST', `/apps/${appId}/instances`, { token: inst.commit_token, compose_hash: inst.compose_hash, transaction_hash: 'already-registered' });
  assert.equal(instance.status, 200, JSON.stringify(instance.body));
  assert.equal(await replicasOf(appId), 3);
});

test('PHALA KMS replicas are made at once; X-Prepare-Only and commit-replica are refused for them', async () => {
  const vm = await deployRunning(oc.env, 'oc-phala-replica', compose('oc-phala-replica'));
  const id = vm.vm_uuid!;
  const prep = await send(oc.env, 'POST', `/cvms/${id}/replicas`, {}, { 'x-prepare-only': 'true' });
  assert.equal(prep.status, 400);
  assert.match(prep.body.detail.message, /PHALA KMS, whose replicas are made at once/);
  const commit = await send(oc.env, 'POST', `/cvms/${id}/commit-replica`, { token: 'ctk_x', compose_hash: '', transaction_hash: 'already-registered' });
  assert.equal(commit.status, 400);
  assert.equal(await replicasOf(vm.app_id!), 1);
});
