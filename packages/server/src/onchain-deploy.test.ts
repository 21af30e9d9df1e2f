/**
 * The on-chain KMS deploy (`kms: "ETHEREUM"`) with the official SDK on a real local chain: Phala's documented
 * example to `running`, and each refusal of the commit (the chain is asked before anything is written).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceError, createClient } from '@phala/cloud';
import { settle } from './testing/deploy.ts';
import { deployOnChain, startOnChainEnv, startTestChain, type OnChainEnv } from './testing/chain.ts';
import { startTestEnv } from './testing/harness.ts';

const compose = (name: string) => `services:
  ${name}:
    image: nginx:latest
    ports:
      - "80:80"
`;

let oc: OnChainEnv;
before(async () => {
  oc = await startOnChainEnv();
});
after(() => oc?.close());

/** Rows a refused commit must leave as they were. */
async function counts() {
  const [row] = await oc.env.server.db.query<{ cvms: number; apps: number; committed: number; operations: number }>(
    `SELECT (SELECT count(*)::int FROM cvms) AS cvms, (SELECT count(*)::int FROM apps) AS apps,
            (SELECT count(*)::int FROM provisions WHERE committed_at IS NOT NULL) AS committed,
            (SELECT count(*)::int FROM operations) AS operations`,
  );
  return row;
}

async function refused(commit: () => Promise<unknown>, status: number, code: string, message: RegExp) {
  const before = await counts();
  const err = await commit().then(() => null, (e: unknown) => e);
  assert.ok(err instanceof ResourceError, `expected a ResourceError, got ${String(err)}`);
  assert.equal(err.status, status, err.message);
  assert.equal(err.errorCode, code, err.message);
  assert.match(err.message, message);
  assert.deepEqual(await counts(), before, 'a refused commit wrote something');
}

test('Phala\'s on-chain example as written: provision (ETHEREUM) → deployAppAuth → commit → running', async () => {
  const { provision, deployed, commit } = await deployOnChain(oc, 'onchain-app', compose('web'));
  // what the on-chain flow needs from the provision: no app id yet, the chain and the KMS contract, the device
  assert.equal(provision.app_id ?? null, null);
  assert.equal(provision.kms_info?.chain_id, 1);
  assert.equal(provision.kms_info?.kms_contract_address, oc.chain.config.kmsContract);
  assert.equal(provision.kms_id, 'kms-ethereum');
  assert.match(provision.device_id ?? '', /^[0-9a-f]{64}$/);
  assert.match(provision.os_image_hash ?? '', /^[0-9a-f]{64}$/);
  const vm = await commit();
  assert.equal(vm.app_id, deployed.appId.slice(2).toLowerCase());
  const running = await settle(oc.env, vm.vm_uuid!, 'running');
  assert.equal(running.app_id, deployed.appId.slice(2).toLowerCase());
  const [app] = await oc.env.server.db.query<{ contract_address: string; deployer_address: string; kms_id: string }>(
    'SELECT contract_address, deployer_address, kms_id FROM apps WHERE app_id = $1',
    [vm.app_id],
  );
  assert.equal(app.kms_id, 'kms-ethereum');
  assert.equal(app.contract_address?.toLowerCase(), deployed.appAuthAddress.toLowerCase());
  assert.equal(app.deployer_address?.toLowerCase(), oc.chain.user.address.toLowerCase());
});

test('an app that is not registered in the KMS contract is refused (ERR-01-010), nothing written', async () => {
  const { client, provision } = await deployOnChain(oc, 'onchain-unregistered', compose('a'));
  const stranger = `0x${'5a'.repeat(20)}`;
  await refused(
    () => client.commitCvmProvision({ app_id: stranger, compose_hash: provision.compose_hash, contract_address: stranger }),
    400, 'ERR-01-010', /is not registered in the ETHEREUM KMS contract/,
  );
});

test('a compose hash the app contract does not allow is refused (ERR-01-008), nothing written', async () => {
  const { commit } = await deployOnChain(oc, 'onchain-nohash', compose('b'), { composeHash: '' });
  await refused(commit, 400, 'ERR-01-008', /is not allowed by app .*addComposeHash/);
});

test('a device the app contract does not allow is refused (ERR-01-011); allowAnyDevice is accepted', async () => {
  const { commit } = await deployOnChain(oc, 'onchain-otherdevice', compose('c'), { deviceId: '7e'.repeat(32) });
  await refused(commit, 400, 'ERR-01-011', /is not allowed by app .*addDevice/);
  const any = await deployOnChain(oc, 'onchain-anydevice', compose('d'), { deviceId: '', allowAnyDevice: true });
  const vm = await any.commit();
  assert.equal(vm.name, 'onchain-anydevice');
});

test('contract_address must be the app id', async () => {
  const { client, provision, deployed } = await deployOnChain(oc, 'onchain-mismatch', compose('e'));
  await refused(
    () => client.commitCvmProvision({ app_id: deployed.appId, compose_hash: provision.compose_hash, contract_address: `0x${'66'.repeat(20)}` }),
    400, 'ERR-02-008', /is not app_id/,
  );
});

test('a chain that does not answer: the commit is a 503 ERR-02-016 with Retry-After, and nothing is written', async () => {
  const chain = await startTestChain();
  const env = await startTestEnv({ config: { chains: [chain.config] } });
  try {
    const local: OnChainEnv = { env, chain, close: async () => {} };
    const { provision, deployed } = await deployOnChain(local, 'onchain-down', compose('f'));
    await chain.stop();
    const res = await fetch(`${env.apiUrl}/cvms`, {
      method: 'POST',
      headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ app_id: deployed.appId, compose_hash: provision.compose_hash, contract_address: deployed.appAuthAddress }),
    });
    const body = (await res.json()) as { detail: { error_code: string; message: string } };
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(body.detail.error_code, 'ERR-02-016');
    assert.match(body.detail.message, /The ETHEREUM chain \(id 1\) did not answer/);
    const [row] = await env.server.db.query<{ cvms: number; committed: number }>(
      'SELECT (SELECT count(*)::int FROM cvms) AS cvms, (SELECT count(*)::int FROM provisions WHERE committed_at IS NOT NULL) AS committed',
    );
    assert.deepEqual(row, { cvms: 0, committed: 0 });
  } finally {
    await env.close();
    await chain.stop();
  }
});

test('a chain no longer configured: its KMS is not offered (GET /kms, GET /teepods/available) and provision refuses it', async () => {
  const other = await startOnChainEnv();
  try {
    const list = async () => {
      const r = await fetch(`${other.env.apiUrl}/kms`, { headers: { 'x-api-key': other.env.apiKey } });
      return ((await r.json()) as { items: { kms_type?: string; slug: string }[] }).items.map((k) => k.slug);
    };
    assert.deepEqual(await list(), ['phala', 'ethereum']);
    // provisioned while the chain was configured, committed after it is gone
    const client = createClient({ apiKey: other.env.apiKey, baseURL: other.env.apiUrl });
    const before = await client.provisionCvm({ name: 'before-gone', compose_file: { docker_compose_file: compose('h') }, kms: 'ETHEREUM' });
    await other.env.stopServer();
    other.env.config.chains = [];
    await other.env.restartServer();
    assert.deepEqual(await list(), ['phala']);
    const nodes = await fetch(`${other.env.apiUrl}/teepods/available`, { headers: { 'x-api-key': other.env.apiKey } });
    const body = (await nodes.json()) as { kms_list: { slug: string }[]; nodes: { support_onchain_kms: boolean }[] };
    assert.deepEqual(body.kms_list.map((k) => k.slug), ['phala']);
    assert.equal(body.nodes[0]!.support_onchain_kms, false);
    const res = await fetch(`${other.env.apiUrl}/cvms/provision`, {
      method: 'POST',
      headers: { 'x-api-key': other.env.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'gone-chain', compose_file: { docker_compose_file: compose('g') }, kms: 'ETHEREUM' }),
    });
    const e = (await res.json()) as { detail: { error_code: string; message: string } };
    assert.equal(res.status, 400, e.detail.message);
    assert.equal(e.detail.error_code, 'ERR-02-011');
    assert.match(e.detail.message, /no chain configured on this server any more.*OPENCVM_ETHEREUM_RPC_URL/);
    const late = await fetch(`${other.env.apiUrl}/cvms`, {
      method: 'POST',
      headers: { 'x-api-key': other.env.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ app_id: `0x${'3c'.repeat(20)}`, compose_hash: before.compose_hash }),
    });
    const le = (await late.json()) as { detail: { error_code: string; message: string } };
    assert.equal(late.status, 400, le.detail.message);
    assert.equal(le.detail.error_code, 'ERR-02-011');
    assert.match(le.detail.message, /no chain configured on this server any more/);
    const [{ n }] = await other.env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cvms');
    assert.equal(n, 0);
  } finally {
    await other.close();
  }
});
