/**
 * What the chain (ETHEREUM KMS) or the records (PHALA KMS) allow, through the official SDK on a real local chain:
 * `getKmsOnChainDetail`, `getAppDeviceAllowlist`, `checkCvmIsAllowed`, `checkAppIsAllowed`,
 * `checkAppCvmsIsAllowed`. Every answer follows the chain as it is at the moment of the request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkAppCvmsIsAllowed,
  checkAppIsAllowed,
  checkCvmIsAllowed,
  createClient,
  getAppDeviceAllowlist,
  ResourceError,
} from '@phala/cloud';
import { defaultImages } from '@opencvm/vmm-sim';
import { deployOnChain, sendToApp, sendToKms, startOnChainEnv, startTestChain, type OnChainEnv } from './testing/chain.ts';
import { startTestEnv } from './testing/harness.ts';

const compose = (name: string) => `services:
  ${name}:
    image: nginx:latest
`;

let oc: OnChainEnv;
/** the device of the test env's one node */
let device: string;
let nodeId: number;
before(async () => {
  oc = await startOnChainEnv({}, { gatewayAppId: 'ab'.repeat(20) });
  const [node] = await oc.env.server.db.query<{ id: number; device_id: string }>('SELECT id, device_id FROM nodes');
  device = node.device_id;
  nodeId = node.id;
});
after(() => oc?.close());

/** The official SDK's client, with the standalone actions it does not bind. */
function sdkOf(apiKey: string) {
  const client = createClient({ apiKey, baseURL: oc.env.apiUrl });
  return Object.assign(client, {
    getAppDeviceAllowlist: (r: Parameters<typeof getAppDeviceAllowlist>[1]) => getAppDeviceAllowlist(client, r),
    checkCvmIsAllowed: (r: Parameters<typeof checkCvmIsAllowed>[1]) => checkCvmIsAllowed(client, r),
    checkAppIsAllowed: (r: Parameters<typeof checkAppIsAllowed>[1]) => checkAppIsAllowed(client, r),
    checkAppCvmsIsAllowed: (r: Parameters<typeof checkAppCvmsIsAllowed>[1]) => checkAppCvmsIsAllowed(client, r),
  });
}
const sdk = () => sdkOf(oc.env.apiKey);

async function refusal(call: () => Promise<unknown>): Promise<ResourceError> {
  const err = await call().then(() => null, (e: unknown) => e);
  assert.ok(err instanceof ResourceError, `expected a ResourceError, got ${String(err)}`);
  return err;
}

/** An on-chain app committed on the env's node (it need not run: the allow-lists are read from the chain). */
async function onChainApp(name: string, o: Parameters<typeof deployOnChain>[3] = {}) {
  const d = await deployOnChain(oc, name, compose(name), o);
  const vm = await d.commit();
  return { ...d, vm, appId: vm.app_id! };
}

test('getKmsOnChainDetail: the KMS contract, the nodes\' devices (kmsAllowedDeviceIds) and OS images (allowedOsImages), as the chain says now', async () => {
  const before = await sdk().getKmsOnChainDetail({ chain: 'ethereum' });
  assert.equal(before.chain_name, 'ethereum');
  assert.equal(before.chain_id, 1);
  assert.equal(before.contracts.length, 1);
  const [c] = before.contracts;
  assert.equal(c.contract_address, oc.chain.config.kmsContract);
  assert.equal(c.chain_id, 1);
  assert.deepEqual(c.devices, [{ device_id: device, node_name: 'sim-test', on_chain_allowed: false }]);
  // the test chain allows the simulated host's production images, not its dev images
  const images = defaultImages();
  assert.equal(c.os_images.length, images.length);
  for (const i of images) {
    const row = c.os_images.find((o) => o.os_image_hash === i.osImageHash);
    assert.ok(row, `image ${i.name} is listed`);
    assert.equal(row.on_chain_allowed, !i.isDev, `${i.name} (dev: ${i.isDev})`);
  }
  // the KMS owner allows the node's device and removes a production image: the next read shows it
  const prod = images.find((i) => !i.isDev)!;
  await sendToKms(oc.chain, 'addKmsDevice', device);
  await sendToKms(oc.chain, 'removeOsImageHash', prod.osImageHash);
  try {
    const after = await sdk().getKmsOnChainDetail({ chain: 'ETHEREUM' });
    assert.equal(after.contracts[0].devices[0].on_chain_allowed, true);
    assert.equal(after.contracts[0].os_images.find((o) => o.os_image_hash === prod.osImageHash)?.on_chain_allowed, false);
  } finally {
    await sendToKms(oc.chain, 'removeKmsDevice', device);
    await sendToKms(oc.chain, 'addOsImageHash', prod.osImageHash);
  }
});

test('getKmsOnChainDetail: a chain the server does not serve is a 400 ERR-02-011 naming the configured ones', async () => {
  for (const chain of ['base', 'polygon']) {
    const err = await refusal(() => sdk().getKmsOnChainDetail({ chain }));
    assert.equal(err.status, 400);
    assert.equal(err.errorCode, 'ERR-02-011');
    assert.match(err.message, new RegExp(`No on-chain KMS "${chain}" is configured on this server: use ethereum \\(chain id 1\\)`));
  }
});

test('GET /kms and /kms/{id}: the ETHEREUM KMS carries its chain, its contract and the gateway app id its contract names', async () => {
  const list = await sdk().getKmsList({ is_onchain: true });
  assert.equal(list.items.length, 1);
  const [k] = list.items;
  assert.equal(k.chain_id, 1);
  assert.equal(k.kms_contract_address, oc.chain.config.kmsContract);
  assert.equal(k.gateway_app_id, 'ab'.repeat(20));
  const one = await sdk().getKmsInfo({ kms_id: k.id });
  assert.deepEqual({ ...one, chain: undefined }, { ...k, chain: undefined });
  const all = (await sdk().getKmsList()).items.map((x) => x.id).sort();
  assert.deepEqual(all, ['kms-ethereum', 'kms-phala-builtin']);
  const nodes = await sdk().getAvailableNodes();
  assert.equal(nodes.nodes[0].support_onchain_kms, true);
  assert.deepEqual(nodes.nodes[0].kms_list.sort(), all);
  assert.deepEqual(nodes.kms_list.map((x) => x.id).sort(), all);
});

test('getAppDeviceAllowlist (on-chain): the app contract\'s devices, read from the chain, with the app\'s CVMs', async () => {
  const { appId, vm } = await onChainApp('allow-list-app');
  const first = await sdk().getAppDeviceAllowlist({ appId });
  assert.deepEqual(first, {
    is_onchain_kms: true,
    allow_any_device: false,
    chain_id: 1,
    app_contract_address: `0x${appId}`,
    devices: [{ device_id: device, node_name: 'sim-test', cvm_ids: [vm.id], allowed_onchain: true, status: 'allowed' }],
  });
  // the owner removes the device and allows any device on the chain: the next read shows both
  await sendToApp(oc.chain, appId, { fn: 'removeDevice', hex: device });
  await sendToApp(oc.chain, appId, { fn: 'setAllowAnyDevice', allow: true });
  const second = await sdk().getAppDeviceAllowlist({ appId: `app_${appId}` });
  assert.equal(second.allow_any_device, true);
  assert.deepEqual(second.devices, [{ device_id: device, node_name: 'sim-test', cvm_ids: [vm.id], allowed_onchain: false, status: 'not-allowed' }]);
});

test('getAppDeviceAllowlist (PHALA): from the records, every node allowed; another workspace\'s app is a 404', async () => {
  const c = sdk();
  const p = await c.provisionCvm({ name: 'allow-list-phala', compose_file: { docker_compose_file: compose('p') } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const list = await c.getAppDeviceAllowlist({ appId: p.app_id! });
  assert.deepEqual(list, {
    is_onchain_kms: false,
    allow_any_device: null,
    chain_id: null,
    app_contract_address: null,
    devices: [{ device_id: device, node_name: 'sim-test', cvm_ids: [vm.id], allowed_onchain: false, status: 'allowed' }],
  });
  const foreign = await oc.env.server.services.auth.createWorkspace('allow-list-foreign');
  const stranger = sdkOf(foreign.apiKey);
  for (const call of [
    () => stranger.getAppDeviceAllowlist({ appId: p.app_id! }),
    () => stranger.checkAppIsAllowed({ appId: p.app_id!, compose_hash: p.compose_hash }),
    () => stranger.checkAppCvmsIsAllowed({ appId: p.app_id! }),
    () => stranger.checkCvmIsAllowed({ cvmId: vm.vm_uuid! }),
  ]) {
    const err = await refusal(call);
    assert.equal(err.status, 404);
    assert.equal(err.errorCode, 'ERR-03-001');
  }
});

test('checkCvmIsAllowed / checkAppIsAllowed / checkAppCvmsIsAllowed (on-chain): each part read from the chain', async () => {
  const { appId, vm, provision } = await onChainApp('is-allowed-app');
  const hash = provision.compose_hash;
  const other = 'ee'.repeat(32);
  const c = sdk();
  // the path id is sent as given: a vm_uuid, a name, app_<id>
  for (const cvmId of [vm.vm_uuid!, 'is-allowed-app', `app_${appId}`]) {
    assert.deepEqual(await c.checkCvmIsAllowed({ cvmId }), {
      cvm_id: vm.id,
      app_contract_address: `0x${appId}`,
      compose_hash: hash,
      device_id: device,
      compose_hash_allowed: true,
      allow_any_device: false,
      device_id_allowed: true,
      is_allowed: true,
      error: null,
    });
  }
  const otherHash = await c.checkCvmIsAllowed({ cvmId: vm.vm_uuid!, compose_hash: `0x${other}` });
  assert.deepEqual([otherHash.compose_hash, otherHash.compose_hash_allowed, otherHash.is_allowed], [other, false, false]);
  const otherDevice = await c.checkCvmIsAllowed({ cvmId: vm.vm_uuid!, device_id: other });
  assert.deepEqual([otherDevice.device_id, otherDevice.device_id_allowed, otherDevice.is_allowed], [other, false, false]);
  const byNode = await c.checkAppIsAllowed({ appId, compose_hash: hash, node_id: nodeId, chain_id: 1 });
  assert.deepEqual([byNode.device_id, byNode.device_id_allowed, byNode.is_allowed], [device, true, true]);
  const noDevice = await c.checkAppIsAllowed({ appId, compose_hash: hash });
  assert.deepEqual([noDevice.device_id, noDevice.device_id_allowed, noDevice.is_allowed], ['', null, true]);

  const batch = await c.checkAppCvmsIsAllowed({ appId });
  assert.equal(batch.is_onchain, true);
  assert.deepEqual([batch.total, batch.allowed_count, batch.denied_count, batch.error_count], [1, 1, 0, 0]);
  assert.equal(batch.results[0].cvm_id, vm.id);

  // the owner removes the compose hash on the chain: every check says so at once
  await sendToApp(oc.chain, appId, { fn: 'removeComposeHash', hex: hash });
  const removed = await c.checkCvmIsAllowed({ cvmId: vm.vm_uuid! });
  assert.deepEqual([removed.compose_hash_allowed, removed.device_id_allowed, removed.is_allowed], [false, true, false]);
  const batch2 = await c.checkAppCvmsIsAllowed({ appId });
  assert.deepEqual([batch2.total, batch2.allowed_count, batch2.denied_count, batch2.error_count], [1, 0, 1, 0]);
  assert.equal(batch2.results[0].is_allowed, false);

  // allowAnyDevice covers a device the contract does not list
  await sendToApp(oc.chain, appId, { fn: 'addComposeHash', hex: hash });
  await sendToApp(oc.chain, appId, { fn: 'setAllowAnyDevice', allow: true });
  const anyDevice = await c.checkAppIsAllowed({ appId, compose_hash: hash, device_id: other });
  assert.deepEqual([anyDevice.allow_any_device, anyDevice.device_id_allowed, anyDevice.is_allowed], [true, false, true]);
});

test('is-allowed refusals: a chain_id that is not the app\'s, a node that does not exist, a malformed hash', async () => {
  const { appId, provision } = await onChainApp('is-allowed-refusals');
  const c = sdk();
  const wrongChain = await refusal(() => c.checkAppIsAllowed({ appId, compose_hash: provision.compose_hash, chain_id: 8453 }));
  assert.equal(wrongChain.status, 400);
  assert.equal(wrongChain.errorCode, 'ERR-02-008');
  assert.match(wrongChain.message, /chain_id 8453 is not app .*ETHEREUM, chain id 1/);
  const noNode = await refusal(() => c.checkAppIsAllowed({ appId, compose_hash: provision.compose_hash, node_id: 99999 }));
  assert.equal(noNode.status, 400);
  assert.equal(noNode.errorCode, 'ERR-01-001');
  assert.match(noNode.message, /Node 99999 does not exist/);
  const badHash = await refusal(() => c.checkAppIsAllowed({ appId, compose_hash: 'xyz' }));
  assert.equal(badHash.status, 422);
});

test('is-allowed (PHALA): from the records: the hashes the app has run or been provisioned with, this server\'s devices', async () => {
  const c = sdk();
  const p = await c.provisionCvm({ name: 'is-allowed-phala', compose_file: { docker_compose_file: compose('q') } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const own = await c.checkCvmIsAllowed({ cvmId: vm.vm_uuid! });
  assert.deepEqual(own, {
    cvm_id: vm.id,
    app_contract_address: '',
    compose_hash: p.compose_hash,
    device_id: device,
    compose_hash_allowed: true,
    allow_any_device: false,
    device_id_allowed: true,
    is_allowed: true,
    error: null,
  });
  const never = await c.checkAppIsAllowed({ appId: p.app_id!, compose_hash: 'ab'.repeat(32), device_id: device });
  assert.deepEqual([never.compose_hash_allowed, never.is_allowed], [false, false]);
  const foreignDevice = await c.checkAppIsAllowed({ appId: p.app_id!, compose_hash: p.compose_hash, device_id: 'cd'.repeat(32) });
  assert.deepEqual([foreignDevice.device_id_allowed, foreignDevice.is_allowed], [false, false]);
  // a compose-file update provisioned (not yet committed) is a hash the app may run
  const next = await c.provisionCvmComposeFileUpdate({
    id: vm.vm_uuid!,
    app_compose: { name: 'is-allowed-phala', docker_compose_file: compose('q2') },
  });
  const provisioned = await c.checkAppIsAllowed({ appId: p.app_id!, compose_hash: next.compose_hash });
  assert.equal(provisioned.is_allowed, true);
  const batch = await c.checkAppCvmsIsAllowed({ appId: p.app_id! });
  assert.equal(batch.is_onchain, false);
  assert.deepEqual([batch.total, batch.allowed_count, batch.denied_count], [1, 1, 0]);
});

test('a chain that does not answer: 503 ERR-02-016 with Retry-After from every read of it', async () => {
  const chain = await startTestChain();
  const env = await startTestEnv({ config: { chains: [chain.config] } });
  try {
    const local: OnChainEnv = { env, chain, close: async () => {} };
    const d = await deployOnChain(local, 'down-app', compose('down'));
    const vm = await d.commit();
    await chain.stop();
    const get = (path: string, method = 'GET') =>
      fetch(`${env.apiUrl}${path}`, {
        method,
        headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ compose_hash: d.provision.compose_hash }) } : {}),
      });
    for (const [path, method] of [
      ['/kms/on-chain/ethereum', 'GET'],
      [`/apps/${vm.app_id}/device-allowlist`, 'GET'],
      [`/cvms/${vm.vm_uuid}/is-allowed`, 'POST'],
      [`/apps/${vm.app_id}/is-allowed`, 'POST'],
      [`/apps/${vm.app_id}/cvms/is-allowed`, 'POST'],
    ] as const) {
      const res = await get(path, method);
      const body = (await res.json()) as { detail: { error_code: string; message: string } };
      assert.equal(res.status, 503, `${method} ${path}`);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal(body.detail.error_code, 'ERR-02-016');
      assert.match(body.detail.message, /The ETHEREUM chain \(id 1\) did not answer/);
    }
  } finally {
    await env.close();
    await chain.stop();
  }
});
