/**
 * Key release follows the chain: a CVM of an on-chain KMS (ETHEREUM, on a real local chain) gets its app keys from
 * the KMS only while the KMS contract's `isAppAllowed` allows that boot (compose hash, device, OS image). A
 * compose hash removed on-chain makes the next boot fail with a readable `boot_error`, and stays unbootable
 * until it is added back; a chain that does not answer releases nothing. Driven with the official SDK
 * (`deployAppAuth`, `getAppEnvEncryptPubKey`, `encryptEnvVars`) and viem as the app's owner.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, deployAppAuth, encryptEnvVars } from '@phala/cloud';
import { appAuthAbi, chainAt } from '@opencvm/contracts';
import { cvmNameOf } from './services/host-vm-names.ts';
import { createPublicClient, createWalletClient, http, type Address, type Chain, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { quietly, startOnChainEnv, type OnChainEnv } from './testing/chain.ts';
import { settle } from './testing/deploy.ts';

let oc: OnChainEnv;
before(async () => {
  oc = await startOnChainEnv();
});
after(() => oc?.close());

const client = () => createClient({ apiKey: oc.env.apiKey, baseURL: oc.env.apiUrl });
const compose = (name: string) => `services:
  ${name}:
    image: nginx:latest
    environment:
      - SECRET=\${SECRET}
`;

/** The app's owner (the chain's `user`) calls its AppAuth contract. */
async function asOwner(appId: string, functionName: 'addComposeHash' | 'removeComposeHash' | 'setAllowAnyDevice', arg: string | boolean) {
  const t = oc.chain;
  const c = chainAt(t.chain.rpcUrl, t.config.chainId);
  const account = privateKeyToAccount(t.user.privateKey);
  const wallet = createWalletClient({ account, chain: c, transport: http(t.chain.rpcUrl) });
  const reader = createPublicClient({ chain: c, transport: http(t.chain.rpcUrl) });
  const address = `0x${appId.replace(/^0x/, '')}` as Address;
  const hash = functionName === 'setAllowAnyDevice'
    ? await wallet.writeContract({ address, abi: appAuthAbi, functionName, args: [arg as boolean] })
    : await wallet.writeContract({ address, abi: appAuthAbi, functionName, args: [`0x${String(arg)}` as Hex] });
  assert.equal((await reader.waitForTransactionReceipt({ hash })).status, 'success');
}

/**
 * Phala's on-chain deploy with a sealed env: provision (ETHEREUM) → deployAppAuth → the app's env key from
 * `GET /kms/{slug}/pubkey/0x<app>` → encryptEnvVars → commit; then wait until it runs.
 */
async function deployWithEnv(name: string, o: { deviceId?: string; allowAnyDevice?: boolean } = {}) {
  const c = client();
  const provision = await c.provisionCvm({ name, kms: 'ETHEREUM', compose_file: { docker_compose_file: compose(name), allowed_envs: ['SECRET'] } });
  const deployed = await quietly(() =>
    deployAppAuth({
      chain: provision.kms_info!.chain as Chain,
      rpcUrl: oc.chain.chain.rpcUrl,
      kmsContractAddress: provision.kms_info!.kms_contract_address as `0x${string}`,
      privateKey: oc.chain.user.privateKey,
      deviceId: o.deviceId ?? provision.device_id!,
      composeHash: provision.compose_hash,
    }),
  );
  const appId = deployed.appId.slice(2).toLowerCase();
  if (o.allowAnyDevice) await asOwner(appId, 'setAllowAnyDevice', true);
  const pub = await c.getAppEnvEncryptPubKey({ kms: provision.kms_info!.slug || provision.kms_info!.id, app_id: deployed.appId });
  const encrypted = await encryptEnvVars([{ key: 'SECRET', value: `${name}-secret` }], pub.public_key);
  const vm = await c.commitCvmProvision({
    app_id: deployed.appId, compose_hash: provision.compose_hash, kms_id: provision.kms_id!,
    contract_address: deployed.appAuthAddress, deployer_address: deployed.deployer,
    encrypted_env: encrypted, env_keys: ['SECRET'],
  });
  await settle(oc.env, vm.vm_uuid!, 'running');
  return { id: vm.vm_uuid!, appId, composeHash: provision.compose_hash, pubkey: pub.public_key };
}

const hostVm = (name: string) => oc.env.sim.listVms().find((v) => cvmNameOf(v.configuration.name) === name)!;

/** GET /cvms/{id} as a user sees it. */
async function cvm(id: string) {
  const r = await fetch(`${oc.env.apiUrl}/cvms/${id}`, { headers: { 'x-api-key': oc.env.apiKey } });
  return (await r.json()) as { status: string; boot_error: string | null };
}

/** Restart (or start, if it is not running) and wait until it settles as `status`. */
async function reboot(id: string, status: 'running' | 'exited') {
  const c = client();
  if ((await cvm(id)).status === 'running') await c.restartCvm({ id });
  else await c.startCvm({ id });
  await settle(oc.env, id, status, 30_000);
  return cvm(id);
}

test('an on-chain CVM boots to running: the KMS released its keys and the guest decrypted its env', async () => {
  const d = await deployWithEnv('chain-keys');
  const vm = hostVm('chain-keys');
  assert.equal(vm.status, 'running');
  assert.deepEqual(vm.guest.env, { SECRET: 'chain-keys-secret' });
  // the key the CLI and SDK fetch for an on-chain app is the one the CVM records (same derivation as PHALA)
  const byType = await client().getAppEnvEncryptPubKey({ kms: 'ethereum', app_id: d.appId });
  const byId = await client().getAppEnvEncryptPubKey({ kms: 'kms-ethereum', app_id: `0x${d.appId}` });
  assert.equal(byType.public_key, d.pubkey);
  assert.deepEqual(byId, byType);
  assert.equal((await cvm(d.id)).boot_error ?? '', '');
});

test('a compose hash removed on-chain: the next boot fails with "Compose hash not allowed", every later one too, until it is added back', async () => {
  const d = await deployWithEnv('chain-removed');
  await asOwner(d.appId, 'removeComposeHash', d.composeHash);
  const failed = await reboot(d.id, 'exited');
  assert.equal(failed.boot_error, 'failed to get app keys from KMS: Boot denied: Compose hash not allowed');
  // the old hash is never bootable again while the chain says so
  const again = await reboot(d.id, 'exited');
  assert.match(again.boot_error ?? '', /Boot denied: Compose hash not allowed/);
  // added back: it boots, env and all
  await asOwner(d.appId, 'addComposeHash', d.composeHash);
  const back = await reboot(d.id, 'running');
  assert.equal(back.status, 'running');
  assert.deepEqual(hostVm('chain-removed').guest.env, { SECRET: 'chain-removed-secret' });
});

test('a device the app does not allow: an app deployed for another device boots only while it allows any device', async () => {
  const d = await deployWithEnv('chain-device', { deviceId: '7e'.repeat(32), allowAnyDevice: true });
  await asOwner(d.appId, 'setAllowAnyDevice', false);
  const refused = await reboot(d.id, 'exited');
  assert.equal(refused.boot_error, 'failed to get app keys from KMS: Boot denied: Device not allowed');
});

test('the chain does not answer: no key is released, the boot fails saying so', async () => {
  const d = await deployWithEnv('chain-down');
  await oc.chain.stop();
  const failed = await reboot(d.id, 'exited');
  assert.match(failed.boot_error ?? '', /^failed to get app keys from KMS: Boot denied: the ETHEREUM chain did not answer: /);
});
