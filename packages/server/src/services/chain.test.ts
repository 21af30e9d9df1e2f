/** ChainService against a real local chain: what it reads of the KMS and app contracts, and its 503. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appAuthAbi, chainAt, kmsAuthAbi } from '@opencvm/contracts';
import { ApiError, ErrorCodes, type KmsRecord } from '@opencvm/core';
import { createPublicClient, createWalletClient, http, parseEventLogs, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { defaultImages } from '@opencvm/vmm-sim';
import { startTestChain, type TestChain } from '../testing/chain.ts';
import { ChainService } from './chain.ts';

let t: TestChain;
let chain: ChainService;
let kms: KmsRecord;
const composeHash = 'ab'.repeat(32);
const deviceId = 'cd'.repeat(32);

before(async () => {
  t = await startTestChain();
  chain = new ChainService([t.config]);
  kms = { id: 'kms-ethereum', slug: 'ethereum', kms_type: 'ethereum', url: '', version: '', chain_id: 1, kms_contract_address: t.config.kmsContract, gateway_app_id: null };
});
after(() => t?.stop());

function wallet() {
  const c = chainAt(t.chain.rpcUrl, t.config.chainId);
  const account = privateKeyToAccount(t.user.privateKey);
  return {
    account,
    wallet: createWalletClient({ account, chain: c, transport: http(t.chain.rpcUrl) }),
    client: createPublicClient({ chain: c, transport: http(t.chain.rpcUrl) }),
  };
}

async function deployApp(): Promise<Address> {
  const { account, wallet: w, client } = wallet();
  const hash = await w.writeContract({
    address: t.config.kmsContract as Address,
    abi: kmsAuthAbi,
    functionName: 'deployAndRegisterApp',
    args: [account.address, false, false, `0x${deviceId}`, `0x${'00'.repeat(32)}`],
  });
  const receipt = await client.waitForTransactionReceipt({ hash });
  const [ev] = parseEventLogs({ abi: kmsAuthAbi, logs: receipt.logs, eventName: 'AppDeployedViaFactory' });
  return ev!.args.appId;
}

async function send(app: Address, functionName: 'addComposeHash' | 'removeComposeHash', h: string): Promise<Hex> {
  const { wallet: w, client } = wallet();
  const tx = await w.writeContract({ address: app, abi: appAuthAbi, functionName, args: [`0x${h}`] });
  await client.waitForTransactionReceipt({ hash: tx });
  return tx;
}

test('app(): registration, deployment, compose hash, devices and owner as the contracts say', async () => {
  const app = await deployApp();
  const before = await chain.app(kms, app, { composeHash, deviceId });
  assert.deepEqual(before, {
    registered: true, deployed: true, composeHashAllowed: false, allowAnyDevice: false, deviceAllowed: true, owner: t.user.address,
  });
  await send(app, 'addComposeHash', composeHash);
  const after = await chain.app(kms, app.slice(2).toLowerCase(), { composeHash: `0x${composeHash}`, deviceId: 'ef'.repeat(32) });
  assert.equal(after.composeHashAllowed, true);
  assert.equal(after.deviceAllowed, false);
  // an address with no contract and no registration
  const none = await chain.app(kms, '11'.repeat(20), { composeHash });
  assert.deepEqual([none.registered, none.deployed, none.composeHashAllowed, none.deviceAllowed], [false, false, false, null]);
});

test('isAppAllowed(): the KMS contract\'s verdict and reason', async () => {
  const app = await deployApp();
  const prod = defaultImages().find((i) => !i.isDev)!.osImageHash;
  const dev = defaultImages().find((i) => i.isDev)!.osImageHash;
  const boot = { appId: app, composeHash, deviceId, osImageHash: prod };
  assert.deepEqual(await chain.isAppAllowed(kms, boot), { allowed: false, reason: 'Compose hash not allowed' });
  await send(app, 'addComposeHash', composeHash);
  assert.deepEqual(await chain.isAppAllowed(kms, boot), { allowed: true, reason: '' });
  assert.deepEqual(await chain.isAppAllowed(kms, { ...boot, deviceId: '01'.repeat(32) }), { allowed: false, reason: 'Device not allowed' });
  assert.deepEqual(await chain.isAppAllowed(kms, { ...boot, osImageHash: dev }), { allowed: false, reason: 'OS image is not allowed' });
  assert.deepEqual(await chain.isAppAllowed(kms, { ...boot, appId: '22'.repeat(20) }), { allowed: false, reason: 'App not registered' });
});

test('composeHashAddedBy(): only a mined, successful transaction with that app\'s ComposeHashAdded(hash) proves it', async () => {
  const app = await deployApp();
  const other = await deployApp();
  const added = await send(app, 'addComposeHash', composeHash);
  assert.deepEqual(await chain.composeHashAddedBy(kms, app, composeHash, added), { ok: true });
  // the same transaction does not prove another hash, nor the hash for another app
  assert.deepEqual(await chain.composeHashAddedBy(kms, app, 'ee'.repeat(32), added), { ok: false, reason: 'no-such-event' });
  assert.deepEqual(await chain.composeHashAddedBy(kms, other, composeHash, added), { ok: false, reason: 'no-such-event' });
  // a removal is not an addition; an unknown hash is not found; a malformed one neither
  const removed = await send(app, 'removeComposeHash', composeHash);
  assert.deepEqual(await chain.composeHashAddedBy(kms, app, composeHash, removed), { ok: false, reason: 'no-such-event' });
  assert.deepEqual(await chain.composeHashAddedBy(kms, app, composeHash, `0x${'12'.repeat(32)}`), { ok: false, reason: 'not-found' });
  assert.deepEqual(await chain.composeHashAddedBy(kms, app, composeHash, 'already-registered'), { ok: false, reason: 'not-found' });
});

test('a chain that does not answer is a 503 ERR-02-016 with Retry-After; a KMS type without a chain is a 400', async () => {
  const down = new ChainService([{ ...t.config, rpcUrl: 'http://127.0.0.1:9' }], { timeoutMs: 1000 });
  const e = await down.app(kms, '11'.repeat(20), { composeHash }).then(() => null, (err: unknown) => err);
  assert.ok(e instanceof ApiError, String(e));
  assert.equal(e.status, 503);
  assert.equal(e.code, ErrorCodes.CHAIN_UNAVAILABLE);
  assert.equal(e.headers['Retry-After'], '5');
  assert.match(e.message, /The ETHEREUM chain \(id 1\) did not answer .*nothing was changed/);
  const none = new ChainService([]);
  const e2 = await none.app(kms, '11'.repeat(20), { composeHash }).then(() => null, (err: unknown) => err);
  assert.ok(e2 instanceof ApiError);
  assert.equal(e2.status, 400);
  assert.match(e2.message, /OPENCVM_ETHEREUM_RPC_URL/);
});
