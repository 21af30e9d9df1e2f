/**
 * ABI compatibility with the official `@phala/cloud` SDK: its on-chain helpers (what `phala deploy --kms ethereum`,
 * `phala allow-devices …` and the SDK's users call) run against our contracts on anvil, and our contracts' state
 * shows what they did. The chain has Ethereum's chain id, so the SDK's own chain table (SUPPORTED_CHAINS, what it
 * maps a KMS's `chain_id` to) gives the viem chain, Multicall3 address included.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SUPPORTED_CHAINS,
  addComposeHash,
  addDevice,
  checkComposeHashAllowed,
  checkDeviceAllowed,
  checkOnChainPrerequisites,
  deployAppAuth,
  getAllowedDevices,
  removeDevice,
  setAllowAnyDevice,
} from '@phala/cloud';
import { createPublicClient, http, keccak256, toHex, type Address, type Chain, type Hex, type PublicClient } from 'viem';
import { appAuthAbi, kmsAuthAbi } from './artifacts.ts';
import { bootInfo } from './boot-info.ts';
import { startChain, type LocalChain } from './chain.ts';
import { deployKms, nextAppId, type DeployedKms } from './deploy.ts';
import { quietly } from './quietly.ts';

const h = (label: string): Hex => keccak256(toHex(label));
/** The SDK takes compose hashes and device ids as hex without 0x (as the Phala Cloud API answers them). */
const bare = (hex: Hex) => hex.slice(2);
const OS_IMAGE = h('os image');

let chain: LocalChain;
let viemChain: Chain;
let client: PublicClient;
let kms: DeployedKms;
let userKey: Hex;
let user: Address;

before(async () => {
  chain = await startChain({ chainId: 1 });
  viemChain = (SUPPORTED_CHAINS as Record<number, Chain>)[1]!;
  client = createPublicClient({ chain: viemChain, transport: http(chain.rpcUrl) });
  kms = await deployKms({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, privateKey: chain.accounts[0]!.privateKey, osImageHashes: [OS_IMAGE] });
  userKey = chain.accounts[1]!.privateKey;
  user = chain.accounts[1]!.address;
});

after(async () => {
  await chain?.stop();
});

test('deployAppAuth deploys and registers an app through our KMS contract; addComposeHash then allows a new hash', async () => {
  const composeHash = h('compose v1');
  const deviceId = h('device 1');
  const predicted = await nextAppId(client, kms.address);
  const deployed = await deployAppAuth({
    chain: viemChain,
    rpcUrl: chain.rpcUrl,
    kmsContractAddress: kms.address,
    privateKey: userKey,
    composeHash: bare(composeHash),
    deviceId: bare(deviceId),
  });
  assert.equal(deployed.appId, predicted);
  assert.equal(deployed.appAuthAddress, predicted);
  assert.equal(deployed.deployer, user);
  const appId = deployed.appId as Address;

  assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'registeredApps', args: [appId] }), true);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'owner' }), user);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [composeHash] }), true);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [deviceId] }), true);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowAnyDevice' }), false);
  const receipt = await client.getTransactionReceipt({ hash: deployed.transactionHash as Hex });
  assert.equal(receipt.to?.toLowerCase(), kms.address.toLowerCase());

  const next = h('compose v2');
  assert.equal(await checkComposeHashAllowed({ chain: viemChain, rpcUrl: chain.rpcUrl, appAddress: appId, composeHash: bare(next) }), false);
  const added = await quietly(() => addComposeHash({ chain: viemChain, rpcUrl: chain.rpcUrl, appId, composeHash: next, privateKey: userKey }));
  assert.equal(added.composeHash, next);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [next] }), true);
  assert.equal(await checkComposeHashAllowed({ chain: viemChain, rpcUrl: chain.rpcUrl, appAddress: appId, composeHash: bare(next) }), true);
  // The KMS now lets that app boot the new compose on its device and an allowed OS image.
  assert.deepEqual(
    await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'isAppAllowed', args: [bootInfo({ appId, composeHash: next, deviceId, osImageHash: OS_IMAGE })] }),
    [true, ''],
  );
});

test('deployAppAuth with allowAnyDevice and no device', async () => {
  const composeHash = h('any device compose');
  const deployed = await deployAppAuth({
    chain: viemChain,
    rpcUrl: chain.rpcUrl,
    kmsContractAddress: kms.address,
    privateKey: userKey,
    composeHash: bare(composeHash),
    allowAnyDevice: true,
  });
  const appId = deployed.appId as Address;
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowAnyDevice' }), true);
  assert.equal(await checkDeviceAllowed({ chain: viemChain, rpcUrl: chain.rpcUrl, appAddress: appId, deviceId: bare(h('any device')) }), true);
});

test('the device allow-list helpers (phala allow-devices …) change and read our AppAuth, batched reads included', async () => {
  const composeHash = h('devices compose');
  const deployed = await deployAppAuth({ chain: viemChain, rpcUrl: chain.rpcUrl, kmsContractAddress: kms.address, privateKey: userKey, composeHash: bare(composeHash) });
  const appAddress = deployed.appId as Address;
  const [d1, d2] = [h('node 1'), h('node 2')];
  const base = { chain: viemChain, rpcUrl: chain.rpcUrl, appAddress };

  await addDevice({ ...base, deviceId: d1, privateKey: userKey });
  await addDevice({ ...base, deviceId: bare(d2), privateKey: userKey });
  assert.equal(await client.readContract({ address: appAddress, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [d1] }), true);
  assert.equal(await client.readContract({ address: appAddress, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [d2] }), true);
  const listed = await getAllowedDevices({ ...base, deviceIds: [d1, d2, h('node 3')] });
  assert.deepEqual(listed, { appAddress, owner: user, allowAnyDevice: false, devices: [d1, d2] });

  await removeDevice({ ...base, deviceId: d1, privateKey: userKey });
  assert.equal(await client.readContract({ address: appAddress, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [d1] }), false);
  assert.equal(await checkDeviceAllowed({ ...base, deviceId: d1 }), false);
  assert.deepEqual(await checkOnChainPrerequisites({ ...base, deviceId: d2, composeHash }), { allowAnyDevice: false, deviceAllowed: true, composeHashAllowed: true });
  assert.deepEqual(await checkOnChainPrerequisites({ ...base, deviceId: d1, composeHash: h('other') }), { allowAnyDevice: false, deviceAllowed: false, composeHashAllowed: false });

  await setAllowAnyDevice({ ...base, allow: true, privateKey: userKey });
  assert.equal(await client.readContract({ address: appAddress, abi: appAuthAbi, functionName: 'allowAnyDevice' }), true);
  assert.deepEqual(await checkOnChainPrerequisites({ ...base, deviceId: d1, composeHash }), { allowAnyDevice: true, deviceAllowed: true, composeHashAllowed: true });
});

test('the SDK refuses to change an app it does not own, before sending anything', async () => {
  const deployed = await deployAppAuth({ chain: viemChain, rpcUrl: chain.rpcUrl, kmsContractAddress: kms.address, privateKey: userKey });
  const appId = deployed.appId as Address;
  const stranger = chain.accounts[2]!;
  const before = await client.getTransactionCount({ address: stranger.address });
  await assert.rejects(
    quietly(() => addComposeHash({ chain: viemChain, rpcUrl: chain.rpcUrl, appId, composeHash: h('x'), privateKey: stranger.privateKey })),
    /is not the owner of contract/,
  );
  assert.equal(await client.getTransactionCount({ address: stranger.address }), before);
  assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [h('x')] }), false);
});
