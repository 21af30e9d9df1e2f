/** Our KMS and AppAuth contracts on a fresh anvil: deploy, register, policies, the boot checks, owner-only calls. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  keccak256,
  parseEventLogs,
  toHex,
  http,
  zeroAddress,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { appAuthAbi, kmsAuthAbi } from './artifacts.ts';
import { bootInfo } from './boot-info.ts';
import { MULTICALL3_ADDRESS, startChain, type LocalChain } from './chain.ts';
import { chainAt, deployKms, nextAppId, type DeployedKms } from './deploy.ts';

const h = (label: string): Hex => keccak256(toHex(label));
const COMPOSE_A = h('compose a');
const COMPOSE_B = h('compose b');
const DEVICE_1 = h('device 1');
const DEVICE_2 = h('device 2');
const OS_IMAGE = h('os image');

let chain: LocalChain;
let client: PublicClient;
let kms: DeployedKms;

function walletOf(i: number) {
  const account = privateKeyToAccount(chain.accounts[i]!.privateKey);
  return createWalletClient({ account, chain: chainAt(chain.rpcUrl, chain.chainId), transport: http(chain.rpcUrl) });
}

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await client.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, 'success', `transaction ${hash}`);
  return receipt;
}

/** The custom error (or `Error(string)` reason) a call reverts with. */
async function revertOf(call: () => Promise<unknown>): Promise<{ name: string; args: readonly unknown[] }> {
  try {
    await call();
  } catch (e) {
    const reverted = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : undefined;
    if (reverted instanceof ContractFunctionRevertedError) {
      if (reverted.data) return { name: reverted.data.errorName, args: reverted.data.args ?? [] };
      return { name: 'Error', args: [reverted.reason] };
    }
    throw e;
  }
  assert.fail('the call did not revert');
}

/** Deploys an app through the factory's 5-argument form from account `from`; answers its id and the receipt. */
async function deployApp(from: number, args: { allowAnyDevice?: boolean; device?: Hex; compose?: Hex } = {}) {
  const wallet = walletOf(from);
  const hash = await wallet.writeContract({
    address: kms.address,
    abi: kmsAuthAbi,
    functionName: 'deployAndRegisterApp',
    args: [wallet.account.address, false, args.allowAnyDevice ?? false, args.device ?? zeroHash, args.compose ?? zeroHash],
  });
  const receipt = await mined(hash);
  const [deployed] = parseEventLogs({ abi: kmsAuthAbi, eventName: 'AppDeployedViaFactory', logs: receipt.logs });
  assert.ok(deployed, 'AppDeployedViaFactory in the receipt');
  return { appId: deployed.args.appId, deployer: deployed.args.deployer, receipt };
}

async function readApp(app: Address, functionName: 'allowedComposeHashes' | 'allowedDeviceIds', arg: Hex): Promise<boolean> {
  return functionName === 'allowedComposeHashes'
    ? client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [arg] })
    : client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [arg] });
}

before(async () => {
  chain = await startChain();
  client = createPublicClient({ chain: chainAt(chain.rpcUrl, chain.chainId), transport: http(chain.rpcUrl) });
  kms = await deployKms({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, privateKey: chain.accounts[0]!.privateKey, osImageHashes: [OS_IMAGE] });
});

after(async () => {
  await chain?.stop();
});

describe('the local chain', () => {
  test('answers on 127.0.0.1 with the chain id asked, funded accounts, and Multicall3 at its usual address', async () => {
    assert.match(chain.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await client.getChainId(), chain.chainId);
    assert.equal(chain.accounts.length, 10);
    assert.ok((await client.getBalance({ address: chain.accounts[1]!.address })) > 10n ** 21n);
    assert.notEqual(await client.getCode({ address: MULTICALL3_ADDRESS }), undefined);
    // A batched read through it, as viem's multicall (and so the official SDK) does.
    const chainWithMulticall = { ...chainAt(chain.rpcUrl, chain.chainId), contracts: { multicall3: { address: MULTICALL3_ADDRESS } } };
    const batching = createPublicClient({ chain: chainWithMulticall, transport: http(chain.rpcUrl) });
    const results = await batching.multicall({
      contracts: [
        { address: kms.address, abi: kmsAuthAbi, functionName: 'owner' },
        { address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [OS_IMAGE] },
      ],
      allowFailure: false,
    });
    assert.deepEqual(results, [kms.owner, true]);
  });

  test('stop() ends anvil: its port no longer answers', async () => {
    const other = await startChain({ chainId: 8453, accounts: 1 });
    const otherClient = createPublicClient({ transport: http(other.rpcUrl, { retryCount: 0 }) });
    assert.equal(await otherClient.getChainId(), 8453);
    await other.stop();
    await assert.rejects(otherClient.getChainId());
    assert.throws(() => process.kill(other.pid, 0), /ESRCH/);
  });
});

describe('KmsAuth', () => {
  test('deployKms: owner, an AppAuth to clone, the OS images given', async () => {
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'owner' }), chain.accounts[0]!.address);
    assert.notEqual(kms.appImplementation, zeroAddress);
    assert.ok((await client.getCode({ address: kms.appImplementation }))?.length);
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [OS_IMAGE] }), true);
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [h('other')] }), false);
  });

  test('deployAndRegisterApp (5 arguments): AppDeployedViaFactory names the app and deployer; the app is registered and owned by initialOwner', async () => {
    const predicted = await nextAppId(client, kms.address);
    const { appId, deployer, receipt } = await deployApp(1, { compose: COMPOSE_A, device: DEVICE_1 });
    assert.equal(appId, predicted, 'the app id is the CREATE address at the KMS contract\'s nonce');
    assert.equal(deployer, chain.accounts[1]!.address);
    // topics[1] is the app id, as the official SDK and dstack's tools read it.
    const log = receipt.logs.find((l) => l.address.toLowerCase() === kms.address.toLowerCase() && l.topics[0] === '0xfd86d7f6962eba3b7a3bf9129c06c0b2f885e1c61ef2c9f0dbb856be0deefdee');
    assert.equal(log?.topics[1], `0x${'0'.repeat(24)}${appId.slice(2).toLowerCase()}`);
    const registered = parseEventLogs({ abi: kmsAuthAbi, eventName: 'AppRegistered', logs: receipt.logs });
    assert.deepEqual(registered.map((e) => e.args.appId), [appId]);
    const added = parseEventLogs({ abi: appAuthAbi, eventName: 'ComposeHashAdded', logs: receipt.logs });
    assert.deepEqual(added.map((e) => [e.address.toLowerCase(), e.args.composeHash]), [[appId.toLowerCase(), COMPOSE_A]]);

    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'registeredApps', args: [appId] }), true);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'owner' }), chain.accounts[1]!.address);
    assert.equal(await readApp(appId, 'allowedComposeHashes', COMPOSE_A), true);
    assert.equal(await readApp(appId, 'allowedComposeHashes', COMPOSE_B), false);
    assert.equal(await readApp(appId, 'allowedDeviceIds', DEVICE_1), true);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowAnyDevice' }), false);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'requireTcbUpToDate' }), false);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'version' }), 2n);

    // The next deploy takes the next id.
    const second = await deployApp(2);
    assert.notEqual(second.appId, appId);
    assert.equal(await readApp(second.appId, 'allowedComposeHashes', zeroHash), false, 'a zero compose hash is not added');
  });

  test('deployAndRegisterApp (6 arguments) with requireTcbUpToDate', async () => {
    const wallet = walletOf(1);
    const receipt = await mined(await wallet.writeContract({
      address: kms.address,
      abi: kmsAuthAbi,
      functionName: 'deployAndRegisterApp',
      args: [wallet.account.address, true, true, true, zeroHash, COMPOSE_A],
    }));
    const [deployed] = parseEventLogs({ abi: kmsAuthAbi, eventName: 'AppDeployedViaFactory', logs: receipt.logs });
    const appId = deployed!.args.appId;
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'requireTcbUpToDate' }), true);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowAnyDevice' }), true);
    const check = (tcbStatus: string) =>
      client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'isAppAllowed', args: [bootInfo({ appId, composeHash: COMPOSE_A, osImageHash: OS_IMAGE, tcbStatus })] });
    assert.deepEqual(await check('OutOfDate'), [false, 'TCB status is not up to date']);
    assert.deepEqual(await check('UpToDate'), [true, '']);
  });

  test('registerApp is open to anyone but refuses the zero address', async () => {
    const stranger = walletOf(3);
    const someAddress = privateKeyToAccount(chain.accounts[4]!.privateKey).address;
    const receipt = await mined(await stranger.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'registerApp', args: [someAddress] }));
    assert.deepEqual(parseEventLogs({ abi: kmsAuthAbi, eventName: 'AppRegistered', logs: receipt.logs }).map((e) => e.args.appId), [someAddress]);
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'registeredApps', args: [someAddress] }), true);
    const refusal = await revertOf(() => client.simulateContract({ account: stranger.account, address: kms.address, abi: kmsAuthAbi, functionName: 'registerApp', args: [zeroAddress] }));
    assert.deepEqual(refusal, { name: 'Error', args: ['Invalid app ID'] });
  });

  test('isAppAllowed: registered, OS image, a contract at the app id, then the app\'s own answer', async () => {
    const { appId } = await deployApp(1, { compose: COMPOSE_A, device: DEVICE_1 });
    const check = (fields: Parameters<typeof bootInfo>[0]) =>
      client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'isAppAllowed', args: [bootInfo(fields)] });
    const good = { appId, composeHash: COMPOSE_A, deviceId: DEVICE_1, osImageHash: OS_IMAGE };
    assert.deepEqual(await check(good), [true, '']);
    assert.deepEqual(await check({ ...good, appId: privateKeyToAccount(chain.accounts[5]!.privateKey).address }), [false, 'App not registered']);
    assert.deepEqual(await check({ ...good, osImageHash: h('unknown image') }), [false, 'OS image is not allowed']);
    assert.deepEqual(await check({ ...good, composeHash: COMPOSE_B }), [false, 'Compose hash not allowed']);
    assert.deepEqual(await check({ ...good, deviceId: DEVICE_2 }), [false, 'Device not allowed']);
    // An address registered without code behind it.
    const empty = privateKeyToAccount(chain.accounts[6]!.privateKey).address;
    await mined(await walletOf(6).writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'registerApp', args: [empty] }));
    assert.deepEqual(await check({ ...good, appId: empty }), [false, 'App not deployed or invalid address']);
    // Order: an unregistered app on an unknown image is refused for not being registered.
    assert.deepEqual(await check({ ...good, appId: privateKeyToAccount(chain.accounts[7]!.privateKey).address, osImageHash: h('x') }), [false, 'App not registered']);
  });

  test('isKmsAllowed: TCB, OS image, aggregated MR, KMS device, in that order', async () => {
    const owner = walletOf(0);
    const mr = h('kms mr');
    const device = h('kms device');
    const check = (fields: Partial<Parameters<typeof bootInfo>[0]>) =>
      client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'isKmsAllowed', args: [bootInfo({ appId: zeroAddress, osImageHash: OS_IMAGE, mrAggregated: mr, deviceId: device, ...fields })] });
    assert.deepEqual(await check({}), [false, 'Aggregated MR not allowed']);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'addKmsAggregatedMr', args: [mr] }));
    assert.deepEqual(await check({}), [false, 'KMS is not allowed to boot on this device']);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'addKmsDevice', args: [device] }));
    assert.deepEqual(await check({}), [true, '']);
    assert.deepEqual(await check({ tcbStatus: 'OutOfDate' }), [false, 'TCB status is not up to date']);
    assert.deepEqual(await check({ osImageHash: h('nope') }), [false, 'OS image is not allowed']);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'removeKmsDevice', args: [device] }));
    assert.deepEqual(await check({}), [false, 'KMS is not allowed to boot on this device']);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'removeKmsAggregatedMr', args: [mr] }));
    assert.deepEqual(await check({}), [false, 'Aggregated MR not allowed']);
  });

  test('the owner sets KMS info, the gateway app id and OS images; anyone else is refused with OwnableUnauthorizedAccount', async () => {
    const owner = walletOf(0);
    const stranger = walletOf(1);
    const info = { k256Pubkey: '0x02aa' as Hex, caPubkey: '0x3059' as Hex, quote: '0x01' as Hex, eventlog: '0x5b5d' as Hex };
    const set = await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'setKmsInfo', args: [info] }));
    assert.deepEqual(parseEventLogs({ abi: kmsAuthAbi, eventName: 'KmsInfoSet', logs: set.logs }).map((e) => e.args.k256Pubkey), ['0x02aa']);
    assert.deepEqual(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'kmsInfo' }), ['0x02aa', '0x3059', '0x01', '0x5b5d']);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'setKmsQuote', args: ['0x0203'] }));
    assert.equal((await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'kmsInfo' }))[2], '0x0203');
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'setGatewayAppId', args: ['any'] }));
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'gatewayAppId' }), 'any');
    const image = h('image 2');
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'addOsImageHash', args: [image] }));
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [image] }), true);
    await mined(await owner.writeContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'removeOsImageHash', args: [image] }));
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [image] }), false);

    const refused = { name: 'OwnableUnauthorizedAccount', args: [stranger.account.address] };
    const as = (functionName: 'addOsImageHash' | 'removeOsImageHash' | 'addKmsAggregatedMr' | 'addKmsDevice', arg: Hex) =>
      revertOf(() => client.simulateContract({ account: stranger.account, address: kms.address, abi: kmsAuthAbi, functionName, args: [arg] }));
    assert.deepEqual(await as('addOsImageHash', image), refused);
    assert.deepEqual(await as('removeOsImageHash', OS_IMAGE), refused);
    assert.deepEqual(await as('addKmsAggregatedMr', image), refused);
    assert.deepEqual(await as('addKmsDevice', image), refused);
    assert.deepEqual(await revertOf(() => client.simulateContract({ account: stranger.account, address: kms.address, abi: kmsAuthAbi, functionName: 'setKmsInfo', args: [info] })), refused);
    assert.deepEqual(await revertOf(() => client.simulateContract({ account: stranger.account, address: kms.address, abi: kmsAuthAbi, functionName: 'setGatewayAppId', args: ['x'] })), refused);
    assert.deepEqual(await revertOf(() => client.simulateContract({ account: stranger.account, address: kms.address, abi: kmsAuthAbi, functionName: 'setAppImplementation', args: [kms.appImplementation] })), refused);
    assert.equal(await client.readContract({ address: kms.address, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [OS_IMAGE] }), true, 'a refused call changed nothing');
  });

  test('ERC-165: the interfaces dstack\'s contracts declare', async () => {
    const { appId } = await deployApp(1);
    const supports = (address: Address, abi: typeof appAuthAbi | typeof kmsAuthAbi, id: Hex) =>
      client.readContract({ address, abi, functionName: 'supportsInterface', args: [id] });
    assert.equal(await supports(appId, appAuthAbi, '0x1e079198'), true);
    assert.equal(await supports(appId, appAuthAbi, '0x8fd37527'), true);
    assert.equal(await supports(appId, appAuthAbi, '0x01ffc9a7'), true);
    assert.equal(await supports(appId, appAuthAbi, '0xffffffff'), false);
    assert.equal(await supports(kms.address, kmsAuthAbi, '0x1e079198'), true);
    assert.equal(await supports(kms.address, kmsAuthAbi, '0x8fd37527'), false);
  });
});

describe('AppAuth', () => {
  test('compose hashes: add and remove by the owner, with their events', async () => {
    const { appId } = await deployApp(1);
    const owner = walletOf(1);
    const added = await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'addComposeHash', args: [COMPOSE_B] }));
    assert.deepEqual(parseEventLogs({ abi: appAuthAbi, eventName: 'ComposeHashAdded', logs: added.logs }).map((e) => e.args.composeHash), [COMPOSE_B]);
    const [policy] = parseEventLogs({ abi: appAuthAbi, eventName: 'PolicyChanged', logs: added.logs });
    assert.deepEqual(policy!.args, { actor: owner.account.address, policy: keccak256(toHex('compose-hash')), value: COMPOSE_B, enabled: true });
    assert.equal(await readApp(appId, 'allowedComposeHashes', COMPOSE_B), true);

    const removed = await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'removeComposeHash', args: [COMPOSE_B] }));
    assert.deepEqual(parseEventLogs({ abi: appAuthAbi, eventName: 'ComposeHashRemoved', logs: removed.logs }).map((e) => e.args.composeHash), [COMPOSE_B]);
    assert.equal(await readApp(appId, 'allowedComposeHashes', COMPOSE_B), false);
  });

  test('devices and allow-any-device decide the device check', async () => {
    const { appId } = await deployApp(1, { compose: COMPOSE_A });
    const owner = walletOf(1);
    const check = (deviceId: Hex) =>
      client.readContract({ address: appId, abi: appAuthAbi, functionName: 'isAppAllowed', args: [bootInfo({ appId, composeHash: COMPOSE_A, deviceId })] });
    assert.deepEqual(await check(DEVICE_1), [false, 'Device not allowed']);

    const added = await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'addDevice', args: [DEVICE_1] }));
    assert.deepEqual(parseEventLogs({ abi: appAuthAbi, eventName: 'DeviceAdded', logs: added.logs }).map((e) => e.args.deviceId), [DEVICE_1]);
    assert.deepEqual(await check(DEVICE_1), [true, '']);
    assert.deepEqual(await check(DEVICE_2), [false, 'Device not allowed']);

    const any = await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'setAllowAnyDevice', args: [true] }));
    assert.deepEqual(parseEventLogs({ abi: appAuthAbi, eventName: 'AllowAnyDeviceSet', logs: any.logs }).map((e) => e.args.allowAny), [true]);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'allowAnyDevice' }), true);
    assert.deepEqual(await check(DEVICE_2), [true, '']);

    await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'setAllowAnyDevice', args: [false] }));
    const removed = await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'removeDevice', args: [DEVICE_1] }));
    assert.deepEqual(parseEventLogs({ abi: appAuthAbi, eventName: 'DeviceRemoved', logs: removed.logs }).map((e) => e.args.deviceId), [DEVICE_1]);
    assert.equal(await readApp(appId, 'allowedDeviceIds', DEVICE_1), false);
    assert.deepEqual(await check(DEVICE_1), [false, 'Device not allowed']);
    // The compose check comes before the device check.
    assert.deepEqual(
      await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'isAppAllowed', args: [bootInfo({ appId, composeHash: COMPOSE_B, deviceId: DEVICE_2 })] }),
      [false, 'Compose hash not allowed'],
    );
  });

  test('only the owner changes the policy; the factory\'s apps and the implementation cannot be initialised again', async () => {
    const { appId } = await deployApp(1, { compose: COMPOSE_A });
    const stranger = walletOf(2);
    const refused = { name: 'OwnableUnauthorizedAccount', args: [stranger.account.address] };
    const attempt = (functionName: 'addComposeHash' | 'removeComposeHash' | 'addDevice' | 'removeDevice', arg: Hex) =>
      revertOf(() => client.simulateContract({ account: stranger.account, address: appId, abi: appAuthAbi, functionName, args: [arg] }));
    assert.deepEqual(await attempt('addComposeHash', COMPOSE_B), refused);
    assert.deepEqual(await attempt('removeComposeHash', COMPOSE_A), refused);
    assert.deepEqual(await attempt('addDevice', DEVICE_1), refused);
    assert.deepEqual(await attempt('removeDevice', DEVICE_1), refused);
    for (const functionName of ['setAllowAnyDevice', 'setRequireTcbUpToDate'] as const) {
      assert.deepEqual(await revertOf(() => client.simulateContract({ account: stranger.account, address: appId, abi: appAuthAbi, functionName, args: [true] })), refused);
    }
    assert.deepEqual(await revertOf(() => client.simulateContract({ account: stranger.account, address: appId, abi: appAuthAbi, functionName: 'disableUpgrades' })), refused);
    // A real transaction from a stranger is mined as reverted and changes nothing.
    const hash = await stranger.writeContract({ address: appId, abi: appAuthAbi, functionName: 'addComposeHash', args: [COMPOSE_B], gas: 200_000n });
    assert.equal((await client.waitForTransactionReceipt({ hash })).status, 'reverted');
    assert.equal(await readApp(appId, 'allowedComposeHashes', COMPOSE_B), false);

    for (const address of [appId, kms.appImplementation]) {
      const again = await revertOf(() => client.simulateContract({
        account: stranger.account,
        address,
        abi: appAuthAbi,
        functionName: 'initialize',
        args: [stranger.account.address, false, true, zeroHash, COMPOSE_B],
      }));
      assert.deepEqual(again, { name: 'InvalidInitialization', args: [] }, address);
    }
  });

  test('ownership moves in two steps: the new owner must accept', async () => {
    const { appId } = await deployApp(1);
    const owner = walletOf(1);
    const next = walletOf(2);
    await mined(await owner.writeContract({ address: appId, abi: appAuthAbi, functionName: 'transferOwnership', args: [next.account.address] }));
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'owner' }), owner.account.address);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'pendingOwner' }), next.account.address);
    assert.deepEqual(
      await revertOf(() => client.simulateContract({ account: walletOf(3).account, address: appId, abi: appAuthAbi, functionName: 'acceptOwnership' })),
      { name: 'OwnableUnauthorizedAccount', args: [walletOf(3).account.address] },
    );
    await mined(await next.writeContract({ address: appId, abi: appAuthAbi, functionName: 'acceptOwnership' }));
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'owner' }), next.account.address);
    assert.equal(await client.readContract({ address: appId, abi: appAuthAbi, functionName: 'pendingOwner' }), zeroAddress);
    // The new owner governs; the old one no longer does.
    await mined(await next.writeContract({ address: appId, abi: appAuthAbi, functionName: 'addComposeHash', args: [COMPOSE_B] }));
    assert.deepEqual(
      (await revertOf(() => client.simulateContract({ account: owner.account, address: appId, abi: appAuthAbi, functionName: 'addComposeHash', args: [COMPOSE_A] }))).name,
      'OwnableUnauthorizedAccount',
    );
  });
});
